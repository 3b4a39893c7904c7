"""Mesh jobs end to end: the real Modal stub worker and a real Celery worker run the real
core on real parts; artifacts travel through signed portal URLs, Gmsh's log lines come back
through the signed callback endpoint of the live portal."""
import json

import pytest
from django.core.files.storage import default_storage

from credits.services import account_for
from jobs.models import JobLogLine, JobStatus, Processor
from jobs.poller import poll_in_flight
from jobs.rollout import change_policy, policy_for
from jobs.services import dispatch_jobs
from meshing import compute, services
from meshing.models import MeshJob
from tests.fixtures.services import wait_until
from tests.meshing.conftest import upload_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

SWEEP = {"algorithm": "sweep", "time_budget": 120}
# Timings differ from run to run; everything else in a strategy's figures must not.
TIMING_KEYS = {"seconds", "mesh_seconds"}


def _send_to(processor: str) -> None:
    percentage = 100 if processor == Processor.MODAL else 0
    for kind in (services.MESH_KIND, services.PREVIEW_KIND):
        change_policy(policy_for(kind), {"modal_percentage": percentage})


def _mesh(user, parts, name, processor, params=SWEEP) -> MeshJob:
    _send_to(processor)
    mesh_job = services.submit_mesh(user, upload=upload_of(parts, name), params=params)
    dispatch_jobs([mesh_job.preview_job_id, mesh_job.job_id])  # a Celery worker may race: one claims it

    def finished():
        poll_in_flight()  # applies Modal-stub outcomes; Celery tasks apply their own
        mesh_job.job.refresh_from_db()
        mesh_job.preview_job.refresh_from_db()
        return mesh_job.job.is_terminal and mesh_job.preview_job.is_terminal

    wait_until(finished, timeout=150, interval=0.2, message=f"mesh job {mesh_job.job_id} did not finish")
    return MeshJob.objects.select_related("result", "job", "preview_job").get(pk=mesh_job.pk)


def _figures(mesh_job) -> dict:
    result = mesh_job.result
    quality = json.loads(default_storage.open(result.quality_file.name).read())
    return {
        "strategy": result.strategy,
        "elements": result.element_count,
        "nodes": result.node_count,
        "min_sicn": result.min_sicn,
        "mean_gamma": result.mean_gamma,
        "inverted": result.inverted_elements,
        "strategies": [{k: v for k, v in s.items() if k not in TIMING_KEYS} for s in result.strategies],
        "quality": quality,
    }


def test_stub_and_celery_give_identical_meshes(stub_worker, celery_worker, user, parts, tmp_path):
    via_modal = _mesh(user, parts, "plate_with_hole", Processor.MODAL)
    via_celery = _mesh(user, parts, "plate_with_hole", Processor.CELERY)

    for mesh_job, processor in ((via_modal, Processor.MODAL), (via_celery, Processor.CELERY)):
        assert mesh_job.job.status == JobStatus.SUCCEEDED, mesh_job.job.error_message
        assert mesh_job.preview_job.status == JobStatus.SUCCEEDED, mesh_job.preview_job.error_message
        assert mesh_job.result.processor == processor
        assert mesh_job.result.modal_call_id == mesh_job.job.attempts.get().call_id != ""
        assert mesh_job.result.started_at <= mesh_job.result.finished_at
        assert mesh_job.preview_figures["triangle_count"] > 1000
        assert default_storage.open(mesh_job.result.msh_file.name).read(11) == b"$MeshFormat"

    assert _figures(via_modal) == _figures(via_celery)
    # ... and the same as the core called directly (the seed's "quality identical to baseline").
    direct = compute.mesh_from_file(parts["plate_with_hole"], {**SWEEP, "max_elements": 2_000_000}, tmp_path)
    assert (direct["strategy"], direct["elements"], direct["min_sicn"]["min"]) == (
        via_modal.result.strategy, via_modal.result.element_count, via_modal.result.min_sicn,
    )
    # Gmsh's own log lines reached the job while it ran, through the callback endpoint.
    logs = "\n".join(JobLogLine.objects.filter(job=via_modal.job).values_list("message", flat=True))
    assert "Meshing 3D" in logs and "strategy-hxt" in logs
    # ... and the portal logged the outcome it stored.
    assert f"Best strategy {via_modal.result.strategy}: {via_modal.result.element_count} elements" in logs
    preview_logs = list(JobLogLine.objects.filter(job=via_celery.preview_job).values_list("message", flat=True))
    assert f"Preview stored: {via_celery.preview_figures['triangle_count']} triangles" in preview_logs


@pytest.mark.parametrize("processor", [Processor.MODAL, Processor.CELERY])
def test_malformed_step_fails_clearly_is_refunded_and_the_worker_lives_on(
    processor, stub_worker, celery_worker, user, parts, tmp_path
):
    import re

    step = parts["plate_with_hole"].read_text()
    dangling = tmp_path / "dangling.step"
    dangling.write_text(re.sub(r"(ADVANCED_FACE\('',\()#\d+", r"\1#999999", step))
    before = account_for(user).balance
    failed = _mesh(user, {"dangling": dangling}, "dangling", processor)
    assert failed.job.status == JobStatus.FAILED
    assert failed.job.error_type == "bad_input"
    assert "malformed" in failed.job.error_message and "dangling" in failed.job.error_message
    assert failed.result.status == JobStatus.FAILED and failed.result.error_message == failed.job.error_message
    account = account_for(user)
    account.refresh_from_db()
    assert account.balance == before

    after = _mesh(user, parts, "cube", processor, params={"algorithm": "delaunay", "time_budget": 60})
    assert after.job.status == JobStatus.SUCCEEDED, after.job.error_message
    assert stub_worker.alive() and celery_worker.alive()
