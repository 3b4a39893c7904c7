"""Writes of the datasets app: datasets, uploads (validated, stored, jobs created in bulk)."""
import hashlib
import logging
import secrets
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

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

    A bad file is rejected with its reason and does not stop the rest of the batch.
    """
    if dataset.owner_id != owner.pk:
        raise PermissionError("Not your dataset")
    result = UploadResult()
    documents: list[Document] = []
    stored: list[str] = []
    try:
        for original_name, file in files:
            original_name = str(original_name or "")
            try:
                data, fmt = _check_upload(original_name, file)
            except BadInput as exc:
                result.rejected.append((original_name, str(exc)))
                continue
            document = _new_document(owner, dataset, original_name, data, fmt)
            document.file.name = default_storage.save(
                document_upload_path(document, document.filename), ContentFile(data)
            )
            stored.append(document.file.name)
            documents.append(document)
        with transaction.atomic():
            jobs = create_jobs(KIND, owner, len(documents), progress_total=PROGRESS_STEPS) if documents else []
            for document, job in zip(documents, jobs):
                document.job = job
            result.accepted = Document.objects.bulk_create(documents, batch_size=1000)
            if jobs:
                dispatch_jobs_later([job.pk for job in jobs])
    except BaseException:
        for name in stored:  # nothing in the database points at them
            default_storage.delete(name)
        raise
    return result


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
