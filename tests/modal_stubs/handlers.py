"""Test-only compute functions for the stub worker (declared through PORTAL_EXTRA_FUNCTION_MODULES).

Framework-free like real handlers. Handlers that need to tell the test what
happened write small files into a directory the test passes in the payload.
"""
import json
import os
import signal
import time
from pathlib import Path

from jobs.isolation import BadInput
from portal.compute_functions import ComputeFunction


def echo(**payload):
    # jobs.runtime runs each call in a child forked from the container: the parent is the container.
    return {"echo": payload, "pid": os.getpid(), "container_pid": os.getppid()}


def sleep_and_record(*, seconds: float, record_dir: str, tag: str = "", **_):
    """Sleeps, leaving a start/end record so the test can see how many ran at once."""
    started = time.time()
    marker = Path(record_dir) / f"{tag or os.getpid()}-{started:.6f}.json"
    record = {"pid": os.getpid(), "container_pid": os.getppid(), "start": started}
    marker.write_text(json.dumps(record))
    time.sleep(seconds)
    marker.write_text(json.dumps({**record, "end": time.time()}))
    return {"slept": seconds}


def fail_until(*, counter_path: str, failures: int, **_):
    """Fails `failures` times (counted in a file), then succeeds."""
    path = Path(counter_path)
    count = int(path.read_text()) if path.exists() else 0
    path.write_text(str(count + 1))
    if count < failures:
        raise RuntimeError(f"transient failure {count + 1}")
    return {"attempts": count + 1}


def reject(*, counter_path: str, **_):
    path = Path(counter_path)
    path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))
    raise BadInput("The file is not a PDF (magic bytes say ZIP)")


def crash(*, how: str = "exit", **_):
    """Dies in the ways cores die: exit, segfault, or taking its whole container down."""
    if how == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if how == "container":
        os.kill(os.getppid(), signal.SIGKILL)  # the container process itself (e.g. the OOM killer)
        time.sleep(5)
    os._exit(3)


def freeze_container(*, record_dir: str, **_):
    """Stops the container process itself, so only the worker's own timeout can end the call."""
    Path(record_dir, "frozen.json").write_text(json.dumps({"pid": os.getpid(), "container_pid": os.getppid()}))
    os.kill(os.getppid(), signal.SIGSTOP)
    time.sleep(60)


def not_json(**_):
    return {"when": object()}


FUNCTIONS = [
    ComputeFunction(name="stub-echo", handler="tests.modal_stubs.handlers:echo", timeout=30),
    ComputeFunction(name="stub-sleep", handler="tests.modal_stubs.handlers:sleep_and_record", timeout=60, max_containers=2),
    ComputeFunction(name="stub-slow", handler="tests.modal_stubs.handlers:sleep_and_record", timeout=2),
    ComputeFunction(name="stub-flaky", handler="tests.modal_stubs.handlers:fail_until", timeout=30, retries=2),
    ComputeFunction(name="stub-reject", handler="tests.modal_stubs.handlers:reject", timeout=30, retries=3),
    ComputeFunction(name="stub-crash", handler="tests.modal_stubs.handlers:crash", timeout=30),
    ComputeFunction(name="stub-freeze", handler="tests.modal_stubs.handlers:freeze_container", timeout=2),
    ComputeFunction(name="stub-not-json", handler="tests.modal_stubs.handlers:not_json", timeout=30),
    ComputeFunction(name="stub-broken", handler="tests.modal_stubs.broken_handlers:run", timeout=30, retries=1),
]
