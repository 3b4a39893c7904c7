"""Preview first, full mesh on request (seed 002's flow): a free preview-only upload, then the
owner starts (and pays for) the full mesh from the page or the API."""
import pytest
from django.test import Client

from credits.models import CreditTransaction
from credits.services import InsufficientCredits, account_for, price_for
from jobs.models import JobStatus, Processor
from jobs.poller import poll_in_flight
from jobs.services import cancel_job
from meshing import services
from meshing.models import NOT_REQUESTED, MeshJob
from portal.services import create_api_key
from tests.fixtures.services import wait_until
from tests.meshing.conftest import upload_of


def balance(user):
    account = account_for(user)
    account.refresh_from_db()
    return account.balance


def preview_only_upload(user, parts, params=None) -> MeshJob:
    return services.submit_mesh(user, upload=upload_of(parts, "plate_with_hole"), params=params, preview_only=True)


# --- services ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_preview_only_upload_costs_nothing_and_leaves_the_sweep_waiting(user, parts):
    before = balance(user)
    mesh_job = preview_only_upload(user, parts, {"order": 2})
    assert balance(user) == before and mesh_job.credits_held == 0
    assert not mesh_job.full_mesh_requested and mesh_job.full_mesh_status == NOT_REQUESTED
    assert mesh_job.job.status == JobStatus.PENDING and mesh_job.params["order"] == 2


@pytest.mark.django_db
def test_starting_the_full_mesh_charges_once_and_keeps_unchanged_parameters(user, parts):
    mesh_job = preview_only_upload(user, parts, {"order": 2, "time_budget": 40})
    before = balance(user)
    services.request_full_mesh(mesh_job, {"algorithm": "hxt"})
    mesh_job.refresh_from_db()
    assert mesh_job.full_mesh_requested and mesh_job.full_mesh_status == JobStatus.PENDING
    assert (mesh_job.params["algorithm"], mesh_job.params["order"], mesh_job.params["time_budget"]) == ("hxt", 2, 40)
    assert balance(user) == before - price_for("mesh") and mesh_job.credits_held == price_for("mesh")
    with pytest.raises(services.MeshStateError, match="already been started"):
        services.request_full_mesh(mesh_job)
    assert balance(user) == before - price_for("mesh")
    assert CreditTransaction.objects.filter(reference=str(mesh_job.job_id)).count() == 1


@pytest.mark.django_db
def test_a_full_mesh_that_cannot_be_paid_or_was_cancelled_does_not_start(user, parts, settings):
    mesh_job = preview_only_upload(user, parts)
    settings.CREDITS_PER_MESH = 1000  # above the 100 sign-up grant
    with pytest.raises(InsufficientCredits):
        services.request_full_mesh(mesh_job)
    mesh_job.refresh_from_db()
    assert not mesh_job.full_mesh_requested and mesh_job.credits_held == 0

    settings.CREDITS_PER_MESH = 5
    with pytest.raises(services.MeshInputError, match="order must be 1 or 2"):
        services.request_full_mesh(mesh_job, {"order": 7})
    cancel_job(mesh_job.job)
    with pytest.raises(services.MeshStateError, match="cancelled"):
        services.request_full_mesh(mesh_job)
    mesh_job.refresh_from_db()
    assert not mesh_job.full_mesh_requested and mesh_job.credits_held == 0


# --- API --------------------------------------------------------------------------------------


@pytest.fixture
def api(user):
    _key, raw_key = create_api_key(user, "preview first")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")


@pytest.mark.django_db
def test_api_preview_only_then_start_the_full_mesh(api, user, other_user, parts):
    response = api.post("/api/meshing/jobs", {"file": upload_of(parts, "plate_with_hole"), "preview_only": "true"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["full_mesh_requested"], body["preview_status"]) == (NOT_REQUESTED, False, "pending")
    start = f"/api/meshing/jobs/{body['id']}/mesh"

    _key, other_key = create_api_key(other_user, "other")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {other_key}").post(start, {}).status_code == 404
    assert api.post(start, {"order": 5}).status_code == 400

    before = balance(user)
    response = api.post(start, {"order": 2})
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["full_mesh_requested"], body["params"]["order"]) == ("pending", True, 2)
    assert body["params"]["algorithm"] == "sweep", "parameters not sent are kept"
    assert balance(user) == before - price_for("mesh")

    response = api.post(start, {})
    assert response.status_code == 409 and "already been started" in response.json()["detail"]


# --- pages ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_page_preview_only_then_start_the_full_mesh(client, user, parts):
    client.force_login(user)
    response = client.post(
        "/meshing/", {"files": upload_of(parts, "plate_with_hole"), "preview_only": "on", "order": 2, "algorithm": "sweep"}
    )
    mesh_job = MeshJob.objects.get()
    assert response.status_code == 302 and not mesh_job.full_mesh_requested
    page = client.get(response.url).content.decode()
    assert "Start the full mesh" in page and "not started" in page
    assert 'name="order"' in page and 'value="2" selected' in page, "the form shows the upload's parameters"

    response = client.post(f"/meshing/{mesh_job.job_id}/mesh/", {"order": 1, "algorithm": "delaunay", "time_budget": 50})
    assert response.status_code == 302
    mesh_job.refresh_from_db()
    assert mesh_job.full_mesh_requested and (mesh_job.params["algorithm"], mesh_job.params["order"]) == ("delaunay", 1)
    page = client.get(response.url).content.decode()
    assert "The full mesh has started." in page and "Start the full mesh" not in page

    client.post(f"/meshing/{mesh_job.job_id}/mesh/", {"order": 1, "algorithm": "delaunay"})
    assert "already been started" in client.get(response.url).content.decode()


@pytest.mark.django_db
def test_preview_only_is_for_a_single_file(client, user, parts):
    client.force_login(user)
    response = client.post(
        "/meshing/",
        {"files": [upload_of(parts, "cube"), upload_of(parts, "l_bracket")], "preview_only": "on", "order": 1,
         "algorithm": "sweep"},
    )
    assert response.status_code == 200 and "Preview only is for a single file" in response.content.decode()
    assert not MeshJob.objects.exists()


# --- end to end -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.e2e
def test_only_the_preview_runs_until_the_full_mesh_is_started(stub_worker, celery_worker, user, parts):
    from jobs.rollout import change_policy, policy_for

    for kind in (services.MESH_KIND, services.PREVIEW_KIND):
        change_policy(policy_for(kind), {"modal_percentage": 100})
    # Committed: the real Celery worker dispatches what the upload queued, the stub worker runs it.
    mesh_job = preview_only_upload(user, parts, {"algorithm": "delaunay", "time_budget": 60})

    def preview_done():
        poll_in_flight()
        mesh_job.preview_job.refresh_from_db()
        return mesh_job.preview_job.is_terminal

    wait_until(preview_done, timeout=60, interval=0.2, message="the preview did not finish")
    mesh_job.refresh_from_db()
    assert mesh_job.preview_job.status == JobStatus.SUCCEEDED, mesh_job.preview_job.error_message
    assert mesh_job.preview_figures["triangle_count"] > 1000
    mesh_job.job.refresh_from_db()
    assert mesh_job.job.status == JobStatus.PENDING and not mesh_job.job.attempts.exists()

    services.request_full_mesh(mesh_job)

    def mesh_done():
        poll_in_flight()
        mesh_job.job.refresh_from_db()
        return mesh_job.job.is_terminal

    wait_until(mesh_done, timeout=90, interval=0.2, message="the full mesh did not finish")
    mesh_job = MeshJob.objects.select_related("result").get(pk=mesh_job.pk)
    assert mesh_job.job.status == JobStatus.SUCCEEDED, mesh_job.job.error_message
    assert mesh_job.result.processor == Processor.MODAL and mesh_job.result.strategy.startswith("delaunay")
    assert mesh_job.result.element_count > 1000
