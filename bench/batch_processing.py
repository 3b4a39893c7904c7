"""Issue 3's batch run with the Modal stub really processing small documents.

    python bench/batch_processing.py            # 150 documents
    python bench/batch_processing.py 400

The whole pipeline runs as in production, on this machine: a web server (callbacks, signed
artifact URLs), a Celery worker with beat (dispatch, collection, poller, deadlines) and the
Modal stub worker at its configured concurrency (MODAL_STUB_CONTAINERS). One batch is
uploaded through the service a page or the API calls: one credit transaction. Then trouble
is made, as in real life: 5% of the stored files are corrupted before the workers read them
(they fail on the worker as bad input) and 3% of the jobs are cancelled by an operator while
in flight. The bench waits until every document reaches a terminal state and checks that
nothing was lost: every failed or cancelled document refunded exactly once, the balance equal
to the ledger's sum, no duplicated chunks. Prints throughput and the checks.
"""
import os
import sys
import time

from _common import (  # noqa: E402
    bench_user, free_port, setup_django, start_process, stop_process, wait_for_port,
)

PORT = free_port()
os.environ["PORTAL_BASE_URL"] = f"http://127.0.0.1:{PORT}"
os.environ["MODAL_STUB_DEPLOYED_APP"] = os.environ["MODAL_APP_NAME"] = f"bench-batch-processing-{os.getpid()}"
os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"bench-batch-processing-{os.getpid()}"
CORRUPT_EVERY = 20  # 5%
CANCEL_EVERY = 33  # 3%


def make_files(n: int) -> list[tuple[str, bytes]]:
    from tests.datasets.files import make_html, make_markdown

    topics = ["pump maintenance", "roof inspection", "solar cleaning", "battery safety", "wind turbines"]
    files = []
    for i in range(n):
        topic = topics[i % len(topics)]
        paragraphs = [f"Document {i} about {topic}.", f"Step {i % 7}: check the {topic} log and record it."] * 3
        if i % 2:
            files.append((f"doc-{i:05d}.md", make_markdown(f"{topic.title()} {i}", paragraphs)))
        else:
            files.append((f"doc-{i:05d}.html", make_html(f"{topic.title()} {i}", paragraphs)))
    return files


def main(n: int) -> None:
    setup_django()
    from django.conf import settings
    from django.core.files.storage import default_storage
    from django.db.models import Count, Sum

    from credits.models import CreditTransaction
    from credits.selectors import balance_of, ledger_sum
    from credits.services import account_for, grant, price_for
    from datasets import services
    from datasets.models import Chunk, Document
    from jobs.models import ComputeJob
    from jobs.rollout import change_policy, policy_for
    from jobs.services import cancel_job

    owner = bench_user("batch-processing")
    account = account_for(owner)
    if balance_of(owner) < price_for("document", n):
        grant(owner, price_for("document", n) - balance_of(owner), actor=owner, reason="batch processing benchmark")
    previous = policy_for("document").modal_percentage
    change_policy(policy_for("document"), {"modal_percentage": 100}, reason="bench/batch_processing.py")
    python = sys.executable
    processes = [
        start_process([python, "-m", "waitress", f"--listen=127.0.0.1:{PORT}", "--threads=8", "portal.wsgi:application"],
                      "bench-processing-web.log"),
        start_process([python, "-m", "celery", "-A", "portal", "worker", "-Q", settings.CELERY_TASK_DEFAULT_QUEUE,
                       "-c", "2", "-l", "WARNING", "-n", f"bench-{os.getpid()}@%h"], "bench-processing-worker.log"),
        start_process([python, "-m", "celery", "-A", "portal", "beat", "-s",
                       str(settings.VAR_DIR / f"bench-beat-{os.getpid()}"), "-l", "WARNING"], "bench-processing-beat.log"),
        start_process([python, "manage.py", "modal_stub_worker"], "bench-processing-stub.log"),
    ]
    try:
        wait_for_port(PORT)
        dataset = services.create_dataset(owner, f"batch processing {n}")
        started = time.perf_counter()
        result = services.upload_documents(owner, dataset, make_files(n))
        intake = time.perf_counter() - started
        documents = list(Document.objects.filter(dataset=dataset).order_by("pk"))
        for document in documents[::CORRUPT_EVERY]:  # storage trouble: the workers read garbage
            default_storage.delete(document.file.name)
            default_storage.save(document.file.name, __import__("io").BytesIO(b"\x7fELF\x02\x01 not a document"))
        time.sleep(1.0)
        for document in documents[5::CANCEL_EVERY]:
            cancel_job(ComputeJob.objects.get(pk=document.job_id), reason="benchmark: operator cancelled")
        job_ids = [d.job_id for d in documents]
        while ComputeJob.objects.filter(pk__in=job_ids, status__in=["pending", "dispatched", "running"]).exists():
            time.sleep(1.0)
        seconds = time.perf_counter() - started
    finally:
        for process in reversed(processes):
            stop_process(process)
        change_policy(policy_for("document"), {"modal_percentage": previous}, reason="bench/batch_processing.py done")

    outcomes = dict(ComputeJob.objects.filter(pk__in=job_ids).values_list("status").annotate(n=Count("pk")))
    not_succeeded = [d.pk for d in Document.objects.filter(dataset=dataset).exclude(job__status="succeeded")]
    refunds = CreditTransaction.objects.filter(account=account, kind="refund", reference=f"dataset:{dataset.pk}")
    refunded_documents = {int(key.split(":")[1]) for key in refunds.values_list("idempotency_key", flat=True)}
    batch_rows = CreditTransaction.objects.filter(account=account, kind="deduction", reference=f"dataset:{dataset.pk}")
    duplicates = Chunk.objects.filter(dataset=dataset).values("document", "index").annotate(n=Count("pk")).filter(n__gt=1)
    account.refresh_from_db()
    print(f"documents: {n} accepted {len(result.accepted)}, rejected at upload {len(result.rejected)}; "
          f"intake {intake:.1f} s in one credit transaction: {batch_rows.count() == 1}")
    print(f"stub containers: {settings.MODAL_STUB_CONTAINERS}; every document terminal after {seconds:.1f} s "
          f"-> {n / seconds * 60:.1f} documents/min")
    print(f"outcomes: {outcomes}")
    print(f"failed or cancelled: {len(not_succeeded)}; refunded exactly once each: "
          f"{refunded_documents == set(not_succeeded) and refunds.count() == len(not_succeeded)} "
          f"({refunds.aggregate(total=Sum('amount'))['total'] or 0} credits)")
    print(f"balance {account.balance} == ledger sum {ledger_sum(account)}: {account.balance == ledger_sum(account)}; "
          f"duplicated chunks: {duplicates.count()}; chunks stored: {Chunk.objects.filter(dataset=dataset).count()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 150)
