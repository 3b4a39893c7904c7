"""50 concurrent batch deductions against one account, on the real database.

    python bench/credit_deductions.py [--sessions 50] [--rounds 20] [--amount 420]

Each of --sessions threads holds its own PostgreSQL session and deducts one batch per
round (all sessions released together by a barrier each round). The account is funded
for about 80% of the batches, so the refusal path runs under contention too. Then the
same sessions refund failed "documents", every refund key sent twice by different
sessions, to show exactly-once refunds under contention.

Needs a migrated database (`python manage.py migrate`). It adds a user
"bench-credits-<time>" and its ledger rows, which stay: the ledger is append-only.

Prints: overdrafts (must be 0), ledger sum vs balance (must match), deductions/second,
latency percentiles, duplicate refunds (must be 0), and the time of one batched
refund_many() of 21,000 documents.
"""
import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# One pooled connection per thread, plus the main thread's.
os.environ.setdefault("DB_POOL_MAX_SIZE", "64")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

from credits.models import CreditAccount, CreditTransaction  # noqa: E402
from credits.selectors import ledger_sum  # noqa: E402
from credits.services import InsufficientCredits, account_for, deduct, grant, refund, refund_many  # noqa: E402


def run_sessions(sessions, rounds, work):
    """work(session, round) in `sessions` threads; returns [(outcome, seconds)] and wall time."""
    barrier = threading.Barrier(sessions)
    results, errors = [], []
    lock = threading.Lock()

    def session_main(session):
        try:
            connection.ensure_connection()
            for round_no in range(rounds):
                barrier.wait(timeout=120)
                started = time.perf_counter()
                outcome = work(session, round_no)
                elapsed = time.perf_counter() - started
                with lock:
                    results.append((outcome, elapsed))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=session_main, args=(s,)) for s in range(sessions)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} session(s) failed: {errors[0]!r}")
    return results, wall


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--mass-refunds", type=int, default=21000, help="documents refunded by one refund_many")
    parser.add_argument("--amount", type=int, default=420, help="credits per batch (e.g. 420 documents)")
    args = parser.parse_args()

    run_id = time.strftime("%Y%m%d%H%M%S") + f"-{os.getpid()}"
    user = get_user_model().objects.create_user(username=f"bench-credits-{run_id}")
    account = account_for(user)
    batches = args.sessions * args.rounds
    fundable = int(batches * 0.8)
    grant(user, fundable * args.amount, actor=None, reason="benchmark funding")
    start_balance = CreditAccount.objects.get(pk=account.pk).balance

    def deduct_batch(session, round_no):
        try:
            deduct(user, args.amount, key=f"bench:{run_id}:batch:{session}:{round_no}",
                   description=f"bench batch of {args.amount}", reference=f"bench:{run_id}")
            return "charged"
        except InsufficientCredits:
            return "refused"

    results, wall = run_sessions(args.sessions, args.rounds, deduct_batch)
    charged = sum(1 for outcome, _ in results if outcome == "charged")
    refused = len(results) - charged
    latencies = [seconds for _, seconds in results]

    account.refresh_from_db()
    overdrafts = CreditTransaction.objects.filter(account=account, balance_after__lt=0).count() + (account.balance < 0)
    expected_charged = min(batches, start_balance // args.amount)
    total = ledger_sum(account)
    print(f"sessions={args.sessions} rounds={args.rounds} batches={batches} amount={args.amount}")
    print(f"charged={charged} (expected {expected_charged}) refused={refused}")
    print(f"overdrafts={overdrafts}")
    print(f"balance={account.balance} ledger_sum={total} match={account.balance == total}")
    print(f"lost_updates={expected_charged - charged}")
    print(f"deductions_per_second={len(results) / wall:.1f} (wall {wall:.2f}s, {len(results)} attempts)")
    print(f"latency_ms p50={percentile(latencies, .5) * 1000:.1f} p95={percentile(latencies, .95) * 1000:.1f} "
          f"max={max(latencies) * 1000:.1f}")

    # Refunds of failed documents: every key is sent by two different sessions at once.
    def refund_document(session, round_no):
        document = (session // 2) * args.rounds + round_no
        row = refund(user, 1, key=f"bench:{run_id}:document:{document}:refund:1",
                     description="bench document failed", reference=f"bench:{run_id}")
        return row.pk

    refund_results, refund_wall = run_sessions(args.sessions - args.sessions % 2, args.rounds, refund_document)
    distinct_keys = len({pk for pk, _ in refund_results})
    rows = CreditTransaction.objects.filter(account=account, kind="refund").count()
    account.refresh_from_db()
    total = ledger_sum(account)
    print(f"refund_calls={len(refund_results)} refund_rows={rows} duplicate_refunds={rows - distinct_keys}")
    print(f"refunds_per_second={len(refund_results) / refund_wall:.1f} (wall {refund_wall:.2f}s)")
    print(f"after refunds: balance={account.balance} ledger_sum={total} match={account.balance == total}")
    # A mass failure (e.g. 21,000 documents past their deadline) refunded in one batched call.
    mass = [{"key": f"bench:{run_id}:mass:{i}:refund:1", "amount": 1, "reference": f"bench:{run_id}"}
            for i in range(args.mass_refunds)]
    started = time.perf_counter()
    refund_many(user, mass)
    mass_seconds = time.perf_counter() - started
    account.refresh_from_db()
    total = ledger_sum(account)
    print(f"refund_many of {args.mass_refunds} documents: {mass_seconds:.2f}s; "
          f"balance={account.balance} ledger_sum={total} match={account.balance == total}")
    ok = overdrafts == 0 and charged == expected_charged and account.balance == total and rows == distinct_keys
    print("RESULT:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
