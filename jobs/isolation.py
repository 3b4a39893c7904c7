"""Run a core in a child process with a hard timeout.

Raw Docling can hang for minutes on a deeply nested HTML file and Gmsh can
segfault on a malformed STEP file; neither may take the calling worker (a Modal
container, a Celery worker, a stub container) down with it. The child is forked
from a warm parent, so imports and loaded models are already in place.

A plain os.fork rather than multiprocessing: Celery's pool processes are
daemonic, and multiprocessing refuses to start children from those.

A function may opt out (`ComputeFunction.isolated=False`, run_in_process) when its
core already isolates each risky step in a subprocess of its own.

Framework-free: imported inside Modal containers too.
"""
from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Iterator


class CoreError(Exception):
    """The core failed; `error_type` is a short machine-readable kind."""

    error_type = "core_error"

    def __init__(self, message: str, error_type: str | None = None):
        super().__init__(message)
        if error_type:
            self.error_type = error_type

    def __reduce__(self):
        return (self.__class__, (str(self), self.error_type))


class CoreTimeout(CoreError):
    error_type = "timeout"


class CoreCrashed(CoreError):
    error_type = "crashed"


class BadInput(CoreError):
    """The input itself is unusable: retrying will not help."""

    error_type = "bad_input"


def _run_child(write_fd: int, func: Callable[..., Any], kwargs: dict) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _reset_torch_threads()
    try:
        outcome = ("ok", func(**kwargs))
    except BaseException as exc:  # noqa: BLE001 - everything must reach the parent
        outcome = ("error", (*_error_kind(exc), traceback.format_exc()))
    try:
        data = pickle.dumps(outcome)
    except Exception as exc:  # noqa: BLE001
        data = pickle.dumps(("error", ("unpicklable_result", f"The result could not be sent back: {exc}", "")))
    with os.fdopen(write_fd, "wb") as pipe:
        pipe.write(data)


def _error_kind(exc: BaseException) -> tuple[str, str]:
    """(error_type, message) of a core's failure, as the caller gets it wherever the core ran."""
    return getattr(exc, "error_type", None) or type(exc).__name__, str(exc) or type(exc).__name__


def _reset_torch_threads() -> None:
    """A forked child must not reuse its parent's OpenMP thread pool: it hangs in its first
    parallel torch operation when the parent had run one. A fresh setting avoids the pool."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(os.environ.get("CORE_TORCH_THREADS", "1")))


def run_isolated(func: Callable[..., Any], kwargs: dict, timeout: float) -> Any:
    """Call func(**kwargs) in a forked child; raise CoreTimeout / CoreCrashed / CoreError."""
    read_fd, write_fd = os.pipe()
    # The child's garbage collector leaves the parent's objects alone: a collection that walked
    # them would write to every page of the warm parent's heap and copy it (copy-on-write).
    gc.freeze()
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's atexit handlers
        os.close(read_fd)
        try:
            _run_child(write_fd, func, kwargs)
        finally:
            os._exit(0)
    gc.unfreeze()
    os.close(write_fd)
    try:
        data = _read_until(read_fd, time.monotonic() + timeout, timeout)
    except BaseException:  # the time limit, or the caller interrupted (Ctrl-C, a soft time limit)
        _kill(pid)
        raise
    finally:
        os.close(read_fd)
    _pid, status = os.waitpid(pid, 0)
    if not data:
        raise CoreCrashed(_describe_exit(status))
    kind, payload = pickle.loads(data)
    if kind == "ok":
        return payload
    error_type, message, _traceback = payload
    if error_type == BadInput.error_type:
        raise BadInput(message)
    raise CoreError(message, error_type=error_type)


def run_in_process(func: Callable[..., Any], kwargs: dict) -> Any:
    """Call func(**kwargs) here; its failures raised as run_isolated raises them.

    For a core that isolates its own risky steps (the meshing core runs each Gmsh step in a
    subprocess with a timeout): a fork per call adds ~10 ms to a short call, and its forked
    child starts with cold connections. The call's time limit is then the platform's (Modal's,
    the stub worker's, Celery's), not a kill of the child.
    """
    try:
        return func(**kwargs)
    except CoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - as from a child: a CoreError that keeps the error's kind
        error_type, message = _error_kind(exc)
        raise CoreError(message, error_type=error_type) from exc


class _TimeLimitReached(BaseException):
    """Raised by time_limit's alarm; a BaseException so that a library's `except Exception` lets it by."""


@contextmanager
def time_limit(seconds: float, what: str = "This step") -> Iterator[None]:
    """Raise CoreTimeout when the block runs longer than `seconds`.

    For a step inside a core that already runs under run_isolated's hard timeout: a
    forked child per step would cost every call another fork, copy-on-write faults and
    cold caches. The alarm stops Python code; a library stuck inside C code for longer
    is stopped by the hard timeout around it. Signals only reach the main thread, so
    elsewhere the block runs without this limit.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    state = {"active": True, "fired": False}

    def on_alarm(signum, frame):
        state["fired"] = True
        if state["active"]:
            raise _TimeLimitReached

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _TimeLimitReached:
        pass
    finally:
        state["active"] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if state["fired"]:  # also when the library caught the interruption and carried on
        raise CoreTimeout(f"{what} stopped after reaching its time limit of {seconds:g} s")


def _read_until(fd: int, deadline: float, timeout: float) -> bytes:
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CoreTimeout(f"Stopped after reaching the time limit of {timeout:g} s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def _describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"The processing child process was killed by {name}"
    return f"The processing child process exited with code {os.waitstatus_to_exitcode(status)} without a result"
