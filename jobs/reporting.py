"""Progress and log lines from a running core back to the portal.

A compute function receives `callback_url` and `callback_key` in its payload.
It signs each event body with HMAC-SHA256 under `callback_key` (a key derived
for that one attempt: the function never sees the portal's secret) and posts
it to `callback_url`. Failures to report never fail the work.

Inside jobs.runtime (while a handler runs) progress and log lines are
posted in the background, in order, by one sender thread per process: a core
never waits on the portal's answer (on a busy portal a synchronous round trip
per event cost several percent of a short job). Events that queued up while a
post was on its way go together in the next one ({"events": [...]}), so a chatty
core costs the portal a few requests, not one per line. The runtime waits for them with
`posting_in_background()` before the handler's result is handed back, so none is
lost with a forked child that ran it. Called any other way (a core run directly, a test), every
post is synchronous as before. `event` (a workload may need it stored before
going on) and `acquire` (needs the portal's answer) are always synchronous.

Framework-free: imported inside Modal containers too.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import threading
import time
import urllib.request
from contextlib import contextmanager
from typing import Iterator

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Portal-Signature"
EVENT_ORDER_FLUSH_SECONDS = 30.0
EVENTS_PER_POST = 100  # log lines are capped at 2,000 characters: at most ~200 kB per post
TIMESTAMP_HEADER = "X-Portal-Timestamp"


def sign(key: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


class Reporter:
    """Posts events for one attempt. A Reporter with no URL does nothing."""

    def __init__(self, callback_url: str | None = None, callback_key: str | None = None, timeout: float = 5.0):
        self.callback_url = callback_url
        self.callback_key = callback_key
        self.timeout = timeout

    def progress(self, done: int, total: int, label: str = "") -> None:
        self._deliver("progress", {"done": done, "total": total, "label": label})

    def log(self, message: str, level: str = "info") -> None:
        self._deliver("log", {"message": message[:2000], "level": level})

    def event(self, name: str, data: dict) -> None:
        """A workload-specific event (for example a finished research section), posted now.

        Synchronous on purpose: a workload may rely on the portal having stored it before
        going on (research saves each section before asking for the next, so that a retry
        resumes there). The progress and log lines queued before it are posted first."""
        flush(EVENT_ORDER_FLUSH_SECONDS)
        self.send(name, data)

    def acquire(self, bucket: str, tokens: int = 1, max_wait: float = 600.0) -> float:
        """Wait until the portal's shared rate limit for `bucket` allows `tokens` requests.

        Returns the seconds waited. Without a portal to ask (a core run directly), or
        when the portal cannot be reached, it does not wait: the provider's own 429s
        and the caller's backoff still apply.
        """
        waited = 0.0
        while waited < max_wait:
            answer = self._post({"type": "ratelimit", "data": {"bucket": bucket, "tokens": tokens}})
            wait = float((answer or {}).get("wait", 0))
            if wait <= 0:
                break
            time.sleep(min(wait, max_wait - waited))
            waited += wait
        return waited

    def send(self, event_type: str, data: dict) -> bool:
        """Post one event now and wait for the answer; True when the portal took it."""
        return self._post({"type": event_type, "data": data}) is not None

    def send_later(self, event_type: str, data: dict) -> None:
        """Queue one event for this process's background sender (events keep their order)."""
        if self.callback_url and self.callback_key:
            _sender().put(self, {"type": event_type, "data": data})

    def _deliver(self, event_type: str, data: dict) -> None:
        if _background_pid == os.getpid():
            self.send_later(event_type, data)
        else:
            self.send(event_type, data)

    def send_batch(self, events: list[dict]) -> bool:
        """Post several events in one request, in order; True when the portal took them."""
        body = events[0] if len(events) == 1 else {"events": events}
        return self._post(body) is not None

    def _post(self, event: dict) -> dict | None:
        if not (self.callback_url and self.callback_key):
            return None
        body = json.dumps(event).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            self.callback_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(self.callback_key, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except Exception as exc:  # noqa: BLE001 - reporting is best effort
            logger.warning("callback %s failed: %s", event.get("type", "batch"), exc)
            return None


def reporter_from_payload(payload: dict) -> Reporter:
    return Reporter(payload.get("callback_url"), payload.get("callback_key"))


class _Sender:
    """One daemon thread per process that posts queued events one after another."""

    def __init__(self):
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="portal-callbacks", daemon=True)
        self.thread.start()

    def put(self, reporter: Reporter, event: dict) -> None:
        self.queue.put((reporter, event))

    def _loop(self) -> None:
        next_entry = None
        while True:
            reporter, item = next_entry or self.queue.get()
            next_entry = None
            if reporter is None:
                item.set()  # a flush marker: everything queued before it has been handled
                continue
            events = [item]
            while len(events) < EVENTS_PER_POST:  # what else queued meanwhile for this reporter
                try:
                    entry = self.queue.get_nowait()
                except queue.Empty:
                    break
                if entry[0] is not reporter:  # a flush marker or another attempt: after this post
                    next_entry = entry
                    break
                events.append(entry[1])
            try:
                reporter.send_batch(events)
            except Exception:  # noqa: BLE001 - e.g. data that is not JSON: drop it, keep sending
                logger.exception("callbacks %s could not be sent", [event.get("type") for event in events])

    def flush(self, timeout: float) -> bool:
        """Wait until every event queued so far was posted (or failed); False after `timeout`."""
        marker = threading.Event()
        self.queue.put((None, marker))
        return marker.wait(timeout)


_senders: dict[int, _Sender] = {}
_senders_lock = threading.Lock()


def _sender() -> _Sender:
    # Keyed by pid: a forked child (jobs.isolation) inherits the dict but not the thread.
    pid = os.getpid()
    with _senders_lock:
        sender = _senders.get(pid)
        if sender is None:
            sender = _senders[pid] = _Sender()
        return sender


def _forget_senders_after_fork() -> None:
    global _senders_lock
    _senders.clear()
    _senders_lock = threading.Lock()  # it may have been held by another thread at fork time


os.register_at_fork(after_in_child=_forget_senders_after_fork)


_background_pid: int | None = None


@contextmanager
def posting_in_background(flush_timeout: float = 30.0) -> Iterator[None]:
    """Inside the block this process queues progress and log lines instead of posting each one
    at once; leaving it waits (at most `flush_timeout`) until they are posted.

    The wait matters to a handler run in a forked child (jobs.isolation), whose sender thread
    dies with it, and to one run in a warm process whose caller applies the result next (a
    Celery worker): the job's log would otherwise end before its last lines arrive."""
    global _background_pid
    previous, _background_pid = _background_pid, os.getpid()
    try:
        yield
    finally:
        flush(flush_timeout)
        _background_pid = previous


def flush(timeout: float = 30.0) -> bool:
    """Post everything this process queued; True when nothing is left (or nothing was queued)."""
    sender = _senders.get(os.getpid())
    return True if sender is None else sender.flush(timeout)
