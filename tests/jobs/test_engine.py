"""The job engine's services, with the Celery backend's outcome applied in-process."""
import pytest

from jobs.backends import CallOutcome
from jobs.models import JobAttempt, JobLogLine, JobStatus, Processor, RolloutPolicy
from jobs.rollout import change_policy, policy_for
from jobs.services import (
    JobStateError,
    cancel_job,
    collect_finished_call,
    complete_attempt,
    create_job,
    create_jobs,
    dispatch_jobs,
    fail_overdue_jobs,
    retry_job,
)
from tests.jobs.factories import dispatched_job
from tests.jobs.kinds import set_inputs

pytestmark = pytest.mark.django_db


def test_success_is_ingested_once(user):
    job, attempt = dispatched_job(user)
    outcome = CallOutcome.succeeded({"output": {"value": 7}, "compute_seconds": 2.0})

    assert complete_attempt(attempt.pk, outcome) is True
    assert complete_attempt(attempt.pk, outcome) is False

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.result == {"value": 7}
    assert job.compute_seconds == 2.0
    assert job.estimated_cost > 0
    assert JobLogLine.objects.filter(job=job, message="ingested 7").count() == 1


def test_failure_runs_on_failure_once_and_keeps_the_reason(user):
    job, attempt = dispatched_job(user)
    outcome = CallOutcome.failed("bad_input", "The file is not a PDF")

    complete_attempt(attempt.pk, outcome)
    complete_attempt(attempt.pk, outcome)

    job.refresh_from_db()
    assert (job.status, job.error_type, job.error_message) == (JobStatus.FAILED, "bad_input", "The file is not a PDF")
    assert JobLogLine.objects.filter(job=job, message="on_failure: bad_input").count() == 1


def test_a_late_outcome_of_a_cancelled_job_changes_nothing(user):
    job, attempt = dispatched_job(user, processor=Processor.CELERY)
    assert cancel_job(job, reason="operator said so") is True

    assert complete_attempt(attempt.pk, CallOutcome.succeeded({"output": {"value": 1}})) is False
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.error_message == "operator said so"
    assert cancel_job(job) is False


def test_retry_needs_a_failed_or_cancelled_job(user):
    job, attempt = dispatched_job(user)
    with pytest.raises(JobStateError):
        retry_job(job, dispatch=False)
    complete_attempt(attempt.pk, CallOutcome.failed("x", "boom"))

    retry_job(job, dispatch=False)
    job.refresh_from_db()
    assert (job.status, job.error_type, job.error_message) == (JobStatus.PENDING, "", "")


def test_overdue_calls_fail_with_a_deadline_reason(user):
    from datetime import timedelta

    from django.utils import timezone

    job, attempt = dispatched_job(user, processor=Processor.CELERY)
    job.deadline_at = timezone.now() - timedelta(seconds=1)
    job.save()

    assert fail_overdue_jobs() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_type == "deadline"


def test_create_jobs_in_bulk(user):
    jobs = create_jobs("echo", user, 250)
    assert len({job.pk for job in jobs}) == 250
    assert all(job.status == JobStatus.PENDING for job in jobs)


def test_jobs_are_submitted_in_the_order_given(user):
    """The database hands the rows back in any order; the caller's order is what counts
    (the meshing app lists previews first)."""
    change_policy(policy_for("echo"), {"modal_percentage": 100})  # spawns on the stub: no worker needed
    jobs = create_jobs("echo", user, 6)
    wanted = [jobs[4], jobs[1], jobs[5], jobs[0], jobs[3], jobs[2]]
    assert dispatch_jobs([job.pk for job in wanted]) == 6
    submitted = JobAttempt.objects.order_by("pk").values_list("job_id", flat=True)
    assert list(submitted) == [job.pk for job in wanted]


def test_unknown_kind_is_refused(user):
    with pytest.raises(LookupError):
        create_job("no-such-kind", user)


def test_bucket_is_stable_and_spread(user):
    jobs = create_jobs("echo", user, 400)
    buckets = [job.bucket for job in jobs]
    assert buckets == [job.bucket for job in jobs]
    assert 25 < sum(1 for b in buckets if b < 50) < 375
    assert set(RolloutPolicy.objects.values_list("kind", flat=True)) == set()
    set_inputs(jobs[0], value=1)


def test_a_finished_notice_that_beats_the_stored_call_id_is_left_to_the_poller(user):
    job, attempt = dispatched_job(user, call_id="")  # spawned, its call id not stored yet
    assert collect_finished_call(attempt.pk, wait_seconds=0) is False
    attempt.refresh_from_db()
    assert attempt.status == JobStatus.DISPATCHED


def test_complete_attempt_with_the_job_id_given_applies_the_outcome_once(user):
    job, attempt = dispatched_job(user)
    outcome = CallOutcome.failed("boom", "it broke")
    assert complete_attempt(attempt.pk, outcome, job_id=job.pk) is True
    assert complete_attempt(attempt.pk, outcome, job_id=job.pk) is False
    job.refresh_from_db()
    assert (job.status, job.error_message) == (JobStatus.FAILED, "it broke")
