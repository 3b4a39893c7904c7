"""The process supervisor behind runportal: output, a dying child, stopping whole trees."""
import io
import os
import sys
import threading
import time

import psutil
import pytest

from portal.supervisor import ChildExited, ChildSpec, Supervisor

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(120)"]
# Starts a grandchild in the same process group, as Celery's pool does.
PARENT_OF_SLEEPER = [sys.executable, "-c",
                     "import subprocess, time; p = subprocess.Popen(['sleep', '120']); "
                     "print('grandchild', p.pid, flush=True); time.sleep(120)"]
DEAF = [sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('deaf', flush=True); time.sleep(120)"]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for_text(out: io.StringIO, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while text not in out.getvalue():
        assert time.monotonic() < deadline, f"{text!r} never printed:\n{out.getvalue()}"
        time.sleep(0.05)
    return out.getvalue()


@pytest.fixture
def supervisor():
    out = io.StringIO()
    sup = Supervisor(dict(os.environ), cwd=os.getcwd(), stop_timeout=2, out=out)
    yield sup
    sup.stop()


def test_output_is_prefixed_and_stop_ends_children_and_grandchildren(supervisor):
    supervisor.start(ChildSpec("sleeper", SLEEPER))
    parent = supervisor.start(ChildSpec("parent", PARENT_OF_SLEEPER))
    text = wait_for_text(supervisor.out, "grandchild ")
    wait_for_text(supervisor.out, "sleeper | up")
    grandchild_pid = int(text.split("grandchild ")[1].split()[0])
    pids = [child.process.pid for child in supervisor.children]

    supervisor.stop()

    assert all(gone(pid) for pid in pids + [grandchild_pid])
    assert parent.process.returncode is not None
    assert supervisor.children == []


def test_a_child_that_dies_is_reported_by_name_and_status(supervisor):
    supervisor.start(ChildSpec("sleeper", SLEEPER))
    supervisor.start(ChildSpec("crasher", [sys.executable, "-c", "import sys; sys.exit(3)"]))

    with pytest.raises(ChildExited) as excinfo:
        supervisor.watch(interval=0.05)

    assert (excinfo.value.name, excinfo.value.returncode) == ("crasher", 3)
    assert "crasher exited unexpectedly with status 3" in str(excinfo.value)


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(supervisor):
    deaf = supervisor.start(ChildSpec("deaf", DEAF))
    wait_for_text(supervisor.out, "deaf | deaf")
    started = time.monotonic()

    supervisor.stop()

    assert 1.5 <= time.monotonic() - started < 10
    assert gone(deaf.process.pid)
    assert "deaf did not stop in time; killing it" in supervisor.out.getvalue()


def test_a_stop_request_ends_watch(supervisor):
    supervisor.start(ChildSpec("sleeper", SLEEPER))
    threading.Timer(0.3, supervisor.stop_requested.set).start()

    supervisor.watch(interval=0.05)  # returns instead of raising

    assert supervisor.children[0].process.poll() is None
