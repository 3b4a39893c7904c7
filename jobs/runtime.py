"""The one entry point every processor calls to run a declared compute function.

Modal's function wrappers (portal/modal_app.py), the modal_stubs containers and
the Celery task all call `run_function(name, payload)`, so a job behaves the
same wherever it runs. Framework-free: imported inside Modal containers too.
"""
from __future__ import annotations

import time

from jobs.isolation import run_isolated
from jobs.reporting import reporter_from_payload
from portal.compute_functions import get_function


def run_function(name: str, payload: dict) -> dict:
    """Run the handler; return {"output": <handler result>, "compute_seconds": float}.

    The handler runs in a forked child under the function's timeout, so a hang
    or a segfault fails the call and never the worker running it. Its
    exceptions come back as CoreError and friends, with their `error_type`,
    after the portal is told the attempt is over so that the poller collects
    it without waiting for its next sweep.
    """
    function = get_function(name)
    handler = function.load_handler()
    reporter = reporter_from_payload(payload)
    started = time.monotonic()
    try:
        output = run_isolated(handler, payload, function.timeout)
    finally:
        reporter.send("finished", {"seconds": round(time.monotonic() - started, 3)})
    return {"output": output, "compute_seconds": round(time.monotonic() - started, 3)}
