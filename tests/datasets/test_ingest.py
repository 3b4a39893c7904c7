"""The "document" job kind: payload, idempotent ingest, failure and retry through the engine."""
import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from datasets import services
from datasets.jobs import artifact_name, build_payload, ingest
from datasets.models import Chunk
from jobs.artifacts import read_token
from jobs.backends.base import CallOutcome
from jobs.models import JobAttempt, JobStatus
from jobs.services import complete_attempt, retry_job
from tests.datasets.files import make_markdown, make_pdf
from tests.datasets.helpers import process_inline

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(user):
    dataset = services.create_dataset(user, "Reports")
    pdf = make_pdf([["Mallard ducks dabble in shallow ponds."], ["The council approved the budget."]])
    return services.upload_documents(user, dataset, [("ducks.pdf", pdf)]).accepted[0]


def start_attempt(job) -> JobAttempt:
    job.status = JobStatus.DISPATCHED
    job.attempt_count += 1
    job.save()
    return JobAttempt.objects.create(job=job, number=job.attempt_count, processor="modal",
                                     function_name="process_document", status=JobStatus.DISPATCHED)


def test_payload_carries_signed_urls_and_limits_but_no_secrets(document, settings):
    settings.EMBEDDING_BACKEND = "openai"
    settings.OPENAI_API_KEY = "sk-must-not-leak"
    document.job.attempt_count = 2
    payload = build_payload(document.job)
    assert payload["filename"] == "ducks.pdf"
    assert read_token(payload["source_url"].rstrip("/").split("/")[-1]) == {"name": document.file.name, "op": "get"}
    upload_grant = read_token(payload["artifact_upload_url"].rstrip("/").split("/")[-1])
    assert upload_grant == {"name": artifact_name(document, 2), "op": "put"}
    assert payload["params"]["artifact_name"] == artifact_name(document, 2)
    assert payload["params"]["max_pages"] == settings.DOCUMENT_MAX_PAGES
    assert payload["params"]["embedding"]["backend"] == "openai"
    assert "sk-must-not-leak" not in json.dumps(payload)


def test_ingest_twice_keeps_one_set_of_chunks(document):
    output = process_inline(document)
    ingest(document.job, output)
    first = list(Chunk.objects.filter(document=document).values_list("index", "text", "page"))
    ingest(document.job, output)
    assert list(Chunk.objects.filter(document=document).values_list("index", "text", "page")) == first
    assert first == [(0, "Mallard ducks dabble in shallow ponds.", 1), (1, "The council approved the budget.", 2)]
    document.refresh_from_db()
    assert document.chunk_count == 2 and document.page_count == 2
    assert "Mallard ducks" in document.markdown
    chunk = Chunk.objects.get(document=document, index=0)
    assert chunk.owner_id == document.owner_id and chunk.dataset_id == document.dataset_id
    assert len(chunk.embedding) == 384


def test_ingest_reads_the_uploaded_artifact(document):
    full = process_inline(document)
    name = artifact_name(document, 1)
    default_storage.save(name, ContentFile(json.dumps({"markdown": full["markdown"], "chunks": full["chunks"]})))
    ingest(document.job, {"artifact": name, "page_count": 2, "chunk_count": 2})
    assert Chunk.objects.filter(document=document).count() == 2


def test_failure_is_mirrored_and_a_retry_succeeds_without_duplicates(document):
    job = document.job
    attempt = start_attempt(job)
    assert complete_attempt(attempt.pk, CallOutcome.failed("bad_input", "'ducks.pdf' is a damaged PDF"))
    document.refresh_from_db()
    assert document.status == "failed" and document.error == "'ducks.pdf' is a damaged PDF"

    retry_job(job, dispatch=False)
    document.refresh_from_db()
    assert document.error == "" and document.status == "pending"

    output = process_inline(document)
    ingest(job, output)  # a late result of the failed attempt had already stored chunks
    attempt = start_attempt(job)
    assert complete_attempt(attempt.pk, CallOutcome.succeeded({"output": output, "compute_seconds": 1.5}))
    document.refresh_from_db()
    assert document.status == "succeeded"
    assert list(Chunk.objects.filter(document=document).values_list("index", flat=True)) == [0, 1]


def test_markdown_document_chunks_have_headings(user):
    dataset = services.create_dataset(user, "Notes")
    document = services.upload_documents(
        user, dataset, [("notes.md", make_markdown("Pond life", ["Ducks dabble.", "Geese graze."]))]
    ).accepted[0]
    ingest(document.job, process_inline(document))
    chunk = Chunk.objects.get(document=document)
    assert chunk.heading == "Pond life" and chunk.page is None
    assert chunk.text == "Ducks dabble.\n\nGeese graze."
