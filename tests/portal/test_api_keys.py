"""Per-user API keys: created on the page, stored hashed, accepted as Bearer, refused once revoked."""
import hashlib
import re

import pytest

from jobs.models import ComputeJob
from portal.models import ApiKey
from portal.services import create_api_key, revoke_api_key, user_for_api_key

pytestmark = pytest.mark.django_db


def _create_key_on_page(client, name="laptop") -> str:
    response = client.post("/account/api-keys/", {"name": name})
    assert response.status_code == 200
    match = re.search(r'<code id="new-key">([^<]+)</code>', response.content.decode())
    assert match, "the page shows the new key once"
    return match.group(1)


def test_key_created_on_the_page_is_stored_only_as_a_digest(client, user):
    client.force_login(user)
    raw_key = _create_key_on_page(client)

    stored = ApiKey.objects.get(user=user)
    assert stored.name == "laptop"
    assert stored.digest == hashlib.sha256(raw_key.encode()).hexdigest()
    assert raw_key.startswith(stored.prefix)
    assert raw_key not in {stored.digest, stored.name, stored.prefix}
    # Shown once: the list page afterwards has the prefix but not the key.
    listing = client.get("/account/api-keys/").content.decode()
    assert stored.prefix in listing and raw_key not in listing


def test_bearer_key_authenticates_and_sees_only_its_owners_jobs(client, user, other_user):
    mine = ComputeJob.objects.create(kind="document", owner=user)
    ComputeJob.objects.create(kind="document", owner=other_user)
    _api_key, raw_key = create_api_key(user, "ci")

    response = client.get("/api/jobs/", HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    assert response.status_code == 200
    assert [job["id"] for job in response.json()] == [str(mine.pk)]
    assert ApiKey.objects.get(user=user).last_used_at is not None


def test_revoked_or_unknown_key_is_refused(client, user):
    api_key, raw_key = create_api_key(user, "old")
    assert client.get("/api/jobs/", HTTP_AUTHORIZATION=f"Bearer {raw_key}").status_code == 200

    assert revoke_api_key(user, api_key.pk) is True

    assert client.get("/api/jobs/", HTTP_AUTHORIZATION=f"Bearer {raw_key}").status_code == 401
    assert client.get("/api/jobs/", HTTP_AUTHORIZATION="Bearer mop_not-a-real-key").status_code == 401
    assert client.get("/api/jobs/").status_code == 401
    assert user_for_api_key(raw_key) is None


def test_revoking_through_the_page_and_not_someone_elses_key(client, user, other_user):
    their_key, their_raw = create_api_key(other_user, "theirs")
    client.force_login(user)
    _create_key_on_page(client, "mine")
    my_key = ApiKey.objects.get(user=user)

    client.post("/account/api-keys/", {"revoke": str(their_key.pk)})
    client.post("/account/api-keys/", {"revoke": str(my_key.pk)})

    my_key.refresh_from_db()
    their_key.refresh_from_db()
    assert my_key.revoked_at is not None
    assert their_key.revoked_at is None
    assert user_for_api_key(their_raw) == other_user


def test_key_of_a_deactivated_user_is_refused(client, user):
    _api_key, raw_key = create_api_key(user, "ci")
    user.is_active = False
    user.save()

    assert client.get("/api/jobs/", HTTP_AUTHORIZATION=f"Bearer {raw_key}").status_code == 401


def test_api_keys_page_requires_login(client):
    response = client.get("/account/api-keys/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
