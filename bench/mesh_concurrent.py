"""Ten concurrent mesh jobs (seed 002: "auto-scaling handles 10+ concurrent jobs").

    python bench/mesh_concurrent.py [--jobs 10] [--containers 2] [--algorithm sweep]

Uploads one batch of --jobs reference parts (plates with a hole and L-brackets,
alternating) through `meshing.services.submit_batch`, which queues a preview and a full
mesh per file; the real Modal stub worker runs them with --containers container
processes (Modal would scale out instead) against a live portal. Prints the wall time
until every job has finished, how many succeeded, and per-job latency figures.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _common import bench_user, setup_django
from mesh_ratio import Portal, send_everything_to_modal, upload_of


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--containers", type=int, default=2)
    parser.add_argument("--algorithm", default="sweep")
    args = parser.parse_args()
    setup_django()
    from credits.services import grant, price_for
    from meshing import services
    from tests.meshing.parts import build_parts

    parts = build_parts(Path(tempfile.mkdtemp(prefix="bench-parts-")))
    names = ["plate_with_hole", "l_bracket"]
    user = bench_user("meshing")
    grant(user, price_for("mesh", args.jobs), actor=None, reason="benchmark credits")
    send_everything_to_modal()
    with Portal(containers=args.containers):
        started = time.perf_counter()
        batch = services.submit_batch(
            user,
            uploads=[upload_of(parts[names[i % 2]]) for i in range(args.jobs)],
            params={"algorithm": args.algorithm, "time_budget": 300},
            name=f"bench {args.jobs} concurrent",
        )
        mesh_jobs = list(batch.mesh_jobs.select_related("job", "preview_job"))
        Portal.wait([m.preview_job for m in mesh_jobs] + [m.job for m in mesh_jobs], timeout=1800)
        wall = time.perf_counter() - started
    jobs = [m.job for m in mesh_jobs]
    for job in jobs:
        job.refresh_from_db()
    succeeded = sum(job.status == "succeeded" for job in jobs)
    latencies = [(job.finished_at - job.created_at).total_seconds() for job in jobs]
    compute = [job.compute_seconds for job in jobs]
    print(f"mesh_concurrent: {args.jobs} mesh jobs (+{args.jobs} previews), algorithm={args.algorithm}, "
          f"{args.containers} stub containers")
    print(f"  wall time until all finished: {wall:.1f} s; succeeded {succeeded}/{args.jobs}")
    print(f"  per-job latency (created -> finished): median {statistics.median(latencies):.1f} s, max {max(latencies):.1f} s")
    print(f"  per-job compute in the worker: median {statistics.median(compute):.1f} s, total {sum(compute):.1f} s")
    if succeeded != args.jobs:
        for job in jobs:
            if job.status != "succeeded":
                print(f"  {job.pk}: {job.status} {job.error_type} {job.error_message[:200]}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
