"""Progress and log events are posted in the background, in order (those that queued up
meanwhile in one request), and none is lost when a handler's forked child exits right after
returning."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs import reporting
from jobs.isolation import run_isolated
from jobs.reporting import SIGNATURE_HEADER, TIMESTAMP_HEADER, Reporter, sign
from jobs.runtime import _posting_events_before_return

KEY = "test-key"
SLOW_ANSWER_SECONDS = 0.2


class Portal(ThreadingHTTPServer):
    """A slow callback endpoint that records each signed event it receives."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.events = []
        self.requests = []  # (path, events in that request)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/callback"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert self.headers[SIGNATURE_HEADER] == sign(KEY, self.headers[TIMESTAMP_HEADER], body)
        time.sleep(SLOW_ANSWER_SECONDS)
        payload = json.loads(body)
        with self.server.lock:
            events = payload["events"] if "events" in payload else [payload]
            self.server.requests.append((self.path, len(events)))
            self.server.events.extend((self.path, event) for event in events)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def portal():
    server = Portal()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _report_and_return(callback_url):
    reporter = Reporter(callback_url, KEY)
    started = time.monotonic()
    for step in range(1, 4):
        reporter.progress(step, 3, f"step {step}")
    reporter.log("done")
    return {"queued_in": time.monotonic() - started}


def test_in_the_runtime_events_do_not_wait_for_the_portal_yet_all_arrive_in_order(portal):
    handler = _posting_events_before_return(_report_and_return)
    output = run_isolated(handler, {"callback_url": portal.url}, timeout=20)
    assert output["queued_in"] < SLOW_ANSWER_SECONDS  # four posts in turn would take 0.8 s
    # The forked child has exited: everything it queued had been posted by then.
    assert [(e["type"], e["data"].get("done")) for _, e in portal.events] == [
        ("progress", 1), ("progress", 2), ("progress", 3), ("log", None)
    ]
    # What queued while a post was on its way went in the next one: two requests at most.
    assert len(portal.requests) <= 2


def test_a_workload_event_is_stored_before_the_call_returns_after_the_lines_queued_before_it(portal):
    def report():
        reporting.post_in_background()  # as in the runtime's child
        reporter = Reporter(portal.url, KEY)
        reporter.progress(1, 2)
        reporter.event("section", {"title": "first"})
        # No flush here: had event() not posted the queued progress first, it would be lost.

    run_isolated(report, {}, timeout=20)
    assert [e["type"] for _, e in portal.events] == ["progress", "section"]


def test_outside_the_runtime_every_post_is_synchronous(portal):
    Reporter(portal.url, KEY).progress(1, 2)
    assert [e["type"] for _, e in portal.events] == ["progress"]  # there before progress() returned
    assert reporting.flush(1)  # nothing was queued


def test_events_of_different_attempts_are_never_posted_together(portal):
    def report():
        reporting.post_in_background()
        first, second = Reporter(portal.url + "?attempt=1", KEY), Reporter(portal.url + "?attempt=2", KEY)
        for reporter in (first, first, second, first):
            reporter.log("line")
        reporting.flush(10)

    run_isolated(report, {}, timeout=20)
    assert [path for path, _ in portal.events] == ["/callback?attempt=1"] * 2 + ["/callback?attempt=2", "/callback?attempt=1"]
    # Each request went to one attempt's URL: the second attempt's line split the run.
    assert [count for _, count in portal.requests][-2:] == [1, 1]
