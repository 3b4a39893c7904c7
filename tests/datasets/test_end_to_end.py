"""Documents end to end: upload -> dispatch -> the real Modal stub worker or a real Celery
worker runs the Docling core -> artifact through signed/presigned URLs -> chunks with
embeddings in pgvector -> search finds them. Also: retry after failure, S3 (moto server)."""
import pytest

from datasets import selectors, services
from datasets.models import Chunk, Document
from jobs.models import JobStatus, Processor
from jobs.poller import poll_in_flight
from jobs.rollout import change_policy, policy_for
from jobs.services import dispatch_jobs, retry_job
from tests.datasets.files import ELF_BYTES, make_docx, make_html, make_markdown, make_pdf
from tests.fixtures.services import running_service, service_env, start_celery_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

TIMEOUT = 240


def upload(user, files, processor):
    change_policy(policy_for("document"), {"modal_percentage": 100 if processor == Processor.MODAL else 0})
    dataset = services.create_dataset(user, f"via {processor}")
    result = services.upload_documents(user, dataset, files)
    return dataset, result


def run_to_end(documents, timeout=TIMEOUT):
    dispatch_jobs([d.job_id for d in documents])  # a Celery dispatch task may race: one claims each job

    def finished():
        poll_in_flight()  # applies stub outcomes; Celery tasks apply their own
        return all(d.job.is_terminal for d in refreshed(documents))

    wait_until(finished, timeout=timeout, interval=0.5, message="documents did not finish")
    return refreshed(documents)


def refreshed(documents):
    return list(Document.objects.select_related("job").filter(pk__in=[d.pk for d in documents]).order_by("pk"))


def assert_processed(document, processor):
    job = document.job
    assert job.status == JobStatus.SUCCEEDED, (job.error_type, job.error_message)
    assert job.processor == processor
    assert job.progress_done == job.progress_total == 4
    chunks = list(Chunk.objects.filter(document=document).order_by("index"))
    assert len(chunks) == document.chunk_count > 0
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(len(c.embedding) == 384 for c in chunks)
    assert "artifact" in job.result and "chunks" not in job.result  # the job keeps the compact result


def test_documents_through_the_modal_stub(user, stub_worker):
    dataset, result = upload(user, [
        ("ducks.pdf", make_pdf([["Mallard ducks dabble in shallow ponds."], ["Their ducklings follow them."]])),
        ("council.docx", make_docx("Council", ["The council approved the road repair budget."])),
        ("owls.html", make_html("Owls", ["Owls hunt mice at night with silent flight."])),
        ("bees.md", make_markdown("Bees", ["Honey bees pollinate orchards in spring."])),
    ], Processor.MODAL)
    documents = run_to_end(result.accepted)
    for document in documents:
        assert_processed(document, Processor.MODAL)
        assert document.job.attempts.get().call_id.startswith("fc-")
    assert documents[0].page_count == 2 and "Mallard ducks" in documents[0].markdown
    assert selectors.search_chunks(user, "birds swimming in a pond")[0].document_name == "ducks.pdf"
    assert selectors.search_chunks(user, "municipal spending", dataset_ids=[dataset.pk])[0].document_name == "council.docx"
    assert stub_worker.alive()


def test_documents_through_celery(user, celery_worker):
    _, result = upload(user, [("bees.md", make_markdown("Bees", ["Honey bees pollinate orchards in spring."]))],
                       Processor.CELERY)
    (document,) = run_to_end(result.accepted)
    assert_processed(document, Processor.CELERY)
    assert selectors.search_chunks(user, "insects and fruit trees")[0].document_id == document.pk


def test_a_failure_on_the_worker_is_explained_and_a_retry_does_not_duplicate(user, stub_worker):
    pdf = make_pdf([["Page one about ducks."], ["Page two about geese."], ["Page three about swans."]])
    _, result = upload(user, [("birds.pdf", pdf), ("ok.md", b"# Fine\n\nThis one is fine.")], Processor.MODAL)
    birds, fine = result.accepted
    # What only the worker can find out: here, a file replaced in storage after upload.
    with birds.file.storage.open(birds.file.name, "wb") as handle:
        handle.write(ELF_BYTES)
    birds, fine = run_to_end([birds, fine])
    assert birds.job.status == JobStatus.FAILED and birds.job.error_type == "bad_input"
    assert birds.error == "'birds.pdf' is an ELF executable, not a PDF"
    assert fine.job.status == JobStatus.SUCCEEDED  # the rest of the batch is unaffected
    assert Chunk.objects.filter(document=birds).count() == 0

    with birds.file.storage.open(birds.file.name, "wb") as handle:
        handle.write(pdf)
    retry_job(birds.job)
    (birds,) = run_to_end([birds])
    assert_processed(birds, Processor.MODAL)
    assert birds.error == "" and birds.page_count == 3 and birds.chunk_count == 3
    assert [a.status for a in birds.job.attempts.order_by("number")] == [JobStatus.FAILED, JobStatus.SUCCEEDED]


@pytest.fixture
def s3_celery_queue(test_database_url, portal_url, celery_queue, s3_server, service_logs):
    """A Celery worker configured for S3 like every process of an S3 deployment, on a queue of its
    own that this process sends to during the test: a worker without the bucket settings (the
    session's) must not collect the call, or it would look for the artifact on the filesystem."""
    from django.conf import settings

    from portal.celery import app

    queue = f"{celery_queue}-s3"
    env = service_env(test_database_url, portal_url, queue, **s3_server.env)
    worker = start_celery_worker(service_logs / "celery-worker-s3.log", env)
    with running_service("s3_celery_queue", worker):
        settings.CELERY_TASK_DEFAULT_QUEUE = app.conf.task_default_queue = queue
        try:
            yield worker
        finally:
            settings.CELERY_TASK_DEFAULT_QUEUE = app.conf.task_default_queue = celery_queue


def test_s3_storage_through_presigned_urls(user, stub_worker, s3_storage, s3_server, s3_celery_queue):
    _, result = upload(user, [("bees.md", make_markdown("Bees", ["Honey bees pollinate orchards in spring."]))],
                       Processor.MODAL)
    (document,) = result.accepted
    keys = {o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_server.bucket).get("Contents", [])}
    assert document.file.name in keys
    (document,) = run_to_end([document])
    assert_processed(document, Processor.MODAL)
    keys = {o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_server.bucket)["Contents"]}
    assert document.job.result["artifact"] in keys  # the worker wrote it with a presigned PUT
    assert s3_storage.exists(document.job.result["artifact"])


def test_upload_page_in_a_browser_updates_live(logged_in_page, user, celery_worker, tmp_path):
    change_policy(policy_for("document"), {"modal_percentage": 0})
    page = logged_in_page
    page.goto("/datasets/")
    page.fill("input[name=name]", "Browser uploads")
    page.click("#create-dataset button[type=submit]")
    page.wait_for_url("**/datasets/*/")
    paths = []
    for name, data in [("bees.md", make_markdown("Bees", ["Honey bees pollinate orchards."])),
                       ("empty.pdf", b""), ("owls.html", make_html("Owls", ["Owls hunt at night."]))]:
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    page.set_input_files("#upload-form input[type=file]", paths)
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("text=2 file(s) accepted")
    assert "Rejected empty.pdf" in page.inner_text(".messages")
    # No reload: the table is updated by the page's own polling.
    page.wait_for_function(
        "document.querySelectorAll('#documents .status-succeeded').length === 2", timeout=TIMEOUT * 1000
    )
    # The counts are cached for DATASET_COUNTS_CACHE_SECONDS (3 s): they follow within a few polls.
    page.wait_for_function(
        "document.querySelector('#count-succeeded').innerText === '2'"
        " && document.querySelector('#dataset-status').innerText === 'ready'", timeout=15_000
    )
