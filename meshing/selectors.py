"""Reads of the meshing app. Every query for a user's data filters by owner."""
from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from meshing.models import BatchJob, MeshJob


def mesh_jobs_for(user) -> QuerySet[MeshJob]:
    return (
        MeshJob.objects.filter(owner=user)
        .select_related("cad_file", "job", "preview_job", "batch", "result")
        .order_by("-created_at")
    )


def mesh_job_for(user, job_id) -> MeshJob:
    """The user's mesh job by its public id (the full mesh ComputeJob's UUID); DoesNotExist otherwise."""
    return mesh_jobs_for(user).get(job_id=job_id)


def batches_for(user) -> QuerySet[BatchJob]:
    return (
        BatchJob.objects.filter(owner=user)
        .annotate(
            file_count=Count("mesh_jobs"),
            succeeded_count=Count("mesh_jobs", filter=Q(mesh_jobs__job__status="succeeded")),
            failed_count=Count("mesh_jobs", filter=Q(mesh_jobs__job__status__in=["failed", "cancelled"])),
        )
        .order_by("-created_at")
    )


def batch_for(user, batch_id) -> BatchJob:
    return batches_for(user).get(pk=batch_id)


def artifact_field(mesh_job: MeshJob, kind: str):
    """The stored file of one downloadable artifact of a mesh job, or None when there is none yet."""
    if kind == "preview":
        return mesh_job.preview_file or None
    result = getattr(mesh_job, "result", None)
    if result is None:
        return None
    field = {"msh": result.msh_file, "result": result.result_file, "quality": result.quality_file}.get(kind)
    return field or None
