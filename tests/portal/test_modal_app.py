"""portal/modal_app.py builds the deployable Modal app offline from the project's declarations."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import modal
import pytest

from portal import modal_app
from portal.compute_functions import ComputeFunction, all_functions

ROOT = Path(__file__).resolve().parents[2]


def offline_env(tmp_path) -> dict:
    """No Modal token and no ~/.modal.toml: importing must still work."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_") and k != "PORTAL_EXTRA_FUNCTION_MODULES"}
    env.update(HOME=str(tmp_path), MODAL_CONFIG_PATH=str(tmp_path / "absent.toml"))
    return env


def test_importing_builds_the_app_offline_without_django(tmp_path):
    # Django is made unimportable: the module, its declarations and every handler must not need it,
    # since a Modal container has no Django settings (and no database).
    script = (
        "import sys; sys.modules['django'] = None\n"
        "import portal.modal_app as m\n"
        "from portal.compute_functions import all_functions\n"
        "for f in all_functions().values(): f.load_handler()\n"
        "print(m.app.name, sorted(m.FUNCTIONS))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=offline_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"modal-ops-portal {sorted(deployed_function_names())}"


def deployed_function_names() -> set[str]:
    """The apps' own declarations (without the test-only ones tests/conftest.py adds)."""
    import importlib

    from portal.compute_functions import DECLARING_MODULES

    return {f.name for module in DECLARING_MODULES for f in importlib.import_module(module).FUNCTIONS}


def test_every_declared_function_is_on_the_app_with_its_declared_resources():
    declared = all_functions()
    assert {"process_document", "generate_mesh", "run_research"} <= set(declared)
    assert set(modal_app.FUNCTIONS) == set(declared)
    for name, function in declared.items():
        assert isinstance(modal_app.FUNCTIONS[name], modal.Function)
        # Modal exposes a function's spec only after deployment (Function.info() asks its servers),
        # so the builder's own record of what it passed to app.function() is what can be checked.
        assert modal_app.FUNCTION_OPTIONS[name] == {
            "name": name,
            "gpu": function.gpu,
            "cpu": function.cpu,
            "memory": function.memory,
            "timeout": function.timeout,
            "retries": function.retries,
            "max_containers": function.max_containers,
        }


def test_base_image_pins_follow_requirements():
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s#]+)", (ROOT / "requirements.txt").read_text(), re.M))
    for requirement in modal_app.BASE_PIP_PACKAGES:
        name, version = requirement.split("==")
        assert version == pins["docling-slim" if name == "docling" else name], requirement


def test_builder_passes_gpu_retries_timeout_and_secrets():
    declarations = {
        "gpu-echo": ComputeFunction(
            name="gpu-echo", handler="tests.modal_stubs.handlers:echo", timeout=77, retries=3, max_containers=5, gpu="T4",
            memory=1024, cpu=1.0, pip_packages=("pypdf==7.1.0",), apt_packages=("libgl1",),
        )
    }
    os.environ["MODAL_SECRETS"] = "openai-key, other-secret"
    try:
        assert modal_app.secret_names() == ["openai-key", "other-secret"]
        app, handles, options = modal_app.build_app(declarations, app_name="test-app")
    finally:
        del os.environ["MODAL_SECRETS"]
    assert app.name == "test-app"
    assert options["gpu-echo"] == {"name": "gpu-echo", "gpu": "T4", "cpu": 1.0, "memory": 1024, "timeout": 77, "retries": 3, "max_containers": 5}
    assert isinstance(handles["gpu-echo"], modal.Function)


def test_local_runs_the_handler_through_jobs_runtime():
    declarations = {name: f for name, f in all_functions().items() if name == "stub-echo"}
    _, handles, _ = modal_app.build_app(declarations, app_name="test-app")
    envelope = handles["stub-echo"].local(text="hi", n=2)
    assert envelope["output"]["echo"] == {"text": "hi", "n": 2}
    assert envelope["output"]["container_pid"] == os.getpid()  # .local() ran it here (in a forked child)
    assert envelope["compute_seconds"] >= 0


@pytest.mark.timeout(300)
def test_local_processes_a_markdown_document_for_real(tmp_path):
    # In a fresh interpreter without Django, as in a Modal container (and without this test
    # process's threads, which a forked core would inherit).
    document = tmp_path / "notes.md"
    document.write_text("# Pumps\n\nCentrifugal pumps move water by spinning an impeller.\n\n## Care\n\nCheck the seals every month.\n")
    script = (
        "import json, sys; sys.modules['django'] = None\n"
        "import portal.modal_app as m\n"
        f"envelope = m.FUNCTIONS['process_document'].local(source_url={document.as_uri()!r}, filename='notes.md')\n"
        "print(json.dumps(envelope))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=offline_env(tmp_path), capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    envelope = json.loads(done.stdout.strip().splitlines()[-1])
    output = envelope["output"]
    assert envelope["compute_seconds"] > 0
    assert output["chunk_count"] == len(output["chunks"]) > 0
    assert "impeller" in output["markdown"]
    assert len(output["chunks"][0]["embedding"]) == 384  # the local MiniLM model
