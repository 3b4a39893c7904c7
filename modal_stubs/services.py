"""Writes of stub calls. Every change of state is one conditional UPDATE, so the
database decides races between a worker, cancel() and a second worker."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from modal_stubs import conf
from modal_stubs.ids import new_call_id
from modal_stubs.models import StubCall

Status = StubCall.Status
_TABLE = StubCall._meta.db_table


@dataclass(frozen=True)
class ClaimedCall:
    object_id: str
    function_name: str
    args: list
    kwargs: dict
    attempt: int  # 1 for the first run


# The spawn hot path in raw SQL: one statement, one round trip (21,000 spawns must take well under
# a minute). Columns left out take their database defaults (created_at, available_at: now()).
# The same statement NOTIFYs the app's workers with "<app>:<function>" (delivered when it commits;
# PostgreSQL folds repeated notices of one transaction into one), so an idle worker starts the
# call at once instead of on its next poll, claiming that function's calls first.
NEW_CALLS_CHANNEL = "modal_stub_new_calls"
_INSERT_CALL = (
    f"WITH notice AS (SELECT pg_notify('{NEW_CALLS_CHANNEL}', %s)) "
    f"INSERT INTO {_TABLE} (object_id, app_name, function_name, payload, status, attempts, "
    f"error_type, error_class, error_message, traceback, worker) "
    f"SELECT %s, %s, %s, %s::jsonb, '{Status.QUEUED}', 0, '', '', '', '', '' FROM notice"
)
# A spawn on its own would wait for its commit to reach the disk (~2 ms here, most of its cost).
# Like Modal's queue, this stand-in accepts losing the last moment of spawns if the database
# server itself crashes (the job poller then sees them as expired), never a committed job row.
# set_config(..., true) lasts only for this statement's own transaction.
_RELAXED_COMMIT = " WHERE set_config('synchronous_commit', 'off', true) IS NOT NULL"


def new_calls_notice(app_name: str, function_name: str) -> str:
    return f"{app_name}:{function_name}"


def spawn_call(app_name: str, function_name: str, args: tuple, kwargs: dict) -> str:
    """Queue a call: one INSERT. The input must be JSON-able (the stub stores it as JSON)."""
    object_id = new_call_id()
    payload = json.dumps({"args": list(args), "kwargs": kwargs})
    # Inside a caller's transaction, that transaction decides how it commits.
    sql = _INSERT_CALL if connection.in_atomic_block else _INSERT_CALL + _RELAXED_COMMIT
    with connection.cursor() as cursor:
        cursor.execute(sql, [new_calls_notice(app_name, function_name), object_id, app_name, function_name, payload])
    return object_id


def cancel_call(object_id: str) -> bool:
    """Mark a queued or running call cancelled; the worker running it kills its container."""
    return bool(
        StubCall.objects.filter(object_id=object_id, status__in=[Status.QUEUED, Status.RUNNING]).update(
            status=Status.CANCELLED,
            error_type="cancelled",
            error_class="",
            error_message="The function call was cancelled",
            finished_at=Now(),
            expires_at=_expiry(),
        )
    )


def claim_calls(app_name: str, function_name: str, limit: int, worker: str) -> list[ClaimedCall]:
    """Take up to `limit` queued calls of one function of one app for this worker, oldest first.

    One statement: SKIP LOCKED lets several workers claim side by side without
    waiting on or double-claiming each other's rows.
    """
    if limit <= 0:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_TABLE} SET status = %s, attempts = attempts + 1, worker = %s,
                   started_at = now(), heartbeat_at = now()
            WHERE object_id IN (
                SELECT object_id FROM {_TABLE}
                WHERE status = %s AND app_name = %s AND function_name = %s AND available_at <= now()
                ORDER BY available_at, object_id
                LIMIT %s
                FOR UPDATE SKIP LOCKED
            )
            RETURNING object_id, function_name, payload, attempts
            """,
            [Status.RUNNING, worker, Status.QUEUED, app_name, function_name, limit],
        )
        rows = cursor.fetchall()
    claimed = []
    for object_id, name, payload, attempts in sorted(rows):
        if isinstance(payload, str):
            payload = json.loads(payload)
        claimed.append(ClaimedCall(object_id, name, payload.get("args", []), payload.get("kwargs", {}), attempts))
    return claimed


def _held(call: ClaimedCall, worker: str):
    return StubCall.objects.filter(object_id=call.object_id, status=Status.RUNNING, worker=worker, attempts=call.attempt)


def _expiry():
    return Now() + timedelta(seconds=conf.result_ttl_seconds())


def record_success(call: ClaimedCall, worker: str, result) -> bool:
    """Store the result; False when the call was cancelled or taken away meanwhile."""
    return bool(
        _held(call, worker).update(
            status=Status.SUCCEEDED,
            result=result,
            error_type="",
            error_class="",
            error_message="",
            traceback="",
            worker="",
            finished_at=Now(),
            expires_at=_expiry(),
        )
    )


def record_failure(
    call: ClaimedCall,
    worker: str,
    *,
    error_type: str,
    error_class: str,
    message: str,
    traceback: str = "",
    retry_in: float | None = None,
) -> str | None:
    """Queue the call again after `retry_in` seconds, or (None) fail it for good.

    Returns the call's new status, or None when this worker no longer held it.
    """
    fields = dict(error_type=error_type[:60], error_class=error_class[:200], error_message=message, traceback=traceback, worker="")
    if retry_in is not None:
        fields.update(status=Status.QUEUED, available_at=Now() + timedelta(seconds=retry_in))
    else:
        fields.update(status=Status.FAILED, finished_at=Now(), expires_at=_expiry())
    if not _held(call, worker).update(**fields):
        return None
    return fields["status"]


def release_calls(object_ids: Iterable[str], worker: str) -> int:
    """Give running calls back to the queue unharmed (the worker is stopping)."""
    return StubCall.objects.filter(object_id__in=list(object_ids), status=Status.RUNNING, worker=worker).update(
        status=Status.QUEUED, attempts=F("attempts") - 1, worker="", available_at=Now()
    )


def heartbeat(object_ids: Iterable[str], worker: str) -> int:
    object_ids = list(object_ids)
    if not object_ids:
        return 0
    return StubCall.objects.filter(object_id__in=object_ids, status=Status.RUNNING, worker=worker).update(heartbeat_at=Now())


def recover_abandoned_calls(retries_by_function: dict[str, int], lease_seconds: float) -> int:
    """Calls left running by a worker that stopped sending heartbeats: retry or fail them as crashed."""
    cutoff = timezone.now() - timedelta(seconds=lease_seconds)
    recovered = 0
    stale = StubCall.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff).values_list("object_id", "attempts", "function_name", "worker")
    for object_id, attempts, function_name, worker in stale:
        call = ClaimedCall(object_id, function_name, [], {}, attempts)
        retry = attempts <= retries_by_function.get(function_name, 0)
        new_status = record_failure(
            call,
            worker,
            error_type="crashed",
            error_class="jobs.isolation:CoreCrashed",
            message=f"The stub worker running this call ({worker}) stopped responding",
            retry_in=0 if retry else None,
        )
        recovered += new_status is not None
    return recovered


def expire_results() -> tuple[int, int]:
    """Drop results past their retention (the call stays as 'expired'), then forget old expired calls."""
    with transaction.atomic():
        expired = StubCall.objects.filter(expires_at__lte=Now()).exclude(status=Status.EXPIRED).update(
            status=Status.EXPIRED, result=None, payload={}, traceback=""
        )
        forget_before = timezone.now() - timedelta(seconds=conf.result_ttl_seconds())
        deleted, _ = StubCall.objects.filter(status=Status.EXPIRED, expires_at__lt=forget_before).delete()
    return expired, deleted
