"""run_isolated: every core runs in a forked child with a hard timeout; time_limit inside it."""
import faulthandler
import gc
import os
import signal
import time

import pytest

from jobs.isolation import BadInput, CoreCrashed, CoreError, CoreTimeout, run_isolated, time_limit


def _double(x):
    return {"value": x * 2}


def _sleep_forever():
    time.sleep(600)


def _segfault():
    os.kill(os.getpid(), signal.SIGSEGV)


def _bad_input():
    raise BadInput("The file is an ELF executable, not a PDF")


def _fails():
    raise ValueError("wrong value")


def test_the_result_comes_back():
    assert run_isolated(_double, {"x": 21}, timeout=10) == {"value": 42}


def test_a_hang_is_stopped_at_the_time_limit():
    started = time.monotonic()
    with pytest.raises(CoreTimeout, match="time limit of 1 s"):
        run_isolated(_sleep_forever, {}, timeout=1)
    assert time.monotonic() - started < 5


def test_a_segfault_fails_the_call_not_the_caller():
    # pytest's fault handler, inherited by the child, would print the expected crash's traceback.
    faulthandler.disable()
    try:
        with pytest.raises(CoreCrashed, match="SIGSEGV"):
            run_isolated(_segfault, {}, timeout=10)
    finally:
        faulthandler.enable()
    assert run_isolated(_double, {"x": 1}, timeout=10) == {"value": 2}


def test_bad_input_keeps_its_type_and_message():
    with pytest.raises(BadInput, match="ELF executable") as error:
        run_isolated(_bad_input, {}, timeout=10)
    assert error.value.error_type == "bad_input"


def test_other_errors_carry_their_class_name():
    with pytest.raises(CoreError, match="wrong value") as error:
        run_isolated(_fails, {}, timeout=10)
    assert error.value.error_type == "ValueError"


def test_torch_works_in_the_child_after_the_parent_used_it():
    import torch

    matrix = torch.randn(600, 600)
    expected = float((matrix @ matrix).sum())  # the parent runs a parallel operation first

    result = run_isolated(lambda: float((matrix @ matrix).sum()), {}, timeout=60)

    assert result == pytest.approx(expected, rel=1e-4)


def test_the_parent_collects_garbage_as_before_after_a_call():
    run_isolated(_double, {"x": 1}, timeout=10)

    assert gc.get_freeze_count() == 0  # the freeze that spares the child's copy-on-write is undone


def _busy_python(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass


def test_time_limit_stops_python_code_that_runs_too_long():
    started = time.monotonic()
    with pytest.raises(CoreTimeout, match="Parsing stopped after reaching its time limit of 0.2 s"):
        with time_limit(0.2, what="Parsing"):
            _busy_python(10)
    assert time.monotonic() - started < 2


def test_time_limit_holds_when_the_code_swallows_the_interruption():
    with pytest.raises(CoreTimeout):
        with time_limit(0.1):
            try:
                _busy_python(10)
            except BaseException:  # noqa: BLE001 - a library that catches everything and carries on
                pass


def test_time_limit_leaves_no_alarm_behind():
    previous = signal.getsignal(signal.SIGALRM)
    with time_limit(5):
        _busy_python(0.05)

    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is previous
