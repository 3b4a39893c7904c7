"""Research jobs end to end against the fake OpenAI server: through the real Modal stub
worker and through a real Celery worker, with sections coming back through the signed
callback endpoint of the live portal as each one finishes."""
import pytest
from django.test import Client

from jobs.models import JobStatus, Processor
from jobs.poller import poll_in_flight
from jobs.rollout import change_policy, policy_for
from jobs.services import dispatch_jobs, retry_job
from portal.services import create_api_key
from research.models import ResearchJob
from research.services import submit_research
from tests.fixtures.services import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

SUBJECT = "1 Infinite Loop, Cupertino, CA"
FIRE_SAFETY = "fire-safety requirements"  # a phrase of section 7's shipped prompt
PROCESSORS = {"modal_stub": 100, "celery": 0}


@pytest.fixture(params=["modal_stub", "celery"])
def processor(request, portal_url):
    """Runs the test once on each processor, with that processor's worker started."""
    request.getfixturevalue("stub_worker" if request.param == "modal_stub" else "celery_worker")
    change_policy(policy_for("research"), {"modal_percentage": PROCESSORS[request.param]})
    return Processor.MODAL if request.param == "modal_stub" else Processor.CELERY


def _finished(job):
    poll_in_flight()  # applies Modal-stub outcomes; Celery tasks apply their own
    job.refresh_from_db()
    return job.is_terminal


def _wait(job, timeout=90, on_tick=None):
    def done():
        if on_tick:
            on_tick()
        return _finished(job)

    wait_until(done, timeout=timeout, interval=0.05, message=f"research job {job.pk} did not finish")
    return job


def _prompts(template, positions):
    sections = {s.position: s.prompt for s in template.sections.all()}
    return [sections[p].replace("{subject}", SUBJECT) for p in positions]


def _start(user, template):
    research_job = submit_research(user, subject=SUBJECT, template=template, provider="custom")
    dispatch_jobs([research_job.job_id])  # a Celery worker may also try: the database lets one claim it
    return research_job


def test_thirteen_sections_are_saved_one_by_one(processor, user, template, fake_llm):
    fake_llm.delay_seconds = 0.05  # so that a poller sees the sections arrive
    _key, raw_key = create_api_key(user, "e2e")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    response = client.post(
        "/api/research/jobs", {"subject": SUBJECT, "template": "Building code check", "provider": "custom"},
        content_type="application/json",
    )
    assert response.status_code == 201
    job_id = response.json()["id"]
    research_job = ResearchJob.objects.get(job_id=job_id)
    dispatch_jobs([job_id])
    seen = []

    def watch():
        progress = client.get(f"/api/research/jobs/{job_id}").json()["progress"]
        if not seen or seen[-1] != progress:
            seen.append(progress)

    job = _wait(research_job.job, on_tick=watch)
    watch()

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.processor == processor
    body = client.get(f"/api/research/jobs/{job_id}").json()
    assert (body["status"], body["progress"]) == ("completed", "13/13")
    assert [s["position"] for s in body["sections"]] == list(range(1, 14))
    assert all(s["content"].startswith("Findings for: ") and s["completion_tokens"] > 0 for s in body["sections"])
    assert body["estimated_llm_cost"] > 0
    # Progress only ever moved forward, one section at a time, ending at 13/13.
    counts = [int(p.split("/")[0]) for p in seen]
    assert counts == sorted(counts) and seen[-1] == "13/13"
    assert len(seen) >= 4, f"expected to watch the sections arrive, saw {seen}"
    # Each section was saved before the next one was asked for: saved through the callback at once.
    asked_at = [r["received_at"] for r in fake_llm.requests]
    saved_at = [s.completed_at.timestamp() for s in research_job.sections.order_by("position")]
    assert all(saved_at[k] < asked_at[k + 1] for k in range(12))
    assert fake_llm.user_prompts() == _prompts(template, range(1, 14))


def test_failure_at_section_seven_then_retry_finishes_seven_to_thirteen_only(processor, user, template, fake_llm):
    fake_llm.fail(FIRE_SAFETY, status=500)
    research_job = _start(user, template)

    job = _wait(research_job.job)

    assert job.status == JobStatus.FAILED
    assert job.error_message == "Section 7 (Fire safety): provider returned 500 after 3 tries"
    research_job.refresh_from_db()
    assert research_job.failure_reason == job.error_message
    assert sorted(research_job.sections.values_list("position", flat=True)) == [1, 2, 3, 4, 5, 6]
    api = Client()
    api.force_login(user)
    body = api.get(f"/api/research/jobs/{job.pk}").json()
    assert (body["status"], body["progress"], body["error"]) == ("failed", "6/13", job.error_message)

    fake_llm.reset()
    retry_job(job)
    job = _wait(job)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.attempt_count == 2
    assert job.attempts.get(number=2).processor == processor
    assert research_job.sections.count() == 13
    assert fake_llm.user_prompts() == _prompts(template, range(7, 14)), "the retry redid no finished section"


def test_rate_limited_twice_is_retried_and_succeeds(processor, user, template, fake_llm):
    fake_llm.fail(FIRE_SAFETY, status=429, times=2)
    research_job = _start(user, template)

    job = _wait(research_job.job)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert fake_llm.user_prompts(status=429) == _prompts(template, [7, 7])
    assert fake_llm.user_prompts(status=200) == _prompts(template, range(1, 14))
    assert research_job.sections.count() == 13
    assert job.log_lines.filter(message__startswith="Section 7 (Fire safety): provider returned 429").count() == 2
