"""Reads of the datasets app. Every selector filters by owner: a user only sees their own data."""
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from pgvector.django import CosineDistance

from datasets import conf
from datasets.compute import embed_texts
from datasets.models import Chunk, Dataset, Document
from jobs.models import JobStatus

_IN_PROGRESS = (JobStatus.PENDING, JobStatus.DISPATCHED, JobStatus.RUNNING)


def _count_expressions(prefix: str = "") -> dict:
    """Document counts per status (status is derived from the jobs, never stored)."""
    job_status, document = f"{prefix}job__status", f"{prefix}id"
    return {
        "document_count": Count(document),
        "succeeded_count": Count(document, filter=Q(**{job_status: JobStatus.SUCCEEDED})),
        "failed_count": Count(
            document,
            filter=Q(**{f"{job_status}__in": (JobStatus.FAILED, JobStatus.CANCELLED)}),
        ),
        "in_progress_count": Count(document, filter=Q(**{f"{job_status}__in": _IN_PROGRESS})),
        "chunk_total": Sum(f"{prefix}chunk_count"),
    }


def _with_counts(queryset):
    """Every dataset's counts in the same query as the rows."""
    return queryset.annotate(**_count_expressions("documents__"))


def datasets_for(owner):
    return _with_counts(Dataset.objects.filter(owner=owner)).order_by("-created_at")


def counts_cache_key(dataset_id: int) -> str:
    return f"datasets:counts:{dataset_id}"


def dataset_counts(dataset_id: int) -> dict:
    """One aggregate query over the dataset's documents, cached for DATASET_COUNTS_CACHE_SECONDS.

    A page polling every 2 s, or 21,000 documents finishing, recompute it at most once per
    period; nothing rewrites a stored status per document (seed 004's contention).
    """
    key = counts_cache_key(dataset_id)
    counts = cache.get(key)
    if counts is None:
        counts = Document.objects.filter(dataset_id=dataset_id).aggregate(**_count_expressions())
        counts["chunk_total"] = counts["chunk_total"] or 0
        seconds = conf.counts_cache_seconds()
        if seconds > 0:
            cache.set(key, counts, timeout=seconds)
    return counts


def dataset_with_counts(owner, dataset_id) -> Dataset:
    """Raises Dataset.DoesNotExist for a dataset that is not the owner's."""
    dataset = Dataset.objects.get(owner=owner, pk=dataset_id)
    for name, value in dataset_counts(dataset.pk).items():
        setattr(dataset, name, value)
    return dataset


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
