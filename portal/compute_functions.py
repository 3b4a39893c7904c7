"""Every compute function, declared once.

A declaration names the function, the framework-free handler it runs and the
resources Modal gives it. `portal/modal_app.py` builds the deployable Modal app
from these declarations; `modal_stubs` reads the same ones to run calls on this
machine; the Celery backend runs the same handlers on Celery workers. Nothing
here imports Django, Celery or Modal.

A handler is a plain function `handler(**payload) -> dict` (JSON-able). It is
imported by dotted path ("package.module:function") so that the Modal image,
the stub worker and Celery import only the workload they run.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ComputeFunction:
    name: str
    handler: str  # "package.module:function"
    timeout: int = 600  # seconds, per attempt
    retries: int = 0  # Modal-side retries after a failed attempt
    max_containers: int = 100
    memory: int = 4096  # MiB
    cpu: float = 2.0
    gpu: str | None = None
    pip_packages: tuple[str, ...] = field(default=())
    apt_packages: tuple[str, ...] = field(default=())
    # True: the handler runs in a forked child with a hard timeout (jobs.isolation), so that a
    # segfault or a hang in its core cannot take the worker down. False only for a core that
    # runs its risky steps in subprocesses of its own, each with a timeout.
    isolated: bool = True

    def load_handler(self):
        module_name, _, attr = self.handler.partition(":")
        return getattr(importlib.import_module(module_name), attr)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_gpu(name: str) -> str | None:
    return os.environ.get(name) or None


# Workload modules that declare functions; each exposes FUNCTIONS: list[ComputeFunction].
DECLARING_MODULES = (
    "datasets.functions",
    "meshing.functions",
    "research.functions",
)


def declaring_modules() -> tuple[str, ...]:
    # Tests declare test-only functions (e.g. tests.modal_stubs.handlers) through this variable;
    # it is read on every call so that worker subprocesses inherit it from their environment.
    extra = os.environ.get("PORTAL_EXTRA_FUNCTION_MODULES", "")
    return DECLARING_MODULES + tuple(name.strip() for name in extra.split(",") if name.strip())


def all_functions() -> dict[str, ComputeFunction]:
    functions: dict[str, ComputeFunction] = {}
    for module_name in declaring_modules():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        for function in getattr(module, "FUNCTIONS", []):
            functions[function.name] = function
    return functions


def get_function(name: str) -> ComputeFunction:
    try:
        return all_functions()[name]
    except KeyError:
        raise LookupError(f"No compute function named {name!r} is declared") from None
