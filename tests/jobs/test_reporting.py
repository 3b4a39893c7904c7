"""Progress and log events are posted in the background, in order (those that queued up
meanwhile in one request), and none is lost when a handler's forked child exits right after
returning."""
import time

from jobs import reporting
from jobs.isolation import run_isolated
from jobs.reporting import Reporter
from jobs.runtime import _posting_events_before_return
from tests.jobs.conftest import CALLBACK_KEY as KEY
from tests.jobs.conftest import SLOW_ANSWER_SECONDS


def _report_and_return(callback_url):
    reporter = Reporter(callback_url, KEY)
    started = time.monotonic()
    for step in range(1, 4):
        reporter.progress(step, 3, f"step {step}")
    reporter.log("done")
    return {"queued_in": time.monotonic() - started}


def test_in_the_runtime_events_do_not_wait_for_the_portal_yet_all_arrive_in_order(callback_endpoint):
    handler = _posting_events_before_return(_report_and_return)
    output = run_isolated(handler, {"callback_url": callback_endpoint.url}, timeout=20)
    assert output["queued_in"] < SLOW_ANSWER_SECONDS  # four posts in turn would take 0.8 s
    # The forked child has exited: everything it queued had been posted by then.
    assert [(e["type"], e["data"].get("done")) for _, e in callback_endpoint.events] == [
        ("progress", 1), ("progress", 2), ("progress", 3), ("log", None)
    ]
    # What queued while a post was on its way went in the next one: two requests at most.
    assert len(callback_endpoint.requests) <= 2


def test_a_workload_event_is_stored_before_the_call_returns_after_the_lines_queued_before_it(callback_endpoint):
    def report():
        with reporting.posting_in_background(10):  # as in the runtime
            reporter = Reporter(callback_endpoint.url, KEY)
            reporter.progress(1, 2)
            reporter.event("section", {"title": "first"})
            # Had event() not posted the queued progress first, it would come after the section.

    run_isolated(report, {}, timeout=20)
    assert [e["type"] for _, e in callback_endpoint.events] == ["progress", "section"]


def test_outside_the_runtime_every_post_is_synchronous(callback_endpoint):
    Reporter(callback_endpoint.url, KEY).progress(1, 2)
    assert [e["type"] for _, e in callback_endpoint.events] == ["progress"]  # there before progress() returned
    assert reporting.flush(1)  # nothing was queued


def test_events_of_different_attempts_are_never_posted_together(callback_endpoint):
    def report():
        with reporting.posting_in_background(10):
            first, second = Reporter(callback_endpoint.url + "?attempt=1", KEY), Reporter(callback_endpoint.url + "?attempt=2", KEY)
            for reporter in (first, first, second, first):
                reporter.log("line")

    run_isolated(report, {}, timeout=20)
    assert [path for path, _ in callback_endpoint.events] == ["/callback?attempt=1"] * 2 + ["/callback?attempt=2", "/callback?attempt=1"]
    # Each request went to one attempt's URL: the second attempt's line split the run.
    assert [count for _, count in callback_endpoint.requests][-2:] == [1, 1]
