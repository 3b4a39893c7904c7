"""Moving bytes between compute functions and storage, by URL only.

Inputs come as presigned S3/R2 URLs or signed portal URLs; artifacts go back
the same way. Compute functions never hold storage or database credentials.
Framework-free: imported inside Modal containers too.
"""
from __future__ import annotations

import urllib.request

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential


def _is_transient(exc: BaseException) -> bool:
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return exc.code == 429 or exc.code >= 500
    return isinstance(exc, (urllib.error.URLError, TimeoutError, ConnectionError))


_retrying = retry(
    retry=retry_if_exception(_is_transient),
    wait=wait_exponential(multiplier=0.5, max=10),
    stop=stop_after_attempt(5),
    reraise=True,
)


@_retrying
def download(url: str, timeout: float = 120) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


@_retrying
def upload(url: str, data: bytes, content_type: str = "application/octet-stream", timeout: float = 300) -> None:
    request = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
