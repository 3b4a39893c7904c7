"""Progress and log lines from a running core back to the portal.

A compute function receives `callback_url` and `callback_key` in its payload.
It signs each event body with HMAC-SHA256 under `callback_key` (a key derived
for that one attempt: the function never sees the portal's secret) and posts
it to `callback_url`. Failures to report never fail the work.

Framework-free: imported inside Modal containers too.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.request

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Portal-Signature"
TIMESTAMP_HEADER = "X-Portal-Timestamp"


def sign(key: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode() + b"." + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


class Reporter:
    """Posts events for one attempt. A Reporter with no URL does nothing."""

    def __init__(self, callback_url: str | None = None, callback_key: str | None = None, timeout: float = 5.0):
        self.callback_url = callback_url
        self.callback_key = callback_key
        self.timeout = timeout

    def progress(self, done: int, total: int, label: str = "") -> None:
        self.send("progress", {"done": done, "total": total, "label": label})

    def log(self, message: str, level: str = "info") -> None:
        self.send("log", {"message": message[:2000], "level": level})

    def event(self, name: str, data: dict) -> None:
        """A workload-specific event (for example a finished research section)."""
        self.send(name, data)

    def acquire(self, bucket: str, tokens: int = 1, max_wait: float = 600.0) -> float:
        """Wait until the portal's shared rate limit for `bucket` allows `tokens` requests.

        Returns the seconds waited. Without a portal to ask (a core run directly), or
        when the portal cannot be reached, it does not wait: the provider's own 429s
        and the caller's backoff still apply.
        """
        waited = 0.0
        while waited < max_wait:
            answer = self._post({"type": "ratelimit", "data": {"bucket": bucket, "tokens": tokens}})
            wait = float((answer or {}).get("wait", 0))
            if wait <= 0:
                break
            time.sleep(min(wait, max_wait - waited))
            waited += wait
        return waited

    def send(self, event_type: str, data: dict) -> bool:
        return self._post({"type": event_type, "data": data}) is not None

    def _post(self, event: dict) -> dict | None:
        if not (self.callback_url and self.callback_key):
            return None
        body = json.dumps(event).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            self.callback_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: sign(self.callback_key, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except Exception as exc:  # noqa: BLE001 - reporting is best effort
            logger.warning("callback %s failed: %s", event["type"], exc)
            return None


def reporter_from_payload(payload: dict) -> Reporter:
    return Reporter(payload.get("callback_url"), payload.get("callback_key"))
