"""Modal through its SDK surface; `modal_stubs` provides the same surface locally.

This code runs unchanged against both: settings.MODAL_BACKEND picks the module.
"""
from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

from django.conf import settings
from django.db import connections

from jobs.backends.base import CallOutcome, ComputeBackend, SpawnError
from jobs.models import Processor


def modal_module():
    return importlib.import_module("modal" if settings.MODAL_BACKEND == "modal" else "modal_stubs")


class ModalBackend(ComputeBackend):
    processor = Processor.MODAL

    def __init__(self):
        self.modal = modal_module()
        self._functions = {}

    def _function(self, name: str):
        if name not in self._functions:
            self._functions[name] = self.modal.Function.from_name(settings.MODAL_APP_NAME, name)
        return self._functions[name]

    def submit(self, function_name: str, payload: dict) -> str:
        try:
            return self._function(function_name).spawn(**payload).object_id
        except Exception as exc:  # noqa: BLE001 - any spawn failure means "fall back"
            raise SpawnError(f"{type(exc).__name__}: {exc}") from exc

    def poll_one(self, call_id: str, timeout: float = 0) -> CallOutcome:
        """The call's outcome, waiting up to `timeout` seconds for it to finish."""
        from modal.exception import OutputExpiredError

        try:
            envelope = self.modal.FunctionCall.from_id(call_id).get(timeout=timeout)
        except OutputExpiredError:
            return CallOutcome.failed("result_expired", "Modal no longer keeps this call's result")
        except TimeoutError:  # the built-in one: still running
            return CallOutcome.running()
        except Exception as exc:  # noqa: BLE001 - the function's own failure
            return CallOutcome.from_exception(exc)
        return CallOutcome.succeeded(envelope)

    def poll(self, call_ids: Iterable[str]) -> dict[str, CallOutcome]:
        """Each get() is a round trip (to Modal, or to the stub's database): overlap them."""
        call_ids = list(call_ids)
        workers = min(settings.JOB_POLL_CONCURRENCY, max(1, len(call_ids) // 50))
        if workers == 1:
            return {call_id: self.poll_one(call_id) for call_id in call_ids}
        slices = [call_ids[index::workers] for index in range(workers)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = {}
            for part in pool.map(self._poll_slice, slices):
                outcomes.update(part)
        return outcomes

    def _poll_slice(self, call_ids: list[str]) -> dict[str, CallOutcome]:
        try:
            return {call_id: self.poll_one(call_id) for call_id in call_ids}
        finally:
            connections.close_all()  # this thread's connections (the stub's) go back to the pool

    def cancel(self, call_id: str) -> None:
        self.modal.FunctionCall.from_id(call_id).cancel()
