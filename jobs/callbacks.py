"""Per-attempt HMAC keys for the callback endpoint.

Each attempt gets a key derived from the portal's secret and the attempt id;
the compute function signs its events with it. The function never sees the
portal's secret, and a key opens only its own attempt's endpoint.
"""
import hashlib
import hmac
import time

from django.conf import settings
from django.urls import reverse

from jobs.reporting import sign


def callback_key(attempt_id: int) -> str:
    message = f"job-callback:{attempt_id}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def callback_url(attempt_id: int) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse("jobs:callback", args=[attempt_id])


def is_valid_signature(attempt_id: int, timestamp: str, signature: str, body: bytes) -> bool:
    try:
        age = abs(time.time() - int(timestamp))
    except (TypeError, ValueError):
        return False
    if age > settings.JOB_CALLBACK_MAX_AGE_SECONDS:
        return False
    expected = sign(callback_key(attempt_id), timestamp, body)
    return hmac.compare_digest(expected, signature or "")
