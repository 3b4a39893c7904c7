"""Shared test fixtures. Service fixtures (workers, servers) live in tests/fixtures/."""
import os

import pytest

# Test-only compute functions and job kinds; worker subprocesses inherit these variables.
_EXTRA_MODULES = "tests.jobs.kinds,tests.modal_stubs.handlers"
os.environ["PORTAL_EXTRA_FUNCTION_MODULES"] = _EXTRA_MODULES
os.environ["PORTAL_EXTRA_JOB_KINDS"] = "tests.jobs.kinds"
# pytest-django may have set Django up before this file ran; register the test kinds here too.
import tests.jobs.kinds  # noqa: E402,F401

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.s3", "tests.fixtures.browser"]


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="pw-bob-123")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser(username="ops", password="pw-ops-123", email="ops@example.com")


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """A test database of this run's own, so that several test runs can share one server."""
    from django.conf import settings

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"test_portal_{os.getpid()}"
