"""The one entry point every processor calls to run a declared compute function.

Modal's function wrappers (portal/modal_app.py), the modal_stubs containers and
the Celery task all call `run_function(name, payload)`, so a job behaves the
same wherever it runs. Framework-free: imported inside Modal containers too.
"""
from __future__ import annotations

import json
import time

from jobs import reporting
from jobs.isolation import run_in_process, run_isolated
from jobs.reporting import reporter_from_payload
from portal.compute_functions import get_function

# At most this long for a handler's queued progress and log events once it has returned
# (a portal that does not answer costs each event the Reporter's own timeout).
EVENT_FLUSH_SECONDS = 15.0
# A successful call's result rides along with its "finished" notice up to this size (JSON).
RESULT_IN_NOTICE_MAX_BYTES = 64 * 1024


def run_function(name: str, payload: dict) -> dict:
    """Run the handler; return {"output": <handler result>, "compute_seconds": float}.

    The handler runs in a forked child under the function's timeout, so a hang
    or a segfault fails the call and never the worker running it; a function
    declared `isolated=False` runs in this process, its core isolating its own
    risky steps. Its exceptions come back as CoreError and friends, with their
    `error_type`, after the portal is told the attempt is over so that the poller
    collects it without waiting for its next sweep. That notice is posted in the
    background: the result is handed back at once, and whoever collects it
    waits briefly for it (jobs.services.collect_finished_call), unless the notice
    carries it (see _finished_notice).
    """
    function = get_function(name)
    handler = _posting_events_before_return(function.load_handler())
    reporter = reporter_from_payload(payload)
    started = time.monotonic()
    envelope = None
    try:
        if function.isolated:
            output = run_isolated(handler, payload, function.timeout)
        else:
            output = run_in_process(handler, payload)
        envelope = {"output": output, "compute_seconds": round(time.monotonic() - started, 3)}
        return envelope
    finally:
        reporter.send_later("finished", _finished_notice(time.monotonic() - started, envelope))


def _finished_notice(seconds: float, envelope: dict | None) -> dict:
    """The attempt is over. A successful call's result rides along when it is small: the portal
    applies it without asking Modal for it (a round trip per call, 21,000 for a large batch).
    A failure never does, since Modal may still retry the call."""
    notice = {"seconds": round(seconds, 3)}
    if envelope is not None and _json_size(envelope) <= RESULT_IN_NOTICE_MAX_BYTES:
        notice["result"] = envelope
    return notice


def _json_size(value) -> float:
    try:
        return len(json.dumps(value))
    except (TypeError, ValueError):
        return float("inf")


def _posting_events_before_return(handler):
    """The handler, its progress and log lines posted in the background, then a wait until
    they are posted (a forked child that runs it exits right after, and its sender with it)."""

    def run(**kwargs):
        with reporting.posting_in_background(EVENT_FLUSH_SECONDS):
            return handler(**kwargs)

    return run
