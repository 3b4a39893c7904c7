"""Mesh and preview time through the portal, as a ratio to calling the meshing core directly.

    python bench/mesh_ratio.py [--repeat 3] [--algorithm sweep]

For each reference part (a plate with a hole and an L-bracket, built with Gmsh's
OpenCASCADE kernel and written as STEP), it times:

- direct: `meshing.compute.preview_from_file` / `mesh_from_file` on the local file;
- portal: upload through `meshing.services.submit_mesh` -> dispatch -> the real Modal
  stub worker (a subprocess) runs the compute function, which downloads the file and
  uploads its artifacts through signed URLs of a live portal and streams its log -> the
  poller ingests the result. Timed from submission until the job has succeeded;
- worker: the compute seconds the function itself reported (the same code as direct,
  plus the transfers), to separate the core from queueing.

Prints each figure (median of --repeat runs) and ratio = direct / portal (target >= 0.9).
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

    def __init__(self, containers: int = 2):
        self.containers = containers

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
            cwd=ROOT, env={**os.environ, "PORTAL_BASE_URL": settings.PORTAL_BASE_URL}, stdout=self.log,
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
    def wait(jobs, timeout: float = 600) -> float:
        """Poll until every job is terminal; return the time at which the last one was seen done."""
        from jobs.poller import poll_in_flight

        deadline = time.monotonic() + timeout
        pending = list(jobs)
        while pending and time.monotonic() < deadline:
            poll_in_flight()
            for job in list(pending):
                job.refresh_from_db()
                if job.is_terminal:
                    pending.remove(job)
            if pending:
                time.sleep(0.05)
        if pending:
            raise SystemExit(f"{len(pending)} jobs did not finish within {timeout} s")
        return time.perf_counter()


def send_everything_to_modal():
    from jobs.rollout import change_policy, policy_for

    for kind in ("mesh", "mesh_preview"):
        change_policy(policy_for(kind), {"modal_percentage": 100}, reason="bench/mesh_ratio.py")


def upload_of(path: Path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(path.name, path.read_bytes())


def through_portal(user, path: Path, params: dict) -> dict:
    from credits.services import grant
    from meshing import services

    grant(user, 10, actor=None, reason="benchmark credits")
    started = time.perf_counter()
    mesh_job = services.submit_mesh(user, upload=upload_of(path), params=params)
    preview_done = Portal.wait([mesh_job.preview_job])
    mesh_done = Portal.wait([mesh_job.job])
    mesh_job.refresh_from_db()
    for job in (mesh_job.preview_job, mesh_job.job):
        if job.status != "succeeded":
            raise SystemExit(f"{job.kind} failed: {job.error_message}")
    return {
        "preview": preview_done - started,
        "mesh": mesh_done - started,
        "preview_worker": mesh_job.preview_job.compute_seconds,
        "mesh_worker": mesh_job.job.compute_seconds,
        "elements": mesh_job.result.element_count,
        "strategy": mesh_job.result.strategy,
    }


def directly(path: Path, params: dict) -> dict:
    from meshing import compute

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        compute.preview_from_file(path, None, Path(tmp))
        preview = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = compute.mesh_from_file(path, params, Path(tmp))
        mesh = time.perf_counter() - started
    return {"preview": preview, "mesh": mesh, "elements": result["elements"], "strategy": result["strategy"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--algorithm", default="sweep")
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
    print(f"mesh_ratio: {args.repeat} runs per part, algorithm={args.algorithm}, stub worker with 2 containers")
    with Portal():
        for name in ("plate_with_hole", "l_bracket"):
            direct, portal = [], []
            for _ in range(args.repeat):  # interleaved, so both see the same background load
                direct.append(directly(parts[name], core_params))
                portal.append(through_portal(user, parts[name], params))
            assert {d["elements"] for d in direct} == {p["elements"] for p in portal}, "element counts differ"
            for what in ("preview", "mesh"):
                d = statistics.median(r[what] for r in direct)
                p = statistics.median(r[what] for r in portal)
                w = statistics.median(r[f"{what}_worker"] for r in portal)
                print(
                    f"{name:16s} {what:8s} direct {d:6.3f} s  portal {p:6.3f} s  (in worker {w:6.3f} s)  "
                    f"ratio direct/portal {d / p:5.3f}  direct/worker {d / w:5.3f}"
                )
            print(f"{name:16s} best strategy {portal[0]['strategy']}, {portal[0]['elements']} elements (same on both paths)")


if __name__ == "__main__":
    main()
