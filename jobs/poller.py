"""One tick of the Celery beat poller over in-flight Modal calls.

Calls the function reported finished are polled first; the rest are swept in
bounded batches, round-robin, with the cursor kept in the cache so that a
tick where nothing changed writes nothing to the database. Deadlines catch
calls that never finish, on either processor.
"""
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from jobs.backends import get_backend
from jobs.models import IN_FLIGHT, JobAttempt, Processor
from jobs.services import complete_attempt, fail_overdue_jobs

CURSOR_KEY = "jobs:poll-cursor"


@dataclass
class TickReport:
    polled: int = 0
    finished: int = 0
    overdue: int = 0


def _in_flight_modal():
    return JobAttempt.objects.filter(status__in=IN_FLIGHT, processor=Processor.MODAL).exclude(call_id="")


# (attempt id, call id, job id): the job id spares complete_attempt a query per finished call.
CALL_FIELDS = ("pk", "call_id", "job_id")


def _calls_to_poll(batch_size: int) -> list[tuple[int, str, int]]:
    ready = list(_in_flight_modal().filter(result_ready=True).order_by("pk").values_list(*CALL_FIELDS)[:batch_size])
    budget = batch_size - len(ready)
    if budget <= 0:
        return ready
    cursor = cache.get(CURSOR_KEY, 0)
    sweep = list(
        _in_flight_modal().filter(result_ready=False, pk__gt=cursor).order_by("pk").values_list(*CALL_FIELDS)[:budget]
    )
    # A short page means the sweep reached the end: start again from the beginning next tick.
    cache.set(CURSOR_KEY, sweep[-1][0] if len(sweep) == budget else 0, timeout=None)
    return ready + sweep


def poll_in_flight(batch_size: int | None = None) -> TickReport:
    report = TickReport(overdue=fail_overdue_jobs())
    calls = _calls_to_poll(batch_size or settings.JOB_POLL_BATCH_SIZE)
    if not calls:
        return report
    attempt_by_call = {call_id: (attempt_id, job_id) for attempt_id, call_id, job_id in calls}
    outcomes = get_backend(Processor.MODAL).poll(attempt_by_call)
    report.polled = len(calls)
    for call_id, outcome in outcomes.items():
        attempt_id, job_id = attempt_by_call[call_id]
        if outcome.finished and complete_attempt(attempt_id, outcome, job_id=job_id):
            report.finished += 1
    return report
