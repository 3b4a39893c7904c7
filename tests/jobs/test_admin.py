"""Operators in the admin: retry and cancel behind a confirmation page, audited policy edits."""
import pytest
from django.contrib.admin.models import LogEntry

from jobs.models import ComputeJob, JobStatus, RolloutPolicy, RolloutPolicyChange
from jobs.services import create_job
from tests.jobs.factories import failed_job

pytestmark = pytest.mark.django_db


def test_retry_asks_for_confirmation_first(client, staff_user, user):
    job = failed_job(user)
    client.force_login(staff_user)

    page = client.post("/admin/jobs/computejob/", {"action": "retry_jobs", "_selected_action": [job.pk]})

    assert page.status_code == 200
    assert b"are you sure?" in page.content
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_confirmed_retry_requeues_and_logs(client, staff_user, user):
    job = failed_job(user)
    client.force_login(staff_user)

    # dispatch happens on commit; in this test's transaction it never commits, so the job stays pending
    response = client.post("/admin/jobs/computejob/", {"action": "retry_jobs", "_selected_action": [job.pk],
                                                       "confirm": "yes", "reason": "transient"})

    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    entry = LogEntry.objects.get(object_id=str(job.pk))
    assert entry.user == staff_user
    assert "transient" in entry.get_change_message()


def test_cancel_from_the_admin(client, staff_user, user):
    job = create_job("echo", user)
    client.force_login(staff_user)
    client.post("/admin/jobs/computejob/", {"action": "cancel_jobs", "_selected_action": [job.pk], "confirm": "yes"})
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert LogEntry.objects.filter(object_id=str(job.pk)).count() == 1


def test_non_staff_cannot_reach_the_admin(client, user):
    client.force_login(user)
    response = client.get("/admin/jobs/computejob/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_changelist_shows_counts_per_kind_and_status(client, staff_user, user):
    failed_job(user)
    create_job("echo", user)
    client.force_login(staff_user)
    response = client.get("/admin/jobs/computejob/")
    assert response.context["status_counts"] == {"echo": {"failed": 1, "pending": 1}}


def test_policy_edits_are_audited(client, staff_user):
    policy = RolloutPolicy.objects.create(kind="echo")
    client.force_login(staff_user)

    response = client.post(f"/admin/jobs/rolloutpolicy/{policy.pk}/change/", {
        "kind": "echo", "modal_percentage": 25, "fallback_to_celery": "on", "rollback_error_rate": 0.5,
        "rollback_window_minutes": 15, "rollback_min_attempts": 20, "monthly_budget_usd": "",
        "changes-TOTAL_FORMS": 0, "changes-INITIAL_FORMS": 0,
    })

    assert response.status_code == 302, response.content[:2000]
    change = RolloutPolicyChange.objects.get(policy=policy)
    assert change.changes == {"modal_percentage": [100, 25]}
    assert change.changed_by == staff_user
    assert LogEntry.objects.filter(object_id=str(policy.pk)).exists()
    assert ComputeJob.objects.count() == 0
