"""`Function` and `FunctionCall` with the same public surface as Modal's.

The Modal backend (jobs/backends/modal_backend.py) runs unchanged against this
module or the real `modal`. Signatures mirror the installed modal package's;
tests/modal_stubs/test_sdk_surface.py keeps them honest.
"""
from __future__ import annotations

import builtins
import sys
import time
from typing import Any

from modal_stubs import exception

_TERMINAL_EXCEPTIONS = {
    # Modal raises FunctionTimeoutError for an attempt that ran past the function's timeout.
    "modal.exception:FunctionTimeoutError": exception.FunctionTimeoutError,
    "modal.exception:RemoteError": exception.RemoteError,
}


class Function:
    """A declared compute function, looked up by name like a deployed Modal function."""

    def __init__(self, app_name: str, name: str):
        self.app_name = app_name
        self.name = name

    def __repr__(self):
        return f"modal_stubs.Function({self.app_name!r}, {self.name!r})"

    @classmethod
    def from_name(
        cls,
        app_name: str,
        name: str,
        *,
        version: int | None = None,
        environment_name: str | None = None,
        client: Any | None = None,
    ) -> "Function":
        from portal.compute_functions import all_functions

        from django.conf import settings

        # Like Modal, only the deployed app's functions can be looked up: the one app this
        # project deploys (portal/modal_app.py), named by MODAL_STUB_DEPLOYED_APP.
        if app_name != settings.MODAL_STUB_DEPLOYED_APP or name not in all_functions():
            raise exception.NotFoundError(f"Lookup failed for Function '{name}' from the '{app_name}' app")
        return cls(app_name, name)

    def spawn(self, *args, **kwargs) -> "FunctionCall":
        from modal_stubs.services import spawn_call

        return FunctionCall(spawn_call(self.app_name, self.name, args, kwargs))

    def remote(self, *args, **kwargs) -> Any:
        """Run and wait for the result, as Modal's .remote() does (through the stub worker)."""
        return self.spawn(*args, **kwargs).get()


class FunctionCall:
    """A handle on one spawned call; `object_id` is its Modal-style id."""

    def __init__(self, object_id: str):
        self.object_id = object_id

    def __repr__(self):
        return f"modal_stubs.FunctionCall({self.object_id!r})"

    @classmethod
    def from_id(cls, function_call_id: str, client: Any | None = None) -> "FunctionCall":
        return cls(function_call_id)  # lazy, like Modal's: nothing is read until get()

    def get(self, timeout: float | None = None, *, index: int = 0) -> Any:
        """The call's result; the built-in TimeoutError while it is still running after `timeout`.

        A failed call raises its error (the original exception class where the stub
        can rebuild it, always with an `error_type` attribute); a result past its
        retention raises OutputExpiredError.
        """
        from modal_stubs import conf
        from modal_stubs.ids import is_call_id
        from modal_stubs.selectors import call_outcome

        if index != 0:
            raise exception.InvalidError("A spawned call has a single output: only index=0 is valid")
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.002  # grows by half each time up to poll_seconds: a result that lands soon is seen within a few ms
        while True:
            outcome = call_outcome(self.object_id)
            if outcome is None:
                if not is_call_id(self.object_id):
                    raise exception.NotFoundError(f"No function call with id {self.object_id!r}")
                raise exception.OutputExpiredError()  # purged: Modal no longer keeps it
            if outcome.finished:
                return _result_or_raise(outcome)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError()  # the built-in class, exactly as modal's poll_function raises it
            pause = min(pause * 1.5, conf.poll_seconds())
            time.sleep(pause if remaining is None else max(0.0, min(pause, remaining)))

    def cancel(self, terminate_containers: bool = False):
        from modal_stubs.services import cancel_call

        cancel_call(self.object_id)


def _result_or_raise(outcome):
    if outcome.expired or outcome.status == "expired":
        raise exception.OutputExpiredError()
    if outcome.status == "succeeded":
        return outcome.result
    if outcome.status == "cancelled":
        # Modal reports a terminated input as a failure without user data: a RemoteError.
        error = exception.RemoteError(outcome.error_message or "The function call was cancelled")
        error.error_type = "cancelled"
        raise error
    raise rebuild_exception(outcome.error_class, outcome.error_message, outcome.error_type)


def rebuild_exception(error_class: str, message: str, error_type: str) -> BaseException:
    """The failed call's own exception type where it can be rebuilt safely, as Modal re-raises it.

    Only classes whose module is already imported here are considered (nothing is
    imported on the say-so of a stored string); anything else becomes a CoreError
    carrying the original error_type.
    """
    from jobs.isolation import BadInput, CoreCrashed, CoreError, CoreTimeout

    cls = _TERMINAL_EXCEPTIONS.get(error_class) or _loaded_class(error_class)
    if cls is CoreError:
        # jobs.isolation hands a core's failure over as CoreError(message, error_type): its
        # error_type still names the subclass it came from.
        cls = {k.error_type: k for k in (BadInput, CoreCrashed, CoreTimeout)}.get(error_type, CoreError)
    try:
        if isinstance(cls, type) and issubclass(cls, CoreError):
            return cls(message, error_type=error_type or None)
        if isinstance(cls, type) and issubclass(cls, Exception) and (
            issubclass(cls, exception.Error) or cls.__module__ == "builtins"
        ):
            error = cls(message)
            error.error_type = error_type or cls.__name__
            return error
    except Exception:  # noqa: BLE001 - an odd constructor: fall back to CoreError
        pass
    return CoreError(message, error_type=error_type or None)


def _loaded_class(error_class: str):
    module_name, _, qualname = error_class.partition(":")
    module = builtins if module_name == "builtins" else sys.modules.get(module_name)
    if module is None or not qualname or "." in qualname:
        return None
    return getattr(module, qualname, None)
