import hashlib
import secrets

from django.utils import timezone

from portal.models import ApiKey

KEY_PREFIX = "mop_"


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_api_key(user, name: str) -> tuple[ApiKey, str]:
    """Create a key; return the record and the raw key, which is never stored."""
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(user=user, name=name or "API key", prefix=raw_key[:12], digest=_digest(raw_key))
    return api_key, raw_key


def revoke_api_key(user, key_id: int) -> bool:
    return bool(ApiKey.objects.filter(user=user, pk=key_id, revoked_at__isnull=True).update(revoked_at=timezone.now()))


def user_for_api_key(raw_key: str):
    api_key = (
        ApiKey.objects.select_related("user")
        .filter(digest=_digest(raw_key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if api_key is None:
        return None
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return api_key.user
