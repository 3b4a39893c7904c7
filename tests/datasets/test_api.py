"""The REST API: API key and session auth, uploads with reasons, owner isolation, search."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets import services
from datasets.models import Document
from portal.services import create_api_key
from tests.datasets.files import ELF_BYTES, make_markdown, make_pdf
from tests.datasets.helpers import upload_and_ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def bearer(user):
    return {"HTTP_AUTHORIZATION": f"Bearer {create_api_key(user, 'tests')[1]}"}


def test_requires_authentication(client):
    assert client.get("/api/datasets/").status_code == 401
    assert client.get("/api/datasets/", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_create_upload_list_with_an_api_key(client, user, bearer):
    response = client.post("/api/datasets/", {"name": "Reports", "description": "d"}, content_type="application/json", **bearer)
    assert response.status_code == 201
    dataset = response.json()
    assert dataset["name"] == "Reports" and dataset["status"] == "empty" and dataset["document_count"] == 0

    files = [
        SimpleUploadedFile("ducks.pdf", make_pdf([["Mallard ducks"]]), content_type="application/pdf"),
        SimpleUploadedFile("notes.md", make_markdown("Notes", ["text"])),
        SimpleUploadedFile("invoice.pdf", ELF_BYTES),
        SimpleUploadedFile("empty.docx", b""),
    ]
    response = client.post(f"/api/datasets/{dataset['id']}/documents", {"files": files}, **bearer)
    assert response.status_code == 201, response.content
    body = response.json()
    assert [d["filename"] for d in body["accepted"]] == ["ducks.pdf", "notes.md"]
    assert all(d["status"] == "pending" and d["progress_total"] == 4 for d in body["accepted"])
    assert body["rejected"] == [
        {"filename": "invoice.pdf", "reason": "'invoice.pdf' is an ELF executable, not a PDF"},
        {"filename": "empty.docx", "reason": "'empty.docx' is empty (0 bytes)"},
    ]

    listed = client.get(f"/api/datasets/{dataset['id']}/documents", **bearer).json()
    assert [(d["filename"], d["detected_format"]) for d in listed] == [("ducks.pdf", "pdf"), ("notes.md", "md")]
    detail = client.get(f"/api/datasets/{dataset['id']}", **bearer).json()
    assert detail["document_count"] == 2 and detail["in_progress_count"] == 2 and detail["status"] == "processing"


def test_session_auth_and_markdown_and_search(client, user):
    dataset = services.create_dataset(user, "Birds")
    document = upload_and_ingest(user, dataset, [("ducks.md", make_markdown("Ducks", ["Mallards dabble in ponds."]))])[0]
    client.force_login(user)
    assert [d["name"] for d in client.get("/api/datasets/").json()] == ["Birds"]
    markdown = client.get(f"/api/datasets/documents/{document.pk}/markdown").json()
    assert markdown["markdown"].startswith("# Ducks") and "Mallards dabble" in markdown["markdown"]
    one = client.get(f"/api/datasets/documents/{document.pk}").json()
    assert one["status"] == "succeeded" and one["chunk_count"] == 1
    hits = client.get("/api/datasets/search", {"q": "ducks on water", "dataset": dataset.pk}).json()
    assert hits[0]["document_id"] == document.pk and 0 < hits[0]["score"] <= 1
    assert hits[0]["text"] == "Mallards dabble in ponds."


def test_other_users_data_is_not_found(client, user, other_user, bearer):
    theirs = services.create_dataset(other_user, "Bob's")
    their_document = services.upload_documents(other_user, theirs, [("b.md", b"# B\n\nbob")]).accepted[0]
    assert client.get(f"/api/datasets/{theirs.pk}", **bearer).status_code == 404
    assert client.get(f"/api/datasets/{theirs.pk}/documents", **bearer).status_code == 404
    assert client.get(f"/api/datasets/documents/{their_document.pk}/markdown", **bearer).status_code == 404
    upload = client.post(f"/api/datasets/{theirs.pk}/documents", {"files": [SimpleUploadedFile("x.md", b"# x")]}, **bearer)
    assert upload.status_code == 404
    assert Document.objects.filter(dataset=theirs).count() == 1
    assert client.get("/api/datasets/", **bearer).json() == []


def test_openapi_schema_lists_the_endpoints(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    assert "/api/datasets/search" in paths and "/api/datasets/{dataset_id}/documents" in paths
