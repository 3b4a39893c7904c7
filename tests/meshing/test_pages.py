"""Upload pages, result page, downloads, the REST API and the admin, for owners and others."""
import json
import os
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from meshing import compute, services
from meshing.models import BatchJob, MeshJob
from portal.services import create_api_key
from tests.meshing.conftest import upload_of

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def core_outputs(parts, tmp_path_factory):
    """Real preview and mesh of the L-bracket, made once by the core."""
    workdir = tmp_path_factory.mktemp("bracket")
    preview = compute.preview_from_file(parts["l_bracket"], None, workdir)
    mesh = compute.mesh_from_file(parts["l_bracket"], {"algorithm": "hxt", "time_budget": 60}, workdir)
    return preview, mesh


def finished_mesh_job(user, parts, core_outputs) -> MeshJob:
    """A mesh job whose preview and full mesh have been ingested, as the workers would leave it."""
    preview, mesh = core_outputs
    mesh_job = services.submit_mesh(user, upload=upload_of(parts, "l_bracket"))
    names = services.artifact_names(mesh_job)
    default_storage.save(names["preview"], ContentFile(Path(preview["preview_path"]).read_bytes()))
    services.ingest_preview(mesh_job.preview_job, {"triangle_count": preview["triangle_count"], "uploaded": True})
    for key in ("msh", "result", "quality"):
        default_storage.save(names[key], ContentFile(Path(mesh[f"{key}_path"]).read_bytes()))
    output = {k: v for k, v in mesh.items() if not k.endswith("_path")}
    services.ingest_mesh(mesh_job.job, {**output, "uploaded": ["msh", "result", "quality"]})
    mesh_job.job.status = "succeeded"
    mesh_job.job.save(update_fields=["status"])
    return MeshJob.objects.get(pk=mesh_job.pk)


@pytest.fixture
def alice(client, user):
    client.force_login(user)
    return client


# --- pages -------------------------------------------------------------------------------


def test_single_upload_goes_to_its_result_page(alice, parts):
    response = alice.post(
        "/meshing/", {"files": upload_of(parts, "plate_with_hole"), "order": 1, "algorithm": "sweep", "time_budget": 30}
    )
    mesh_job = MeshJob.objects.get()
    assert response.status_code == 302 and response.url == f"/meshing/{mesh_job.job_id}/"
    assert mesh_job.params["time_budget"] == 30
    page = alice.get(response.url).content.decode()
    assert "plate_with_hole.step" in page and 'class="mesh-viewer"' in page
    assert "meshing/vendor/three.module.min.js" in page


def test_several_files_make_a_batch(alice, parts):
    response = alice.post(
        "/meshing/",
        {"files": [upload_of(parts, "cube"), upload_of(parts, "l_bracket")], "order": 1, "algorithm": "delaunay"},
    )
    batch = BatchJob.objects.get()
    assert response.url == f"/meshing/batches/{batch.pk}/"
    page = alice.get(response.url).content.decode()
    assert "cube.stl" in page and "l_bracket.step" in page


def test_unusable_upload_shows_why(alice):
    response = alice.post("/meshing/", {"files": SimpleUploadedFile("x.step", os.urandom(2000)), "order": 1, "algorithm": "sweep"})
    assert response.status_code == 200
    assert "Unrecognised file" in response.content.decode()
    assert not MeshJob.objects.exists()


def test_result_page_shows_every_strategy_and_downloads(alice, user, parts, core_outputs):
    mesh_job = finished_mesh_job(user, parts, core_outputs)
    page = alice.get(f"/meshing/{mesh_job.job_id}/").content.decode()
    assert f"Best strategy <strong>{mesh_job.result.strategy}</strong>" in page
    for strategy in mesh_job.result.strategies:
        assert f"<td>{strategy['strategy']}" in page
    response = alice.get(f"/meshing/{mesh_job.job_id}/download/msh/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"$MeshFormat")
    assert 'filename="l_bracket.msh"' in response["Content-Disposition"]
    quality = json.loads(b"".join(alice.get(f"/meshing/{mesh_job.job_id}/download/quality/").streaming_content))
    assert quality["elements"] == mesh_job.result.element_count


def test_other_users_get_nothing(client, user, other_user, parts, core_outputs):
    mesh_job = finished_mesh_job(user, parts, core_outputs)
    client.force_login(other_user)
    assert client.get(f"/meshing/{mesh_job.job_id}/").status_code == 404
    assert client.get(f"/meshing/{mesh_job.job_id}/download/msh/").status_code == 404
    assert "l_bracket" not in client.get("/meshing/").content.decode()


def test_pages_need_a_login(client):
    assert client.get("/meshing/").status_code == 302


# --- API ------------------------------------------------------------------------------------


@pytest.fixture
def api(user):
    _key, raw_key = create_api_key(user, "meshing tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def test_api_upload_and_read_back(api, parts):
    response = api.post("/api/meshing/jobs", {"file": upload_of(parts, "plate_with_hole"), "order": 2, "algorithm": "hxt"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["filename"] == "plate_with_hole.step" and body["file_format"] == "step"
    assert body["params"]["order"] == 2 and body["status"] == "pending" and body["preview_status"] == "pending"
    assert api.get(f"/api/meshing/jobs/{body['id']}").json()["id"] == body["id"]
    assert [j["id"] for j in api.get("/api/meshing/jobs").json()] == [body["id"]]


def test_api_refuses_bad_files_and_parameters(api, parts):
    response = api.post("/api/meshing/jobs", {"file": SimpleUploadedFile("x.stl", os.urandom(300))})
    assert response.status_code == 400 and "Unrecognised file" in response.json()["detail"]
    response = api.post("/api/meshing/jobs", {"file": upload_of(parts, "cube"), "algorithm": "magic"})
    assert response.status_code == 400 and "algorithm must be" in response.json()["detail"]


def test_api_batch(api, parts):
    response = api.post(
        "/api/meshing/batches", {"files": [upload_of(parts, "cube"), upload_of(parts, "l_bracket")], "name": "two"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "two" and body["file_count"] == 2 and len(body["jobs"]) == 2
    assert api.get(f"/api/meshing/batches/{body['id']}").json()["file_count"] == 2


def test_api_result_and_downloads_are_owner_only(api, user, other_user, parts, core_outputs):
    mesh_job = finished_mesh_job(user, parts, core_outputs)
    body = api.get(f"/api/meshing/jobs/{mesh_job.job_id}").json()
    assert body["result"]["strategy"] == mesh_job.result.strategy
    assert body["result"]["element_count"] == core_outputs[1]["elements"]
    assert set(body["downloads"]) == {"msh", "result", "quality", "preview"}
    result_json = json.loads(b"".join(api.get(body["downloads"]["result"]).streaming_content))
    assert result_json["strategy"] == mesh_job.result.strategy
    _key, other_key = create_api_key(other_user, "other")
    other = Client(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    assert other.get(f"/api/meshing/jobs/{mesh_job.job_id}").status_code == 404
    assert other.get(body["downloads"]["msh"]).status_code == 404


# --- admin ------------------------------------------------------------------------------------


def test_admin_change_form_embeds_the_viewer_and_strategies(client, staff_user, user, parts, core_outputs):
    mesh_job = finished_mesh_job(user, parts, core_outputs)
    client.force_login(staff_user)
    page = client.get(f"/admin/meshing/meshjob/{mesh_job.pk}/change/").content.decode()
    assert 'class="mesh-viewer"' in page and f"/admin/meshing/meshjob/{mesh_job.pk}/preview/" in page
    assert "every tried strategy" in page.lower() and mesh_job.result.strategy in page
    preview = json.loads(b"".join(client.get(f"/admin/meshing/meshjob/{mesh_job.pk}/preview/").streaming_content))
    assert preview["triangle_count"] == core_outputs[0]["triangle_count"]
    assert client.get(f"/admin/meshing/meshresult/{mesh_job.result.pk}/change/").status_code == 200
    assert client.get("/admin/meshing/batchjob/").status_code == 200


def test_admin_is_staff_only(client, user, parts, core_outputs):
    mesh_job = finished_mesh_job(user, parts, core_outputs)
    client.force_login(user)
    assert client.get(f"/admin/meshing/meshjob/{mesh_job.pk}/preview/").status_code == 302


def test_admin_retry_asks_for_confirmation_and_logs(client, staff_user, user, parts):
    from django.contrib.admin.models import LogEntry

    from jobs.backends import CallOutcome
    from jobs.services import complete_attempt, dispatch_jobs

    mesh_job = services.submit_mesh(user, upload=upload_of(parts, "surface_only"))
    dispatch_jobs([mesh_job.job_id])
    complete_attempt(mesh_job.job.attempts.get().pk, CallOutcome.failed("bad_input", "no volume"))
    client.force_login(staff_user)
    data = {"action": "retry_meshes", "_selected_action": [mesh_job.pk]}
    confirm = client.post("/admin/meshing/meshjob/", data)
    assert confirm.status_code == 200 and b"are you sure" in confirm.content
    mesh_job.job.refresh_from_db()
    assert mesh_job.job.status == "failed"
    client.post("/admin/meshing/meshjob/", {**data, "confirm": "yes"})
    mesh_job.job.refresh_from_db()
    assert mesh_job.job.status in ("pending", "dispatched")
    assert LogEntry.objects.filter(object_id=str(mesh_job.pk), change_message__contains="Retried").exists()
