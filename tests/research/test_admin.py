"""Operators: templates edited with an inline ordered section list; retry with confirmation and LogEntry."""
import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.test import Client
from django.urls import reverse

from jobs.models import ComputeJob, JobStatus
from research.models import ResearchJob
from research.services import save_section, submit_research

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


def test_a_template_is_edited_with_its_sections_inline(staff_client, template):
    url = reverse("admin:research_researchtemplate_change", args=[template.pk])
    page = staff_client.get(url).content.decode()
    assert page.count('name="sections-') > 13 * 3
    assert "fire-safety requirements" in page

    sections = list(template.sections.order_by("position"))
    form = {"name": template.name, "description": "edited", "sections-TOTAL_FORMS": "14",
            "sections-INITIAL_FORMS": "13", "sections-MIN_NUM_FORMS": "0", "sections-MAX_NUM_FORMS": "1000"}
    for index, section in enumerate(sections):
        form.update({f"sections-{index}-id": section.pk, f"sections-{index}-template": template.pk,
                     f"sections-{index}-position": section.position, f"sections-{index}-title": section.title,
                     f"sections-{index}-prompt": section.prompt})
    form.update({"sections-13-template": template.pk, "sections-13-position": "14", "sections-13-title": "Costs",
                 "sections-13-prompt": "Estimate permit fees for {subject}."})
    response = staff_client.post(url, form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(template.sections.order_by("position").values_list("title", flat=True))[-1] == "Costs"


def test_retry_asks_for_confirmation_then_retries_and_logs(staff_client, user, template):
    research_job = submit_research(user, subject="5 Main St", template=template, provider="custom")
    save_section(research_job, {"position": 1, "title": "t", "content": "c"})
    ComputeJob.objects.filter(pk=research_job.job_id).update(status=JobStatus.FAILED, error_message="boom")
    changelist = reverse("admin:research_researchjob_changelist")
    selection = {"action": "retry_research", "_selected_action": [research_job.pk]}

    confirm_page = staff_client.post(changelist, selection)
    assert confirm_page.status_code == 200
    assert "5 Main St" in confirm_page.content.decode()
    assert ComputeJob.objects.get(pk=research_job.job_id).status == JobStatus.FAILED

    staff_client.post(changelist, {**selection, "confirm": "yes", "reason": "provider is back"})

    assert ComputeJob.objects.get(pk=research_job.job_id).status == JobStatus.PENDING
    entry = LogEntry.objects.get(object_id=str(research_job.pk), action_flag=CHANGE)
    assert "resuming at section 2" in entry.get_change_message() and "provider is back" in entry.get_change_message()
    detail = staff_client.get(reverse("admin:research_researchjob_change", args=[research_job.pk])).content.decode()
    assert str(research_job.job_id) in detail and "5 Main St" in detail
    assert "1/13" in staff_client.get(changelist).content.decode()


def test_the_admin_is_staff_only(user, template):
    client = Client()
    client.force_login(user)
    response = client.get(reverse("admin:research_researchjob_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert ResearchJob.objects.count() == 0
