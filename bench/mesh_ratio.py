"""Mesh and preview time through the portal, as a ratio to calling the meshing core directly.

    python bench/mesh_ratio.py [--repeat 3] [--preview-samples 12] [--algorithm sweep]

For each reference part (a plate with a hole and an L-bracket, built with Gmsh's
OpenCASCADE kernel and written as STEP), it times:

- direct: `meshing.compute.preview_from_file` / `mesh_from_file` on the local file;
- portal: upload through `meshing.services` -> dispatch -> the real Modal stub worker (a
  subprocess) runs the compute function, which downloads the file and uploads its artifacts
  through signed URLs of a live portal and streams its log -> the portal collects and
  ingests the result: the time from the request until the job's finished_at (when the
  portal recorded it succeeded). Seed 002's flow, the target's figure: a preview-only upload
  (timed from the upload), then the full mesh started once the preview is in (timed from
  that request), so each runs alone, as the direct calls do;
- queued together: one upload with its preview and sweep queued at once. On Modal they run
  on separate machines; here they share this machine's two cores (with the portal and the
  poller), so these are compared with the two core calls started together on this machine
  ("direct side by side"), and also printed against the direct call alone;
- worker: the compute seconds the function itself reported (the same core as direct,
  plus the transfers and the log callbacks), to separate the core from queueing; and "core",
  the seconds the core itself reported inside the function, to separate the transfers from
  the noise of the core's own time (a preview's core varies by tens of ms from run to run).

The stub worker keeps one warm container per function (2), as Modal keeps warm containers;
one untimed run per part warms them first. Prints each figure (median of --repeat runs,
interleaved so that all see the same background load), ratio = direct / portal (target
>= 0.9), what the portal adds in milliseconds (a faster core lowers the ratio for the same
overhead) and where the portal's time went outside the function.
Uses the portal's own database (migrated first) and a throwaway user "bench-meshing".
"""
import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, bench_user, setup_django

sys.path.insert(0, str(ROOT))


class Portal:
    """A live portal (threaded WSGI server), a Modal stub worker subprocess and a poller loop."""

    def __init__(self, containers: int = 2, stub_poll_seconds: float | None = None):
        self.containers = containers
        self.stub_env = {"MODAL_STUB_POLL_SECONDS": str(stub_poll_seconds)} if stub_poll_seconds else {}

    def __enter__(self):
        import os
        import subprocess

        from django.conf import settings
        from django.core.handlers.wsgi import WSGIHandler
        from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

        from portal.celery import app

        class QuietHandler(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        self.server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
        self.server.set_app(WSGIHandler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        settings.PORTAL_BASE_URL = f"http://127.0.0.1:{self.server.server_port}"
        # Dispatch inline when the submission commits, instead of leaving Celery messages behind.
        app.conf.task_always_eager = True
        self.log = open(tempfile.gettempdir() + "/bench-mesh-stub-worker.log", "ab")
        self.worker = subprocess.Popen(
            [sys.executable, "manage.py", "modal_stub_worker", "--containers", str(self.containers)],
            cwd=ROOT, env={**os.environ, "PORTAL_BASE_URL": settings.PORTAL_BASE_URL, **self.stub_env}, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        time.sleep(3)  # the worker imports Django and starts its containers
        return self

    def __exit__(self, *exc):
        import os
        import signal

        os.killpg(self.worker.pid, signal.SIGTERM)
        try:
            self.worker.wait(20)
        except Exception:  # noqa: BLE001
            os.killpg(self.worker.pid, signal.SIGKILL)
        self.server.shutdown()
        self.log.close()

    @staticmethod
    def _statuses(jobs) -> dict:
        from jobs.models import ComputeJob

        return dict(ComputeJob.objects.filter(pk__in=[job.pk for job in jobs]).values_list("pk", "status"))

    @staticmethod
    def wait_each(jobs, timeout: float = 600) -> None:
        """Wait until every job is terminal (then refreshed from the database).

        Results are collected as in production: the function's "finished" callback makes
        the portal collect the call at once (jobs.collect_call, run eagerly here by the
        web server thread that receives the callback). This loop only looks at the jobs'
        status (one cheap query) ten times a second, and runs the poller once a second as
        the safety net that Celery beat is (every 5 s) in production; the times are the
        jobs' own finished_at, so how often this loop looks does not change them.
        """
        Portal.wait(jobs, timeout)
        for job in jobs:
            job.refresh_from_db()

    @staticmethod
    def wait(jobs, timeout: float = 600) -> float:
        """Wait until every job is terminal; return the time at which the last one was seen done."""
        from jobs.models import TERMINAL
        from jobs.poller import poll_in_flight

        deadline, next_poll = time.monotonic() + timeout, time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_poll:
                poll_in_flight()
                next_poll = time.monotonic() + 1.0
            if all(status in TERMINAL for status in Portal._statuses(jobs).values()):
                return time.perf_counter()
            time.sleep(0.1)
        raise SystemExit(f"jobs did not finish within {timeout} s")


def send_everything_to_modal():
    from jobs.rollout import change_policy, policy_for

    for kind in ("mesh", "mesh_preview"):
        change_policy(policy_for(kind), {"modal_percentage": 100}, reason="bench/mesh_ratio.py")


def upload_of(path: Path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(path.name, path.read_bytes())


def through_portal(user, path: Path, params: dict) -> dict:
    """One upload with its preview and full mesh queued together (both run at once)."""
    from meshing import services

    grant_credits(user)
    started = time.time()  # the jobs' finished_at come from the same clock
    mesh_job = services.submit_mesh(user, upload=upload_of(path), params=params)
    Portal.wait_each([mesh_job.preview_job, mesh_job.job])
    return figures_of(mesh_job, preview_from=started, mesh_from=started)


def preview_first(user, path: Path, params: dict) -> dict:
    """Seed 002's flow: a preview-only upload; once its preview is in, the full mesh is started
    (meshing.services.request_full_mesh). Each is timed from its own request, and each runs
    alone, as on Modal, where they would not share a machine."""
    from meshing import services

    grant_credits(user)
    preview_from = time.time()
    mesh_job = services.submit_mesh(user, upload=upload_of(path), params=params, preview_only=True)
    Portal.wait_each([mesh_job.preview_job])
    mesh_from = time.time()
    services.request_full_mesh(mesh_job)
    Portal.wait_each([mesh_job.job])
    return figures_of(mesh_job, preview_from=preview_from, mesh_from=mesh_from)


def preview_only(user, path: Path) -> dict:
    """A preview-only upload whose full mesh is never started (more preview samples for the
    price of one mesh: previews are short, so their medians need more runs to settle)."""
    from meshing import services

    started = time.time()
    mesh_job = services.submit_mesh(user, upload=upload_of(path), params=None, preview_only=True)
    Portal.wait_each([mesh_job.preview_job])
    return figures_of_job("preview", mesh_job.preview_job, started)


def grant_credits(user) -> None:
    from credits.services import grant

    grant(user, 10, actor=None, reason="benchmark credits")


def figures_of_job(what: str, job, requested_at: float) -> dict:
    """One job's time from its request to finished_at, its compute seconds and its stages."""
    if job.status != "succeeded":
        raise SystemExit(f"{job.kind} failed: {job.error_message}")
    return {what: job.finished_at.timestamp() - requested_at, f"{what}_worker": job.compute_seconds,
            f"{what}_core": job.result["seconds"], f"{what}_stages": stages(job, requested_at)}


def figures_of(mesh_job, preview_from: float, mesh_from: float) -> dict:
    """Both jobs' figures (Portal.wait_each has refreshed them) and the mesh result."""
    return {
        **figures_of_job("preview", mesh_job.preview_job, preview_from),
        **figures_of_job("mesh", mesh_job.job, mesh_from),
        "elements": mesh_job.result.element_count,
        "strategy": mesh_job.result.strategy,
    }


STAGES = ("to_claim", "container", "to_ingest")


def stages(job, requested_at: float) -> dict:
    """Where a job's time went outside the function, from the rows' own timestamps (seconds):
    request (upload, or the start of a full mesh) -> call claimed by the stub worker (the
    submission, dispatch, spawn); claimed -> result stored, less the function's own compute
    seconds (hand-over to the container, fork); result stored -> attempt completed and
    ingested (the "finished" callback, collection, ingest)."""
    from modal_stubs.models import StubCall

    attempt = job.attempts.order_by("-number").first()
    call = StubCall.objects.get(object_id=attempt.call_id)
    return {
        "to_claim": call.started_at.timestamp() - requested_at,
        "container": (call.finished_at - call.started_at).total_seconds() - attempt.compute_seconds,
        "to_ingest": (attempt.finished_at - call.finished_at).total_seconds(),
    }


def directly(path: Path, params: dict) -> dict:
    from meshing import compute

    preview = directly_preview(path)["preview"]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = compute.mesh_from_file(path, params, Path(tmp))
        mesh = time.perf_counter() - started
    return {"preview": preview, "mesh": mesh, "elements": result["elements"], "strategy": result["strategy"]}


def directly_preview(path: Path) -> dict:
    from meshing import compute

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        compute.preview_from_file(path, None, Path(tmp))
        return {"preview": time.perf_counter() - started}


def directly_side_by_side(path: Path, params: dict) -> dict:
    """The same two core calls started together, as the portal runs a preview and its sweep.

    Threads suffice: each core call spends its time waiting on its own Gmsh subprocesses.
    """
    from meshing import compute

    started, finished = time.perf_counter(), {}
    with tempfile.TemporaryDirectory() as preview_dir, tempfile.TemporaryDirectory() as mesh_dir:
        def run(what, call):
            call()
            finished[what] = time.perf_counter() - started

        threads = [
            threading.Thread(target=run, args=("preview", lambda: compute.preview_from_file(path, None, Path(preview_dir)))),
            threading.Thread(target=run, args=("mesh", lambda: compute.mesh_from_file(path, params, Path(mesh_dir)))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return finished


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--algorithm", default="sweep")
    parser.add_argument("--parts", nargs="+", default=["plate_with_hole", "l_bracket"], help="reference parts, in order")
    parser.add_argument("--preview-samples", type=int, default=12,
                        help="extra preview-only uploads (and direct previews) per run: a preview's median "
                             "needs many samples on a noisy machine, and each costs about a second")
    parser.add_argument("--stub-poll", type=float, default=None,
                        help="MODAL_STUB_POLL_SECONDS for the stub worker (default: its own, 0.2 s)")
    args = parser.parse_args()
    setup_django()
    from tests.meshing.parts import build_parts

    from meshing.services import clean_params

    parts_dir = Path(tempfile.mkdtemp(prefix="bench-parts-"))
    parts = build_parts(parts_dir)
    params = {"algorithm": args.algorithm, "time_budget": 300}
    core_params = clean_params(params)
    user = bench_user("meshing")
    send_everything_to_modal()
    print(f"mesh_ratio: {args.repeat} runs per part, algorithm={args.algorithm}, stub worker with 2 containers, "
          f"stub poll {args.stub_poll or 'default'}")
    with Portal(containers=2, stub_poll_seconds=args.stub_poll):
        for name in args.parts:
            through_portal(user, parts[name], params)  # warm-up: containers started, imports done
            runs = {"direct": [], "side_by_side": [], "preview_first": [], "together": [],
                    "direct_preview": [], "portal_preview": []}
            for _ in range(args.repeat):  # interleaved, so all see the same background load
                runs["direct"].append(directly(parts[name], core_params))
                runs["preview_first"].append(preview_first(user, parts[name], params))
                for _ in range(args.preview_samples):
                    runs["direct_preview"].append(directly_preview(parts[name]))
                    runs["portal_preview"].append(preview_only(user, parts[name]))
                runs["side_by_side"].append(directly_side_by_side(parts[name], core_params))
                runs["together"].append(through_portal(user, parts[name], params))
            portal_runs = runs["preview_first"] + runs["together"]
            assert {d["elements"] for d in runs["direct"]} == {p["elements"] for p in portal_runs}, "element counts differ"
            report(name, runs)
            print(f"{name:16s} best strategy {portal_runs[0]['strategy']}, {portal_runs[0]['elements']} elements "
                  "(same on both paths)")


def report(name: str, runs: dict) -> None:
    # Every run alone counts for the preview: the preview-first uploads and the extra previews.
    direct_runs = {"preview": runs["direct"] + runs["direct_preview"], "mesh": runs["direct"]}
    alone_runs = {"preview": runs["preview_first"] + runs["portal_preview"], "mesh": runs["preview_first"]}

    def median(samples, key):
        return statistics.median(r[key] for r in samples)

    for what in ("preview", "mesh"):
        alone = alone_runs[what]
        d, p, w = median(direct_runs[what], what), median(alone, what), median(alone, f"{what}_worker")
        core = median(alone, f"{what}_core")
        print(
            f"{name:16s} {what:8s} direct {d:6.3f} s  portal {p:6.3f} s  (in worker {w:6.3f} s, its core {core:6.3f} s)  "
            f"ratio direct/portal {d / p:5.3f}  direct/worker {d / w:5.3f}  portal adds {(p - d) * 1000:+.0f} ms  "
            f"({len(alone)} runs)"
        )
        s, t = median(runs["side_by_side"], what), median(runs["together"], what)
        print(
            f"{name:16s} {what:8s} queued together: direct side by side {s:6.3f} s  portal {t:6.3f} s  "
            f"ratio {s / t:5.3f}  (vs direct alone {d / t:5.3f})"
        )
        for label, samples in (("alone", alone), ("together", runs["together"])):
            overhead = {stage: statistics.median(r[f"{what}_stages"][stage] for r in samples) for stage in STAGES}
            print(f"{name:16s} {what:8s} portal stages, {label} (median s): " + ", ".join(
                f"{stage} {seconds:.3f}" for stage, seconds in overhead.items()))


if __name__ == "__main__":
    main()
