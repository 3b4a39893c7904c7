"""Reads of the credit ledger. Every user-facing selector filters by owner."""
from __future__ import annotations

from django.db.models import BigIntegerField, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from credits.models import CreditAccount, CreditTransaction


def balance_of(user) -> int:
    """The user's balance; 0 for a user who has no account yet (nothing is created by a read)."""
    balance = CreditAccount.objects.filter(user=user).values_list("balance", flat=True).first()
    return balance or 0


def transactions_of(user) -> QuerySet[CreditTransaction]:
    """The user's own ledger, newest first."""
    return CreditTransaction.objects.filter(account__user=user).order_by("-created_at", "-id")


def transaction_by_key(key: str) -> CreditTransaction | None:
    return CreditTransaction.objects.filter(idempotency_key=key).first()


def ledger_sum(account: CreditAccount) -> int:
    return CreditTransaction.objects.filter(account=account).aggregate(total=Coalesce(Sum("amount"), Value(0), output_field=BigIntegerField()))["total"]


def ledger_mismatches() -> QuerySet[CreditAccount]:
    """Accounts whose balance differs from the sum of their ledger (one aggregate query)."""
    ledger_total = (
        CreditTransaction.objects.filter(account=OuterRef("pk"))
        .order_by()
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        CreditAccount.objects.annotate(ledger_total=Coalesce(Subquery(ledger_total), Value(0), output_field=BigIntegerField()))
        .exclude(balance=F("ledger_total"))
        .select_related("user")
        .order_by("pk")
    )
