"""The end-user pages: login required, owner-only, upload form, status JSON, Markdown, search."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets import services
from datasets.models import Dataset, Document
from tests.datasets.files import ELF_BYTES, make_markdown, make_pdf
from tests.datasets.helpers import upload_and_ingest

pytestmark = pytest.mark.django_db


def test_pages_require_login(client):
    for url in ["/datasets/", "/datasets/search/", "/datasets/1/", "/datasets/1/status.json", "/datasets/documents/1/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_create_dataset_and_upload_many_files(client, user):
    client.force_login(user)
    response = client.post("/datasets/", {"name": "Field notes", "description": ""})
    dataset = Dataset.objects.get(owner=user, name="Field notes")
    assert response["Location"] == f"/datasets/{dataset.pk}/"
    page = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert 'type="file" name="files" multiple' in page

    files = [SimpleUploadedFile("a.pdf", make_pdf([["A"]])), SimpleUploadedFile("b.md", b"# B\n\nb"),
             SimpleUploadedFile("evil.pdf", ELF_BYTES)]
    response = client.post(f"/datasets/{dataset.pk}/", {"files": files}, follow=True)
    html = response.content.decode()
    assert "2 file(s) accepted" in html
    assert "Rejected evil.pdf: &#x27;evil.pdf&#x27; is an ELF executable, not a PDF" in html
    assert "a.pdf" in html and "b.md" in html and "status-pending" in html

    status = client.get(f"/datasets/{dataset.pk}/status.json").json()
    assert status["document_count"] == 2 and status["in_progress_count"] == 2
    assert [d["status"] for d in status["documents"]] == ["pending", "pending"]


def test_document_page_shows_markdown_and_search_page_finds_it(client, user):
    dataset = services.create_dataset(user, "Birds")
    document = upload_and_ingest(user, dataset, [("ducks.md", make_markdown("Ducks", ["Mallards dabble in ponds."]))])[0]
    client.force_login(user)
    html = client.get(f"/datasets/documents/{document.pk}/").content.decode()
    assert "Mallards dabble in ponds." in html and "# Ducks" in html
    html = client.get("/datasets/search/", {"q": "water birds", "dataset": dataset.pk}).content.decode()
    assert 'id="results"' in html and "ducks.md" in html and "Mallards dabble in ponds." in html
    assert "Birds" in client.get("/datasets/").content.decode()


def test_other_users_pages_are_404(client, user, other_user):
    theirs = services.create_dataset(other_user, "Secret")
    document = services.upload_documents(other_user, theirs, [("s.md", b"# S\n\nsecret")]).accepted[0]
    client.force_login(user)
    assert client.get(f"/datasets/{theirs.pk}/").status_code == 404
    assert client.get(f"/datasets/{theirs.pk}/status.json").status_code == 404
    assert client.get(f"/datasets/documents/{document.pk}/").status_code == 404
    response = client.post(f"/datasets/{theirs.pk}/", {"files": [SimpleUploadedFile("x.md", b"# x")]})
    assert response.status_code == 404
    assert Document.objects.filter(dataset=theirs).count() == 1
    assert "Secret" not in client.get("/datasets/").content.decode()
