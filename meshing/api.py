"""REST API of the meshing app, mounted at /api/meshing/ (session or API key auth).

The public id of a mesh job is its full mesh ComputeJob's UUID.
"""
from datetime import datetime
from pathlib import PurePosixPath
from typing import Optional
from uuid import UUID

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from ninja import File, Form, Router, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile

from meshing import selectors, services
from meshing.models import BatchJob

router = Router(tags=["meshing"])


class MeshParamsIn(Schema):
    target_size: Optional[float] = None
    target_elements: Optional[int] = None
    order: int = 1
    algorithm: str = "sweep"
    time_budget: Optional[int] = None


class MeshResultOut(Schema):
    status: str
    processor: str
    modal_call_id: str
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    strategy: str
    score: Optional[float]
    element_count: Optional[int]
    node_count: Optional[int]
    min_sicn: Optional[float]
    mean_gamma: Optional[float]
    inverted_elements: Optional[int]
    strategies: list
    error_message: str


class MeshJobOut(Schema):
    id: UUID
    filename: str
    file_format: str
    batch_id: Optional[int]
    params: dict
    full_mesh_requested: bool
    status: str
    progress: str
    error: str
    preview_status: str
    preview: Optional[dict]
    result: Optional[MeshResultOut]
    downloads: dict
    created_at: datetime

    @staticmethod
    def resolve_id(mesh_job):
        return mesh_job.job_id

    @staticmethod
    def resolve_filename(mesh_job):
        return mesh_job.cad_file.original_name

    @staticmethod
    def resolve_file_format(mesh_job):
        return mesh_job.cad_file.file_format

    @staticmethod
    def resolve_status(mesh_job):
        return mesh_job.full_mesh_status

    @staticmethod
    def resolve_progress(mesh_job):
        return mesh_job.job.progress_text

    @staticmethod
    def resolve_error(mesh_job):
        return mesh_job.failure_reason

    @staticmethod
    def resolve_preview_status(mesh_job):
        return mesh_job.preview_job.status if mesh_job.preview_job_id else ""

    @staticmethod
    def resolve_preview(mesh_job):
        return mesh_job.preview_figures

    @staticmethod
    def resolve_result(mesh_job):
        return getattr(mesh_job, "result", None)

    @staticmethod
    def resolve_downloads(mesh_job):
        from django.urls import reverse

        return {
            kind: reverse("api:meshing_download", args=[mesh_job.job_id, kind])
            for kind in ("msh", "result", "quality", "preview")
            if selectors.artifact_field(mesh_job, kind) is not None
        }


class BatchOut(Schema):
    id: int
    name: str
    params: dict
    file_count: int
    succeeded_count: int
    failed_count: int
    created_at: datetime


class BatchDetailOut(BatchOut):
    jobs: list[MeshJobOut]


def _params(params: MeshParamsIn) -> dict:
    return params.dict()


def _submit_error(exc):
    raise HttpError(402 if type(exc).__name__ == "InsufficientCredits" else 400, str(exc))


@router.post("/jobs", response={201: MeshJobOut})
def create_mesh_job(request, file: File[UploadedFile], params: Form[MeshParamsIn], preview_only: Form[bool] = False):
    """Upload one CAD file; its preview and full mesh are queued at once.

    With preview_only=true only the (free) preview runs; start the full mesh later with
    POST /jobs/{id}/mesh.
    """
    from credits.services import CreditError

    try:
        mesh_job = services.submit_mesh(request.user, upload=file, params=_params(params), preview_only=preview_only)
    except (services.MeshInputError, CreditError) as exc:
        _submit_error(exc)
    return Status(201, selectors.mesh_job_for(request.user, mesh_job.job_id))


@router.post("/jobs/{job_id}/mesh", response={202: MeshJobOut})
def start_full_mesh(request, job_id: UUID, params: Form[MeshParamsIn]):
    """Start (and pay for) the full mesh of an upload sent with preview_only; the parameters
    sent replace those given at upload, the others are kept. 409 when already started."""
    from credits.services import CreditError

    mesh_job = get_object_or_404(selectors.mesh_jobs_for(request.user), job_id=job_id)
    try:
        services.request_full_mesh(mesh_job, params.dict(exclude_unset=True))
    except services.MeshStateError as exc:
        raise HttpError(409, str(exc)) from None
    except (services.MeshInputError, CreditError) as exc:
        _submit_error(exc)
    return Status(202, selectors.mesh_job_for(request.user, job_id))


@router.get("/jobs", response=list[MeshJobOut])
def list_mesh_jobs(request, limit: int = 50, offset: int = 0):
    return list(selectors.mesh_jobs_for(request.user)[offset : offset + min(limit, 500)])


@router.get("/jobs/{job_id}", response=MeshJobOut)
def get_mesh_job(request, job_id: UUID):
    return get_object_or_404(selectors.mesh_jobs_for(request.user), job_id=job_id)


@router.get("/jobs/{job_id}/download/{kind}", url_name="meshing_download")
def download(request, job_id: UUID, kind: str):
    """The .msh (msh), _result.json (result), .quality.json (quality) or preview JSON (preview)."""
    mesh_job = get_object_or_404(selectors.mesh_jobs_for(request.user), job_id=job_id)
    field = selectors.artifact_field(mesh_job, kind)
    if field is None:
        raise Http404("This file is not available")
    return FileResponse(field.open("rb"), as_attachment=True, filename=PurePosixPath(field.name).name)


@router.post("/batches", response={201: BatchDetailOut})
def create_batch(request, files: File[list[UploadedFile]], params: Form[MeshParamsIn], name: Form[str] = ""):
    """Upload many CAD files meshed with one parameter set (charged together, or not at all)."""
    from credits.services import CreditError

    try:
        batch = services.submit_batch(request.user, uploads=files, params=_params(params), name=name)
    except (services.MeshInputError, CreditError) as exc:
        _submit_error(exc)
    return Status(201, _batch_detail(request.user, batch.pk))


@router.get("/batches", response=list[BatchOut])
def list_batches(request):
    return list(selectors.batches_for(request.user)[:200])


@router.get("/batches/{batch_id}", response=BatchDetailOut)
def get_batch(request, batch_id: int):
    try:
        return _batch_detail(request.user, batch_id)
    except BatchJob.DoesNotExist:
        raise Http404("No such batch") from None


def _batch_detail(user, batch_id):
    batch = selectors.batch_for(user, batch_id)
    batch.jobs = list(selectors.mesh_jobs_for(user).filter(batch=batch))
    return batch
