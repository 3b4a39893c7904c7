"""Writes of the datasets app: datasets, uploads (validated, stored, jobs created in bulk)."""
import hashlib
import logging
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from credits.selectors import balance_of
from credits.services import InsufficientCredits, account_for, deduct, price_for
from datasets import conf
from datasets.compute import check_size, safe_filename, validate_document
from datasets.jobs import KIND, PROGRESS_STEPS
from datasets.models import Dataset, Document, document_upload_path
from jobs.isolation import BadInput
from jobs.services import create_jobs, dispatch_jobs_later

logger = logging.getLogger(__name__)


@dataclass
class UploadResult:
    accepted: list = field(default_factory=list)  # Document
    rejected: list = field(default_factory=list)  # (original name, reason)


def create_dataset(owner, name: str, description: str = "") -> Dataset:
    name = (name or "").strip()
    if not name:
        raise ValueError("A dataset needs a name")
    return Dataset.objects.create(owner=owner, name=name[:200], description=description or "")


def _read(file) -> bytes:
    if isinstance(file, (bytes, bytearray)):
        return bytes(file)
    if hasattr(file, "chunks"):  # Django's UploadedFile: may be on disk, read it in pieces
        return b"".join(file.chunks())
    return file.read()


def _declared_size(file) -> int | None:
    if isinstance(file, (bytes, bytearray)):
        return len(file)
    return getattr(file, "size", None)


def _check_upload(name: str, file) -> tuple[bytes, str]:
    """Read and validate one file; BadInput says why it cannot be accepted."""
    declared = _declared_size(file)
    if declared:  # refuse an oversized file before reading it into memory
        check_size(declared, name, conf.max_bytes())
    data = _read(file)
    fmt = validate_document(data, name, max_bytes=conf.max_bytes(), max_pages=conf.max_pages())
    return data, fmt


def upload_documents(owner, dataset: Dataset, files) -> UploadResult:
    """Validate each file, store the good ones and create their jobs in bulk; dispatch on commit.

    A bad file is rejected with its reason and does not stop the rest of the batch. The
    accepted files are paid for together: one ledger row for the whole batch, deducted in the
    same transaction that creates the documents and jobs. A batch the balance cannot cover
    raises InsufficientCredits and leaves nothing behind (no documents, jobs or stored files).
    """
    if dataset.owner_id != owner.pk:
        raise PermissionError("Not your dataset")
    result = UploadResult()
    checked: list[tuple[Document, bytes]] = []
    for original_name, file in files:
        original_name = str(original_name or "")
        try:
            data, fmt = _check_upload(original_name, file)
        except BadInput as exc:
            result.rejected.append((original_name, str(exc)))
            continue
        checked.append((_new_document(owner, dataset, original_name, data, fmt), data))
    if not checked:
        return result
    cost = price_for("document", len(checked))
    # Cheap early refusal, before storing thousands of files; the deduction below decides.
    _require_balance(owner, cost, len(checked))
    stored: list[str] = []
    try:
        _store_files(checked, stored)
        documents = [document for document, _ in checked]
        with transaction.atomic():
            jobs = create_jobs(KIND, owner, len(documents), progress_total=PROGRESS_STEPS)
            unit = price_for("document")
            for document, job in zip(documents, jobs):
                document.job = job
                document.credit_charges = 1 if unit else 0
                document.credits_held = unit
            result.accepted = Document.objects.bulk_create(documents, batch_size=1000)
            dispatch_jobs_later([job.pk for job in jobs])
            # Last: the deduction holds the account's row lock until this transaction commits.
            _charge_batch(owner, dataset, cost, len(documents))
    except BaseException:
        for name in stored:  # nothing in the database points at them
            default_storage.delete(name)
        raise
    forget_counts(dataset.pk)  # after the commit (no request-wide transaction here)
    return result


def _store_files(checked: list[tuple[Document, bytes]], stored: list[str]) -> None:
    """Write the files to storage in parallel threads (disk or S3 round trips, not Python work).

    `stored` receives each name as soon as it is written, so a failure can remove them all.
    """
    def save(item):
        document, data = item
        document.file.name = default_storage.save(document_upload_path(document, document.filename), ContentFile(data))
        stored.append(document.file.name)  # list.append is atomic under the GIL

    if len(checked) == 1:
        save(checked[0])
        return
    with ThreadPoolExecutor(max_workers=conf.storage_threads()) as pool:
        for _ in pool.map(save, checked):  # re-raises the first failure, after all have finished
            pass


def _require_balance(owner, cost: int, count: int) -> None:
    if cost <= 0:
        return
    account_for(owner)  # a first upload opens the account (and its sign-up grant)
    available = balance_of(owner)
    if available < cost:
        raise InsufficientCredits(needed=cost, available=available, what=f"This batch of {count} documents")


def _charge_batch(owner, dataset: Dataset, cost: int, count: int) -> None:
    deduct(
        owner,
        cost,
        key=f"dataset-upload:{uuid.uuid4()}",  # one upload, one charge
        description=f"{count} document(s) uploaded to '{dataset.name}'"[:500],
        reference=f"dataset:{dataset.pk}",
        what=f"This batch of {count} documents",
    )


def forget_counts(dataset_id: int) -> None:
    """Drop a dataset's cached counts (after an upload, so the uploader sees its documents)."""
    from datasets.selectors import counts_cache_key

    cache.delete(counts_cache_key(dataset_id))


def _new_document(owner, dataset, original_name: str, data: bytes, fmt: str) -> Document:
    return Document(
        dataset=dataset,
        owner=owner,
        original_filename=original_name[:500],
        filename=safe_filename(original_name),
        storage_prefix=secrets.token_hex(8),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        detected_format=fmt,
    )
