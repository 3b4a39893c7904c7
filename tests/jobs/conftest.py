"""Fixtures of the job engine's tests."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs.reporting import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

CALLBACK_KEY = "test-key"
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
        assert self.headers[SIGNATURE_HEADER] == sign(CALLBACK_KEY, self.headers[TIMESTAMP_HEADER], body)
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
def callback_endpoint():
    server = Portal()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def eager_celery():
    """Celery tasks sent from the test run in the test process (Celery's own eager mode)."""
    from portal.celery import app

    previous, app.conf.task_always_eager = app.conf.task_always_eager, True
    yield
    app.conf.task_always_eager = previous
