"""Uploads, charging, ingest, failure and refund of mesh jobs (engine calls, no workers)."""
import os
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from credits.models import CreditTransaction
from credits.services import InsufficientCredits, account_for, price_for
from jobs.backends import CallOutcome
from jobs.models import JobStatus
from jobs.services import complete_attempt, dispatch_jobs, retry_job
from meshing import compute, selectors, services
from meshing.models import BatchJob, CadFile, MeshJob, MeshResult
from tests.meshing.conftest import upload_of

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def plate_output(parts, tmp_path_factory):
    """The core's real result for the plate (one algorithm, to stay fast)."""
    workdir = tmp_path_factory.mktemp("plate-output")
    return compute.mesh_from_file(parts["plate_with_hole"], {"algorithm": "delaunay", "time_budget": 60}, workdir)


def balance(user):
    account = account_for(user)
    account.refresh_from_db()
    return account.balance


def store_artifacts(mesh_job, plate_output) -> dict:
    """What the compute function would have uploaded, then its returned output."""
    names = services.artifact_names(mesh_job)
    for key, path_key in (("msh", "msh_path"), ("result", "result_path"), ("quality", "quality_path")):
        default_storage.save(names[key], ContentFile(Path(plate_output[path_key]).read_bytes()))
    output = {k: v for k, v in plate_output.items() if not k.endswith("_path")}
    return {**output, "uploaded": ["msh", "result", "quality"]}


def test_upload_stores_the_file_charges_and_creates_both_jobs(user, parts):
    before = balance(user)
    mesh_job = services.submit_mesh(user, upload=upload_of(parts, "plate_with_hole"), params={"order": 2})
    assert mesh_job.cad_file.file_format == "step"
    assert mesh_job.cad_file.size_bytes == parts["plate_with_hole"].stat().st_size
    assert default_storage.exists(mesh_job.cad_file.file.name)
    assert mesh_job.job.kind == "mesh" and mesh_job.preview_job.kind == "mesh_preview"
    assert mesh_job.params["order"] == 2 and mesh_job.params["algorithm"] == "sweep"
    assert balance(user) == before - price_for("mesh")
    assert mesh_job.credits_held == price_for("mesh")


def test_unusable_upload_is_refused_before_anything_is_stored(user):
    before = balance(user)
    with pytest.raises(services.MeshInputError, match="noise.step: Unrecognised file"):
        services.submit_mesh(user, upload=SimpleUploadedFile("noise.step", os.urandom(5000)))
    with pytest.raises(services.MeshInputError, match="order must be 1 or 2"):
        services.submit_mesh(user, upload=SimpleUploadedFile("a.stl", b"x"), params={"order": 5})
    assert not CadFile.objects.exists() and not MeshJob.objects.exists()
    assert balance(user) == before


def test_batch_is_charged_in_one_ledger_row(user, parts):
    before = balance(user)
    batch = services.submit_batch(
        user, uploads=[upload_of(parts, "plate_with_hole"), upload_of(parts, "l_bracket"), upload_of(parts, "cube")],
        params={"algorithm": "hxt"}, name="Brackets",
    )
    assert batch.mesh_jobs.count() == 3
    assert {m.params["algorithm"] for m in batch.mesh_jobs.all()} == {"hxt"}
    deductions = CreditTransaction.objects.filter(account__user=user, amount__lt=0)
    assert [d.amount for d in deductions] == [-3 * price_for("mesh")]
    assert balance(user) == before - 3 * price_for("mesh")


def test_batch_beyond_the_balance_leaves_nothing_behind(user, parts, settings):
    settings.CREDITS_PER_MESH = 60  # two files cost 120 > the 100 sign-up grant
    with pytest.raises(InsufficientCredits):
        services.submit_batch(user, uploads=[upload_of(parts, "cube"), upload_of(parts, "cube", "b.stl")])
    assert not BatchJob.objects.exists() and not MeshJob.objects.exists()


def test_payloads_carry_urls_not_credentials(user, parts):
    mesh_job = services.submit_mesh(user, upload=upload_of(parts, "cube"))
    payload = services.build_mesh_payload(mesh_job.job)
    assert payload["source_url"].startswith("http") and payload["filename"] == "cube.stl"
    assert set(payload["upload_urls"]) == {"msh", "result", "quality"}
    assert payload["params"] == mesh_job.params
    preview = services.build_preview_payload(mesh_job.preview_job)
    assert set(preview["upload_urls"]) == {"preview"}


def test_success_is_ingested_once_with_the_attempts_call_id(user, parts, plate_output):
    mesh_job = services.submit_mesh(user, upload=upload_of(parts, "plate_with_hole"))
    dispatch_jobs([mesh_job.job_id])
    attempt = mesh_job.job.attempts.get()
    output = store_artifacts(mesh_job, plate_output)
    assert complete_attempt(attempt.pk, CallOutcome.succeeded({"output": output, "compute_seconds": 3.0}))
    assert not complete_attempt(attempt.pk, CallOutcome.succeeded({"output": output, "compute_seconds": 3.0}))
    result = MeshResult.objects.get(mesh_job=mesh_job)
    assert result.status == JobStatus.SUCCEEDED
    assert result.modal_call_id == attempt.call_id != ""
    assert result.finished_at is not None and result.started_at is not None
    assert result.strategy == plate_output["strategy"] and result.element_count == plate_output["elements"]
    assert len(result.strategies) == 2
    assert default_storage.open(result.msh_file.name).read(11) == b"$MeshFormat"


def test_a_second_ingest_changes_nothing(user, parts, plate_output):
    mesh_job = services.submit_mesh(user, upload=upload_of(parts, "plate_with_hole"))
    output = store_artifacts(mesh_job, plate_output)
    services.ingest_mesh(mesh_job.job, output)
    first = MeshResult.objects.values().get(mesh_job=mesh_job)
    services.ingest_mesh(mesh_job.job, output)
    assert MeshResult.objects.values().get(mesh_job=mesh_job) == first
    assert MeshResult.objects.count() == 1


def test_ingest_insists_on_every_artifact(user, parts, plate_output):
    mesh_job = services.submit_mesh(user, upload=upload_of(parts, "plate_with_hole"))
    output = {**store_artifacts(mesh_job, plate_output), "uploaded": ["msh"]}
    with pytest.raises(ValueError, match="did not upload result, quality"):
        services.ingest_mesh(mesh_job.job, output)


def test_failure_keeps_the_reason_and_refunds_each_run_once(user, parts):
    start = balance(user)
    mesh_job = services.submit_mesh(user, upload=upload_of(parts, "surface_only"))
    dispatch_jobs([mesh_job.job_id])
    reason = "The STEP file has no solid volume (1 surfaces only), so it cannot be meshed in 3D"
    complete_attempt(mesh_job.job.attempts.get().pk, CallOutcome.failed("bad_input", reason))
    mesh_job.refresh_from_db()
    assert mesh_job.job.status == JobStatus.FAILED and mesh_job.failure_reason == reason
    assert mesh_job.result.status == JobStatus.FAILED and mesh_job.result.error_message == reason
    assert balance(user) == start
    services.record_mesh_failure(mesh_job.job)  # a repeated failure hook gives nothing more back
    assert balance(user) == start

    retry_job(mesh_job.job, dispatch=False)
    assert balance(user) == start - price_for("mesh")
    dispatch_jobs([mesh_job.job_id])
    second = mesh_job.job.attempts.get(number=2)
    complete_attempt(second.pk, CallOutcome.failed("bad_input", reason))
    assert balance(user) == start
    refunds = CreditTransaction.objects.filter(account__user=user, kind="refund").values_list("idempotency_key", flat=True)
    assert sorted(refunds) == [f"mesh-job:{mesh_job.job_id}:refund:1", f"mesh-job:{mesh_job.job_id}:refund:2"]


def test_preview_ingest_records_the_file_and_figures(user, parts):
    mesh_job = services.submit_mesh(user, upload=upload_of(parts, "cube"))
    name = services.artifact_names(mesh_job)["preview"]
    default_storage.save(name, ContentFile(b'{"positions": [], "indices": []}'))
    services.ingest_preview(mesh_job.preview_job, {"triangle_count": 12, "vertex_count": 8, "uploaded": True})
    mesh_job.refresh_from_db()
    assert mesh_job.preview_file.name == name
    assert mesh_job.preview_figures == {"triangle_count": 12, "vertex_count": 8}
    assert selectors.artifact_field(mesh_job, "preview").name == name


def test_owners_see_only_their_own_mesh_jobs(user, other_user, parts):
    mesh_job = services.submit_mesh(user, upload=upload_of(parts, "cube"))
    assert selectors.mesh_job_for(user, mesh_job.job_id) == mesh_job
    with pytest.raises(MeshJob.DoesNotExist):
        selectors.mesh_job_for(other_user, mesh_job.job_id)
    assert not selectors.mesh_jobs_for(other_user).exists()
