"""The credit ledger.

Credits are whole numbers (BigIntegerField): every price in the portal is a whole
number of credits, and integers add up exactly, so the balance can always be checked
against the sum of the ledger.

`CreditAccount.balance` is a running total kept for fast, lockable checks; the
ledger (`CreditTransaction`) is the record. Both are written only by
credits.services, in one database transaction, so balance == sum(ledger amounts).
"""
from django.conf import settings
from django.db import models
from django.db.models import Q


class CreditAccount(models.Model):
    # PROTECT: a user with a ledger is deactivated, not deleted; money records stay.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_account")
    balance = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # The database, not Python, guarantees that no account is ever overdrawn.
            models.CheckConstraint(condition=Q(balance__gte=0), name="credit_balance_not_negative"),
        ]
        permissions = [
            ("issue_refund", "Can refund credits to an account"),
            ("issue_grant", "Can grant credits to an account"),
        ]

    def __str__(self):
        return f"{self.user} ({self.balance} credits)"


class TransactionKind(models.TextChoices):
    DEDUCTION = "deduction", "Deduction"
    REFUND = "refund", "Refund"
    GRANT = "grant", "Grant"
    ADJUSTMENT = "adjustment", "Adjustment"


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete a ledger row."""


class CreditTransactionQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Credit transactions are append-only; record a new transaction instead.")

    def delete(self):
        raise AppendOnlyError("Credit transactions are append-only; record a new transaction instead.")


class CreditTransaction(models.Model):
    """One line of the ledger. Rows are never changed or deleted (a trigger refuses it too)."""

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=12, choices=TransactionKind.choices)
    amount = models.BigIntegerField(help_text="Signed: negative for a deduction")
    balance_after = models.BigIntegerField()
    # A caller-chosen key that makes a deduction or refund happen at most once (e.g.
    # "dataset:42:intake", "document:7:refund:1"). Unique in the database.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    description = models.CharField(max_length=500, blank=True)
    # Free-form pointer to what the money was for, e.g. "dataset:42" or "job:<uuid>".
    reference = models.CharField(max_length=200, blank=True, db_index=True)
    # PROTECT: staff who moved money are deactivated, not deleted.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = CreditTransactionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at", "-id"], name="credit_tx_account_recent")]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="credit_tx_unique_idempotency_key"),
            models.CheckConstraint(
                condition=~Q(kind__in=[TransactionKind.DEDUCTION, TransactionKind.REFUND])
                | Q(idempotency_key__isnull=False),
                name="credit_tx_key_required_for_deduction_refund",
            ),
            models.CheckConstraint(
                condition=(Q(kind=TransactionKind.DEDUCTION) & Q(amount__lt=0))
                | (Q(kind__in=[TransactionKind.REFUND, TransactionKind.GRANT]) & Q(amount__gt=0))
                | (Q(kind=TransactionKind.ADJUSTMENT) & ~Q(amount=0)),
                name="credit_tx_amount_sign_matches_kind",
            ),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="credit_tx_balance_after_not_negative"),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount:+d} → {self.balance_after}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Credit transactions are append-only; record a new transaction instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Credit transactions are append-only; record a new transaction instead.")


class ChargedRun(models.Model):
    """Fields for work charged per run: the first submission and each retry is one run.

    Used with credits.services.charge_run / refund_run, which number the ledger keys by run
    so that a repeated call changes nothing.
    """

    credit_charges = models.PositiveIntegerField(default=0, help_text="How many runs have been charged")
    credits_held = models.PositiveIntegerField(default=0, help_text="Credits charged for the current run, not refunded")

    class Meta:
        abstract = True
