"""Credit prices and grants. Each can be set in Django settings or the environment."""
import os

from django.conf import settings


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, os.environ.get(name, default)))


def credits_per_document() -> int:
    return _setting("CREDITS_PER_DOCUMENT", 1)


def credits_per_mesh() -> int:
    return _setting("CREDITS_PER_MESH", 5)


def credits_per_research_job() -> int:
    return _setting("CREDITS_PER_RESEARCH_JOB", 10)


def signup_grant() -> int:
    return _setting("CREDITS_SIGNUP_GRANT", 100)


def ledger_page_size() -> int:
    return _setting("CREDITS_LEDGER_PAGE_SIZE", 50)
