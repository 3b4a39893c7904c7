"""One stub "container": a warm process that runs calls of one function, one after another.

Framework-free (no Django): the worker starts it with multiprocessing's spawn
context, so it begins as a fresh interpreter, imports the function's handler
once (like a warm Modal container) and then receives calls over a pipe. It
never touches the database: the worker records what it reports.

Messages to the worker: ("ready",), ("boot_failed", error), ("started", id),
("ok", id, result_json), ("error", id, error). An error is a dict with
error_type, error_class, message and traceback.
"""
from __future__ import annotations

import json
import os
import signal
import traceback


def describe_error(exc: BaseException) -> dict:
    cls = type(exc)
    return {
        "error_type": getattr(exc, "error_type", None) or cls.__name__,
        "error_class": f"{cls.__module__}:{cls.__qualname__}",
        "message": str(exc) or cls.__name__,
        "traceback": traceback.format_exc(),
    }


def container_main(conn, function_name: str) -> None:
    # Its own process group: the worker kills the container and any core child it forked in one go,
    # and a Ctrl-C meant for the worker does not reach the calls directly.
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from jobs.runtime import run_function
        from portal.compute_functions import get_function

        get_function(function_name).load_handler()  # import once: later calls find it warm
    except BaseException as exc:  # noqa: BLE001 - the worker must hear why the container cannot start
        conn.send(("boot_failed", describe_error(exc)))
        return
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        object_id, args, kwargs = message
        conn.send(("started", object_id))
        conn.send(_run(run_function, function_name, object_id, args, kwargs))


def _run(run_function, function_name, object_id, args, kwargs):
    try:
        if args:
            raise TypeError(f"{function_name}() takes keyword arguments only, got {len(args)} positional")
        result = run_function(function_name, kwargs)
        return ("ok", object_id, json.dumps(result))
    except BaseException as exc:  # noqa: BLE001 - SystemExit from a handler is a failure, not our exit
        return ("error", object_id, describe_error(exc))
