"""Job kinds: what each workload app tells the engine about its jobs.

An app registers its kinds in its AppConfig.ready(). The engine then knows
which compute function to call, how to build its payload, how to ingest a
result and what to do when a job fails (for example refund credits).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, Union

if TYPE_CHECKING:
    from jobs.models import ComputeJob


def _nothing(*args, **kwargs) -> None:
    return None


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str
    # The name of a declared compute function (portal.compute_functions), or a callable that
    # picks one per job: e.g. a larger-memory variant for large files.
    function: Union[str, Callable[["ComputeJob"], str]]
    # JSON-able inputs of the handler. The engine adds callback_url, callback_key and attempt_id.
    build_payload: Callable[["ComputeJob"], dict]
    # Stores a successful result. Runs once per job success, in the engine's transaction,
    # with the job row locked, so it need not guard against a second ingest itself.
    ingest: Callable[["ComputeJob", dict], None]
    # Runs once each time the job ends failed or cancelled, in the same transaction.
    on_failure: Callable[["ComputeJob"], None] = _nothing
    # Runs when an operator or user retries a failed or cancelled job, before it is dispatched.
    on_retry: Callable[["ComputeJob"], None] = _nothing
    # Workload-specific callback events (anything but progress, log and finished).
    on_event: Callable[["ComputeJob", str, dict], None] = _nothing
    # Seconds after dispatch after which a call that never finished is failed; None: the
    # function's timeout x (retries + 1) plus a margin.
    deadline_seconds: Optional[int] = None
    # Relations of ComputeJob that function/build_payload read (e.g. "document", or a Prefetch
    # object): the dispatcher loads them for a whole batch at once instead of one query per job.
    prefetch: tuple = ()

    def function_for(self, job: "ComputeJob") -> str:
        return self.function(job) if callable(self.function) else self.function


_kinds: dict[str, JobKind] = {}


def register_kind(kind: JobKind) -> JobKind:
    _kinds[kind.name] = kind
    return kind


def get_kind(name: str) -> JobKind:
    try:
        return _kinds[name]
    except KeyError:
        raise LookupError(f"No job kind named {name!r} is registered") from None


def all_kinds() -> dict[str, JobKind]:
    return dict(_kinds)
