"""The database itself guards the ledger: no overdraft, no edited or deleted rows."""
import pytest
from django.db import IntegrityError, connection, transaction

from credits.models import AppendOnlyError, CreditAccount, CreditTransaction, TransactionKind
from credits.services import account_for, deduct

pytestmark = pytest.mark.django_db


def test_raw_update_below_zero_is_refused_by_the_database(user):
    account = account_for(user)
    with pytest.raises(IntegrityError, match="credit_balance_not_negative"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE credits_creditaccount SET balance = -1 WHERE id = %s", [account.pk])
    account.refresh_from_db()
    assert account.balance == 100


def test_orm_save_of_negative_balance_is_refused(user):
    account = account_for(user)
    account.balance = -5
    with pytest.raises(IntegrityError), transaction.atomic():
        account.save()


def test_deduction_without_key_is_refused_by_the_database(user):
    account = account_for(user)
    with pytest.raises(IntegrityError, match="credit_tx_key_required"), transaction.atomic():
        CreditTransaction.objects.create(account=account, kind=TransactionKind.DEDUCTION, amount=-1, balance_after=99)


def test_amount_sign_must_match_kind(user):
    account = account_for(user)
    with pytest.raises(IntegrityError, match="credit_tx_amount_sign"), transaction.atomic():
        CreditTransaction.objects.create(
            account=account, kind=TransactionKind.DEDUCTION, amount=5, balance_after=105, idempotency_key="x"
        )


def test_python_refuses_to_change_or_delete_a_ledger_row(user):
    row = deduct(user, 3, key="k-1", description="test")
    row.amount = -1
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        CreditTransaction.objects.filter(pk=row.pk).update(amount=-1)
    with pytest.raises(AppendOnlyError):
        CreditTransaction.objects.filter(pk=row.pk).delete()
    assert CreditTransaction.objects.get(pk=row.pk).amount == -3


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE credits_credittransaction SET amount = -1 WHERE id = %s",
        "DELETE FROM credits_credittransaction WHERE id = %s",
    ],
)
def test_database_trigger_refuses_raw_update_and_delete(user, statement):
    row = deduct(user, 3, key="k-raw", description="test")
    with pytest.raises(IntegrityError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [row.pk])
    assert CreditTransaction.objects.filter(pk=row.pk, amount=-3).exists()


def test_a_user_with_a_ledger_cannot_be_deleted(user):
    from django.db.models import ProtectedError

    deduct(user, 1, key="k-del", description="test")
    with pytest.raises(ProtectedError):
        user.delete()
    assert CreditAccount.objects.filter(user=user).exists()
