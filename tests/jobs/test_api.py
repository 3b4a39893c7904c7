"""The jobs API: owners see, retry and cancel only their own jobs."""
import pytest

from jobs.services import create_job
from portal.services import create_api_key
from tests.jobs.factories import failed_job

pytestmark = pytest.mark.django_db


def _auth(user):
    _key, raw = create_api_key(user, "test")
    return {"Authorization": f"Bearer {raw}"}


def test_owner_sees_their_job_with_progress(client, user):
    job = create_job("echo", user, progress_total=4)
    response = client.get(f"/api/jobs/{job.pk}", headers=_auth(user))
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["progress"], body["kind"]) == ("pending", "0/4", "echo")


def test_others_get_404(client, user, other_user):
    job = create_job("echo", user)
    assert client.get(f"/api/jobs/{job.pk}", headers=_auth(other_user)).status_code == 404
    assert client.post(f"/api/jobs/{job.pk}/cancel", headers=_auth(other_user)).status_code == 404
    assert client.get("/api/jobs/", headers=_auth(other_user)).json() == []


def test_anonymous_is_refused(client, user):
    job = create_job("echo", user)
    assert client.get(f"/api/jobs/{job.pk}").status_code == 401


def test_cancel_then_cancel_again(client, user):
    job = create_job("echo", user)
    first = client.post(f"/api/jobs/{job.pk}/cancel", headers=_auth(user))
    assert first.json()["status"] == "cancelled"
    second = client.post(f"/api/jobs/{job.pk}/cancel", headers=_auth(user))
    assert second.status_code == 409


def test_retry_of_a_failed_job(client, user):
    job = failed_job(user)

    response = client.post(f"/api/jobs/{job.pk}/retry", headers=_auth(user))

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert client.post(f"/api/jobs/{job.pk}/retry", headers=_auth(user)).status_code == 409
