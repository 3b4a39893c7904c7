"""Spawning calls through modal_stubs: 21,000 `Function.spawn` calls, one INSERT each.

    python bench/stub_spawn.py [--calls 21000]

Runs in a scratch database on the portal's PostgreSQL server (created, migrated
for modal_stubs only, dropped afterwards), so it neither needs nor touches the
portal's data. Each spawn carries a payload shaped like a document job's.

Prints: total seconds and spawns/second (target: 21,000 in well under 60 s),
then the cost of `FunctionCall.from_id(id).get(timeout=0)` on queued calls,
which is what the job poller pays per in-flight call.
"""
import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

import modal_stubs  # noqa: E402
from modal_stubs.models import StubCall  # noqa: E402


def switch_database(name: str) -> None:
    connection.close()
    if hasattr(connection, "close_pool"):
        connection.close_pool()
    connection.settings_dict["NAME"] = name


def payload(i: int) -> dict:
    return {
        "source_url": f"http://127.0.0.1:8000/jobs/files/datasets/{uuid.uuid4()}/document-{i}.pdf?sig=" + "a" * 64,
        "filename": f"document-{i}.pdf",
        "params": {"max_bytes": 52428800, "max_pages": 500},
        "callback_url": f"http://127.0.0.1:8000/api/jobs/callbacks/{uuid.uuid4()}",
        "callback_key": "k" * 64,
        "attempt_id": i,
    }


def bench(calls: int) -> None:
    function = modal_stubs.Function.from_name(settings.MODAL_STUB_DEPLOYED_APP, "process_document")
    payloads = [payload(i) for i in range(calls)]
    started = time.perf_counter()
    ids = [function.spawn(**p).object_id for p in payloads]
    elapsed = time.perf_counter() - started
    assert StubCall.objects.count() == calls
    print(f"spawned {calls} calls in {elapsed:.2f} s: {calls / elapsed:,.0f} spawns/s, {elapsed / calls * 1e6:.0f} us each")

    sample = ids[:: max(1, calls // 1000)][:1000]
    timings = []
    for object_id in sample:
        t = time.perf_counter()
        try:
            modal_stubs.FunctionCall.from_id(object_id).get(timeout=0)
        except TimeoutError:
            pass
        timings.append(time.perf_counter() - t)
    timings.sort()
    print(
        f"get(timeout=0) on {len(sample)} queued calls: total {sum(timings) * 1000:.0f} ms, "
        f"median {statistics.median(timings) * 1e6:.0f} us, p95 {timings[int(len(timings) * 0.95)] * 1e6:.0f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=21000)
    args = parser.parse_args()

    original = connection.settings_dict["NAME"]
    scratch = f"bench_stub_spawn_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{scratch}"')
    try:
        switch_database(scratch)
        call_command("migrate", "modal_stubs", verbosity=0)
        bench(args.calls)
    finally:
        switch_database(original)
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


if __name__ == "__main__":
    main()
