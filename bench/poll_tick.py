"""One poller tick over N in-flight Modal (stub) calls where nothing changed.

    python bench/poll_tick.py            # 1,000 calls (issue #2: under 200 ms)
    python bench/poll_tick.py 21000      # 21,000 calls (issue #3: under 1 s, writes ~ changes)

Calls are spawned through modal_stubs under an app of their own, so a running
portal's stub worker never picks them up: every call stays queued, and a tick
finds nothing to apply.
"""
import os
import statistics
import sys
import time

os.environ["MODAL_STUB_DEPLOYED_APP"] = os.environ["MODAL_APP_NAME"] = "bench-poll-tick"

from _common import bench_user, counted_writes, setup_django  # noqa: E402


def main(n: int) -> None:
    setup_django()
    from django.conf import settings

    import modal_stubs
    from jobs.models import ComputeJob, JobAttempt, JobStatus, Processor
    from django.core.cache import cache

    from jobs.poller import CURSOR_KEY, poll_in_flight
    from modal_stubs.models import StubCall

    user = bench_user("poll")
    ComputeJob.objects.filter(owner=user).delete()
    StubCall.objects.filter(app_name=settings.MODAL_APP_NAME).delete()

    jobs = ComputeJob.objects.bulk_create(
        [ComputeJob(kind="document", owner=user, status=JobStatus.DISPATCHED, attempt_count=1, processor=Processor.MODAL)
         for _ in range(n)], batch_size=5000)
    function = modal_stubs.Function.from_name(settings.MODAL_APP_NAME, "process_document")
    started = time.perf_counter()
    call_ids = [function.spawn(source_url="bench://nothing").object_id for _ in jobs]
    spawn_seconds = time.perf_counter() - started
    JobAttempt.objects.bulk_create(
        [JobAttempt(job=job, number=1, processor=Processor.MODAL, function_name="process_document", call_id=call_id,
                    status=JobStatus.DISPATCHED) for job, call_id in zip(jobs, call_ids)], batch_size=5000)

    ticks = []
    writes = []
    for _ in range(7):
        with counted_writes() as counts:
            start = time.perf_counter()
            report = poll_in_flight()
            ticks.append(time.perf_counter() - start)
        writes.append(counts["writes"])
        assert report.finished == 0
    cache.delete(CURSOR_KEY)
    start = time.perf_counter()
    full = poll_in_flight(batch_size=n)
    full_sweep = time.perf_counter() - start

    print(f"in-flight calls:                 {n}")
    print(f"spawn through modal_stubs:       {n / spawn_seconds:,.0f} calls/s ({spawn_seconds:.1f} s)")
    print(f"one tick (ready check over all {n}, sweep of {settings.JOB_POLL_BATCH_SIZE}): median {statistics.median(ticks) * 1000:.0f} ms, "
          f"max {max(ticks) * 1000:.0f} ms, database writes per tick: {max(writes)}")
    print(f"a sweep that polls all {full.polled} calls at once: {full_sweep * 1000:.0f} ms")

    ComputeJob.objects.filter(owner=user).delete()
    StubCall.objects.filter(app_name=settings.MODAL_APP_NAME).delete()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
