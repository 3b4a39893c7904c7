"""Deduct, refund, grant, adjust: amounts, idempotency and transactions."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from credits.models import CreditAccount, CreditTransaction, TransactionKind
from credits.selectors import balance_of, ledger_mismatches, ledger_sum
from credits.services import (
    IdempotencyConflict,
    InsufficientCredits,
    account_for,
    adjust,
    deduct,
    grant,
    price_for,
    refund,
    refund_many,
)

pytestmark = pytest.mark.django_db


def assert_ledger_consistent(user):
    account = CreditAccount.objects.get(user=user)
    assert account.balance == ledger_sum(account)
    latest = CreditTransaction.objects.filter(account=account).order_by("-created_at", "-id").first()
    assert latest.balance_after == account.balance


def test_new_user_gets_account_and_signup_grant(user):
    account = CreditAccount.objects.get(user=user)
    assert account.balance == 100
    grant_row = CreditTransaction.objects.get(account=account)
    assert (grant_row.kind, grant_row.amount, grant_row.balance_after) == (TransactionKind.GRANT, 100, 100)
    assert account_for(user).pk == account.pk
    assert CreditTransaction.objects.filter(account=account).count() == 1


def test_signup_grant_follows_the_setting(settings, django_user_model):
    settings.CREDITS_SIGNUP_GRANT = 7
    carol = django_user_model.objects.create_user(username="carol", password="x")
    assert balance_of(carol) == 7


def test_account_is_created_lazily_for_users_without_one(django_user_model):
    # bulk_create sends no post_save, like users that existed before this app.
    (dave,) = django_user_model.objects.bulk_create([django_user_model(username="dave")])
    assert balance_of(dave) == 0
    assert not CreditAccount.objects.filter(user=dave).exists()  # a read creates nothing
    deduct(dave, 4, key="dave:first", description="first use")
    assert balance_of(dave) == 96
    assert_ledger_consistent(dave)


def test_deduct_charges_once_and_records_balance_after(user):
    row = deduct(user, 30, key="dataset:1:intake", description="Batch of 30 documents", reference="dataset:1")
    assert (row.kind, row.amount, row.balance_after, row.reference) == ("deduction", -30, 70, "dataset:1")
    assert balance_of(user) == 70
    assert_ledger_consistent(user)


def test_deduct_same_key_twice_charges_nothing_more(user):
    first = deduct(user, 30, key="dataset:1:intake", description="batch")
    second = deduct(user, 30, key="dataset:1:intake", description="batch")
    assert second.pk == first.pk
    assert balance_of(user) == 70
    assert CreditTransaction.objects.filter(idempotency_key="dataset:1:intake").count() == 1


def test_reusing_a_key_for_a_different_charge_is_an_error(user):
    deduct(user, 30, key="dataset:1:intake", description="batch")
    with pytest.raises(IdempotencyConflict):
        deduct(user, 31, key="dataset:1:intake", description="batch")
    assert balance_of(user) == 70


def test_insufficient_credits_refuses_whole_batch_with_clear_message(user):
    with pytest.raises(InsufficientCredits) as excinfo:
        deduct(user, 150, key="dataset:2:intake", description="batch", what="This batch of 150 documents")
    error = excinfo.value
    assert (error.needed, error.available) == (150, 100)
    assert str(error) == (
        "This batch of 150 documents costs 150 credits but the balance is 100 credits (50 more needed). "
        "Nothing was charged."
    )
    assert balance_of(user) == 100
    assert not CreditTransaction.objects.filter(idempotency_key="dataset:2:intake").exists()


def test_insufficient_credits_inside_intake_transaction_leaves_nothing(user):
    """How batch intake uses deduct: charge first, in the transaction that creates the records."""
    with pytest.raises(InsufficientCredits), transaction.atomic():
        deduct(user, 101, key="dataset:3:intake", description="batch")
        raise AssertionError("records would be created here; never reached")
    assert balance_of(user) == 100


def test_exact_balance_can_be_spent(user):
    deduct(user, 100, key="all", description="everything")
    assert balance_of(user) == 0
    with pytest.raises(InsufficientCredits):
        deduct(user, 1, key="one-more", description="more")


def test_deduct_of_zero_is_free_and_records_nothing(user, settings):
    settings.CREDITS_PER_DOCUMENT = 0
    assert deduct(user, price_for("document", 500), key="free:1", description="free batch") is None
    assert not CreditTransaction.objects.filter(kind="deduction").exists()


@pytest.mark.parametrize("amount", [-5, 1.5, True, 0.0])
def test_deduct_rejects_non_positive_or_fractional_amounts(user, amount):
    with pytest.raises(ValueError):
        deduct(user, amount, key=f"bad-{amount}", description="bad")
    assert balance_of(user) == 100


def test_deduct_requires_a_key(user):
    with pytest.raises(ValueError):
        deduct(user, 1, key="", description="no key")


def test_refund_happens_exactly_once_per_key(user):
    deduct(user, 10, key="dataset:4:intake", description="batch")
    first = refund(user, 1, key="document:9:refund:1", description="Document failed", reference="document:9")
    second = refund(user, 1, key="document:9:refund:1", description="Document failed", reference="document:9")
    assert first.pk == second.pk
    assert CreditTransaction.objects.filter(kind="refund").count() == 1
    assert balance_of(user) == 91
    assert_ledger_consistent(user)


def test_refund_of_zero_records_nothing(user):
    assert refund(user, 0, key="document:10:refund:1", description="free") is None
    assert not CreditTransaction.objects.filter(kind="refund").exists()


def test_refund_inside_outer_transaction_that_rolls_back_is_undone(user):
    deduct(user, 10, key="dataset:5:intake", description="batch")
    with pytest.raises(RuntimeError), transaction.atomic():
        refund(user, 1, key="document:11:refund:1", description="failed")
        assert balance_of(user) == 91
        raise RuntimeError("the job engine's transaction failed after on_failure")
    assert balance_of(user) == 90
    assert not CreditTransaction.objects.filter(idempotency_key="document:11:refund:1").exists()
    # The refund can then happen for real, once.
    refund(user, 1, key="document:11:refund:1", description="failed")
    refund(user, 1, key="document:11:refund:1", description="failed")
    assert balance_of(user) == 91
    assert_ledger_consistent(user)


def test_duplicate_refund_inside_outer_transaction_keeps_outer_transaction_usable(user):
    refund(user, 2, key="document:12:refund:1", description="failed")
    with transaction.atomic():
        again = refund(user, 2, key="document:12:refund:1", description="failed")
        # The outer transaction is still healthy: further queries work.
        assert CreditTransaction.objects.filter(pk=again.pk).exists()
    assert balance_of(user) == 102


def test_refund_key_collision_in_database_is_resolved_by_savepoint(user):
    """Simulate the race: the pre-check misses a row that the unique index then catches."""
    refund(user, 3, key="document:13:refund:1", description="failed")
    from credits import services

    account = account_for(user)
    with transaction.atomic():
        row = services._record_once(account, 3, kind="refund", key="document:13:refund:1", description="failed")
        with connection.cursor() as cursor:  # the transaction is still usable
            cursor.execute("SELECT 1")
    assert row.idempotency_key == "document:13:refund:1"
    assert balance_of(user) == 103
    assert CreditTransaction.objects.filter(kind="refund").count() == 1


def test_retrying_a_refunded_document_charges_it_again_with_a_new_key(user):
    deduct(user, 5, key="dataset:6:intake", description="batch")
    refund(user, 1, key="document:20:refund:1", description="failed")
    deduct(user, 1, key="document:20:charge:2", description="retry")
    refund(user, 1, key="document:20:refund:2", description="failed again")
    assert balance_of(user) == 96
    assert_ledger_consistent(user)


def test_refund_many_refunds_each_key_once_in_one_go(user):
    deduct(user, 50, key="dataset:7:intake", description="batch")
    refund(user, 1, key="document:1:refund:1", description="failed")
    items = [
        {"key": f"document:{i}:refund:1", "amount": 1, "description": "failed", "reference": f"document:{i}"}
        for i in (1, 2, 3, 4, 4)
    ]
    rows = refund_many(user, items)
    assert sorted(r.idempotency_key for r in rows) == [f"document:{i}:refund:1" for i in (1, 2, 3, 4)]
    assert CreditTransaction.objects.filter(kind="refund").count() == 4
    assert balance_of(user) == 54
    assert_ledger_consistent(user)
    assert len(refund_many(user, items)) == 4  # all done already: nothing more
    assert balance_of(user) == 54
    with pytest.raises(IdempotencyConflict):
        refund_many(user, [{"key": "document:2:refund:1", "amount": 2}])
    assert refund_many(user, []) == []


def test_grant_and_adjust_record_actor_and_reason(user, staff_user):
    g = grant(user, 25, actor=staff_user, reason="Goodwill")
    a = adjust(user, -20, actor=staff_user, reason="Correct double grant")
    assert (g.kind, g.amount, g.created_by, g.description) == ("grant", 25, staff_user, "Goodwill")
    assert (a.kind, a.amount, a.balance_after) == ("adjustment", -20, 105)
    with pytest.raises(InsufficientCredits):
        adjust(user, -106, actor=staff_user, reason="too much")
    with pytest.raises(ValueError):
        grant(user, 5, actor=staff_user, reason="  ")
    assert balance_of(user) == 105
    assert_ledger_consistent(user)


def test_price_for_follows_settings(settings):
    settings.CREDITS_PER_DOCUMENT = 2
    settings.CREDITS_PER_MESH = 5
    assert price_for("document", 21_000) == 42_000
    assert price_for("mesh") == 5
    assert price_for("research") == 10
    with pytest.raises(ValueError):
        price_for("unknown")


def test_check_credit_ledgers_reports_mismatches(user, other_user, capsys):
    call_command("check_credit_ledgers")
    assert "Every credit account matches" in capsys.readouterr().out
    # Tamper with one balance behind the ledger's back.
    CreditAccount.objects.filter(user=other_user).update(balance=55)
    assert [a.user for a in ledger_mismatches()] == [other_user]
    with pytest.raises(CommandError, match="1 credit account"):
        call_command("check_credit_ledgers")
    assert "ledger sum 100, difference -45" in capsys.readouterr().out
