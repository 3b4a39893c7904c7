"""The job engine's writes: create, dispatch, complete, retry, cancel, events.

The poller, the callback endpoint, Celery tasks and an operator's retry can
race on one job. The database decides: row locks (job first, then attempt)
and conditional updates, never a Python-side check of a value read earlier.
"""
import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, prefetch_related_objects
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs.backends import CallOutcome, SpawnError, get_backend
from jobs.callbacks import callback_key, callback_url
from jobs.models import IN_FLIGHT, TERMINAL, ComputeJob, JobAttempt, JobLogLine, JobStatus, Processor
from jobs.registry import get_kind
from jobs.rollout import check_automatic_rollback, choose_processor, over_budget, policy_for
from portal.compute_functions import get_function

logger = logging.getLogger(__name__)

DEADLINE_MARGIN_SECONDS = 300


class JobStateError(Exception):
    """The job is not in a state that allows this operation."""


# --- creating -------------------------------------------------------------


def create_job(kind: str, owner, *, progress_total: int = 0) -> ComputeJob:
    get_kind(kind)
    return ComputeJob.objects.create(kind=kind, owner=owner, progress_total=progress_total)


def create_jobs(kind: str, owner, count: int, *, progress_total: int = 0) -> list[ComputeJob]:
    get_kind(kind)
    jobs = [ComputeJob(kind=kind, owner=owner, progress_total=progress_total) for _ in range(count)]
    return ComputeJob.objects.bulk_create(jobs, batch_size=2000)


# --- dispatching ----------------------------------------------------------


def dispatch_jobs_later(job_ids) -> None:
    """Dispatch from a Celery worker, in batches, once the current transaction commits."""
    from jobs.tasks import dispatch_jobs_task

    ids = [str(job_id) for job_id in job_ids]
    batch_size = settings.JOB_DISPATCH_BATCH_SIZE

    def enqueue():
        for start in range(0, len(ids), batch_size):
            dispatch_jobs_task.delay(ids[start : start + batch_size])

    transaction.on_commit(enqueue)


def dispatch_jobs(job_ids) -> int:
    """Claim pending jobs, pick a processor per job, submit; return how many were submitted."""
    job_ids = list(job_ids)
    submitted = 0
    for start in range(0, len(job_ids), settings.JOB_DISPATCH_BATCH_SIZE):
        submitted += _dispatch_batch(job_ids[start : start + settings.JOB_DISPATCH_BATCH_SIZE])
    return submitted


def _dispatch_batch(job_ids) -> int:
    attempts = _claim_and_create_attempts(job_ids)
    if not attempts:
        return 0
    backends = {}
    to_save = []
    failed = []
    for attempt in attempts:
        try:
            _submit(attempt, backends)
            to_save.append(attempt)
        except SpawnError as exc:
            failed.append((attempt, exc))
    _save_submissions(to_save)
    fallen_back = [a.job_id for a in to_save if a.fell_back]
    if fallen_back:
        ComputeJob.objects.filter(pk__in=fallen_back).update(processor=Processor.CELERY)
    for attempt, exc in failed:
        complete_attempt(attempt.pk, CallOutcome.failed("spawn_failed", f"Could not start the job: {exc}"))
    return len(to_save)


def _save_submissions(attempts: list[JobAttempt]) -> None:
    """Store each attempt's call id in one UPDATE ... FROM (VALUES ...) per 1,000 attempts.

    Django's bulk_update builds a CASE per field and row in Python: a quarter of a
    21,000-job dispatch.
    """
    table = JobAttempt._meta.db_table
    for start in range(0, len(attempts), 1000):
        batch = attempts[start : start + 1000]
        rows = ", ".join(["(%s::bigint, %s, %s, %s::boolean)"] * len(batch))
        params = [value for a in batch for value in (a.pk, a.call_id, a.processor, a.fell_back)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS a SET call_id = v.call_id, processor = v.processor, fell_back = v.fell_back "
                f"FROM (VALUES {rows}) AS v(id, call_id, processor, fell_back) WHERE a.id = v.id",
                params,
            )


def _claim_and_create_attempts(job_ids) -> list[JobAttempt]:
    now = timezone.now()
    with transaction.atomic():
        jobs = list(
            ComputeJob.objects.select_for_update(skip_locked=True).filter(pk__in=job_ids, status=JobStatus.PENDING)
        )
        if not jobs:
            return []
        _in_given_order(jobs, job_ids)
        _prefetch_for_payloads(jobs)
        policies = {}
        budget_exhausted = {}
        attempts = []
        for job in jobs:
            if job.kind not in policies:
                policies[job.kind] = policy_for(job.kind)
                budget_exhausted[job.kind] = over_budget(policies[job.kind])
            kind = get_kind(job.kind)
            function = get_function(kind.function_for(job))
            job.processor = choose_processor(job, policies[job.kind], budget_exhausted[job.kind])
            job.status = JobStatus.DISPATCHED
            job.attempt_count += 1
            job.dispatched_at = now
            job.progress_done = 0
            job.deadline_at = now + timedelta(seconds=_deadline_seconds(kind, function))
            attempts.append(
                JobAttempt(
                    job=job,
                    number=job.attempt_count,
                    processor=job.processor,
                    function_name=function.name,
                    status=JobStatus.DISPATCHED,
                    submitted_at=now,
                )
            )
        _mark_dispatched(jobs, now)
        return JobAttempt.objects.bulk_create(attempts, batch_size=2000)


def _in_given_order(jobs: list[ComputeJob], job_ids) -> None:
    """Submit in the caller's order (the database returns rows in any order): the meshing app
    lists the previews first, as those are what the user waits for."""
    position = {str(job_id): index for index, job_id in enumerate(job_ids)}
    jobs.sort(key=lambda job: position.get(str(job.pk), len(position)))


def _mark_dispatched(jobs: list[ComputeJob], now) -> None:
    """One UPDATE per (processor, deadline) group: the jobs of a batch share nearly everything,
    and Django's bulk_update (a CASE per field and row) was half of a 21,000-job dispatch."""
    groups: dict[tuple, list] = {}
    for job in jobs:
        groups.setdefault((job.processor, job.deadline_at), []).append(job.pk)
    for (processor, deadline_at), pks in groups.items():
        # The rows are locked by this transaction, so attempt_count + 1 is what each job holds.
        ComputeJob.objects.filter(pk__in=pks).update(
            processor=processor, status=JobStatus.DISPATCHED, attempt_count=F("attempt_count") + 1,
            dispatched_at=now, progress_done=0, deadline_at=deadline_at,
        )


def _prefetch_for_payloads(jobs: list[ComputeJob]) -> None:
    by_kind: dict[str, list[ComputeJob]] = {}
    for job in jobs:
        by_kind.setdefault(job.kind, []).append(job)
    for kind_name, kind_jobs in by_kind.items():
        prefetch = get_kind(kind_name).prefetch
        if prefetch:
            prefetch_related_objects(kind_jobs, *prefetch)


def _deadline_seconds(kind, function) -> int:
    if kind.deadline_seconds:
        return kind.deadline_seconds
    return function.timeout * (function.retries + 1) + DEADLINE_MARGIN_SECONDS


def _payload(attempt: JobAttempt) -> dict:
    payload = dict(get_kind(attempt.job.kind).build_payload(attempt.job))
    payload.update(
        attempt_id=attempt.pk,
        callback_url=callback_url(attempt.pk),
        callback_key=callback_key(attempt.pk),
    )
    return payload


def _submit(attempt: JobAttempt, backends: dict) -> None:
    """Submit on the chosen processor; fall back to Celery when a Modal spawn fails."""
    payload = _payload(attempt)
    backend = _backend(attempt.processor, backends)
    try:
        attempt.call_id = backend.submit(attempt.function_name, payload)
        return
    except SpawnError as exc:
        if attempt.processor != Processor.MODAL or not policy_for(attempt.job.kind).fallback_to_celery:
            raise
        logger.warning("Modal spawn failed for job %s, falling back to Celery: %s", attempt.job_id, exc)
        JobLogLine.objects.create(
            job_id=attempt.job_id, attempt=attempt, level="warning", message=f"Modal spawn failed, running on Celery: {exc}"
        )
    attempt.processor = Processor.CELERY
    attempt.fell_back = True
    attempt.call_id = _backend(Processor.CELERY, backends).submit(attempt.function_name, payload)


def _backend(processor: str, backends: dict):
    if processor not in backends:
        backends[processor] = get_backend(processor)
    return backends[processor]


# --- completing -----------------------------------------------------------


def estimated_cost(processor: str, function_name: str, seconds: float) -> Decimal:
    prices = settings.COMPUTE_PRICES_PER_SECOND
    if processor == Processor.CELERY:
        per_second = prices["celery_second"]
    else:
        function = get_function(function_name)
        per_second = function.cpu * prices["cpu"] + function.memory / 1024 * prices["memory_gib"]
        if function.gpu:
            per_second += prices.get(f"gpu:{function.gpu.split(':')[0]}", prices["gpu:A10G"])
    return Decimal(str(round(seconds * per_second, 8)))


def complete_attempt(attempt_id: int, outcome: CallOutcome, *, job_id=None) -> bool:
    """Apply a finished call's outcome once; return False when it was already applied or superseded.

    `job_id`: the attempt's job, when the caller knows it (a query less per call).
    """
    if not outcome.finished:
        return False
    if job_id is None:
        job_id = JobAttempt.objects.values_list("job_id", flat=True).get(pk=attempt_id)
    with transaction.atomic():
        job = ComputeJob.objects.select_for_update().get(pk=job_id)
        attempt = JobAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.status in TERMINAL:
            return False
        _finish_attempt(attempt, outcome)
        if job.is_terminal or job.attempt_count != attempt.number:
            return False  # cancelled or retried meanwhile: this attempt no longer decides the job
        job.compute_seconds += attempt.compute_seconds
        job.estimated_cost += attempt.estimated_cost
        job.finished_at = attempt.finished_at
        if outcome.state == "succeeded":
            _ingest(job, outcome.output)
        else:
            _fail(job, outcome.error_type, outcome.error_message)
        job.save()
    if job.status == JobStatus.FAILED and attempt.processor == Processor.MODAL:
        transaction.on_commit(lambda: check_automatic_rollback(job.kind))
    return True


def _finish_attempt(attempt: JobAttempt, outcome: CallOutcome) -> None:
    attempt.status = JobStatus.SUCCEEDED if outcome.state == "succeeded" else JobStatus.FAILED
    attempt.finished_at = timezone.now()
    attempt.compute_seconds = outcome.compute_seconds
    attempt.estimated_cost = estimated_cost(attempt.processor, attempt.function_name, outcome.compute_seconds)
    attempt.error_type = outcome.error_type
    attempt.error_message = outcome.error_message
    attempt.save()


def _ingest(job: ComputeJob, output: dict) -> None:
    try:
        with transaction.atomic():
            get_kind(job.kind).ingest(job, output)
    except Exception as exc:  # noqa: BLE001 - a bad result fails the job, not the poller
        logger.exception("Ingest failed for job %s", job.pk)
        _fail(job, "ingest_failed", f"The result could not be stored: {exc}")
        return
    job.status = JobStatus.SUCCEEDED
    job.result = output
    if job.progress_total:
        job.progress_done = job.progress_total
    job.error_type = job.error_message = ""


def _fail(job: ComputeJob, error_type: str, message: str) -> None:
    job.status = JobStatus.FAILED
    job.error_type = error_type or "failed"
    job.error_message = message
    get_kind(job.kind).on_failure(job)


# --- operator actions -----------------------------------------------------


def retry_job(job: ComputeJob, actor=None, *, dispatch: bool = True) -> ComputeJob:
    """Send a failed or cancelled job round again (a new attempt, same processor bucket)."""
    with transaction.atomic():
        job = ComputeJob.objects.select_for_update().get(pk=job.pk)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise JobStateError(f"Only failed or cancelled jobs can be retried; this one is {job.status}.")
        job.status = JobStatus.PENDING
        job.error_type = job.error_message = ""
        job.finished_at = None
        job.deadline_at = None
        get_kind(job.kind).on_retry(job)
        job.save()
        JobLogLine.objects.create(job=job, message=f"Retried by {actor or 'the system'}")
        if dispatch:
            transaction.on_commit(lambda: dispatch_jobs([job.pk]))
    return job


def cancel_job(job: ComputeJob, actor=None, reason: str = "") -> bool:
    """Stop a job that has not finished; returns False when it already had."""
    with transaction.atomic():
        job = ComputeJob.objects.select_for_update().get(pk=job.pk)
        if job.is_terminal:
            return False
        attempt = job.attempts.select_for_update().filter(number=job.attempt_count, status__in=IN_FLIGHT).first()
        now = timezone.now()
        if attempt is not None:
            attempt.status = JobStatus.CANCELLED
            attempt.finished_at = now
            attempt.save(update_fields=["status", "finished_at"])
            call = (attempt.processor, attempt.call_id)
            transaction.on_commit(lambda: _cancel_call(*call))
        job.status = JobStatus.CANCELLED
        job.finished_at = now
        job.error_type = "cancelled"
        job.error_message = reason or f"Cancelled by {actor or 'the system'}"
        get_kind(job.kind).on_failure(job)
        job.save()
    return True


def _cancel_call(processor: str, call_id: str) -> None:
    if not call_id:
        return
    try:
        get_backend(processor).cancel(call_id)
    except Exception:  # noqa: BLE001 - the job is cancelled in the portal either way
        logger.exception("Could not cancel call %s on %s", call_id, processor)


def fail_overdue_jobs(now=None) -> int:
    """Fail in-flight jobs whose deadline has passed (calls that never finished)."""
    now = now or timezone.now()
    overdue = list(
        JobAttempt.objects.filter(
            status__in=IN_FLIGHT, job__status__in=IN_FLIGHT, job__deadline_at__lt=now, job__attempt_count=F("number")
        ).values_list("pk", "processor", "call_id")
    )
    for attempt_id, processor, call_id in overdue:
        applied = complete_attempt(
            attempt_id, CallOutcome.failed("deadline", "The call did not finish before its deadline and was stopped")
        )
        if applied:
            _cancel_call(processor, call_id)
    return len(overdue)


# --- events from running functions ------------------------------------------


def record_events(attempt: JobAttempt, events: list[tuple[str, dict]]) -> None:
    """Apply signed callback events in order; stale attempts only get their log lines kept.

    Each run of consecutive log lines is stored in one INSERT."""
    lines: list[JobLogLine] = []
    for event_type, data in events:
        if event_type == "log":
            lines.append(_log_line(attempt, data))
            continue
        JobLogLine.objects.bulk_create(lines)
        lines = []
        _record_event(attempt, event_type, data)
    JobLogLine.objects.bulk_create(lines)


def _log_line(attempt: JobAttempt, data: dict) -> JobLogLine:
    return JobLogLine(
        job_id=attempt.job_id, attempt=attempt, level=str(data.get("level", "info"))[:10], message=str(data.get("message", ""))
    )


def _record_event(attempt: JobAttempt, event_type: str, data: dict) -> None:
    """Progress, "finished", or a workload's own event (log lines are stored by record_events)."""
    if event_type == "progress":
        _record_progress(attempt, data)
    elif event_type == "finished":
        flagged = JobAttempt.objects.filter(pk=attempt.pk, status__in=IN_FLIGHT).update(result_ready=True)
        if flagged and attempt.processor == Processor.MODAL:
            _collect_soon(attempt, data.get("result"))
    else:
        with transaction.atomic():
            job = ComputeJob.objects.select_for_update().get(pk=attempt.job_id)
            get_kind(job.kind).on_event(job, event_type, data)


def _collect_soon(attempt: JobAttempt, result=None) -> None:
    """Apply a call the function reported finished without waiting for the poller's next tick:
    with the result its notice carried, or else fetched from Modal."""
    from jobs.tasks import collect_call

    if not (isinstance(result, dict) and "output" in result):
        result = None
    args = (attempt.pk, attempt.job_id, attempt.call_id, result)
    transaction.on_commit(lambda: collect_call.delay(*args))


def collect_finished_call(attempt_id: int, wait_seconds: float, *, job_id=None, call_id: str = "", result=None) -> bool:
    """Apply a reported-finished Modal call's result; False if it is not there yet.

    `result`: the run_function envelope that the function's signed "finished" notice carried
    (jobs.runtime; successes only). Without it, the result is fetched from Modal, waiting up to
    `wait_seconds`. `job_id` and `call_id` as the callback found them spare a query; without a
    call id (the notice can beat the spawn's id to the database) both are read again.
    """
    if result is not None:
        return complete_attempt(attempt_id, CallOutcome.succeeded(result), job_id=job_id)
    if not (job_id and call_id):
        row = (
            JobAttempt.objects.filter(pk=attempt_id, status__in=IN_FLIGHT, processor=Processor.MODAL)
            .values_list("job_id", "call_id")
            .first()
        )
        if row is None or not row[1]:
            return False
        job_id, call_id = row
    outcome = get_backend(Processor.MODAL).poll_one(call_id, timeout=wait_seconds)
    return complete_attempt(attempt_id, outcome, job_id=job_id)


def _record_progress(attempt: JobAttempt, data: dict) -> None:
    now = timezone.now()
    current = Q(pk=attempt.job_id, attempt_count=attempt.number, status__in=IN_FLIGHT)
    ComputeJob.objects.filter(current).update(
        status=JobStatus.RUNNING,
        progress_done=int(data.get("done", 0)),
        progress_total=int(data.get("total", 0)),
        progress_label=str(data.get("label", ""))[:200],
        started_at=Coalesce(F("started_at"), now),
    )
    JobAttempt.objects.filter(pk=attempt.pk, status__in=IN_FLIGHT).update(
        status=JobStatus.RUNNING, started_at=Coalesce(F("started_at"), now)
    )
