"""Writes to the credit ledger.

Every function here runs in one database transaction (a savepoint when the caller
already has one, so they can run inside the job engine's transaction), moves the
balance with a single conditional UPDATE ... RETURNING on the account row (never a
Python-side read-then-write), and appends one ledger row per movement.

Idempotency: a deduction or refund carries a caller-chosen key that is unique in
the database. Calling again with the same key returns the row already recorded and
moves no money, even when two calls race: the loser's savepoint is rolled back,
balance change included.

How a workload app uses it (documents, for example):
- intake: inside the transaction that creates the batch, `deduct(owner,
  price_for("document", n), key=f"dataset:{id}:intake", reference=f"dataset:{id}",
  what=f"This batch of {n} documents")`; InsufficientCredits rolls everything back.
- job failed/cancelled (JobKind.on_failure, inside the engine's transaction):
  `refund(owner, price_for("document"), key=f"document:{id}:refund:{charge_no}", ...)`.
- retry of a refunded document (JobKind.on_retry): `deduct(..., key=f"document:{id}:charge:{charge_no + 1}")`
  and count the charge, so the next failure refunds under a new key.
"""
from __future__ import annotations

from django.db import IntegrityError, connection, transaction

from credits import conf
from credits.models import CreditAccount, CreditTransaction, TransactionKind


class CreditError(Exception):
    pass


class InsufficientCredits(CreditError):
    def __init__(self, needed: int, available: int, what: str = ""):
        self.needed = needed
        self.available = available
        subject = f"{what} costs" if what else "This costs"
        super().__init__(
            f"{subject} {needed} credits but the balance is {available} credits "
            f"({needed - available} more needed). Nothing was charged."
        )


class IdempotencyConflict(CreditError):
    """The key was already used for a different charge: a caller bug, never silently ignored."""


def account_for(user) -> CreditAccount:
    """The user's account, created on first use together with the sign-up grant."""
    account = CreditAccount.objects.filter(user=user).first()
    if account is not None:
        return account
    with transaction.atomic():
        account, created = CreditAccount.objects.get_or_create(user=user)
        grant_amount = conf.signup_grant()
        if created and grant_amount > 0:
            _move(
                account,
                grant_amount,
                kind=TransactionKind.GRANT,
                key=f"signup-grant:{user.pk}",
                description="Sign-up grant",
            )
            account.refresh_from_db(fields=["balance"])
    return account


def price_for(kind: str, count: int = 1) -> int:
    """Credits that `count` units of work of `kind` (document, mesh, research) cost."""
    unit_prices = {
        "document": conf.credits_per_document,
        "mesh": conf.credits_per_mesh,
        "research": conf.credits_per_research_job,
    }
    if kind not in unit_prices:
        raise ValueError(f"No credit price for {kind!r}")
    return unit_prices[kind]() * count


def deduct(user, amount: int, *, key: str, description: str, reference: str = "",
           what: str = "") -> CreditTransaction | None:
    """Charge `amount` credits at once (a whole batch is one call and one ledger row).

    Raises InsufficientCredits (nothing charged) when the balance cannot cover it.
    Call it inside the transaction that creates the batch's records, so that a
    refusal leaves nothing behind. Returns None for 0 (a price set to 0 means free).
    """
    if type(amount) is int and amount == 0:
        return None
    _require_positive(amount)
    _require_key(key)
    account = account_for(user)
    existing = _existing(key, account, TransactionKind.DEDUCTION, -amount)
    if existing is not None:
        return existing
    return _record_once(account, -amount, kind=TransactionKind.DEDUCTION, key=key, description=description,
                        reference=reference, what=what)


def refund(user, amount: int, *, key: str, description: str, reference: str = "",
           actor=None) -> CreditTransaction | None:
    """Give back `amount` credits, exactly once per key. Returns None when amount is 0.

    Safe inside an outer transaction: it uses a savepoint, and if the outer
    transaction rolls back the refund is gone too (and may be issued again).
    """
    if type(amount) is int and amount == 0:
        return None
    _require_positive(amount)
    _require_key(key)
    account = account_for(user)
    existing = _existing(key, account, TransactionKind.REFUND, amount)
    if existing is not None:
        return existing
    return _record_once(account, amount, kind=TransactionKind.REFUND, key=key, description=description,
                        reference=reference, actor=actor)


def refund_many(user, refunds: list[dict]) -> list[CreditTransaction]:
    """Refund many items in one statement on the account row, each exactly once per key.

    `refunds`: [{"key", "amount", "description", "reference"}, ...]. Keys already
    refunded are skipped (their existing rows are returned). For the poller or an
    operator failing thousands of documents at once: one row lock and one UPDATE
    instead of one per document. Like refund(), safe inside an outer transaction.
    """
    wanted = {}
    for item in refunds:
        _require_positive(item["amount"])
        _require_key(item["key"])
        wanted.setdefault(item["key"], item)
    if not wanted:
        return []
    account = account_for(user)
    with transaction.atomic():
        # Every ledger insert for an account happens after locking its row, so under this
        # lock no other session can record one of these keys for this account.
        CreditAccount.objects.select_for_update().filter(pk=account.pk).values_list("pk").get()
        existing = {row.idempotency_key: row for row in CreditTransaction.objects.filter(idempotency_key__in=wanted)}
        for key, row in existing.items():
            _existing(key, account, TransactionKind.REFUND, wanted[key]["amount"])  # same charge, or conflict
        new_items = [item for key, item in wanted.items() if key not in existing]
        if not new_items:
            return list(existing.values())
        total = sum(item["amount"] for item in new_items)
        balance = _apply_to_balance(account.pk, total) - total
        rows = []
        for item in new_items:
            balance += item["amount"]
            rows.append(CreditTransaction(
                account=account, kind=TransactionKind.REFUND, amount=item["amount"], balance_after=balance,
                idempotency_key=item["key"], description=item.get("description", "")[:500],
                reference=item.get("reference", "")[:200],
            ))
        return [*existing.values(), *CreditTransaction.objects.bulk_create(rows)]


def grant(user, amount: int, *, actor, reason: str, key: str | None = None, reference: str = "") -> CreditTransaction:
    """Staff gives credits. A key (e.g. from a confirmation form) makes a resubmission harmless."""
    _require_positive(amount)
    _require_reason(reason)
    account = account_for(user)
    if key:
        existing = _existing(key, account, TransactionKind.GRANT, amount)
        if existing is not None:
            return existing
    return _record_once(account, amount, kind=TransactionKind.GRANT, key=key, description=reason,
                        reference=reference, actor=actor)


def adjust(user, amount: int, *, actor, reason: str, key: str | None = None, reference: str = "") -> CreditTransaction:
    """Staff corrects a balance by a signed amount; a negative one may not overdraw."""
    if not isinstance(amount, int) or amount == 0:
        raise ValueError("An adjustment is a non-zero whole number of credits")
    _require_reason(reason)
    account = account_for(user)
    if key:
        existing = _existing(key, account, TransactionKind.ADJUSTMENT, amount)
        if existing is not None:
            return existing
    return _record_once(account, amount, kind=TransactionKind.ADJUSTMENT, key=key, description=reason,
                        reference=reference, actor=actor, what="This adjustment")


# --- internals ----------------------------------------------------------------


def _require_positive(amount) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"Amount must be a positive whole number of credits, not {amount!r}")


def _require_key(key: str) -> None:
    if not key:
        raise ValueError("An idempotency key is required")


def _require_reason(reason: str) -> None:
    if not (reason or "").strip():
        raise ValueError("A reason is required")


def _existing(key: str | None, account: CreditAccount, kind: str, amount: int) -> CreditTransaction | None:
    """The row already recorded under `key`, after checking it is the same charge."""
    if not key:
        return None
    row = CreditTransaction.objects.filter(idempotency_key=key).first()
    if row is None:
        return None
    if (row.account_id, row.kind, row.amount) != (account.pk, kind, amount):
        raise IdempotencyConflict(
            f"Key {key!r} was already used for a {row.kind} of {row.amount} on account {row.account_id}"
        )
    return row


def _record_once(account, amount, *, kind, key, description, reference="", actor=None, what=""):
    """Move the balance and append the row in one savepoint; a lost key race undoes both."""
    try:
        with transaction.atomic():
            return _move(account, amount, kind=kind, key=key, description=description,
                         reference=reference, actor=actor, what=what)
    except IntegrityError:
        # Another session recorded the same key between our check and our insert.
        existing = _existing(key, account, kind, amount)
        if existing is None:
            raise
        return existing


def _move(account, amount, *, kind, key, description, reference="", actor=None, what="") -> CreditTransaction:
    new_balance = _apply_to_balance(account.pk, amount)
    if new_balance is None:
        available = CreditAccount.objects.filter(pk=account.pk).values_list("balance", flat=True).get()
        raise InsufficientCredits(needed=-amount, available=available, what=what)
    return CreditTransaction.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        balance_after=new_balance,
        idempotency_key=key or None,
        description=description[:500],
        reference=reference[:200],
        created_by=actor,
    )


def _apply_to_balance(account_id: int, amount: int) -> int | None:
    """Add `amount` (signed) in one statement; None when it would go below zero.

    The WHERE clause is evaluated against the latest committed balance once the row
    lock is ours, so concurrent sessions can neither overdraw nor lose an update.
    """
    table = CreditAccount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET balance = balance + %s, updated_at = now() "
            "WHERE id = %s AND balance + %s >= 0 RETURNING balance",
            [amount, account_id, amount],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def charge_run(run, amount: int, *, key_prefix: str, description: str, reference: str, what: str) -> None:
    """Charge one more run of a piece of work (a ChargedRun with an `owner`); the caller saves it.

    Raises InsufficientCredits, which rolls the caller's transaction back.
    """
    if amount <= 0:
        return
    run.credit_charges += 1
    deduct(run.owner, amount, key=f"{key_prefix}:charge:{run.credit_charges}", description=description[:500],
           reference=reference, what=what)
    run.credits_held = amount


def refund_run(run, *, key_prefix: str, description: str, reference: str) -> None:
    """Refund the current run's charge, once; the caller saves `run`."""
    if run.credits_held <= 0:
        return
    refund(run.owner, run.credits_held, key=f"{key_prefix}:refund:{run.credit_charges}",
           description=description[:500], reference=reference)
    run.credits_held = 0
