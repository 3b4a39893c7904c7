"""Stub workers of these tests' own: each serves an app name of its own, so it never takes the
calls of the session-wide `stub_worker` (app "modal-ops-portal") nor those of another test."""
import sys
import uuid

import pytest

from tests.fixtures.services import ServiceProcess, service_env

FAST = {
    "MODAL_STUB_POLL_SECONDS": "0.05",
    "MODAL_STUB_RETRY_DELAY_SECONDS": "0.1",
    "MODAL_STUB_HOUSEKEEPING_SECONDS": "0.5",
    "MODAL_STUB_CONTAINERS": "3",
}


class StubApp:
    """A worker subprocess serving one app name; spawn through `.function(name)`."""

    def __init__(self, database_url: str, log_dir, *arguments: str, **env):
        self.name = f"stub-test-{uuid.uuid4().hex[:10]}"
        argv = [sys.executable, "manage.py", "modal_stub_worker", "--app", self.name, *arguments]
        environment = service_env(database_url, None, "unused", **{**FAST, **env})
        self.worker = ServiceProcess(f"stub worker for {self.name}", argv, environment, log_dir / f"{self.name}.log")

    def function(self, function_name: str):
        import modal_stubs
        from django.test import override_settings

        # from_name finds only the deployed app's functions: for this lookup, that is this app.
        with override_settings(MODAL_STUB_DEPLOYED_APP=self.name):
            return modal_stubs.Function.from_name(self.name, function_name)

    def stop(self) -> int:
        self.worker.stop()
        return self.worker.process.returncode


@pytest.fixture
def start_stub_app(test_database_url, service_logs):
    started = []

    def start(*arguments: str, **env) -> StubApp:
        app = StubApp(test_database_url, service_logs, *arguments, **env)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


@pytest.fixture(scope="module")
def stub_app(test_database_url, service_logs):
    """One worker for a module's tests: 3 containers, fast polling and retries."""
    app = StubApp(test_database_url, service_logs)
    yield app
    app.stop()
