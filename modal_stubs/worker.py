"""The stub worker: runs queued calls in warm container processes, like Modal's autoscaler.

One scheduler loop (this process, with the database) and up to N container
processes (modal_stubs.container, no database). Per function it runs at most
min(max_containers, N) calls at once, kills a call past its timeout, retries
failures up to the declared retries (never BadInput), replaces containers that
die, kills the container of a cancelled call, and expires old results.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Optional

from django.db import close_old_connections, connection

from modal_stubs import conf, selectors, services
from modal_stubs.container import container_main
from modal_stubs.services import ClaimedCall
from portal.compute_functions import ComputeFunction, all_functions

logger = logging.getLogger("modal_stubs.worker")

NOT_RETRIED = {"bad_input"}  # jobs.isolation.BadInput: retrying cannot fix the input
MAX_RETRY_DELAY_SECONDS = 60.0


@dataclass
class Container:
    function: ComputeFunction
    process: multiprocessing.Process
    conn: object
    ready: bool = False
    call: Optional[ClaimedCall] = None
    assigned_at: float = 0.0  # when the current call was handed to this container
    call_started: Optional[float] = None  # when the handler began (the timeout counts from here)
    idle_since: float = field(default_factory=time.monotonic)

    @property
    def busy(self) -> bool:
        return self.call is not None


class NewCallListener:
    """A database connection of its own that LISTENs for spawns (see services.spawn_call).

    Its socket joins the container pipes the loop waits on, so a queued call wakes an idle
    worker at once. Notices are a wake-up and a hint (which functions to claim first: one
    claim query per function, and a worker serves them all): the loop still claims from the
    table, and still polls every poll_seconds (retries that come due, a lost notice, a broken
    listener).
    """

    def __init__(self):
        self.conn = None

    def open(self) -> None:
        import psycopg

        try:
            self.conn = psycopg.connect(**connection.get_connection_params(), autocommit=True)
            self.conn.execute(f"LISTEN {services.NEW_CALLS_CHANNEL}")
        except Exception:  # noqa: BLE001 - polling alone still works
            logger.warning("could not LISTEN for new calls; polling every %.2f s", conf.poll_seconds(), exc_info=True)
            self.close()

    def waitables(self) -> list:
        return [self.conn.fileno()] if self.conn is not None else []

    def drain(self) -> set[str]:
        """Read the notices that arrived; return their payloads ("<app>:<function>")."""
        payloads = set()
        if self.conn is None:
            return payloads
        try:
            pgconn = self.conn.pgconn
            pgconn.consume_input()
            while (notice := pgconn.notifies()) is not None:
                payloads.add(notice.extra.decode())
        except Exception:  # noqa: BLE001 - a broken listener: reopen it on the next tick
            logger.warning("the new-call listener broke; reopening it", exc_info=True)
            self.close()
        return payloads

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass
        self.conn = None


class StubWorker:
    def __init__(self, app_name: str | None = None, containers: int | None = None, once: bool = False):
        self.app_name = app_name or conf.app_name()
        self.capacity = max(1, containers or conf.containers())
        self.once = once
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.functions = all_functions()
        # A spawn's NOTIFY payload -> the function it names (services.new_calls_notice).
        self._function_by_notice = {services.new_calls_notice(self.app_name, name): name for name in self.functions}
        self.containers: list[Container] = []
        self.context = multiprocessing.get_context("spawn")
        self.stopping = False
        self._rotation = 0
        self._next_heartbeat = 0.0
        self._next_housekeeping = 0.0
        self.listener = NewCallListener()

    # --- the loop -----------------------------------------------------------

    def run(self) -> None:
        logger.info(
            "stub worker %s serving app %s: %d containers, functions: %s",
            self.worker_id, self.app_name, self.capacity, ", ".join(sorted(self.functions)) or "none",
        )
        try:
            while not self.stopping:
                try:
                    self.tick()
                except Exception:  # noqa: BLE001 - the worker survives everything, the database included
                    logger.exception("stub worker tick failed; carrying on")
                    self._reset_database_connection()
                    time.sleep(conf.poll_seconds())
                if self.once and self._drained():
                    break
        finally:
            self.shutdown()

    def stop(self, *args) -> None:
        self.stopping = True

    def tick(self) -> None:
        if self.listener.conn is None and not self.stopping:
            self.listener.open()
        notices = self.listener.drain()  # before claiming: a notice of a call claimed now is spent
        self.housekeeping()
        self.claim_and_assign(first=self._notified_functions(notices))
        self.wait_for_messages(conf.poll_seconds())  # returns as soon as a container reports
        self.enforce_timeouts()
        self.kill_calls_no_longer_held()
        self.heartbeat()
        self.retire_idle_containers()

    def _drained(self) -> bool:
        return not any(c.busy for c in self.containers) and not selectors.has_queued_calls(self.app_name, self.functions)

    # --- claiming -----------------------------------------------------------

    def _notified_functions(self, notices: set[str]) -> list[str]:
        return sorted(self._function_by_notice[notice] for notice in notices if notice in self._function_by_notice)

    def claim_and_assign(self, first: list[str] = ()) -> None:
        """Claim queued calls for free containers: the `first` functions (just spawned), then all
        of them in turn (so that no function's queue starves another's)."""
        if self.stopping:
            return
        names = sorted(self.functions)
        if not names:
            return
        self._rotation = (self._rotation + 1) % len(names)
        in_turn = names[self._rotation :] + names[: self._rotation]
        for name in [*first, *(name for name in in_turn if name not in first)]:
            free_total = self.capacity - sum(c.busy for c in self.containers)
            if free_total <= 0:
                return
            function = self.functions[name]
            busy_here = sum(c.busy for c in self.containers if c.function.name == name)
            want = min(min(function.max_containers, self.capacity) - busy_here, free_total)
            for call in services.claim_calls(self.app_name, name, want, self.worker_id):
                self.assign(call, function)

    def assign(self, call: ClaimedCall, function: ComputeFunction) -> None:
        container = next((c for c in self.containers if c.function.name == function.name and not c.busy), None)
        if container is None:
            if len(self.containers) >= self.capacity:
                self.retire(next(c for c in self.containers if not c.busy), reason="making room")
            container = self.start_container(function)
        container.call = call
        container.assigned_at = time.monotonic()
        container.call_started = None
        logger.info("call %s (%s) attempt %d: assigned to container %s", call.object_id, call.function_name, call.attempt, container.process.pid)
        if container.ready:
            self._send_call(container)

    def start_container(self, function: ComputeFunction) -> Container:
        parent_conn, child_conn = self.context.Pipe()
        process = self.context.Process(target=container_main, args=(child_conn, function.name), name=f"stub-container-{function.name}")
        process.start()
        child_conn.close()
        container = Container(function=function, process=process, conn=parent_conn)
        self.containers.append(container)
        logger.info("container %s started for %s", process.pid, function.name)
        return container

    def _send_call(self, container: Container) -> None:
        call = container.call
        try:
            container.conn.send((call.object_id, call.args, call.kwargs))
        except (OSError, ValueError):
            pass  # the container died; its death is handled with the other dead ones

    # --- messages from containers -----------------------------------------

    def wait_for_messages(self, timeout: float) -> None:
        """Until a container reports, a call is spawned (NOTIFY), or `timeout` passes."""
        waitables = [c.conn for c in self.containers] + [c.process.sentinel for c in self.containers]
        waitables += self.listener.waitables()
        if not waitables:
            time.sleep(timeout)
            return
        wait(waitables, timeout=timeout)
        for container in list(self.containers):
            self._drain(container)
            if container in self.containers and not container.process.is_alive():
                self._drain(container)  # a last message may have arrived just before it exited
                self._container_died(container)

    def _drain(self, container: Container) -> None:
        try:
            while container.conn.poll():
                self._handle(container, container.conn.recv())
        except (EOFError, OSError):
            pass

    def _handle(self, container: Container, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            container.ready = True
            if container.call is not None:
                self._send_call(container)
        elif kind == "boot_failed":
            error = message[1]
            logger.error("container %s for %s could not start: %s", container.process.pid, container.function.name, error["message"])
            if container.call is not None:
                self.fail(container, **error)
            self.kill(container)
        elif kind == "started":
            container.call_started = time.monotonic()
            logger.info("call %s (%s) started", message[1], container.function.name)
        elif kind == "ok":
            self.succeed(container, message[2])
        elif kind == "error":
            self.fail(container, **message[2])

    def succeed(self, container: Container, result_json: str) -> None:
        import json

        call = container.call
        seconds = self._call_seconds(container)
        self._release(container)
        if services.record_success(call, self.worker_id, json.loads(result_json)):
            logger.info("call %s (%s) succeeded in %.2f s", call.object_id, call.function_name, seconds)
        else:
            logger.info("call %s finished but was cancelled or taken over meanwhile; result dropped", call.object_id)

    def fail(self, container: Container, *, error_type: str, error_class: str, message: str, traceback: str = "") -> None:
        call = container.call
        seconds = self._call_seconds(container)
        self._release(container)
        retry_in = self._retry_delay(call, container.function, error_type)
        status = services.record_failure(
            call, self.worker_id, error_type=error_type, error_class=error_class, message=message, traceback=traceback, retry_in=retry_in
        )
        if status is None:
            logger.info("call %s failed but was cancelled or taken over meanwhile", call.object_id)
        else:
            logger.info("call %s (%s) attempt %d failed after %.2f s (%s: %s); now %s", call.object_id, call.function_name, call.attempt, seconds, error_type, message[:200], status)

    def _retry_delay(self, call: ClaimedCall, function: ComputeFunction, error_type: str) -> float | None:
        if error_type in NOT_RETRIED or call.attempt > function.retries:
            return None
        return min(conf.retry_delay_seconds() * 2 ** (call.attempt - 1), MAX_RETRY_DELAY_SECONDS)

    def _call_seconds(self, container: Container) -> float:
        return time.monotonic() - container.call_started if container.call_started else 0.0

    def _release(self, container: Container) -> None:
        container.call = None
        container.call_started = None
        container.idle_since = time.monotonic()

    # --- deaths, timeouts, cancellations ----------------------------------

    def _container_died(self, container: Container) -> None:
        exitcode = container.process.exitcode
        if container.call is not None:
            self.fail(
                container,
                error_type="crashed",
                error_class="jobs.isolation:CoreCrashed",
                message=f"The container running the call died ({_describe_exit(exitcode)})",
            )
        logger.warning("container %s for %s exited (%s)", container.process.pid, container.function.name, _describe_exit(exitcode))
        self._forget(container)

    def enforce_timeouts(self) -> None:
        now = time.monotonic()
        for container in list(self.containers):
            if container.call is None:
                continue
            if container.call_started is not None:
                if now - container.call_started > container.function.timeout:
                    self.kill(container)
                    self.fail(
                        container,
                        error_type="timeout",
                        error_class="modal.exception:FunctionTimeoutError",
                        message=f"Function timed out after the time limit of {container.function.timeout} s",
                    )
            elif now - container.assigned_at > conf.boot_timeout_seconds():
                self.kill(container)
                self.fail(
                    container,
                    error_type="crashed",
                    error_class="jobs.isolation:CoreCrashed",
                    message=f"The container did not start the call within {conf.boot_timeout_seconds():g} s",
                )

    def kill_calls_no_longer_held(self) -> None:
        busy = {c.call.object_id: c for c in self.containers if c.call is not None}
        for object_id in selectors.calls_not_held(busy, self.worker_id):
            container = busy[object_id]
            logger.info("call %s was cancelled: killing container %s", object_id, container.process.pid)
            self._release(container)
            self.kill(container)

    def kill(self, container: Container) -> None:
        try:
            os.killpg(container.process.pid, signal.SIGKILL)  # the container and any core child it forked
        except (ProcessLookupError, PermissionError):
            if container.process.is_alive():
                container.process.kill()
        container.process.join(5)
        self._forget(container)

    def retire(self, container: Container, reason: str) -> None:
        logger.info("container %s for %s stopped (%s)", container.process.pid, container.function.name, reason)
        self.kill(container)

    def _forget(self, container: Container) -> None:
        if container in self.containers:
            self.containers.remove(container)
            container.conn.close()

    def retire_idle_containers(self) -> None:
        now = time.monotonic()
        for container in list(self.containers):
            if not container.busy and now - container.idle_since > conf.container_idle_seconds():
                self.retire(container, reason="idle")

    # --- bookkeeping --------------------------------------------------------

    def heartbeat(self) -> None:
        now = time.monotonic()
        if now < self._next_heartbeat:
            return
        self._next_heartbeat = now + max(1.0, conf.lease_seconds() / 4)
        services.heartbeat([c.call.object_id for c in self.containers if c.call is not None], self.worker_id)

    def housekeeping(self) -> None:
        now = time.monotonic()
        if now < self._next_housekeeping:
            return
        self._next_housekeeping = now + conf.housekeeping_seconds()
        retries = {name: function.retries for name, function in self.functions.items()}
        recovered = services.recover_abandoned_calls(retries, conf.lease_seconds())
        expired, deleted = services.expire_results()
        if recovered or expired or deleted:
            logger.info("housekeeping: %d abandoned calls recovered, %d results expired, %d old calls forgotten", recovered, expired, deleted)

    def shutdown(self) -> None:
        self.listener.close()
        held = [c.call.object_id for c in self.containers if c.call is not None]
        for container in list(self.containers):
            self.kill(container)
        if held:
            try:
                services.release_calls(held, self.worker_id)
                logger.info("stub worker stopping: %d running calls given back to the queue", len(held))
            except Exception:  # noqa: BLE001 - their lease runs out and another worker recovers them
                logger.exception("could not give running calls back; they will be recovered after the lease")
        logger.info("stub worker %s stopped", self.worker_id)

    def _reset_database_connection(self) -> None:
        try:
            connection.close()
        except Exception:  # noqa: BLE001
            pass
        close_old_connections()


def _describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
