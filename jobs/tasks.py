"""Celery tasks of the job engine: thin wrappers over services."""
import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from jobs.backends import CallOutcome

logger = logging.getLogger(__name__)


@shared_task(name="jobs.run_compute_call", acks_late=True)
def run_compute_call(function_name: str, payload: dict) -> str:
    """Run a declared compute function on this Celery worker and apply the outcome."""
    from jobs.runtime import run_function
    from jobs.services import complete_attempt

    try:
        outcome = CallOutcome.succeeded(run_function(function_name, payload))
    except SoftTimeLimitExceeded:
        outcome = CallOutcome.failed("timeout", "The Celery task ran past its time limit")
    except Exception as exc:  # noqa: BLE001 - the handler's failure is the job's, not the worker's
        outcome = CallOutcome.from_exception(exc)
    complete_attempt(payload["attempt_id"], outcome)
    return outcome.state


@shared_task(name="jobs.poll_calls", ignore_result=True)
def poll_calls() -> dict:
    from jobs.poller import poll_in_flight

    report = poll_in_flight()
    return report.__dict__


@shared_task(name="jobs.dispatch", ignore_result=True)
def dispatch_jobs_task(job_ids: list[str]) -> int:
    from jobs.services import dispatch_jobs

    return dispatch_jobs(job_ids)


@shared_task(name="jobs.collect_call", ignore_result=True)
def collect_call(attempt_id: int, job_id=None, call_id: str = "", result=None) -> bool:
    """A function said it finished: apply its result now (the poller is the safety net)."""
    from django.conf import settings

    from jobs.services import collect_finished_call

    return collect_finished_call(
        attempt_id, settings.JOB_COLLECT_WAIT_SECONDS, job_id=job_id, call_id=call_id, result=result
    )
