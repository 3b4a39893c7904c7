"""Staff refunds and grants from the admin: confirmation page, required reason, permission, LogEntry."""
import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse

from credits.models import CreditAccount, CreditTransaction
from credits.selectors import balance_of

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:credits_creditaccount_changelist")


def action_post(action, accounts, **extra):
    return {"action": action, "_selected_action": [str(a.pk) for a in accounts], **extra}


@pytest.fixture
def accounts(user, other_user):
    return [CreditAccount.objects.get(user=user), CreditAccount.objects.get(user=other_user)]


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def confirm_page_token(response):
    return response.context["form"].initial["token"]


def test_refund_action_shows_confirmation_page_first(staff_client, accounts):
    response = staff_client.post(CHANGELIST, action_post("refund_credits", accounts))
    assert response.status_code == 200
    assert "admin/credits/creditaccount/confirm_credit_movement.html" in [t.name for t in response.templates]
    content = response.content.decode()
    assert "alice" in content and "bob" in content and 'name="reason"' in content
    assert not CreditTransaction.objects.filter(kind="refund").exists()


def test_refund_requires_a_reason(staff_client, accounts):
    first = staff_client.post(CHANGELIST, action_post("refund_credits", accounts))
    response = staff_client.post(
        CHANGELIST,
        action_post("refund_credits", accounts, confirm="yes", amount="5", reason="   ", token=confirm_page_token(first)),
    )
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert not CreditTransaction.objects.filter(kind="refund").exists()
    assert not LogEntry.objects.exists()


def test_confirmed_refund_moves_credits_and_logs_each_account(staff_client, staff_user, accounts):
    token = confirm_page_token(staff_client.post(CHANGELIST, action_post("refund_credits", accounts)))
    data = action_post("refund_credits", accounts, confirm="yes", amount="5", reason="Outage on Nov 22", token=token)
    response = staff_client.post(CHANGELIST, data)
    assert response.status_code == 302
    for account in accounts:
        row = CreditTransaction.objects.get(account=account, kind="refund")
        assert (row.amount, row.description, row.created_by) == (5, "Outage on Nov 22", staff_user)
        assert balance_of(account.user) == 105
        entry = LogEntry.objects.get(object_id=str(account.pk))
        assert entry.action_flag == CHANGE and entry.user == staff_user
        assert "Refunded 5 credits" in entry.get_change_message() and "Outage on Nov 22" in entry.get_change_message()
    # Submitting the same confirmation page again refunds nothing more.
    staff_client.post(CHANGELIST, data)
    assert CreditTransaction.objects.filter(kind="refund").count() == 2
    assert balance_of(accounts[0].user) == 105


def test_confirmed_grant(staff_client, accounts):
    token = confirm_page_token(staff_client.post(CHANGELIST, action_post("grant_credits", accounts[:1])))
    staff_client.post(
        CHANGELIST, action_post("grant_credits", accounts[:1], confirm="yes", amount="40", reason="Pilot", token=token)
    )
    assert balance_of(accounts[0].user) == 140
    assert balance_of(accounts[1].user) == 100
    assert LogEntry.objects.filter(object_id=str(accounts[0].pk), change_message__contains="Granted 40").count() == 1


@pytest.fixture
def viewer_client(client, django_user_model):
    """Staff who may look at accounts but not move money."""
    viewer = django_user_model.objects.create_user(username="viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_creditaccount"))
    client.force_login(viewer)
    return client


def test_staff_without_permission_cannot_refund_or_grant(viewer_client, accounts):
    page = viewer_client.get(CHANGELIST)
    assert page.status_code == 200
    assert "refund_credits" not in page.content.decode()
    for action in ("refund_credits", "grant_credits"):
        viewer_client.post(
            CHANGELIST, action_post(action, accounts, confirm="yes", amount="5", reason="sneaky",
                                    token="0b0e2c9a-1f0e-4d1e-9a65-2f6c3e0c8a11")
        )
    assert CreditTransaction.objects.filter(kind__in=["refund", "grant"], amount=5).count() == 0
    assert not LogEntry.objects.exists()


def test_refund_permission_alone_allows_refund_but_not_grant(client, django_user_model, accounts):
    refunder = django_user_model.objects.create_user(username="refunder", password="x", is_staff=True)
    refunder.user_permissions.add(*Permission.objects.filter(codename__in=["view_creditaccount", "issue_refund"]))
    client.force_login(refunder)
    page = client.get(CHANGELIST).content.decode()
    assert "refund_credits" in page and "grant_credits" not in page


def test_account_and_ledger_admin_are_read_only(staff_client, accounts):
    account = accounts[0]
    change_page = staff_client.get(reverse("admin:credits_creditaccount_change", args=[account.pk]))
    assert change_page.status_code == 200
    assert "Sign-up grant" in change_page.content.decode()  # the recent-transactions inline
    assert 'name="balance"' not in change_page.content.decode()
    row = CreditTransaction.objects.filter(account=account).first()
    tx_url = reverse("admin:credits_credittransaction_change", args=[row.pk])
    staff_client.post(tx_url, {"amount": "999"})
    assert CreditTransaction.objects.get(pk=row.pk).amount == 100
    assert staff_client.get(reverse("admin:credits_credittransaction_add")).status_code == 403
    assert staff_client.get(reverse("admin:credits_credittransaction_delete", args=[row.pk])).status_code == 403
    listing = staff_client.get(reverse("admin:credits_credittransaction_changelist"), {"q": "alice", "kind": "grant"})
    assert listing.status_code == 200 and "signup-grant" in listing.content.decode()


def test_account_page_links_to_its_whole_ledger(staff_client, accounts):
    page = staff_client.get(reverse("admin:credits_creditaccount_change", args=[accounts[0].pk]))
    url = f"?account__id__exact={accounts[0].pk}"
    assert url in page.content.decode()
    ledger = staff_client.get(reverse("admin:credits_credittransaction_changelist") + url)
    assert ledger.status_code == 200
    assert [row.account_id for row in ledger.context["cl"].result_list] == [accounts[0].pk]
