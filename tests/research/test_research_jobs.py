"""The "research" job kind with the engine in this process: submission, credits, section
callbacks through the real callback endpoint (live server), failure, retry and resume."""
import json
from decimal import Decimal

import pytest

from credits.selectors import balance_of
from jobs.backends import CallOutcome
from jobs.callbacks import callback_key, callback_url
from jobs.isolation import CoreError
from jobs.models import JobAttempt, JobStatus
from jobs.services import complete_attempt, retry_job
from research.compute import handle_research
from research.models import ResearchSection, ResearchTemplate
from research.services import (
    ResearchInputError,
    build_payload,
    ingest_result,
    record_section_event,
    save_section,
    submit_research,
)
from tests.research.conftest import LLM_KEY, LLM_KEY_ENV

SUBJECT = "1600 Pennsylvania Avenue NW, Washington, DC"
FIRE_SAFETY = "fire-safety requirements"  # a phrase of section 7's shipped prompt


def _start_attempt(job) -> dict:
    """What the engine does at dispatch, minus sending it anywhere: a new attempt and its payload."""
    job.refresh_from_db()
    job.status = JobStatus.DISPATCHED
    job.attempt_count += 1
    job.save()
    attempt = JobAttempt.objects.create(
        job=job, number=job.attempt_count, processor="celery", function_name="run_research", status=JobStatus.DISPATCHED
    )
    payload = build_payload(job)
    payload.update(attempt_id=attempt.pk, callback_url=callback_url(attempt.pk), callback_key=callback_key(attempt.pk))
    return {"attempt": attempt, "payload": payload}


def _run(started) -> CallOutcome:
    try:
        output = handle_research(**started["payload"])
    except CoreError as exc:
        outcome = CallOutcome.from_exception(exc)
    else:
        outcome = CallOutcome.succeeded({"output": output, "compute_seconds": 1.0})
    complete_attempt(started["attempt"].pk, outcome)
    return outcome


@pytest.mark.django_db
def test_the_building_code_template_ships_thirteen_sections():
    # Straight from the data migration (non-transactional tests run before any flush).
    sections = list(ResearchTemplate.objects.get(name="Building code check").sections.order_by("position"))
    assert [s.position for s in sections] == list(range(1, 14))
    assert sections[6].title == "Fire safety"
    assert all("{subject}" in s.prompt for s in sections)


def test_submission_snapshots_the_plan_charges_credits_and_stays_pending(user, template):
    before = balance_of(user)
    research_job = submit_research(user, subject=f"  {SUBJECT} ", template="Building code check", provider="custom")

    assert research_job.subject == SUBJECT
    assert research_job.model == "fake-model-1"
    assert research_job.job.status == JobStatus.PENDING
    assert research_job.job.kind == "research"
    assert research_job.job.progress_total == 13
    assert [item["title"] for item in research_job.section_plan][6] == "Fire safety"
    assert balance_of(user) == before - 10


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"subject": "  "}, "A subject is required"),
        ({"template": "No such template"}, "No research template"),
        ({"provider": "nope"}, "Unknown LLM provider 'nope'"),
    ],
)
def test_unusable_submissions_are_refused_and_charge_nothing(user, template, fields, message):
    before = balance_of(user)
    arguments = {"subject": SUBJECT, "template": template.pk, "provider": "custom", **fields}
    with pytest.raises(ResearchInputError, match=message):
        submit_research(user, **arguments)
    assert balance_of(user) == before


def test_the_payload_names_the_key_variable_and_never_carries_the_key(user, template, fake_llm):
    research_job = submit_research(user, subject=SUBJECT, template=template, provider="custom")
    payload = build_payload(research_job.job)

    assert payload["provider"]["base_url"] == fake_llm.base_url
    assert payload["provider"]["api_key_env"] == LLM_KEY_ENV
    assert payload["completed_positions"] == []
    assert len(payload["sections"]) == 13
    assert LLM_KEY not in json.dumps(payload)


def test_a_section_is_saved_once_and_progress_only_moves_forward(user, template):
    research_job = submit_research(user, subject=SUBJECT, template=template, provider="custom")
    job = research_job.job
    data = {"position": 2, "title": "Zoning", "content": "first", "prompt_tokens": 5, "completion_tokens": 7,
            "latency_ms": 12, "estimated_cost": 0.0125}

    assert save_section(research_job, data) is True
    assert save_section(research_job, {**data, "content": "second"}) is False
    record_section_event(job, "section", {**data, "position": 1})
    job.refresh_from_db()
    assert job.progress_done == 2

    section = ResearchSection.objects.get(research_job=research_job, position=2)
    assert (section.content, section.completion_tokens, section.estimated_cost) == ("first", 7, Decimal("0.0125"))
    with pytest.raises(ValueError, match="Section 14 is not part"):
        save_section(research_job, {**data, "position": 14})


def test_ingest_saves_sections_whose_callbacks_were_lost_and_refuses_an_incomplete_result(user, template):
    research_job = submit_research(user, subject=SUBJECT, template=template, provider="custom")
    sections = [{"position": p, "title": f"t{p}", "content": f"c{p}"} for p in range(1, 13)]

    with pytest.raises(ValueError, match="missing sections 13"):
        ingest_result(research_job.job, {"sections": sections})
    ingest_result(research_job.job, {"sections": sections + [{"position": 13, "title": "t13", "content": "c13"}]})
    assert research_job.sections.count() == 13


@pytest.mark.django_db(transaction=True)
def test_failure_at_section_seven_then_retry_resumes_at_seven(portal_url, user, template, fake_llm):
    start_balance = balance_of(user)
    research_job = submit_research(user, subject=SUBJECT, template=template, provider="custom")
    job = research_job.job
    fake_llm.fail(FIRE_SAFETY, status=500)

    first = _run(_start_attempt(job))

    job.refresh_from_db()
    research_job.refresh_from_db()
    assert first.state == "failed"
    assert job.status == JobStatus.FAILED
    assert job.error_message == "Section 7 (Fire safety): provider returned 500 after 3 tries"
    assert research_job.failure_reason == job.error_message
    # Sections 1-6 were saved through the callback endpoint as each one finished.
    assert sorted(research_job.sections.values_list("position", flat=True)) == [1, 2, 3, 4, 5, 6]
    assert job.progress_done == 6
    assert balance_of(user) == start_balance, "a failed run is refunded"

    fake_llm.reset()
    retry_job(job, dispatch=False)
    assert balance_of(user) == start_balance - 10, "a retry is a new run, charged again"
    second = _start_attempt(job)
    assert second["payload"]["completed_positions"] == [1, 2, 3, 4, 5, 6]
    _run(second)

    job.refresh_from_db()
    research_job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert (job.progress_done, job.progress_total) == (13, 13)
    assert research_job.failure_reason == ""
    assert research_job.sections.count() == 13
    prompts = fake_llm.user_prompts()
    expected = [s.prompt.replace("{subject}", SUBJECT) for s in template.sections.filter(position__gte=7).order_by("position")]
    assert prompts == expected, "the retry asked for sections 7-13 only"
    assert balance_of(user) == start_balance - 10


def test_cancelling_refunds_once_and_keeps_the_reason(user, staff_user, template):
    from jobs.services import cancel_job

    before = balance_of(user)
    research_job = submit_research(user, subject=SUBJECT, template=template, provider="custom")
    assert balance_of(user) == before - 10

    assert cancel_job(research_job.job, actor=staff_user, reason="Wrong address") is True
    assert cancel_job(research_job.job, actor=staff_user) is False

    research_job.refresh_from_db()
    assert research_job.job.status == JobStatus.CANCELLED
    assert research_job.failure_reason == "Wrong address"
    assert (balance_of(user), research_job.credits_held) == (before, 0)
