from datetime import datetime
from typing import Optional
from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from jobs import selectors, services
from jobs.models import ComputeJob

router = Router(tags=["jobs"])


class AttemptOut(Schema):
    number: int
    processor: str
    call_id: str
    status: str
    fell_back: bool
    submitted_at: Optional[datetime]
    finished_at: Optional[datetime]
    compute_seconds: float
    error_type: str
    error_message: str


class JobOut(Schema):
    id: UUID
    kind: str
    status: str
    processor: str
    progress: str
    progress_done: int
    progress_total: int
    created_at: datetime
    finished_at: Optional[datetime]
    compute_seconds: float
    estimated_cost: float
    error_type: str
    error_message: str
    attempts: list[AttemptOut]

    @staticmethod
    def resolve_progress(job):
        return job.progress_text

    @staticmethod
    def resolve_attempts(job):
        return list(job.attempts.all())


class Message(Schema):
    detail: str


def _own_job(request, job_id) -> ComputeJob:
    return get_object_or_404(ComputeJob.objects.prefetch_related("attempts"), owner=request.auth, pk=job_id)


@router.get("/", response=list[JobOut])
def list_jobs(request, kind: str = "", status: str = "", limit: int = 100):
    jobs = selectors.jobs_for(request.auth, kind=kind or None, status=status or None)
    return list(jobs.prefetch_related("attempts")[: min(limit, 1000)])


@router.get("/{job_id}", response=JobOut)
def get_job(request, job_id: UUID):
    return _own_job(request, job_id)


@router.post("/{job_id}/retry", response={200: JobOut, 409: Message})
def retry(request, job_id: UUID):
    job = _own_job(request, job_id)
    try:
        services.retry_job(job, actor=request.auth)
    except services.JobStateError as exc:
        return Status(409, {"detail": str(exc)})
    return _own_job(request, job_id)


@router.post("/{job_id}/cancel", response={200: JobOut, 409: Message})
def cancel(request, job_id: UUID):
    job = _own_job(request, job_id)
    if not services.cancel_job(job, actor=request.auth, reason=f"Cancelled by {request.auth}"):
        return Status(409, {"detail": f"The job has already ended ({job.status})."})
    return _own_job(request, job_id)
