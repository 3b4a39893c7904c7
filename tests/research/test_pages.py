"""The research pages: form and list, the job page, its live updates (real browser), owner-only."""
import re

import pytest
from django.test import Client
from django.urls import reverse

from jobs.models import ComputeJob, JobStatus
from research.models import ResearchJob
from research.services import save_section

SUBJECT = "350 Fifth Avenue, New York, NY"


def _research_job(owner, template) -> ResearchJob:
    """A research job as a submission leaves it, created directly so that nothing dispatches it."""
    plan = [{"position": s.position, "title": s.title, "prompt": s.prompt} for s in template.sections.all()]
    job = ComputeJob.objects.create(kind="research", owner=owner, progress_total=len(plan))
    return ResearchJob.objects.create(
        owner=owner, subject=SUBJECT, template=template, provider="custom", model="fake-model-1", section_plan=plan, job=job
    )


def _section(position: int) -> dict:
    return {"position": position, "title": f"Title {position}", "content": f"Content of section {position}",
            "prompt_tokens": 10, "completion_tokens": 20, "latency_ms": 30, "estimated_cost": 0.001}


@pytest.mark.django_db
def test_the_form_starts_a_job_and_lands_on_its_page(user, template, django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(user)
    assert "Building code check (13 sections)" in client.get("/research/").content.decode()

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/research/", {"subject": SUBJECT, "template": template.pk, "provider": "custom"})

    research_job = ResearchJob.objects.get(owner=user)
    assert response.status_code == 302
    assert response["Location"] == reverse("research:detail", args=[research_job.job_id])
    assert len(callbacks) == 1
    listing = client.get("/research/").content.decode()
    assert SUBJECT in listing and "0/13" in listing


@pytest.mark.django_db
def test_a_refused_submission_says_why(user, template):
    client = Client()
    client.force_login(user)
    response = client.post("/research/", {"subject": "", "template": template.pk, "provider": "custom"}, follow=True)
    assert "A subject is required" in response.content.decode()
    assert not ResearchJob.objects.exists()


@pytest.mark.django_db
def test_job_pages_are_owner_only(user, other_user, template):
    research_job = _research_job(user, template)
    client = Client()
    client.force_login(other_user)
    assert client.get(reverse("research:detail", args=[research_job.job_id])).status_code == 404
    assert client.get(reverse("research:status", args=[research_job.job_id])).status_code == 404
    assert SUBJECT not in client.get("/research/").content.decode()
    assert Client().get(reverse("research:detail", args=[research_job.job_id])).status_code == 302  # to login


@pytest.mark.django_db(transaction=True)
def test_the_job_page_updates_live_as_sections_arrive(logged_in_page, user, template):
    from playwright.sync_api import expect

    research_job = _research_job(user, template)
    page = logged_in_page
    page.goto(reverse("research:detail", args=[research_job.job_id]))
    expect(page.locator("#job-progress")).to_have_text("0/13")

    for position in (1, 2):
        save_section(research_job, _section(position))
    ComputeJob.objects.filter(pk=research_job.job_id).update(status=JobStatus.RUNNING)

    expect(page.locator("#job-progress")).to_have_text("2/13", timeout=10_000)
    expect(page.locator("#job-status")).to_have_text("processing")
    expect(page.locator("#sections .section")).to_have_count(2)
    expect(page.locator("#sections .section").nth(1)).to_contain_text("Content of section 2")

    reason = "Section 3 (Title 3): provider returned 500 after 3 tries"
    ComputeJob.objects.filter(pk=research_job.job_id).update(status=JobStatus.FAILED, error_message=reason)
    ResearchJob.objects.filter(pk=research_job.pk).update(failure_reason=reason)
    expect(page.locator("#job-status")).to_have_text("failed", timeout=10_000)
    expect(page.locator("#job-error")).to_have_text(re.compile(re.escape(reason)))
