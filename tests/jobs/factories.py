"""Jobs in given states, made through the engine's own services where they can be."""
from jobs.backends import CallOutcome
from jobs.models import JobAttempt, JobStatus, Processor
from jobs.services import complete_attempt, create_job


def dispatched_job(user, processor=Processor.MODAL, call_id="fc-test"):
    """An "echo" job with an in-flight attempt, without submitting anything anywhere."""
    job = create_job("echo", user)
    job.status, job.attempt_count, job.processor = JobStatus.DISPATCHED, 1, processor
    job.save()
    attempt = JobAttempt.objects.create(job=job, number=1, processor=processor, function_name="test_echo",
                                        status=JobStatus.DISPATCHED, call_id=call_id)
    return job, attempt


def failed_job(user, error_type="boom", message="it broke"):
    job, attempt = dispatched_job(user, processor=Processor.CELERY, call_id="")
    complete_attempt(attempt.pk, CallOutcome.failed(error_type, message))
    job.refresh_from_db()
    return job
