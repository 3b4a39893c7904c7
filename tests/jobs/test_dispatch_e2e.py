"""Dispatch end to end: the real Modal stub worker, a real Celery worker and broker,
callbacks to the live portal, and the poller applying outcomes."""
import pytest
from django.test import override_settings

from jobs.models import JobLogLine, JobStatus, Processor
from jobs.poller import poll_in_flight
from jobs.rollout import change_policy, policy_for
from jobs.services import create_job, dispatch_jobs, retry_job
from tests.fixtures.services import wait_until
from tests.jobs.kinds import set_inputs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def _finished(job):
    poll_in_flight()
    job.refresh_from_db()
    return job.is_terminal


def _run(job, timeout=60):
    wait_until(lambda: _finished(job), timeout=timeout, message=f"job {job.pk} did not finish")
    return job


def _job(user, percentage, **inputs):
    change_policy(policy_for("echo"), {"modal_percentage": percentage})
    job = create_job("echo", user)
    set_inputs(job, **inputs)
    return job


def test_a_job_runs_on_the_modal_stub(user, stub_worker):
    job = _job(user, 100, value="hello", steps=2)
    assert dispatch_jobs([job.pk]) == 1

    _run(job)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.processor == Processor.MODAL
    assert job.result["value"] == "hello"
    attempt = job.attempts.get()
    assert attempt.call_id.startswith("fc-")
    assert attempt.compute_seconds > 0
    # Progress and log lines came back through the signed callback endpoint.
    assert job.progress_done == job.progress_total == 2
    assert JobLogLine.objects.filter(job=job, message="did step 2").exists()


def test_a_job_runs_on_celery(user, celery_worker):
    job = _job(user, 0, value=42, sleep=0.3)
    dispatch_jobs([job.pk])

    _run(job)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert job.processor == Processor.CELERY
    assert job.result["value"] == 42
    assert job.estimated_cost > 0


def test_the_percentage_really_splits_traffic(user, stub_worker, celery_worker):
    change_policy(policy_for("echo"), {"modal_percentage": 50})
    jobs = [create_job("echo", user) for _ in range(16)]
    for job in jobs:
        set_inputs(job, value=str(job.pk))
    dispatch_jobs([job.pk for job in jobs])

    for job in jobs:
        _run(job, timeout=120)

    processors = {job.processor for job in jobs}
    assert processors == {Processor.MODAL, Processor.CELERY}
    for job in jobs:
        assert job.status == JobStatus.SUCCEEDED
        assert job.processor == (Processor.MODAL if job.bucket < 50 else Processor.CELERY)


def test_a_failed_spawn_falls_back_to_celery(user, celery_worker):
    job = _job(user, 100, value="fallback")
    # No app of this name is deployed: the lookup fails like Modal's does, and the job runs on Celery.
    with override_settings(MODAL_APP_NAME="app-that-is-not-deployed"):
        dispatch_jobs([job.pk])

    _run(job)

    assert job.status == JobStatus.SUCCEEDED
    assert job.processor == Processor.CELERY
    attempt = job.attempts.get()
    assert attempt.fell_back is True
    assert JobLogLine.objects.filter(job=job, message__startswith="Modal spawn failed").exists()


def test_failure_reason_and_retry(user, stub_worker):
    job = _job(user, 100, bad_input="The file is not a PDF")
    dispatch_jobs([job.pk])
    _run(job)
    assert (job.status, job.error_type, job.error_message) == (JobStatus.FAILED, "bad_input", "The file is not a PDF")

    set_inputs(job, value="second time")
    retry_job(job)
    _run(job)

    assert job.status == JobStatus.SUCCEEDED
    assert job.attempt_count == 2
    assert [a.status for a in job.attempts.order_by("number")] == [JobStatus.FAILED, JobStatus.SUCCEEDED]
    assert job.attempts.get(number=2).processor == Processor.MODAL  # a retry stays on its side


def test_a_crashing_core_fails_the_job_and_the_worker_survives(user, stub_worker, celery_worker):
    modal_job = _job(user, 100, crash=True)
    dispatch_jobs([modal_job.pk])
    celery_job = _job(user, 0, crash=True)
    dispatch_jobs([celery_job.pk])

    for job in (modal_job, celery_job):
        _run(job)
        assert job.status == JobStatus.FAILED
        assert job.error_message

    assert stub_worker.alive() and celery_worker.alive()
    after = _job(user, 0, value="still alive")
    dispatch_jobs([after.pk])
    assert _run(after).status == JobStatus.SUCCEEDED


def test_a_finished_call_is_collected_without_waiting_for_the_poller(user, stub_worker, celery_worker):
    job = _job(user, 100, value="quick")
    dispatch_jobs([job.pk])

    def done():
        job.refresh_from_db()  # no poll_in_flight() here: the "finished" callback triggers collection
        return job.is_terminal

    wait_until(done, timeout=30, message="the finished call was not collected")
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts.get().result_ready is True
