"""Users see their own balance and ledger, on /credits/ and through the API, and no one else's."""
import pytest

from credits.services import deduct
from portal.services import create_api_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledgers(user, other_user):
    deduct(user, 7, key="alice:batch", description="Alice's batch", reference="dataset:1")
    deduct(other_user, 11, key="bob:batch", description="Bob's batch", reference="dataset:2")


def test_page_requires_login(client):
    response = client.get("/credits/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_page_shows_own_balance_and_ledger_only(client, user, ledgers):
    client.force_login(user)
    response = client.get("/credits/")
    content = response.content.decode()
    assert response.context["balance"] == 93
    assert "Alice&#x27;s batch" in content and "Bob" not in content
    assert [row.amount for row in response.context["page"].object_list] == [-7, 100]


def test_page_is_paginated(client, user, settings):
    settings.CREDITS_LEDGER_PAGE_SIZE = 2
    for i in range(4):
        deduct(user, 1, key=f"p:{i}", description=f"charge {i}")
    client.force_login(user)
    first = client.get("/credits/")
    last = client.get("/credits/", {"page": 3})
    assert first.context["page"].paginator.num_pages == 3
    assert [r.description for r in first.context["page"].object_list] == ["charge 3", "charge 2"]
    assert [r.description for r in last.context["page"].object_list] == ["Sign-up grant"]


def test_api_balance_and_transactions_with_api_key(client, user, ledgers):
    _key, raw = create_api_key(user, "test")
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get("/api/credits/balance", headers=headers).json() == {"balance": 93, "unit": "credits"}
    page = client.get("/api/credits/transactions", headers=headers).json()
    assert page["count"] == 2
    assert [(i["kind"], i["amount"], i["reference"]) for i in page["items"]] == [
        ("deduction", -7, "dataset:1"),
        ("grant", 100, ""),
    ]


def test_api_with_session_shows_only_own_rows(client, other_user, ledgers):
    client.force_login(other_user)
    assert client.get("/api/credits/balance").json()["balance"] == 89
    items = client.get("/api/credits/transactions").json()["items"]
    assert {i["description"] for i in items} == {"Bob's batch", "Sign-up grant"}


def test_api_requires_authentication(client, ledgers):
    assert client.get("/api/credits/balance").status_code == 401
    assert client.get("/api/credits/transactions").status_code == 401
