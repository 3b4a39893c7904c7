"""Celery: the same handlers on Celery workers, under hard time limits.

The task reports its own outcome to the engine when it ends (it runs inside
Django), so polling only has to catch calls that never come back: the
deadline does that.
"""
from __future__ import annotations

from typing import Iterable

from jobs.backends.base import CallOutcome, ComputeBackend, SpawnError
from jobs.models import Processor


class CeleryBackend(ComputeBackend):
    processor = Processor.CELERY

    def submit(self, function_name: str, payload: dict) -> str:
        from jobs.tasks import run_compute_call
        from portal.compute_functions import get_function

        function = get_function(function_name)
        try:
            result = run_compute_call.apply_async(
                args=[function_name, payload],
                # The core itself stops at function.timeout; Celery's limits are the backstop.
                soft_time_limit=function.timeout + 30,
                time_limit=function.timeout + 60,
            )
        except Exception as exc:  # noqa: BLE001 - broker down
            raise SpawnError(f"{type(exc).__name__}: {exc}") from exc
        return result.id

    def poll(self, call_ids: Iterable[str]) -> dict[str, CallOutcome]:
        return {call_id: CallOutcome.running() for call_id in call_ids}

    def cancel(self, call_id: str) -> None:
        from portal.celery import app

        app.control.revoke(call_id, terminate=True, signal="SIGKILL")
