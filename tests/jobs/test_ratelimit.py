"""The requests-per-minute limit shared by all workers through the portal."""
import pytest
from django.core.cache import cache
from django.test import override_settings

from jobs import ratelimit
from jobs.callbacks import callback_key, callback_url
from jobs.models import JobAttempt, JobStatus, Processor
from jobs.reporting import Reporter
from jobs.services import create_job


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()


@override_settings(RATE_LIMITS_PER_MINUTE={"openai": 3})
def test_the_allowance_is_counted_per_minute():
    minute = 1_000_000 * 60.0
    assert [ratelimit.acquire("openai", now=minute + 1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert ratelimit.acquire("openai", now=minute + 15) == 45.0
    assert ratelimit.acquire("openai", now=minute + 61) == 0.0  # the next minute starts afresh


@override_settings(RATE_LIMITS_PER_MINUTE={})
def test_unlimited_buckets_never_wait():
    assert ratelimit.acquire("anything", tokens=10_000) == 0.0


@pytest.mark.django_db(transaction=True)
def test_workers_ask_the_portal_and_wait(portal_url, user):
    job = create_job("echo", user)
    attempt = JobAttempt.objects.create(job=job, number=1, processor=Processor.MODAL, function_name="test_echo",
                                        status=JobStatus.RUNNING)
    reporter = Reporter(callback_url(attempt.pk), callback_key(attempt.pk))
    with override_settings(RATE_LIMITS_PER_MINUTE={"openai": 2}):
        assert reporter.acquire("openai") == 0.0
        assert reporter.acquire("openai") == 0.0
        assert reporter.acquire("openai", max_wait=0.3) >= 0.3  # over the limit: told to wait


def test_without_a_portal_nothing_waits():
    assert Reporter().acquire("openai") == 0.0
