"""Request-rate limits shared by every worker, wherever it runs.

Compute functions on Modal, in the stub and on Celery all ask the portal
(through their signed callback channel) before calling a rate-limited
provider such as OpenAI; the portal counts requests per minute in the shared
cache (Redis in production). A function holds no credentials for the cache.
"""
import time

from django.conf import settings
from django.core.cache import cache


def limit_per_minute(bucket: str) -> int | None:
    return settings.RATE_LIMITS_PER_MINUTE.get(bucket)


def acquire(bucket: str, tokens: int = 1, now: float | None = None) -> float:
    """Take `tokens` requests from this minute's allowance; return seconds to wait (0: go ahead)."""
    limit = limit_per_minute(bucket)
    if not limit:
        return 0.0
    now = time.time() if now is None else now
    window = int(now // 60)
    key = f"ratelimit:{bucket}:{window}"
    cache.add(key, 0, timeout=120)
    try:
        used = cache.incr(key, tokens)
    except ValueError:  # expired between add and incr
        cache.set(key, tokens, timeout=120)
        used = tokens
    if used <= limit:
        return 0.0
    return round((window + 1) * 60 - now, 3)
