"""Writes of the meshing app: uploads, submissions, ingesting results, failures, credits.

Each MeshJob owns two engine jobs: "mesh_preview" (fast surface triangulation)
and "mesh" (the strategy sweep). Only the full mesh is charged. Ingest and
failure handlers run inside the engine's transaction with the job row locked;
they write with update_or_create on the MeshJob so a second call changes nothing.
"""
from __future__ import annotations

import hashlib
from pathlib import PurePosixPath

from django.db import transaction

from jobs.isolation import BadInput
from jobs.models import ComputeJob, JobLogLine, JobStatus
from jobs.services import create_job, dispatch_jobs_later
from meshing import conf
from meshing.compute import detect_format, normalize_params
from meshing.models import BatchJob, CadFile, MeshJob, MeshResult

MESH_KIND = "mesh"
PREVIEW_KIND = "mesh_preview"
ARTIFACT_KEYS = ("msh", "result", "quality")


class MeshInputError(ValueError):
    """The upload or its parameters cannot be accepted; the message says why, for the user."""


class MeshStateError(MeshInputError):
    """The mesh job is not in a state that allows this (its full mesh already started, or cancelled)."""


# --- submitting ------------------------------------------------------------------------


def clean_params(params: dict | None) -> dict:
    """The user's parameters checked and completed with the portal's defaults and limits."""
    params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
    params.setdefault("time_budget", conf.default_time_budget())
    params["max_elements"] = min(int(params.get("max_elements") or conf.max_elements()), conf.max_elements())
    params["preview_max_triangles"] = conf.preview_max_triangles()
    try:
        return normalize_params(params)
    except BadInput as exc:
        raise MeshInputError(str(exc)) from None


def submit_mesh(owner, *, upload, params: dict | None = None, preview_only: bool = False) -> MeshJob:
    """Store one CAD file, charge for it and queue its preview and full mesh.

    With preview_only the upload costs nothing: only its preview runs, and the full mesh
    waits (pending, uncharged) until its owner starts it with request_full_mesh.
    """
    params = clean_params(params)
    content = _read_upload(upload)
    with transaction.atomic():
        mesh_job = _create_mesh_job(owner, upload.name, content, params, batch=None, full_mesh_requested=not preview_only)
        if preview_only:
            dispatch_jobs_later([mesh_job.preview_job_id])
        else:
            _charge(mesh_job)
            mesh_job.save(update_fields=["credit_charges", "credits_held"])
            _dispatch_later([mesh_job])
    return mesh_job


def request_full_mesh(mesh_job: MeshJob, params: dict | None = None) -> MeshJob:
    """Start the full mesh of an upload sent for its preview only: charged now.

    `params` (optional) change the parameters given at upload; the rest are kept.
    """
    with transaction.atomic():
        mesh_job = _lock_mesh_job(pk=mesh_job.pk)
        if mesh_job.full_mesh_requested:
            raise MeshStateError("The full mesh of this file has already been started.")
        if mesh_job.job.status != JobStatus.PENDING:  # cancelled while it waited
            raise MeshStateError(f"This mesh job is {mesh_job.job.status}: upload the file again.")
        mesh_job.params = clean_params({**mesh_job.params, **(params or {})})
        mesh_job.full_mesh_requested = True
        _charge(mesh_job)
        # One UPDATE of the row (see _lock_mesh_job).
        mesh_job.save(update_fields=["params", "full_mesh_requested", "credit_charges", "credits_held"])
        dispatch_jobs_later([mesh_job.job_id])
    return mesh_job


def submit_batch(owner, *, uploads, params: dict | None = None, name: str = "") -> BatchJob:
    """Many files, one parameter set: all are accepted and charged (in one ledger row) or none."""
    uploads = list(uploads)
    if not uploads:
        raise MeshInputError("A batch needs at least one file.")
    if len(uploads) > conf.max_batch_files():
        raise MeshInputError(f"A batch holds at most {conf.max_batch_files()} files; this one has {len(uploads)}.")
    params = clean_params(params)
    contents = [(upload.name, _read_upload(upload)) for upload in uploads]
    with transaction.atomic():
        batch = BatchJob.objects.create(owner=owner, name=(name or "").strip()[:200], params=params)
        mesh_jobs = [_create_mesh_job(owner, filename, content, params, batch=batch) for filename, content in contents]
        _charge_batch(batch, mesh_jobs)
        _dispatch_later(mesh_jobs)
    return batch


def _read_upload(upload) -> bytes:
    if upload.size > conf.max_upload_bytes():
        raise MeshInputError(f"{upload.name} is larger than {conf.max_upload_bytes() // (1024 * 1024)} MiB.")
    content = upload.read()
    try:
        detect_format(content)
    except BadInput as exc:
        raise MeshInputError(f"{upload.name}: {exc}") from None
    return content


def _create_mesh_job(owner, filename: str, content: bytes, params: dict, batch, full_mesh_requested=True) -> MeshJob:
    from django.core.files.base import ContentFile

    safe_name = PurePosixPath(filename.replace("\\", "/")).name or "part"
    cad_file = CadFile(
        owner=owner,
        original_name=safe_name[:255],
        file_format=detect_format(content),
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )
    cad_file.file.save(safe_name, ContentFile(content), save=False)
    cad_file.save()
    return MeshJob.objects.create(
        owner=owner,
        cad_file=cad_file,
        batch=batch,
        params=params,
        full_mesh_requested=full_mesh_requested,
        job=create_job(MESH_KIND, owner),
        preview_job=create_job(PREVIEW_KIND, owner),
    )


def _dispatch_later(mesh_jobs) -> None:
    # Previews first: they are what the user looks at while the sweep runs.
    dispatch_jobs_later([m.preview_job_id for m in mesh_jobs] + [m.job_id for m in mesh_jobs])


# --- payloads -------------------------------------------------------------------------


def artifact_names(mesh_job: MeshJob) -> dict[str, str]:
    stem = PurePosixPath(mesh_job.cad_file.original_name).stem or "part"
    prefix = f"meshing/results/{mesh_job.job_id}"
    return {
        "msh": f"{prefix}/{stem}.msh",
        "result": f"{prefix}/{stem}_result.json",
        "quality": f"{prefix}/{stem}.quality.json",
        "preview": f"meshing/previews/{mesh_job.preview_job_id}/{stem}.preview.json",
    }


def build_mesh_payload(job: ComputeJob) -> dict:
    from jobs.artifacts import download_url, upload_url

    mesh_job = job.mesh  # dispatch prefetches it with its file for a whole batch (JobKind.prefetch)
    names = artifact_names(mesh_job)
    return {
        "source_url": download_url(mesh_job.cad_file.file.name),
        "filename": mesh_job.cad_file.original_name,
        "params": mesh_job.params,
        "upload_urls": {key: upload_url(names[key]) for key in ARTIFACT_KEYS},
    }


def build_preview_payload(job: ComputeJob) -> dict:
    from jobs.artifacts import download_url, upload_url

    mesh_job = job.mesh_preview  # prefetched with its file, as above
    return {
        "source_url": download_url(mesh_job.cad_file.file.name),
        "filename": mesh_job.cad_file.original_name,
        "params": {"preview_max_triangles": mesh_job.params.get("preview_max_triangles", conf.preview_max_triangles())},
        "upload_urls": {"preview": upload_url(artifact_names(mesh_job)["preview"])},
    }


# --- results ----------------------------------------------------------------------------


def _lock_mesh_job(**lookup) -> MeshJob:
    """FOR NO KEY UPDATE: it does not block the foreign-key checks of rows pointing here.

    The hooks below update the MeshJob row at most once per transaction: a second UPDATE of
    a row this transaction already updated makes PostgreSQL re-check its foreign keys, which
    share-locks both ComputeJob rows, and the engine holds the sibling job's row locked while
    it completes that job (a deadlock between the preview and the full mesh finishing).
    """
    return MeshJob.objects.select_for_update(no_key=True).get(**lookup)


def ingest_mesh(job: ComputeJob, output: dict) -> None:
    mesh_job = _lock_mesh_job(job=job)
    missing = [key for key in ARTIFACT_KEYS if key not in output.get("uploaded", [])]
    if missing:
        raise ValueError(f"The mesh function did not upload {', '.join(missing)}")
    names = artifact_names(mesh_job)
    MeshResult.objects.update_or_create(
        mesh_job=mesh_job,
        defaults={
            **_attempt_fields(job, JobStatus.SUCCEEDED),
            "strategy": output["strategy"],
            "score": output["score"],
            "element_count": output["elements"],
            "node_count": output["nodes"],
            "min_sicn": output["min_sicn"]["min"],
            "mean_gamma": output["gamma"]["mean"],
            "inverted_elements": output["inverted"],
            "strategies": output["strategies"],
            "summary": output,
            "error_message": "",
            "msh_file": names["msh"],
            "result_file": names["result"],
            "quality_file": names["quality"],
        },
    )
    if mesh_job.failure_reason:
        mesh_job.failure_reason = ""
        mesh_job.save(update_fields=["failure_reason"])
    JobLogLine.objects.create(
        job=job, message=f"Best strategy {output['strategy']}: {output['elements']} elements, score {output['score']}"
    )


def ingest_preview(job: ComputeJob, output: dict) -> None:
    mesh_job = _lock_mesh_job(preview_job=job)
    if not output.get("uploaded"):
        raise ValueError("The preview function did not upload the preview")
    mesh_job.preview_file = artifact_names(mesh_job)["preview"]
    mesh_job.preview_figures = {k: v for k, v in output.items() if k != "uploaded"}
    mesh_job.save(update_fields=["preview_file", "preview_figures"])
    JobLogLine.objects.create(job=job, message=f"Preview stored: {output['triangle_count']} triangles")


def record_mesh_failure(job: ComputeJob) -> None:
    """The full mesh ended failed or cancelled: keep the reason on the result and refund."""
    mesh_job = _lock_mesh_job(job=job)
    mesh_job.failure_reason = job.error_message or job.error_type or "failed"
    _refund(mesh_job)
    mesh_job.save(update_fields=["failure_reason", "credits_held"])
    MeshResult.objects.update_or_create(
        mesh_job=mesh_job, defaults={**_attempt_fields(job, job.status), "error_message": mesh_job.failure_reason}
    )


def record_preview_failure(job: ComputeJob) -> None:
    mesh_job = _lock_mesh_job(preview_job=job)
    mesh_job.preview_figures = {"error": job.error_message or job.error_type or "failed"}
    mesh_job.save(update_fields=["preview_figures"])


def prepare_mesh_retry(job: ComputeJob) -> None:
    mesh_job = _lock_mesh_job(job=job)
    mesh_job.failure_reason = ""
    _charge(mesh_job)
    mesh_job.save(update_fields=["failure_reason", "credit_charges", "credits_held"])


def _attempt_fields(job: ComputeJob, status: str) -> dict:
    """Call id and times from the job's current attempt (seed 002's MeshResult columns)."""
    attempt = job.attempts.filter(number=job.attempt_count).first()
    if attempt is None:  # cancelled before it was ever dispatched
        return {"status": status, "processor": "", "modal_call_id": "", "started_at": None, "finished_at": job.finished_at}
    return {
        "status": status,
        "processor": attempt.processor,
        "modal_call_id": attempt.call_id,
        "started_at": attempt.started_at or attempt.submitted_at,
        "finished_at": attempt.finished_at or job.finished_at,
    }


# --- credits ------------------------------------------------------------------------------
# Each run of a full mesh is charged once (at upload, and again at each retry) and
# refunded once when that run ends failed or cancelled. Keys number the runs, so the
# ledger's idempotency makes a repeated call harmless. A batch is charged in one row.


def _charge(mesh_job: MeshJob) -> None:
    from credits.services import charge_run, price_for

    charge_run(mesh_job, price_for(MESH_KIND), key_prefix=f"mesh-job:{mesh_job.job_id}",
               description=f"Mesh: {mesh_job.cad_file.original_name}", reference=str(mesh_job.job_id), what="This mesh")


def _charge_batch(batch: BatchJob, mesh_jobs: list[MeshJob]) -> None:
    from credits.services import deduct, price_for

    unit = price_for(MESH_KIND)
    if unit <= 0:
        return
    deduct(
        batch.owner,
        unit * len(mesh_jobs),
        key=f"mesh-batch:{batch.pk}:charge",
        description=f"Mesh batch {batch}: {len(mesh_jobs)} files"[:500],
        reference=f"batch:{batch.pk}",
        what=f"This batch of {len(mesh_jobs)} meshes",
    )
    for mesh_job in mesh_jobs:
        mesh_job.credit_charges, mesh_job.credits_held = 1, unit
    MeshJob.objects.bulk_update(mesh_jobs, ["credit_charges", "credits_held"])


def _refund(mesh_job: MeshJob) -> None:
    from credits.services import refund_run

    refund_run(mesh_job, key_prefix=f"mesh-job:{mesh_job.job_id}",
               description=f"Refund: mesh of {mesh_job.cad_file.original_name}: {mesh_job.failure_reason}",
               reference=str(mesh_job.job_id))  # the caller saves
