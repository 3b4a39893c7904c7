"""URLs through which compute functions read inputs and write artifacts.

S3/R2 storage: presigned URLs straight to the bucket. Filesystem storage:
signed, expiring portal URLs served by jobs.views.artifact. Either way the
compute function gets a URL, never a credential.
"""
from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.urls import reverse

SALT = "jobs.artifact"


def _is_s3(storage) -> bool:
    return hasattr(storage, "bucket_name") and hasattr(storage, "connection")


def _s3_key(storage, name: str) -> str:
    location = (getattr(storage, "location", "") or "").strip("/")
    return f"{location}/{name}" if location else name


def _signed_portal_url(name: str, operation: str) -> str:
    token = signing.dumps({"name": name, "op": operation}, salt=SALT, compress=True)
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse("jobs:artifact", args=[token])


def download_url(name: str, storage=default_storage) -> str:
    if _is_s3(storage):
        return storage.url(name)
    return _signed_portal_url(name, "get")


def upload_url(name: str, storage=default_storage) -> str:
    if _is_s3(storage):
        client = storage.connection.meta.client
        return client.generate_presigned_url(
            "put_object",
            Params={"Bucket": storage.bucket_name, "Key": _s3_key(storage, name)},
            ExpiresIn=settings.AWS_QUERYSTRING_EXPIRE,
        )
    return _signed_portal_url(name, "put")


def read_token(token: str) -> dict:
    """The {name, op} a signed portal URL grants; raises signing.BadSignature when forged or expired."""
    return signing.loads(token, salt=SALT, max_age=settings.ARTIFACT_URL_MAX_AGE_SECONDS)
