"""Staff admin: datasets with counts, documents filtered by job status, retry with confirmation."""
import pytest
from django.contrib.admin.models import LogEntry

from datasets import services
from jobs.models import JobStatus, JobLogLine

pytestmark = pytest.mark.django_db


@pytest.fixture
def documents(user):
    dataset = services.create_dataset(user, "Reports")
    docs = services.upload_documents(user, dataset, [("a.md", b"# A\n\na"), ("b.md", b"# B\n\nb")]).accepted
    failed = docs[0].job
    failed.status = JobStatus.FAILED
    failed.error_message = "Docling could not parse"
    failed.save()
    return docs


def test_changelists_render_with_counts_and_filters(client, staff_user, documents):
    client.force_login(staff_user)
    html = client.get("/admin/datasets/dataset/").content.decode()
    assert "Reports" in html
    html = client.get("/admin/datasets/document/", {"job__status": "failed"}).content.decode()
    assert "a.md" in html and "b.md" not in html
    assert f"/admin/jobs/computejob/{documents[0].job_id}/change/" in html
    assert client.get("/admin/datasets/chunk/").status_code == 200


def test_non_staff_cannot_open_the_admin(client, user, documents):
    client.force_login(user)
    assert client.get("/admin/datasets/document/").status_code == 302


def test_retry_failed_documents_asks_first_then_logs(client, staff_user, documents):
    client.force_login(staff_user)
    ids = [str(d.pk) for d in documents]
    form = {"action": "retry_failed_documents", "_selected_action": ids}
    confirm = client.post("/admin/datasets/document/", form)
    assert confirm.status_code == 200 and "are you sure" in confirm.content.decode()
    documents[0].job.refresh_from_db()
    assert documents[0].job.status == JobStatus.FAILED  # nothing happened yet

    client.post("/admin/datasets/document/", {**form, "confirm": "yes"})
    documents[0].job.refresh_from_db()
    assert documents[0].job.status == JobStatus.PENDING
    assert JobLogLine.objects.filter(job=documents[0].job, message__contains="Retried").exists()
    entries = LogEntry.objects.filter(object_id=str(documents[0].pk))
    assert entries.count() == 1 and "Retried" in entries.get().get_change_message()
    assert not LogEntry.objects.filter(object_id=str(documents[1].pk)).exists()  # pending: skipped
