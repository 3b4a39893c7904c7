from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional


class SpawnError(Exception):
    """Submitting the call failed; nothing is running."""


@dataclass(frozen=True)
class CallOutcome:
    state: str  # "running", "succeeded" or "failed"
    output: Optional[dict] = None
    compute_seconds: float = 0.0
    error_type: str = ""
    error_message: str = ""

    @property
    def finished(self) -> bool:
        return self.state != "running"

    @classmethod
    def running(cls) -> "CallOutcome":
        return cls("running")

    @classmethod
    def succeeded(cls, envelope: dict) -> "CallOutcome":
        """From run_function's {"output", "compute_seconds"} envelope."""
        return cls("succeeded", output=envelope.get("output") or {}, compute_seconds=envelope.get("compute_seconds", 0.0))

    @classmethod
    def failed(cls, error_type: str, message: str, compute_seconds: float = 0.0) -> "CallOutcome":
        return cls("failed", error_type=error_type[:60], error_message=message, compute_seconds=compute_seconds)

    @classmethod
    def from_exception(cls, exc: BaseException) -> "CallOutcome":
        error_type = getattr(exc, "error_type", None) or type(exc).__name__
        return cls.failed(error_type, str(exc) or type(exc).__name__)


class ComputeBackend:
    processor: str

    def submit(self, function_name: str, payload: dict) -> str:
        """Start the call; return its id. Raise SpawnError when it could not be started."""
        raise NotImplementedError

    def poll(self, call_ids: Iterable[str]) -> dict[str, CallOutcome]:
        """The outcome of each call; calls still running map to CallOutcome.running()."""
        raise NotImplementedError

    def cancel(self, call_id: str) -> None:
        raise NotImplementedError
