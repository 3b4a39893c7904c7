"""Settings of the Modal stand-in. Every one can be set in Django settings or the environment."""
import os

from django.conf import settings


def _setting(name, default, cast):
    return cast(getattr(settings, name, os.environ.get(name, default)))


def app_name() -> str:
    """The app a worker serves unless told otherwise: the one the stub behaves as if deployed."""
    return _setting("MODAL_STUB_DEPLOYED_APP", getattr(settings, "MODAL_APP_NAME", "modal-ops-portal"), str)


def containers() -> int:
    """The most container processes one stub worker runs at once (caps each max_containers)."""
    return _setting("MODAL_STUB_CONTAINERS", 2, int)


def result_ttl_seconds() -> float:
    """How long a finished call's result stays readable (Modal keeps results for a limited time)."""
    return _setting("MODAL_STUB_RESULT_TTL_SECONDS", 7 * 24 * 3600, float)


def poll_seconds() -> float:
    """How often the worker looks for new calls when idle, and how often get() re-reads a call."""
    return _setting("MODAL_STUB_POLL_SECONDS", 0.2, float)


def retry_delay_seconds() -> float:
    """First delay before a failed call runs again; doubles per attempt (Modal's default backoff)."""
    return _setting("MODAL_STUB_RETRY_DELAY_SECONDS", 1.0, float)


def lease_seconds() -> float:
    """A running call whose worker sent no heartbeat for this long is treated as crashed."""
    return _setting("MODAL_STUB_LEASE_SECONDS", 60, float)


def container_idle_seconds() -> float:
    """An idle container process is stopped after this long (Modal's scaledown window)."""
    return _setting("MODAL_STUB_CONTAINER_IDLE_SECONDS", 300, float)


def boot_timeout_seconds() -> float:
    """A container that has not imported its handler after this long is killed."""
    return _setting("MODAL_STUB_BOOT_TIMEOUT_SECONDS", 300, float)


def housekeeping_seconds() -> float:
    """How often the worker expires old results and recovers calls of dead workers."""
    return _setting("MODAL_STUB_HOUSEKEEPING_SECONDS", 30, float)
