"""REST API of the datasets app, mounted at /api/datasets/ (session or API key auth)."""
from datetime import datetime
from typing import Optional
from uuid import UUID

from django.http import Http404
from ninja import File, Query, Router, Schema, Status
from ninja.files import UploadedFile

from credits.services import InsufficientCredits
from datasets import selectors, services
from datasets.models import Dataset, Document

router = Router(tags=["datasets"])


class DatasetIn(Schema):
    name: str
    description: str = ""


class DatasetOut(Schema):
    id: int
    name: str
    description: str
    created_at: datetime
    status: str
    document_count: int
    succeeded_count: int
    failed_count: int
    in_progress_count: int
    chunk_count: int

    @staticmethod
    def resolve_status(dataset):
        return selectors.dataset_status(dataset)

    @staticmethod
    def resolve_chunk_count(dataset):
        return dataset.chunk_total or 0


class DocumentOut(Schema):
    id: int
    dataset_id: int
    filename: str
    original_filename: str
    size: int
    sha256: str
    detected_format: str
    status: str
    progress_done: int
    progress_total: int
    progress_label: str
    page_count: Optional[int]
    chunk_count: int
    error: str
    job_id: Optional[UUID]
    created_at: datetime
    processed_at: Optional[datetime]

    @staticmethod
    def resolve_progress_done(document):
        return document.job.progress_done if document.job_id else 0

    @staticmethod
    def resolve_progress_total(document):
        return document.job.progress_total if document.job_id else 0

    @staticmethod
    def resolve_progress_label(document):
        return document.job.progress_label if document.job_id else ""


class RejectedFile(Schema):
    filename: str
    reason: str


class UploadOut(Schema):
    accepted: list[DocumentOut]
    rejected: list[RejectedFile]


class MarkdownOut(Schema):
    id: int
    filename: str
    markdown: str


class SearchHitOut(Schema):
    chunk_id: int
    document_id: int
    document_name: str
    dataset_id: int
    dataset_name: str
    text: str
    heading: str
    page: Optional[int]
    score: float


class SearchParams(Schema):
    q: str
    dataset: Optional[list[int]] = None
    limit: int = 10


def _dataset(request, dataset_id: int) -> Dataset:
    try:
        return selectors.dataset_with_counts(request.auth, dataset_id)
    except Dataset.DoesNotExist:
        raise Http404("No such dataset") from None


def _document(request, document_id: int) -> Document:
    try:
        return selectors.document_for(request.auth, document_id)
    except Document.DoesNotExist:
        raise Http404("No such document") from None


@router.get("/search", response=list[SearchHitOut])
def search(request, params: Query[SearchParams]):
    """Semantic search over your own documents' chunks (cosine similarity, best first)."""
    return selectors.search_chunks(request.auth, params.q, dataset_ids=params.dataset, limit=params.limit)


@router.get("/", response=list[DatasetOut])
def list_datasets(request):
    return list(selectors.datasets_for(request.auth))


@router.post("/", response={201: DatasetOut})
def create_dataset(request, payload: DatasetIn):
    dataset = services.create_dataset(request.auth, payload.name, payload.description)
    return Status(201, selectors.dataset_with_counts(request.auth, dataset.pk))


@router.get("/{int:dataset_id}", response=DatasetOut)
def get_dataset(request, dataset_id: int):
    return _dataset(request, dataset_id)


@router.get("/{int:dataset_id}/documents", response=list[DocumentOut])
def list_documents(request, dataset_id: int):
    _dataset(request, dataset_id)
    return list(selectors.documents_for(request.auth, dataset_id))


class Message(Schema):
    detail: str


@router.post("/{int:dataset_id}/documents", response={201: UploadOut, 402: Message})
def upload_documents(request, dataset_id: int, files: File[list[UploadedFile]]):
    """Upload many files at once (multipart field `files`). Bad files are listed with the reason.

    The accepted files are charged together (one ledger row); 402 when the balance cannot
    cover them, and then nothing is stored.
    """
    dataset = _dataset(request, dataset_id)
    try:
        result = services.upload_documents(request.auth, dataset, [(f.name, f) for f in files])
    except InsufficientCredits as exc:
        return Status(402, {"detail": str(exc)})
    accepted = result.accepted  # fresh from bulk_create, jobs attached: no query for 21,000 ids
    rejected = [{"filename": name, "reason": reason} for name, reason in result.rejected]
    return Status(201, {"accepted": accepted, "rejected": rejected})


@router.get("/documents/{int:document_id}", response=DocumentOut)
def get_document(request, document_id: int):
    return _document(request, document_id)


@router.get("/documents/{int:document_id}/markdown", response=MarkdownOut)
def get_markdown(request, document_id: int):
    document = _document(request, document_id)
    return {"id": document.pk, "filename": document.original_filename, "markdown": document.markdown}
