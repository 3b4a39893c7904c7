"""50 real concurrent database sessions against one account.

Each thread holds its own PostgreSQL session (its own backend pid, proved below),
all released at once by a barrier, so the row-level behaviour under contention is
PostgreSQL's, not a simulation.
"""
import threading
from collections import Counter

import pytest
from django.db import connection

from credits.models import CreditAccount, CreditTransaction
from credits.selectors import balance_of, ledger_sum
from credits.services import InsufficientCredits, account_for, deduct, refund, refund_many

SESSIONS = 50

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pool_for_all_sessions():
    """Let the process's psycopg pool hand out one connection per thread (the default is small)."""
    pool_options = connection.settings_dict.get("OPTIONS", {}).get("pool")
    if not pool_options:
        yield
        return
    original = dict(pool_options)
    connection.close()
    connection.close_pool()
    pool_options["max_size"] = SESSIONS + 5
    pool_options["timeout"] = 60
    yield
    connection.close()
    connection.close_pool()
    pool_options.clear()
    pool_options.update(original)


def run_concurrently(work):
    """Run work(i) in SESSIONS threads, each on its own open session, released together."""
    barrier = threading.Barrier(SESSIONS)
    outcomes, pids, errors = [None] * SESSIONS, [None] * SESSIONS, []

    def thread_main(i):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids[i] = cursor.fetchone()[0]
            barrier.wait(timeout=60)
            outcomes[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=thread_main, args=(i,)) for i in range(SESSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(set(pids)) == SESSIONS, "every thread must have had its own database session"
    return outcomes


def deduct_or_refuse(user, amount, key):
    try:
        return deduct(user, amount, key=key, description="concurrent batch")
    except InsufficientCredits:
        return "refused"


def test_concurrent_batch_deductions_never_overdraw_and_lose_nothing(user, pool_for_all_sessions):
    amount = 3
    start = account_for(user).balance  # 100
    outcomes = run_concurrently(lambda i: deduct_or_refuse(user, amount, f"batch:{i}"))

    succeeded = [o for o in outcomes if o != "refused"]
    assert len(succeeded) == start // amount == 33
    assert outcomes.count("refused") == SESSIONS - 33
    account = CreditAccount.objects.get(user=user)
    assert account.balance == start - 33 * amount == 1
    assert ledger_sum(account) == account.balance
    # No lost update: each success saw a distinct balance, together the whole staircase.
    assert sorted(row.balance_after for row in succeeded) == list(range(1, start, amount))
    assert CreditTransaction.objects.filter(account=account, balance_after__lt=0).count() == 0


def test_concurrent_deductions_with_one_key_charge_once(user, pool_for_all_sessions):
    outcomes = run_concurrently(lambda i: deduct(user, 10, key="dataset:1:intake", description="same batch"))
    assert len({row.pk for row in outcomes}) == 1
    assert balance_of(user) == 90
    assert CreditTransaction.objects.filter(idempotency_key="dataset:1:intake").count() == 1


def test_concurrent_refunds_with_one_key_refund_once(user, pool_for_all_sessions):
    deduct(user, 10, key="dataset:2:intake", description="batch")
    outcomes = run_concurrently(lambda i: refund(user, 1, key="document:5:refund:1", description="failed"))
    assert len({row.pk for row in outcomes}) == 1
    assert balance_of(user) == 91
    account = CreditAccount.objects.get(user=user)
    assert ledger_sum(account) == account.balance


def test_concurrent_first_use_opens_one_account_with_one_grant(django_user_model, pool_for_all_sessions):
    (newcomer,) = django_user_model.objects.bulk_create([django_user_model(username="newcomer")])
    outcomes = run_concurrently(lambda i: deduct_or_refuse(newcomer, 1, f"first:{i}"))
    assert Counter(o == "refused" for o in outcomes) == Counter({False: SESSIONS})
    account = CreditAccount.objects.get(user=newcomer)
    assert CreditTransaction.objects.filter(account=account, kind="grant").count() == 1
    assert account.balance == 100 - SESSIONS == ledger_sum(account)


def test_concurrent_single_and_batched_refunds_of_overlapping_keys(user, pool_for_all_sessions):
    deduct(user, 100, key="dataset:3:intake", description="batch of 100")

    def work(i):
        if i % 2:
            return [refund(user, 1, key=f"document:{i % 20}:refund:1", description="failed")]
        keys = range(i % 20, 20, 3)
        return refund_many(user, [{"key": f"document:{k}:refund:1", "amount": 1} for k in keys])

    run_concurrently(work)
    refunded = CreditTransaction.objects.filter(kind="refund")
    assert refunded.count() == refunded.values("idempotency_key").distinct().count() == 20
    account = CreditAccount.objects.get(user=user)
    assert account.balance == 20 == ledger_sum(account)
    assert sorted(refunded.values_list("balance_after", flat=True)) == list(range(1, 21))
