"""jobs.runtime.run_function: a handler runs in a forked child, or in this process when its
function is declared isolated=False; either way it fails the same way and its log lines are
all posted, in order, before its result is handed back."""
import os

import pytest

from jobs import reporting
from jobs.isolation import BadInput, CoreError
from jobs.runtime import RESULT_IN_NOTICE_MAX_BYTES, run_function
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


def _finished_notice(callback_endpoint):
    assert reporting.flush(10)
    notices = [event["data"] for _, event in callback_endpoint.events if event["type"] == "finished"]
    assert len(notices) == 1
    return notices[0]


def test_the_finished_notice_carries_a_small_result(callback_endpoint):
    result = run_function("test_echo_in_process", {"value": 7, "callback_url": callback_endpoint.url,
                                                   "callback_key": CALLBACK_KEY})
    assert _finished_notice(callback_endpoint)["result"] == result


def test_the_finished_notice_leaves_a_large_result_to_be_fetched(callback_endpoint):
    run_function("test_echo_in_process", {"value": "x" * (RESULT_IN_NOTICE_MAX_BYTES + 1),
                                          "callback_url": callback_endpoint.url, "callback_key": CALLBACK_KEY})
    assert "result" not in _finished_notice(callback_endpoint)


def test_a_failure_is_never_told_in_the_notice(callback_endpoint):
    # Modal may retry a failed call: only Modal can say how it ended.
    with pytest.raises(CoreError):
        run_function("test_echo", {"fail": "gave up", "callback_url": callback_endpoint.url, "callback_key": CALLBACK_KEY})
    notice = _finished_notice(callback_endpoint)
    assert "result" not in notice and notice["seconds"] >= 0
