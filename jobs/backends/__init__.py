"""Compute backends: each submits a call, polls many calls, and cancels one."""
from jobs.backends.base import CallOutcome, ComputeBackend, SpawnError
from jobs.models import Processor


def get_backend(processor: str) -> ComputeBackend:
    if processor == Processor.MODAL:
        from jobs.backends.modal_backend import ModalBackend

        return ModalBackend()
    if processor == Processor.CELERY:
        from jobs.backends.celery_backend import CeleryBackend

        return CeleryBackend()
    raise LookupError(f"Unknown processor {processor!r}")


__all__ = ["CallOutcome", "ComputeBackend", "SpawnError", "get_backend"]
