"""Credits for documents: one ledger row per uploaded batch, refused whole when unaffordable,
a refund for every run that ends failed or cancelled (once), a new charge for every retry."""
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile

from credits.models import CreditTransaction, TransactionKind
from credits.selectors import balance_of, ledger_sum, transaction_by_key
from credits.services import InsufficientCredits, account_for, adjust
from datasets import services
from datasets.jobs import RetryNotPaid
from datasets.models import Document
from jobs.backends import CallOutcome
from jobs.models import ComputeJob, JobAttempt, JobStatus, Processor
from jobs.services import cancel_job, complete_attempt, fail_overdue_jobs, retry_job
from tests.datasets.files import ELF_BYTES, make_markdown

pytestmark = pytest.mark.django_db


def markdown_files(count: int, prefix: str = "note"):
    return [(f"{prefix}-{i}.md", make_markdown(f"Note {i}", [f"Paragraph {i}"])) for i in range(count)]


@pytest.fixture
def dataset(user):
    return services.create_dataset(user, "Notes")


def set_balance(user, staff_user, balance: int) -> None:
    account = account_for(user)
    account.refresh_from_db()
    if account.balance != balance:
        adjust(user, balance - account.balance, actor=staff_user, reason="test balance")


def stored_files(user, dataset) -> list[Path]:
    folder = Path(settings.MEDIA_ROOT) / "documents" / str(user.pk) / str(dataset.pk)
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def dispatched(document) -> JobAttempt:
    """The document's job as the engine leaves it after a dispatch (no worker needed)."""
    job = document.job
    job.refresh_from_db()
    job.status = JobStatus.DISPATCHED
    job.attempt_count += 1
    job.processor = Processor.MODAL
    job.save()
    return JobAttempt.objects.create(job=job, number=job.attempt_count, processor=Processor.MODAL,
                                     function_name="process_document", status=JobStatus.DISPATCHED, call_id="fc-x")


def refunds_of(document) -> list[CreditTransaction]:
    return list(CreditTransaction.objects.filter(kind=TransactionKind.REFUND,
                                                 idempotency_key__startswith=f"document:{document.pk}:"))


# --- intake -------------------------------------------------------------------------------


def test_a_batch_is_charged_in_one_ledger_row(user, dataset):
    before = balance_of(user) or account_for(user).balance
    result = services.upload_documents(user, dataset, [*markdown_files(5), ("bad.pdf", ELF_BYTES)])
    assert len(result.accepted) == 5 and len(result.rejected) == 1  # a rejected file is not charged
    (row,) = CreditTransaction.objects.filter(kind=TransactionKind.DEDUCTION, account__user=user)
    assert row.amount == -5 and row.reference == f"dataset:{dataset.pk}"
    assert row.idempotency_key.startswith("dataset-upload:") and "5 document(s)" in row.description
    assert balance_of(user) == before - 5 == ledger_sum(account_for(user))
    assert {(d.credit_charges, d.credits_held) for d in Document.objects.filter(dataset=dataset)} == {(1, 1)}

    services.upload_documents(user, dataset, markdown_files(2, "more"))
    keys = set(CreditTransaction.objects.filter(kind=TransactionKind.DEDUCTION).values_list("idempotency_key", flat=True))
    assert len(keys) == 2  # each upload its own key


def test_a_batch_the_balance_cannot_cover_is_refused_whole(user, staff_user, dataset):
    set_balance(user, staff_user, 3)
    with pytest.raises(InsufficientCredits, match=r"This batch of 4 documents costs 4 credits but the balance is 3"):
        services.upload_documents(user, dataset, markdown_files(4))
    assert not Document.objects.exists() and not ComputeJob.objects.exists()
    assert stored_files(user, dataset) == []
    assert balance_of(user) == 3
    assert not CreditTransaction.objects.filter(kind=TransactionKind.DEDUCTION).exists()

    services.upload_documents(user, dataset, markdown_files(3))  # exactly the balance: fine
    assert balance_of(user) == 0 and Document.objects.count() == 3 and len(stored_files(user, dataset)) == 3


def test_the_api_answers_402_and_the_page_shows_why(client, user, staff_user, dataset):
    set_balance(user, staff_user, 1)
    client.force_login(user)
    files = [SimpleUploadedFile(name, data) for name, data in markdown_files(2)]
    response = client.post(f"/api/datasets/{dataset.pk}/documents", {"files": files})
    assert response.status_code == 402
    assert response.json()["detail"] == (
        "This batch of 2 documents costs 2 credits but the balance is 1 credits (1 more needed). Nothing was charged.")
    files = [SimpleUploadedFile(name, data) for name, data in markdown_files(2)]
    page = client.post(f"/datasets/{dataset.pk}/", {"files": files}, follow=True).content.decode()
    assert "Upload refused: This batch of 2 documents costs 2 credits" in page
    assert not Document.objects.exists()


# --- refunds and retries --------------------------------------------------------------------


@pytest.fixture
def documents(user, dataset):
    return services.upload_documents(user, dataset, markdown_files(4)).accepted


@pytest.mark.parametrize("how", ["modal", "celery", "bad_input", "ingest"])
def test_a_failed_run_is_refunded_once(user, documents, how):
    document = documents[0]
    balance = balance_of(user)
    attempt = dispatched(document)
    if how == "celery":
        attempt.processor = Processor.CELERY
        attempt.save()
    outcome = {
        "modal": CallOutcome.failed("crashed", "The container died"),
        "celery": CallOutcome.failed("timeout", "Over the time limit"),
        "bad_input": CallOutcome.failed("bad_input", "'note-0.md' is empty"),
        "ingest": CallOutcome.succeeded({"output": {"chunks": [{"index": 0}]}, "compute_seconds": 1}),
    }[how]
    assert complete_attempt(attempt.pk, outcome)
    assert not complete_attempt(attempt.pk, outcome)  # a second report changes nothing
    document.refresh_from_db()
    assert document.job.status == JobStatus.FAILED
    (refund,) = refunds_of(document)
    assert refund.idempotency_key == f"document:{document.pk}:refund:1" and refund.amount == 1
    assert refund.reference == f"dataset:{document.dataset_id}"
    assert document.credits_held == 0 and document.error
    assert balance_of(user) == balance + 1 == ledger_sum(account_for(user))


def test_deadline_and_cancellation_refund_too(user, documents):
    from datetime import timedelta

    from django.utils import timezone

    overdue, pending = documents[0], documents[1]
    dispatched(overdue)
    ComputeJob.objects.filter(pk=overdue.job_id).update(deadline_at=timezone.now() - timedelta(seconds=1))
    balance = balance_of(user)
    assert fail_overdue_jobs() == 1
    assert cancel_job(pending.job, reason="not needed")
    assert not cancel_job(pending.job)  # already over: no second refund
    assert [len(refunds_of(d)) for d in (overdue, pending)] == [1, 1]
    assert balance_of(user) == balance + 2


def test_a_retry_charges_again_and_its_failure_refunds_again(user, documents):
    document = documents[0]
    complete_attempt(dispatched(document).pk, CallOutcome.failed("crashed", "boom"))
    balance = balance_of(user)

    retry_job(document.job, dispatch=False)
    document.refresh_from_db()
    assert (document.credit_charges, document.credits_held) == (2, 1)
    charge = transaction_by_key(f"document:{document.pk}:charge:2")
    assert charge.amount == -1 and balance_of(user) == balance - 1

    complete_attempt(dispatched(document).pk, CallOutcome.failed("crashed", "boom again"))
    assert sorted(r.idempotency_key for r in refunds_of(document)) == [
        f"document:{document.pk}:refund:1", f"document:{document.pk}:refund:2"]
    assert balance_of(user) == balance == ledger_sum(account_for(user))


def test_a_retry_the_balance_cannot_cover_is_refused_and_changes_nothing(client, user, staff_user, documents):
    document = documents[0]
    complete_attempt(dispatched(document).pk, CallOutcome.failed("crashed", "boom"))
    set_balance(user, staff_user, 0)
    with pytest.raises(RetryNotPaid, match=r"Retrying 'note-0.md' costs 1 credits but the balance is 0"):
        retry_job(document.job, dispatch=False)
    document.refresh_from_db()
    document.job.refresh_from_db()
    assert document.job.status == JobStatus.FAILED and document.job.attempt_count == 1
    assert (document.credit_charges, document.credits_held) == (1, 0)
    assert transaction_by_key(f"document:{document.pk}:charge:2") is None

    client.force_login(user)
    response = client.post(f"/api/jobs/{document.job_id}/retry")
    assert response.status_code == 409 and "costs 1 credits but the balance is 0" in response.json()["detail"]

    client.force_login(staff_user)
    form = {"action": "retry_failed_documents", "_selected_action": [str(document.pk)], "confirm": "yes"}
    page = client.post("/admin/datasets/document/", form, follow=True).content.decode()
    assert "costs 1 credits but the balance is 0" in page and "0 done, 1 skipped" in page
    assert not LogEntry.objects.filter(object_id=str(document.pk)).exists()
    document.job.refresh_from_db()
    assert document.job.status == JobStatus.FAILED
