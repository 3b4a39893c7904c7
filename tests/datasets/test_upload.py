"""Uploading many files: bad ones rejected with reasons, good ones stored with jobs created in bulk."""
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.utils import override_settings

from datasets import services
from datasets.models import Document
from jobs.models import ComputeJob
from tests.datasets.files import ELF_BYTES, encrypt_pdf, make_docx, make_html, make_markdown, make_pdf

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(user):
    return services.create_dataset(user, "Pond reports", "ducks and budgets")


def test_a_batch_with_bad_files_accepts_the_good_ones(user, dataset, django_capture_on_commit_callbacks):
    pdf = make_pdf([["Mallard ducks"]])
    files = [
        ("report.pdf", pdf),
        ("letter.docx", io.BytesIO(make_docx("Letter", ["Dear council"]))),
        ("page.html", SimpleUploadedFile("page.html", make_html("Page", ["Hello"]))),
        ("notes.md", make_markdown("Notes", ["Some notes"])),
        ("empty.pdf", b""),
        ("invoice.pdf", ELF_BYTES),
        ("secret.pdf", encrypt_pdf(pdf)),
        ("cut.pdf", pdf[:100]),
        ("../../etc/Prüfbericht 東京.pdf", pdf),
    ]
    with django_capture_on_commit_callbacks() as callbacks:
        result = services.upload_documents(user, dataset, files)
    assert [d.original_filename for d in result.accepted] == [
        "report.pdf", "letter.docx", "page.html", "notes.md", "../../etc/Prüfbericht 東京.pdf"]
    assert dict(result.rejected) == {
        "empty.pdf": "'empty.pdf' is empty (0 bytes)",
        "invoice.pdf": "'invoice.pdf' is an ELF executable, not a PDF",
        "secret.pdf": "'secret.pdf' is password-protected; upload a copy without a password",
        "cut.pdf": "'cut.pdf' is a truncated PDF: the end-of-file marker is missing",
    }
    assert len(callbacks) == 1  # one dispatch for the whole batch
    documents = list(Document.objects.filter(dataset=dataset).select_related("job").order_by("id"))
    assert [d.detected_format for d in documents] == ["pdf", "docx", "html", "md", "pdf"]
    assert all(d.job.kind == "document" and d.job.status == "pending" and d.job.owner == user for d in documents)
    traversal = documents[-1]
    assert traversal.filename == "Prüfbericht 東京.pdf"
    assert traversal.file.name.startswith(f"documents/{user.pk}/{dataset.pk}/")
    assert ".." not in traversal.file.name
    with traversal.file.open("rb") as handle:
        assert handle.read() == pdf
    assert len({d.file.name for d in documents}) == 5


def test_oversized_files_are_refused_before_reading(user, dataset):
    with override_settings(DOCUMENT_MAX_BYTES=1000):
        result = services.upload_documents(user, dataset, [("big.md", b"# big\n" + b"x" * 2000)])
    assert result.accepted == []
    assert "over the size limit" in result.rejected[0][1]
    assert ComputeJob.objects.count() == 0


def test_too_many_pages_is_refused_at_upload(user, dataset):
    with override_settings(DOCUMENT_MAX_PAGES=2):
        result = services.upload_documents(user, dataset, [("long.pdf", make_pdf([["p"]] * 3))])
    assert result.rejected == [("long.pdf", "'long.pdf' has 3 pages, over the limit of 2")]


def test_cannot_upload_into_someone_elses_dataset(other_user, dataset):
    with pytest.raises(PermissionError):
        services.upload_documents(other_user, dataset, [("a.md", b"# a")])
    assert Document.objects.count() == 0


def test_dataset_needs_a_name(user):
    with pytest.raises(ValueError):
        services.create_dataset(user, "   ")
