"""Reads of the datasets app. Every selector filters by owner: a user only sees their own data."""
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from pgvector.django import CosineDistance

from datasets import conf
from datasets.compute import embed_texts
from datasets.models import Chunk, Dataset, Document
from jobs.models import JobStatus

_IN_PROGRESS = (JobStatus.PENDING, JobStatus.DISPATCHED, JobStatus.RUNNING)


def _with_counts(queryset):
    """Document counts per status, computed in the same query (status is derived, never stored)."""
    return queryset.annotate(
        document_count=Count("documents"),
        succeeded_count=Count("documents", filter=Q(documents__job__status=JobStatus.SUCCEEDED)),
        failed_count=Count(
            "documents", filter=Q(documents__job__status__in=(JobStatus.FAILED, JobStatus.CANCELLED))
        ),
        in_progress_count=Count("documents", filter=Q(documents__job__status__in=_IN_PROGRESS)),
        chunk_total=Sum("documents__chunk_count"),
    )


def datasets_for(owner):
    return _with_counts(Dataset.objects.filter(owner=owner)).order_by("-created_at")


def dataset_with_counts(owner, dataset_id) -> Dataset:
    """Raises Dataset.DoesNotExist for a dataset that is not the owner's."""
    return datasets_for(owner).get(pk=dataset_id)


def dataset_status(dataset: Dataset) -> str:
    if not dataset.document_count:
        return "empty"
    if dataset.in_progress_count:
        return "processing"
    if dataset.failed_count:
        return "ready with failures" if dataset.succeeded_count else "failed"
    return "ready"


def documents_for(owner, dataset_id):
    return (
        Document.objects.filter(owner=owner, dataset_id=dataset_id)
        .select_related("job")
        .defer("markdown")
        .order_by("id")
    )


def document_for(owner, document_id) -> Document:
    """Raises Document.DoesNotExist for a document that is not the owner's."""
    return Document.objects.select_related("job", "dataset").get(owner=owner, pk=document_id)


@dataclass(frozen=True)
class SearchHit:
    chunk_id: int
    document_id: int
    document_name: str
    dataset_id: int
    dataset_name: str
    text: str
    heading: str
    page: int | None
    score: float  # cosine similarity, 1 = same direction


def embed_query(query: str) -> list[float]:
    return embed_texts([query], **conf.query_embedding_options())[0]


def search_chunks(owner, query: str, *, dataset_ids=None, limit: int = 10) -> list[SearchHit]:
    """The owner's chunks nearest to the query by cosine distance (HNSW index)."""
    query = (query or "").strip()
    if not query:
        return []
    limit = max(1, min(int(limit), 100))
    return nearest_chunks(owner, embed_query(query), dataset_ids=dataset_ids, limit=limit)


def nearest_chunks(owner, vector, *, dataset_ids=None, limit: int = 10) -> list[SearchHit]:
    chunks = Chunk.objects.filter(owner=owner)
    if dataset_ids:
        chunks = chunks.filter(dataset_id__in=list(dataset_ids))
    rows = (
        chunks.annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")
        .values("id", "document_id", "document__original_filename", "dataset_id", "dataset__name", "text", "heading", "page", "distance")[:limit]
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The owner/dataset filter applies after the index scan: an iterative scan keeps going
            # until enough rows pass it; ef_search sets the candidate list (recall vs speed).
            # One round trip for both, local to this transaction.
            cursor.execute(
                "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)",
                [str(max(conf.search_ef_search(), limit))],
            )
        rows = list(rows)
    rows.sort(key=lambda row: row["distance"])  # relaxed order: restore exact order of the few returned
    return [
        SearchHit(
            chunk_id=row["id"],
            document_id=row["document_id"],
            document_name=row["document__original_filename"],
            dataset_id=row["dataset_id"],
            dataset_name=row["dataset__name"],
            text=row["text"],
            heading=row["heading"],
            page=row["page"],
            score=round(1 - row["distance"], 4),
        )
        for row in rows
    ]
