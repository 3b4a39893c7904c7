from django.conf import settings
from django.db import models
from pgvector.django import HnswIndex, VectorField

from credits.models import ChargedRun

from datasets.compute import EMBEDDING_DIMENSIONS


class Dataset(models.Model):
    """A named collection of documents. Its status and counts are derived from its documents."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return self.name


def document_upload_path(document, filename):
    # Per owner and dataset; the random prefix keeps two uploads of one name apart. It is part of
    # the name, not a folder of its own: a folder per file cost a mkdir per file at intake.
    return f"documents/{document.owner_id}/{document.dataset_id}/{document.storage_prefix}-{filename}"


class Document(ChargedRun):
    """One uploaded file. Its status is its job's status (job.status); failures carry a reason."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="documents")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents")
    original_filename = models.CharField(max_length=500)
    filename = models.CharField(max_length=200, help_text="Safe name used in storage")
    storage_prefix = models.CharField(max_length=32, editable=False)
    file = models.FileField(upload_to=document_upload_path, max_length=500)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    detected_format = models.CharField(max_length=10)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    markdown = models.TextField(blank=True)
    error = models.TextField(blank=True)
    job = models.OneToOneField(
        "jobs.ComputeJob", null=True, blank=True, on_delete=models.PROTECT, related_name="document"
    )
    # Credits (ChargedRun): the upload charges every document once, in the batch's one ledger
    # row; each retry charges it again; a run that ends failed or cancelled is refunded once.
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset", "id"]
        indexes = [models.Index(fields=["owner", "dataset"])]

    def __str__(self):
        return self.original_filename

    @property
    def status(self) -> str:
        return self.job.status if self.job_id else "pending"


class Chunk(models.Model):
    """A piece of a document's text and its embedding; owner and dataset are copied for filtered search."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="chunks")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField()
    text = models.TextField()
    heading = models.CharField(max_length=500, blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    token_count = models.PositiveIntegerField(default=0)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)

    class Meta:
        ordering = ["document", "index"]
        constraints = [models.UniqueConstraint(fields=["document", "index"], name="unique_chunk_index")]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            models.Index(fields=["owner", "dataset"], name="chunk_owner_dataset"),
        ]

    def __str__(self):
        return f"{self.document_id}#{self.index}"
