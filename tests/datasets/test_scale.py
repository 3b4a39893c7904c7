"""Scale details of issue 3: memory by file size, cached dataset counts, operators' progress and
credits in the admin, the parse checkpoint a retry resumes from, the shared OpenAI rate limit."""
import time

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from datasets import compute, selectors, services
from datasets.jobs import build_payload, checkpoint_name, function_for
from datasets.models import Document
from jobs.callbacks import callback_key, callback_url
from jobs.models import ComputeJob, JobAttempt, JobStatus, Processor
from jobs.registry import get_kind
from jobs.reporting import Reporter
from portal.compute_functions import get_function
from tests.datasets.openai_server import FakeOpenAIServer

SECTIONS = ["Mallard ducks dabble in shallow ponds.", "The council approved the road budget.",
            "Honey bees pollinate orchards in spring."]


def three_sections() -> bytes:
    return "\n\n".join(f"# Section {i}\n\n{text}" for i, text in enumerate(SECTIONS)).encode()


@pytest.fixture
def dataset(user):
    return services.create_dataset(user, "Scale")


# --- memory by size --------------------------------------------------------------------------


@pytest.mark.django_db
def test_large_files_get_the_8_gib_function(user, dataset):
    small, large = services.upload_documents(user, dataset, [("a.md", b"# A\n\na"), ("b.md", b"# B\n\nb")]).accepted
    Document.objects.filter(pk=large.pk).update(size=compute.LARGE_DOCUMENT_BYTES)  # seed 004's 50 MB line
    small.job.refresh_from_db()
    large.job.refresh_from_db()
    assert function_for(small.job) == "process_document"
    assert function_for(large.job) == "process_document_large"
    assert get_function("process_document").memory == 4096
    assert get_function("process_document_large").memory == 8192
    for name in ("process_document", "process_document_large"):
        function = get_function(name)
        assert function.max_containers == 100 and function.handler == "datasets.handler:process_document"


@pytest.mark.django_db
def test_dispatch_reads_the_documents_of_a_batch_together(user, dataset):
    from django.db.models import prefetch_related_objects

    documents = services.upload_documents(user, dataset, [(f"{i}.md", b"# A\n\na") for i in range(5)]).accepted
    jobs = list(ComputeJob.objects.filter(pk__in=[d.job_id for d in documents]).order_by("created_at", "pk"))
    for job in jobs:
        job.attempt_count = 1
    with CaptureQueriesContext(connection) as queries:
        prefetch_related_objects(jobs, *get_kind("document").prefetch)  # as the dispatcher does per batch
    assert len(queries) == 1
    with CaptureQueriesContext(connection) as queries:
        payloads = [build_payload(job) for job in jobs if function_for(job)]
    assert len(queries) == 0
    assert sorted(p["filename"] for p in payloads) == ["0.md", "1.md", "2.md", "3.md", "4.md"]
    assert payloads[0]["checkpoint_upload_url"] and payloads[0]["checkpoint_url"] is None  # a first attempt
    jobs[0].attempt_count = 2
    assert build_payload(jobs[0])["checkpoint_url"]  # a retry looks for the checkpoint


# --- dataset counts ------------------------------------------------------------------------


@pytest.mark.django_db
def test_counts_are_one_query_cached_for_a_few_seconds(user, dataset):
    documents = services.upload_documents(user, dataset, [(f"{i}.md", b"# T\n\nt") for i in range(3)]).accepted
    with CaptureQueriesContext(connection) as queries:
        counts = selectors.dataset_counts(dataset.pk)
    assert (counts["document_count"], counts["in_progress_count"], counts["succeeded_count"]) == (3, 3, 0)
    assert len(queries) == 1

    documents[0].job.status = JobStatus.SUCCEEDED
    documents[0].job.save()
    with CaptureQueriesContext(connection) as queries:
        assert selectors.dataset_counts(dataset.pk)["succeeded_count"] == 0  # still the cached counts
    assert len(queries) == 0
    with override_settings(DATASET_COUNTS_CACHE_SECONDS=1):
        cache.delete(selectors.counts_cache_key(dataset.pk))
        selectors.dataset_counts(dataset.pk)
        time.sleep(1.1)
        counts = selectors.dataset_counts(dataset.pk)
    assert (counts["succeeded_count"], counts["in_progress_count"]) == (1, 2)

    services.upload_documents(user, dataset, [("more.md", b"# M\n\nm")])  # an upload shows at once
    assert selectors.dataset_with_counts(user, dataset.pk).document_count == 4


@pytest.mark.django_db
def test_the_dataset_admin_shows_progress_and_the_credit_transaction(client, user, staff_user, dataset):
    documents = services.upload_documents(user, dataset, [(f"{i}.md", b"# T\n\nt") for i in range(4)]).accepted
    for document, status in zip(documents, [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.RUNNING]):
        document.job.status = status
        document.job.save()
    client.force_login(staff_user)
    listing = client.get("/admin/datasets/dataset/").content.decode()
    assert "1 done, 2 processing, 1 failed, of 4" in listing
    assert '<td class="field-credits_charged">4</td>' in listing
    page = client.get(f"/admin/datasets/dataset/{dataset.pk}/change/").content.decode()
    assert "1 done, 2 processing, 1 failed, of 4" in page
    assert "1 deduction(s) -4" in page and "dataset-upload:" in page and "4 document(s) uploaded to" in page


# --- checkpoint and rate limit (the handler calls the live portal back) -----------------------


def first_attempt(document) -> JobAttempt:
    job = document.job
    job.status, job.attempt_count, job.processor = JobStatus.DISPATCHED, job.attempt_count + 1, Processor.MODAL
    job.save()
    return JobAttempt.objects.create(job=job, number=job.attempt_count, processor=Processor.MODAL,
                                     function_name="process_document", status=JobStatus.DISPATCHED)


def run_handler(attempt, **params) -> dict:
    payload = build_payload(attempt.job)
    payload["params"].update(params)
    payload.update(callback_url=callback_url(attempt.pk), callback_key=callback_key(attempt.pk), attempt_id=attempt.pk)
    return compute.process_document(**payload)


@pytest.mark.django_db(transaction=True)
def test_a_retry_after_a_late_failure_does_not_parse_again(user, portal_url):
    dataset = services.create_dataset(user, "Checkpoints")
    (document,) = services.upload_documents(user, dataset, [("notes.md", three_sections())]).accepted
    with pytest.raises(ValueError, match="Unknown embedding backend"):
        run_handler(first_attempt(document), embedding={"backend": "no-such-backend"})
    assert default_storage.exists(checkpoint_name(document))

    output = run_handler(first_attempt(document))  # the retry: attempt 2, a good embedding option
    assert output["parse_skipped"] is True and output["chunk_count"] == 3
    assert "parse" not in output["seconds"] and "download" not in output["seconds"]
    assert "checkpoint_load" in output["seconds"]

    default_storage.delete(checkpoint_name(document))
    output = run_handler(first_attempt(document))
    assert output["parse_skipped"] is False and "parse" in output["seconds"]  # gone: parsed again


def test_an_oversized_checkpoint_is_not_saved():
    parsed = {"format": "md", "markdown": "x" * 50_000, "pages": [], "page_count": 0}
    # max_bytes below the gzipped size: nothing is sent (the URL would fail if it were used).
    assert compute.save_checkpoint("http://127.0.0.1:9/never", parsed, max_bytes=10, callbacks=Reporter()) is False


@pytest.mark.django_db(transaction=True)
def test_openai_requests_take_from_the_shared_per_minute_limit(user, portal_url):
    dataset = services.create_dataset(user, "Rate limited")
    (document,) = services.upload_documents(user, dataset, [("notes.md", three_sections())]).accepted
    attempt = first_attempt(document)
    with override_settings(RATE_LIMITS_PER_MINUTE={"openai": 1000}), FakeOpenAIServer(failures=1) as server:
        window = int(time.time() // 60)
        for key in (f"ratelimit:openai:{window}", f"ratelimit:openai:{window + 1}"):
            cache.delete(key)
        output = run_handler(attempt, embedding={"backend": "openai", "base_url": server.base_url, "batch_size": 1})
        counted = sum(cache.get(f"ratelimit:openai:{w}") or 0 for w in (window, window + 1))
    assert output["embedding_backend"] == "openai" and output["chunk_count"] == 3
    assert len(server.requests) == 4  # three batches of one, one of them retried after a 429
    assert counted == 4  # every request, retries included, asked the portal first

    with override_settings(RATE_LIMITS_PER_MINUTE={"openai": 1}):
        reporter = Reporter(callback_url(attempt.pk), callback_key(attempt.pk))
        reporter.acquire("openai", max_wait=0.01)  # this minute's one request (or over already)
        assert reporter.acquire("openai", max_wait=0.01) > 0  # the next one would have to wait


# --- intake of many small files ---------------------------------------------------------------


def parse_multipart(files: list[tuple[str, bytes]]):
    import io

    from django.http.multipartparser import MultiPartParser

    from datasets.uploads import SpooledUploadHandler

    boundary = "TestBoundary42"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n\r\n'.encode() + data
        + b"\r\n" for name, data in files) + f"--{boundary}--\r\n".encode()
    meta = {"CONTENT_TYPE": f"multipart/form-data; boundary={boundary}", "CONTENT_LENGTH": str(len(body))}
    _, parsed = MultiPartParser(meta, io.BytesIO(body), [SpooledUploadHandler()]).parse()
    return parsed.getlist("files")


def test_small_files_stay_in_memory_however_large_the_request():
    # Django's stock handlers put every file of a request over 5 MB in a temporary file of its
    # own: 21,000 open files for one batch. Here only a file over the per-file limit, or past
    # the request's memory cap, goes to disk.
    with override_settings(FILE_UPLOAD_MAX_MEMORY_SIZE=1000, UPLOAD_BATCH_MEMORY_BYTES=2400):
        uploaded = parse_multipart([*[(f"{i}.md", b"x" * 600) for i in range(4)], ("big.md", b"y" * 5000),
                                    ("last.md", b"z" * 600)])
    assert [f.name for f in uploaded] == ["0.md", "1.md", "2.md", "3.md", "big.md", "last.md"]
    assert [f.file._rolled for f in uploaded] == [False, False, False, False, True, True]  # 4 x 600 fill the 2400
    assert [f.size for f in uploaded] == [600] * 4 + [5000, 600]
    assert uploaded[4].read() == b"y" * 5000 and b"".join(uploaded[0].chunks()) == b"x" * 600
