"""REST API /api/research/: submit returns an id at once; reads are owner-only."""
import pytest
from django.test import Client

from credits.services import account_for
from jobs.models import JobStatus
from portal.services import create_api_key
from research.models import ResearchJob
from research.services import save_section

pytestmark = pytest.mark.django_db
SUBJECT = "10 Downing Street, London"


def _api_client(user) -> Client:
    _key, raw_key = create_api_key(user, "tests")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def _submit(client, **overrides):
    body = {"subject": SUBJECT, "template": "Building code check", "provider": "custom", **overrides}
    return client.post("/api/research/jobs", body, content_type="application/json")


def test_post_returns_the_job_id_at_once_and_dispatches_after_commit(user, template, fake_llm, django_capture_on_commit_callbacks):
    client = _api_client(user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _submit(client, template=template.pk, model="fake-model-2")

    assert response.status_code == 201, response.content
    body = response.json()
    research_job = ResearchJob.objects.get(job_id=body["id"])
    assert (body["status"], body["progress"]) == ("pending", "0/13")
    assert research_job.job.status == JobStatus.PENDING
    assert research_job.model == "fake-model-2"
    assert len(callbacks) == 1, "dispatch is scheduled for after the commit, not done in the request"
    assert fake_llm.requests == [], "no LLM call happens inside the request"


def test_get_shows_status_progress_and_the_sections_so_far(user, template):
    client = _api_client(user)
    job_id = _submit(client).json()["id"]
    research_job = ResearchJob.objects.get(job_id=job_id)
    for position in (1, 2):
        save_section(research_job, {"position": position, "title": f"T{position}", "content": f"text {position}",
                                    "prompt_tokens": 100, "completion_tokens": 50, "latency_ms": 80,
                                    "estimated_cost": 0.125})

    body = client.get(f"/api/research/jobs/{job_id}").json()

    assert body["progress"] == "2/13"
    assert body["status"] == "pending"
    assert [s["content"] for s in body["sections"]] == ["text 1", "text 2"]
    assert body["sections"][0]["prompt_tokens"] == 100
    assert body["estimated_llm_cost"] == pytest.approx(0.25)
    assert body["error"] == ""


def test_list_and_detail_are_owner_only(user, other_user, template):
    mine = _submit(_api_client(user)).json()["id"]
    other_client = _api_client(other_user)
    theirs = _submit(other_client, subject="Elsewhere 1").json()["id"]

    assert other_client.get(f"/api/research/jobs/{mine}").status_code == 404
    listed = other_client.get("/api/research/jobs").json()
    assert [item["id"] for item in listed["items"]] == [theirs]
    assert listed["items"][0]["progress"] == "0/13"


def test_bad_submissions_are_400_with_a_reason(user, template):
    client = _api_client(user)
    assert _submit(client, subject="").json()["detail"].startswith("A subject is required")
    response = _submit(client, template="Unknown")
    assert response.status_code == 400
    assert "No research template" in response.json()["detail"]
    assert _submit(client, provider="acme").status_code == 400
    assert ResearchJob.objects.count() == 0


def test_a_submission_the_balance_cannot_cover_is_402_and_leaves_nothing(user, template, settings):
    settings.CREDITS_PER_RESEARCH_JOB = account_for(user).balance + 1
    response = _submit(_api_client(user))
    assert response.status_code == 402
    assert "Nothing was charged" in response.json()["detail"]
    assert ResearchJob.objects.count() == 0


def test_templates_and_providers_are_listed_without_secrets(user, template):
    client = _api_client(user)
    templates = client.get("/api/research/templates").json()
    assert {"name": "Building code check", "section_count": 13}.items() <= next(
        t for t in templates if t["name"] == "Building code check"
    ).items()
    providers = client.get("/api/research/providers").json()
    assert {"name": "custom", "default_model": "fake-model-1"} in providers
    assert "api_key" not in str(providers) and "_env" not in str(providers)


def test_anonymous_requests_are_refused(template):
    assert Client().get("/api/research/jobs").status_code == 401
    assert _submit(Client()).status_code == 401
