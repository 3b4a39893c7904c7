"""CAD files, mesh jobs, their results and batches.

A MeshJob is one request to mesh one CadFile with one parameter set. It owns two
engine jobs: the fast surface preview ("mesh_preview") and the full strategy
sweep ("mesh"). An upload sent for its preview only keeps its sweep pending and
uncharged until its owner starts it (seed 002's flow: preview on upload, mesh on
request). A BatchJob groups the MeshJobs of many files uploaded together
with one parameter set. A MeshResult is written when the full mesh ends and
carries what seed 002 asked for: the call id, status, start and finish times.
"""
import uuid

from django.conf import settings
from django.db import models

from credits.models import ChargedRun


NOT_REQUESTED = "not_requested"


def cad_upload_path(instance, filename):
    return f"meshing/cad/{instance.owner_id}/{uuid.uuid4().hex}/{filename[-120:]}"


class BatchJob(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mesh_batches")
    name = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, help_text="Meshing parameters shared by every file of the batch")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "mesh batch"
        verbose_name_plural = "mesh batches"

    def __str__(self):
        return self.name or f"Batch {self.pk}"


class CadFile(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cad_files")
    file = models.FileField(upload_to=cad_upload_path, max_length=300)
    original_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=10, help_text="step, iges, stl or brep, detected from the content")
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "CAD file"

    def __str__(self):
        return self.original_name


class MeshJob(ChargedRun):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mesh_jobs")
    cad_file = models.ForeignKey(CadFile, on_delete=models.PROTECT, related_name="mesh_jobs")
    batch = models.ForeignKey(BatchJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="mesh_jobs")
    params = models.JSONField(default=dict)
    job = models.OneToOneField("jobs.ComputeJob", on_delete=models.PROTECT, related_name="mesh")
    preview_job = models.OneToOneField(
        "jobs.ComputeJob", on_delete=models.PROTECT, related_name="mesh_preview", null=True, blank=True
    )
    full_mesh_requested = models.BooleanField(
        default=True,
        help_text="False while an upload sent for its preview only waits for its owner to start the full mesh",
    )
    preview_file = models.FileField(max_length=300, blank=True)
    preview_figures = models.JSONField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return f"Mesh of {self.cad_file}"

    @property
    def full_mesh_status(self) -> str:
        """The sweep's job status, or "not_requested" for an upload sent for its preview only."""
        return self.job.status if self.full_mesh_requested else NOT_REQUESTED


class MeshResult(models.Model):
    mesh_job = models.OneToOneField(MeshJob, on_delete=models.CASCADE, related_name="result")
    status = models.CharField(max_length=12, help_text="The full mesh job's status when it ended")
    processor = models.CharField(max_length=10, blank=True)
    modal_call_id = models.CharField(max_length=80, blank=True, db_index=True, help_text="Modal FunctionCall id or Celery task id")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    strategy = models.CharField(max_length=40, blank=True)
    score = models.FloatField(null=True, blank=True)
    element_count = models.PositiveIntegerField(null=True, blank=True)
    node_count = models.PositiveIntegerField(null=True, blank=True)
    min_sicn = models.FloatField(null=True, blank=True, help_text="Worst element's minSICN (below 0: inverted)")
    mean_gamma = models.FloatField(null=True, blank=True)
    inverted_elements = models.PositiveIntegerField(null=True, blank=True)
    strategies = models.JSONField(default=list, help_text="Every tried strategy's figures")
    summary = models.JSONField(default=dict, help_text="The _result.json content")
    error_message = models.TextField(blank=True)
    msh_file = models.FileField(max_length=300, blank=True)
    result_file = models.FileField(max_length=300, blank=True)
    quality_file = models.FileField(max_length=300, blank=True)

    class Meta:
        ordering = ["-finished_at"]

    def __str__(self):
        return f"{self.mesh_job}: {self.status}"
