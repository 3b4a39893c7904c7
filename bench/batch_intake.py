"""Issue 3's 21,000-file batch: intake, dispatch to the Modal stub, one poller tick.

    python bench/batch_intake.py            # 21,000 files
    python bench/batch_intake.py 2000       # a smaller batch

1. Intake: one multipart POST of N small real documents (mostly Markdown and HTML, 2% tiny
   PDFs) to /api/datasets/{id}/documents through django.test.Client. The body is built
   before the clock starts; the request is timed (target: under 20 s for 21,000), and the
   batch must be exactly one credit transaction.
2. Dispatch: jobs.services.dispatch_jobs over all N jobs in JOB_DISPATCH_BATCH_SIZE batches,
   as the Celery dispatch task does, to the Modal stub (target: under 60 s).
3. One poller tick over the N in-flight calls where nothing changed (target: under 1 s),
   with its database writes counted.

Isolation from a running portal: the stub calls go to an app of their own, so no stub
worker runs them, and the upload's own dispatch tasks go to a Celery queue of their own,
which no worker consumes and which is purged at the end. Runs on the dev database
(var/pgdata); everything it created is removed at the end except the bench user's credit
ledger (append-only by design).
"""
import os
import shutil
import sys
import time

os.environ["MODAL_STUB_DEPLOYED_APP"] = os.environ["MODAL_APP_NAME"] = "bench-batch-intake"
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = "bench-batch-intake"

from _common import bench_user, counted_writes, setup_django  # noqa: E402

BOUNDARY = "BenchBoundary7MA4YWxkTrZu0gW"
PDF_EVERY = 50  # 2% PDFs


def generate_files(n: int) -> list[tuple[str, bytes]]:
    from tests.datasets.files import make_html, make_markdown, make_pdf

    pdf = make_pdf([["A tiny report on pond water quality."]])  # real, valid; each copy named apart
    files = []
    for i in range(n):
        words = [f"Entry {i}: the committee reviewed station {i % 97} and found stable nitrate levels."]
        if i % PDF_EVERY == 0:
            files.append((f"report-{i}.pdf", pdf))
        elif i % 2:
            files.append((f"page-{i}.html", make_html(f"Page {i}", words)))
        else:
            files.append((f"note-{i}.md", make_markdown(f"Note {i}", words)))
    return files


def multipart_body(files) -> bytes:
    """What a client sends: one part per file, all in the field `files`."""
    parts = []
    for name, data in files:
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        )
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


def main(n: int) -> None:
    setup_django()
    from django.conf import settings
    from django.core.cache import cache
    from django.test import Client

    from credits.models import CreditTransaction, TransactionKind
    from credits.selectors import balance_of
    from credits.services import account_for, grant, price_for
    from datasets.models import Document
    from datasets.services import create_dataset
    from jobs.models import JobAttempt, JobStatus, Processor
    from jobs.poller import CURSOR_KEY, poll_in_flight
    from jobs.rollout import change_policy, policy_for
    from jobs.services import dispatch_jobs

    user = bench_user("intake")
    _clean(user, settings)
    cost = price_for("document", n)
    account_for(user)
    if balance_of(user) < cost:
        grant(user, cost - balance_of(user), actor=user, reason="batch intake benchmark")
    dataset = create_dataset(user, f"bench batch of {n}")
    client = Client()
    client.force_login(user)

    started = time.perf_counter()
    files = generate_files(n)
    body = multipart_body(files)
    print(f"files: {n} ({sum(1 for name, _ in files if name.endswith('.pdf'))} PDFs), "
          f"body {len(body) / 1e6:.1f} MB, built in {time.perf_counter() - started:.1f} s (not timed)")

    ledger = CreditTransaction.objects.filter(account__user=user)
    last_row = ledger.order_by("-id").values_list("id", flat=True).first() or 0
    started = time.perf_counter()
    response = client.generic("POST", f"/api/datasets/{dataset.pk}/documents", body,
                              content_type=f"multipart/form-data; boundary={BOUNDARY}")
    intake = time.perf_counter() - started
    assert response.status_code == 201, response.content[:500]
    answer = response.json()
    assert len(answer["accepted"]) == n and not answer["rejected"], answer["rejected"][:3]
    new_rows = list(ledger.filter(id__gt=last_row))
    charges = [row for row in new_rows if row.kind == TransactionKind.DEDUCTION]
    assert len(new_rows) == 1 and len(charges) == 1 and charges[0].amount == -cost, new_rows
    assert charges[0].reference == f"dataset:{dataset.pk}"
    print(f"intake: {intake:.1f} s for {n} files ({n / intake:,.0f} files/s; target < 20 s), "
          f"credit transactions for the batch: {len(charges)} ({charges[0].amount} credits)")

    job_ids = list(Document.objects.filter(dataset=dataset).values_list("job_id", flat=True))
    policy = policy_for("document")
    previous = policy.modal_percentage
    change_policy(policy, {"modal_percentage": 100}, reason="batch intake benchmark")
    try:
        started = time.perf_counter()
        submitted = dispatch_jobs(job_ids)
        dispatch = time.perf_counter() - started
    finally:
        change_policy(policy_for("document"), {"modal_percentage": previous}, reason="batch intake benchmark done")
    in_flight = JobAttempt.objects.filter(job_id__in=job_ids, processor=Processor.MODAL, status=JobStatus.DISPATCHED)
    assert submitted == n == in_flight.exclude(call_id="").count(), (submitted, in_flight.count())
    print(f"dispatch to the Modal stub: {dispatch:.1f} s for {n} jobs ({n / dispatch:,.0f} jobs/s; target < 60 s), "
          f"batches of {settings.JOB_DISPATCH_BATCH_SIZE}")

    cache.delete(CURSOR_KEY)
    with counted_writes() as counts:
        started = time.perf_counter()
        report = poll_in_flight()
        tick = time.perf_counter() - started
    print(f"one poller tick over {in_flight.count()} in-flight calls: {tick * 1000:.0f} ms (target < 1 s), "
          f"polled {report.polled}, finished {report.finished}, database writes {counts['writes']}")

    started = time.perf_counter()
    _clean(user, settings)
    print(f"cleanup: {time.perf_counter() - started:.1f} s")
    _purge_bench_queue(settings.CELERY_TASK_DEFAULT_QUEUE)


def _clean(user, settings) -> None:
    """Remove the bench user's datasets, documents, stored files, jobs and stub calls."""
    from datasets.models import Dataset, Document
    from jobs.models import ComputeJob
    from modal_stubs.models import StubCall

    Document.objects.filter(owner=user).delete()
    Dataset.objects.filter(owner=user).delete()
    ComputeJob.objects.filter(owner=user).delete()
    StubCall.objects.filter(app_name=settings.MODAL_APP_NAME).delete()
    shutil.rmtree(settings.MEDIA_ROOT / "documents" / str(user.pk), ignore_errors=True)
    shutil.rmtree(settings.MEDIA_ROOT / "artifacts" / "documents" / str(user.pk), ignore_errors=True)


def _purge_bench_queue(queue: str) -> None:
    from portal.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 21000)
