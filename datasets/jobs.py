"""The "document" job kind: what the job engine needs to run and ingest a document."""
import json

from django.core.files.storage import default_storage
from django.utils import timezone

from credits.services import InsufficientCredits, charge_run, price_for, refund_run
from datasets import conf
from datasets.compute import memory_for_size
from datasets.models import Chunk, Document
from jobs.artifacts import download_url, upload_url
from jobs.registry import JobKind, register_kind
from jobs.services import JobStateError

KIND = "document"
FUNCTION = "process_document"
LARGE_FUNCTION = "process_document_large"
PROGRESS_STEPS = 4  # validate, parse, chunk, embed


class RetryNotPaid(JobStateError):
    """A retry the owner's balance cannot cover. A JobStateError, so that the engine's retry
    transaction rolls back and the jobs API (409) and admin treat it as "cannot retry now"."""


def _document_of(job) -> Document:
    """The job's document. Dispatch prefetches it for a whole batch (JobKind.prefetch)."""
    return job.document


def function_for(job) -> str:
    """Seed 004's memory rule: 8 GiB only for the large files that need it."""
    return FUNCTION if memory_for_size(_document_of(job).size) <= memory_for_size(0) else LARGE_FUNCTION


def checkpoint_name(document: Document) -> str:
    # One per document: parsing the same stored file again gives the same result.
    return f"artifacts/documents/{document.owner_id}/{document.pk}/parsed.json.gz"


def artifact_name(document: Document, attempt_number: int) -> str:
    # One artifact per attempt: a late upload from an old attempt cannot overwrite a newer one.
    return f"artifacts/documents/{document.owner_id}/{document.pk}/attempt-{attempt_number}.json"


def build_payload(job) -> dict:
    document = _document_of(job)
    name = artifact_name(document, job.attempt_count)
    checkpoint = checkpoint_name(document)
    return {
        "source_url": download_url(document.file.name),
        "artifact_upload_url": upload_url(name),
        "checkpoint_upload_url": upload_url(checkpoint),
        # Only a retry can find a checkpoint; a first attempt does not spend a request looking.
        "checkpoint_url": download_url(checkpoint) if job.attempt_count > 1 else None,
        "filename": document.filename,
        "params": {
            "checkpoint_max_bytes": conf.checkpoint_max_bytes(),
            "max_bytes": conf.max_bytes(),
            "max_pages": conf.max_pages(),
            "parse_timeout": conf.parse_timeout(),
            "artifacts_path": conf.artifacts_path(),
            "max_tokens": conf.chunk_max_tokens(),
            "overlap_tokens": conf.chunk_overlap_tokens(),
            "embedding": conf.embedding_options(),
            "cpu_threads": conf.cpu_threads(),
            "artifact_name": name,
        },
    }


def read_result(output: dict) -> dict:
    """The full result: from the uploaded artifact, or inline when the function returned it."""
    if output.get("artifact"):
        with default_storage.open(output["artifact"], "rb") as handle:
            return json.loads(handle.read())
    return output


def ingest(job, output: dict) -> None:
    """Replace the document's chunks with the result's (delete, then insert: a retry never duplicates)."""
    document = Document.objects.select_for_update().get(job=job)
    result = read_result(output)
    chunks = [
        Chunk(
            document=document,
            dataset_id=document.dataset_id,
            owner_id=document.owner_id,
            index=chunk["index"],
            text=chunk["text"],
            heading=(chunk.get("heading") or "")[:500],
            page=chunk.get("page"),
            token_count=chunk.get("token_count") or 0,
            embedding=chunk["embedding"],
        )
        for chunk in result.get("chunks", [])
    ]
    Chunk.objects.filter(document=document).delete()
    Chunk.objects.bulk_create(chunks, batch_size=500)
    document.markdown = result.get("markdown", "")
    document.page_count = output.get("page_count") or None
    document.chunk_count = len(chunks)
    document.error = ""
    document.processed_at = timezone.now()
    document.save(update_fields=["markdown", "page_count", "chunk_count", "error", "processed_at"])


def on_failure(job) -> None:
    """Failed or cancelled, wherever and however: keep the reason and refund the run, once."""
    document = Document.objects.select_for_update(of=("self",)).select_related("owner").get(job=job)
    document.error = job.error_message or job.error_type or "Processing failed"
    refund_run(document, key_prefix=f"document:{document.pk}",
               description=f"Refund: {document.original_filename} {job.status}: {document.error}",
               reference=f"dataset:{document.dataset_id}")
    document.save(update_fields=["error", "credits_held"])


def on_retry(job) -> None:
    """Charge the new run; a balance that cannot cover it refuses the retry (the engine rolls back)."""
    document = Document.objects.select_for_update(of=("self",)).select_related("owner").get(job=job)
    document.error = ""
    if document.credits_held == 0:  # a run not refunded is still paid for
        try:
            charge_run(document, price_for("document"), key_prefix=f"document:{document.pk}",
                       description=f"Retry of {document.original_filename}", reference=f"dataset:{document.dataset_id}",
                       what=f"Retrying '{document.original_filename}'")
        except InsufficientCredits as exc:
            raise RetryNotPaid(str(exc)) from None
    document.save(update_fields=["error", "credit_charges", "credits_held"])


def register() -> None:
    register_kind(
        JobKind(
            name=KIND,
            label="Document processing",
            function=function_for,
            build_payload=build_payload,
            ingest=ingest,
            on_failure=on_failure,
            on_retry=on_retry,
            prefetch=("document",),
        )
    )
