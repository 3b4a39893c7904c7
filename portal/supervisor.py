"""Runs the portal's long-lived processes as one tree and stops them together.

Framework-free on purpose: `runportal` builds the child list, this module only
starts, watches and stops processes.

Policy (documented in README): a child that exits on its own is reported with
its exit status and the whole tree stops, with a non-zero exit. A portal with a
dead worker would accept uploads that nobody processes; stopping loudly is the
honest answer, and a process manager above (systemd, a container runtime)
restarts the whole thing.

Each child runs in its own session (process group), so Ctrl-C in the terminal
reaches only the supervisor, which then stops the children in reverse start
order: SIGTERM to each group, a grace period, SIGKILL to what is left. Signalling
the group, not just the child, also ends grandchildren (Celery's pool
processes, the stub worker's per-call processes, forked compute cores).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field


@dataclass
class ChildSpec:
    name: str
    argv: list[str]


@dataclass
class Child:
    spec: ChildSpec
    process: subprocess.Popen
    pump: threading.Thread = field(repr=False)

    @property
    def name(self) -> str:
        return self.spec.name


class ChildExited(Exception):
    """A supervised child stopped by itself."""

    def __init__(self, name: str, returncode: int):
        super().__init__(f"{name} exited unexpectedly with status {returncode}")
        self.name = name
        self.returncode = returncode


class Supervisor:
    def __init__(self, env: dict, cwd: str, stop_timeout: float = 20.0, out=None):
        self.env = env
        self.cwd = cwd
        self.stop_timeout = stop_timeout
        self.out = out or sys.stdout
        self.children: list[Child] = []
        self.stop_requested = threading.Event()
        self.force_stop = threading.Event()
        self._out_lock = threading.Lock()

    # --- output -----------------------------------------------------------
    def say(self, name: str, line: str) -> None:
        with self._out_lock:
            self.out.write(f"{name:>7} | {line}\n")
            self.out.flush()

    def announce(self, text: str) -> None:
        """Print a block of text unprefixed, not interleaved with children's lines."""
        with self._out_lock:
            self.out.write(text if text.endswith("\n") else text + "\n")
            self.out.flush()

    def _pump(self, name: str, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.say(name, raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    # --- lifecycle --------------------------------------------------------
    def start(self, spec: ChildSpec) -> Child:
        process = subprocess.Popen(
            spec.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        pump = threading.Thread(target=self._pump, args=(spec.name, process.stdout), daemon=True)
        pump.start()
        child = Child(spec, process, pump)
        self.children.append(child)
        self.say("portal", f"started {spec.name} (pid {process.pid})")
        return child

    def run_once(self, spec: ChildSpec, timeout: float) -> int:
        """Run a one-shot helper (e.g. loading demo data) with prefixed output; return its status."""
        child = self.start(spec)
        deadline = time.monotonic() + timeout
        while child.process.poll() is None and time.monotonic() < deadline and not self.stop_requested.is_set():
            time.sleep(0.1)
        if child.process.poll() is None:  # too slow, or Ctrl-C meanwhile
            self._signal_group(child, signal.SIGKILL)
        returncode = child.process.wait()
        child.pump.join(timeout=5)
        self.children.remove(child)
        return returncode

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum, _frame) -> None:
        if self.stop_requested.is_set():
            self.force_stop.set()  # a second Ctrl-C: do not wait for graceful shutdown
        self.stop_requested.set()

    def check_children(self) -> None:
        for child in self.children:
            returncode = child.process.poll()
            if returncode is not None:
                raise ChildExited(child.name, returncode)

    def watch(self, interval: float = 0.5) -> None:
        """Block until a stop is requested (returns) or a child dies (raises ChildExited)."""
        while not self.stop_requested.wait(interval):
            self.check_children()

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.process.poll() is None:
                self.say("portal", f"stopping {child.name}")
            self._signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in reversed(self.children):
            while child.process.poll() is None and time.monotonic() < deadline and not self.force_stop.is_set():
                time.sleep(0.1)
            if child.process.poll() is None:
                self.say("portal", f"{child.name} did not stop in time; killing it")
            # Kill whatever is left of the group: the leader may be gone while its children live on.
            self._signal_group(child, signal.SIGKILL)
            child.process.wait()
            child.pump.join(timeout=5)
        self.children.clear()

    @staticmethod
    def _signal_group(child: Child, signum: int) -> None:
        try:
            os.killpg(child.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
