"""jobs.runtime.run_function: a handler runs in a forked child, or in this process when its
function is declared isolated=False; either way it fails the same way and its log lines are
all posted, in order, before its result is handed back."""
import os

import pytest

from jobs import reporting
from jobs.isolation import BadInput, CoreError
from jobs.runtime import run_function
from tests.jobs.conftest import CALLBACK_KEY

FUNCTIONS = ["test_echo", "test_echo_in_process"]


def test_an_isolated_function_runs_in_a_child_and_the_other_in_this_process():
    assert run_function("test_echo", {"value": 1})["output"]["pid"] != os.getpid()
    assert run_function("test_echo_in_process", {"value": 1})["output"] == {"value": 1, "pid": os.getpid()}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_log_lines_are_posted_before_the_result_and_finished_after_it(function, callback_endpoint):
    result = run_function(function, {"steps": 2, "callback_url": callback_endpoint.url, "callback_key": CALLBACK_KEY})
    assert result["output"]["value"] is None
    # The lines had been posted when run_function returned; "finished" is posted in the background.
    assert [e["type"] for _, e in callback_endpoint.events][:4] == ["progress", "log", "progress", "log"]
    assert reporting.flush(10)
    assert [e["type"] for _, e in callback_endpoint.events] == ["progress", "log", "progress", "log", "finished"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_failures_keep_their_kind_wherever_the_handler_runs(function):
    with pytest.raises(BadInput, match="not a CAD file") as bad:
        run_function(function, {"bad_input": "not a CAD file"})
    assert bad.value.error_type == "bad_input"
    with pytest.raises(CoreError, match="gave up") as failed:
        run_function(function, {"fail": "gave up"})
    assert failed.value.error_type == "echo_failed"
    with pytest.raises(CoreError, match="concatenate") as other:
        run_function(function, {"value": None, "steps": "two"})
    assert other.value.error_type == "TypeError"


def test_in_this_process_later_posts_are_synchronous_again(callback_endpoint):
    run_function("test_echo_in_process", {"steps": 1, "callback_url": callback_endpoint.url, "callback_key": CALLBACK_KEY})
    assert reporting.flush(10)
    reporting.Reporter(callback_endpoint.url, CALLBACK_KEY).log("after the call")
    assert callback_endpoint.events[-1][1]["data"]["message"] == "after the call"  # there before log() returned
