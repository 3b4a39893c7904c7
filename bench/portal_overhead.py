"""Portal overhead: documents per minute through the whole portal vs the core called directly.

    python bench/portal_overhead.py [--containers 2] [--copies 2] [--no-corpus]

Through the portal: a waitress web server (signed artifact URLs, progress callbacks) and
`manage.py modal_stub_worker --containers N` run as subprocesses; this process uploads
the files with datasets.services.upload_documents (validation, storage, bulk jobs),
dispatches them to the Modal stub and runs the poller until every job is ingested
(chunks with embeddings in pgvector). Containers are warmed with one small batch first,
as the direct baseline warms its worker processes. Direct: the same files through the
core functions in N warm worker processes (bench/_documents.py, as bench/docling_core.py),
measured before and after the portal run (other work on the machine varies). Prints the
rates, the share of wall time the containers spent in the handler, and the ratio
portal / mean(direct) (target >= 0.85). The bench's stub worker serves an app of its own.
"""
import argparse
import os
import sys
import time

from _common import bench_user, free_port, setup_django, start_process, stop_process, wait_for_port

PORT = free_port()
os.environ["PORTAL_BASE_URL"] = f"http://127.0.0.1:{PORT}"
# An app of its own: the bench's stub worker runs only the bench's calls (the dev database may
# hold queued calls of other apps), and no other stub worker takes the bench's calls.
os.environ["MODAL_APP_NAME"] = os.environ["MODAL_STUB_DEPLOYED_APP"] = f"bench-portal-overhead-{os.getpid()}"

from _documents import benchmark_files, direct_rate  # noqa: E402  (takes bench/ off sys.path)


def through_portal(owner, files, label: str) -> tuple[float, float, dict]:
    from credits.services import grant
    from datasets import services
    from jobs.models import ComputeJob
    from jobs.poller import poll_in_flight
    from jobs.services import dispatch_jobs

    grant(owner, len(files), actor=None, reason="bench/portal_overhead.py")  # each document costs a credit
    dataset = services.create_dataset(owner, f"portal overhead {label}")
    started = time.perf_counter()
    result = services.upload_documents(owner, dataset, files)
    assert not result.rejected, result.rejected
    job_ids = [document.job_id for document in result.accepted]
    dispatch_jobs(job_ids)
    while ComputeJob.objects.filter(pk__in=job_ids, status__in=["pending", "dispatched", "running"]).exists():
        # No Celery worker here runs jobs.collect_call when a function reports "finished": this
        # loop collects instead. A ready call costs one tick; a tick with nothing ready, a few reads.
        poll_in_flight()
        time.sleep(0.25)
    seconds = time.perf_counter() - started
    statuses, handler_seconds = {}, 0.0
    for status, result in ComputeJob.objects.filter(pk__in=job_ids).values_list("status", "result"):
        statuses[status] = statuses.get(status, 0) + 1
        handler_seconds += ((result or {}).get("seconds") or {}).get("total", 0)
    return len(files) / seconds * 60, seconds, statuses, handler_seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--containers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--no-corpus", action="store_true")
    args = parser.parse_args()
    setup_django()
    from jobs.rollout import change_policy, policy_for

    files = benchmark_files(args.copies, corpus=not args.no_corpus)
    owner = bench_user("portal-overhead")
    # Other work on the machine changes from minute to minute: measure the direct core before
    # and after the portal run and compare with their mean.
    direct_before, _, _ = direct_rate(files, args.containers)
    print(f"direct core ({args.containers} workers), before: {direct_before:.1f} docs/min")
    previous = policy_for("document").modal_percentage
    change_policy(policy_for("document"), {"modal_percentage": 100}, reason="bench/portal_overhead.py")
    web = start_process([sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{PORT}", "--threads=8",
                 "portal.wsgi:application"], "bench-portal-web.log")
    worker = start_process([sys.executable, "manage.py", "modal_stub_worker", "--containers", str(args.containers)],
                   "bench-portal-stub.log")
    try:
        wait_for_port(PORT)
        warm = [(f"warm-{i}.md", f"# Warm {i}\n\nwarms container {i}".encode()) for i in range(args.containers)]
        through_portal(owner, warm, "warm-up")
        portal_rate, portal_seconds, statuses, handler_seconds = through_portal(owner, files, "timed")
    finally:
        stop_process(worker)
        stop_process(web)
        change_policy(policy_for("document"), {"modal_percentage": previous}, reason="bench/portal_overhead.py done")
    print(f"through the portal (stub, {args.containers} containers): {len(files)} documents in {portal_seconds:.1f} s "
          f"-> {portal_rate:.1f} docs/min; job outcomes {statuses}")
    busy = handler_seconds / args.containers / portal_seconds
    print(f"  containers busy in the handler {busy:.0%} of the wall time (the rest: upload, dispatch, "
          f"pick-up, callbacks, artifact, ingest, poller)")
    direct_after, _, _ = direct_rate(files, args.containers)
    print(f"direct core ({args.containers} workers), after: {direct_after:.1f} docs/min")
    direct = (direct_before + direct_after) / 2
    ratio = portal_rate / direct
    print(f"ratio portal/direct = {portal_rate:.1f} / {direct:.1f} = {ratio:.2f} "
          f"(target >= 0.85: {'MET' if ratio >= 0.85 else 'NOT MET'})")


if __name__ == "__main__":
    main()
