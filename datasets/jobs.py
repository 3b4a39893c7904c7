"""The "document" job kind: what the job engine needs to run and ingest a document."""
import json

from django.core.files.storage import default_storage
from django.utils import timezone

from datasets import conf
from datasets.models import Chunk, Document
from jobs.artifacts import download_url, upload_url
from jobs.registry import JobKind, register_kind

KIND = "document"
FUNCTION = "process_document"
PROGRESS_STEPS = 4  # validate, parse, chunk, embed


def artifact_name(document: Document, attempt_number: int) -> str:
    # One artifact per attempt: a late upload from an old attempt cannot overwrite a newer one.
    return f"artifacts/documents/{document.owner_id}/{document.pk}/attempt-{attempt_number}.json"


def build_payload(job) -> dict:
    document = Document.objects.only("pk", "owner_id", "file", "filename").get(job=job)
    name = artifact_name(document, job.attempt_count)
    return {
        "source_url": download_url(document.file.name),
        "artifact_upload_url": upload_url(name),
        "filename": document.filename,
        "params": {
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
    Document.objects.filter(job=job).update(error=job.error_message or job.error_type or "Processing failed")


def on_retry(job) -> None:
    Document.objects.filter(job=job).update(error="")


def register() -> None:
    register_kind(
        JobKind(
            name=KIND,
            label="Document processing",
            function=FUNCTION,
            build_payload=build_payload,
            ingest=ingest,
            on_failure=on_failure,
            on_retry=on_retry,
        )
    )
