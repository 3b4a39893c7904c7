"""Reads of stub calls."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from django.db import connection

from modal_stubs.models import StubCall

_TABLE = StubCall._meta.db_table


@dataclass(frozen=True)
class CallOutcome:
    status: str
    result: Any
    error_type: str
    error_class: str
    error_message: str
    expired: bool  # finished and past its retention

    @property
    def finished(self) -> bool:
        return self.status not in (StubCall.Status.QUEUED, StubCall.Status.RUNNING)


def call_outcome(object_id: str) -> Optional[CallOutcome]:
    """What get() needs about one call, in one indexed read (the poller asks this for every call)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT status, result, error_type, error_class, error_message, "
            f"coalesce(expires_at <= now(), false) FROM {_TABLE} WHERE object_id = %s",
            [object_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    status, result, error_type, error_class, error_message, expired = row
    if isinstance(result, str):  # Django's psycopg setup hands jsonb over as text
        result = json.loads(result)
    return CallOutcome(status, result, error_type, error_class, error_message, expired)


def calls_not_held(object_ids: Iterable[str], worker: str) -> set[str]:
    """Of these calls, those this worker no longer holds (cancelled, recovered, or gone)."""
    object_ids = list(object_ids)
    if not object_ids:
        return set()
    held = set(
        StubCall.objects.filter(object_id__in=object_ids, status=StubCall.Status.RUNNING, worker=worker).values_list(
            "object_id", flat=True
        )
    )
    return set(object_ids) - held


def has_queued_calls(app_name: str, function_names: Iterable[str]) -> bool:
    return StubCall.objects.filter(
        status=StubCall.Status.QUEUED, app_name=app_name, function_name__in=list(function_names)
    ).exists()
