"""End-user pages: upload, result with the 3D viewer, downloads. Owners only."""
from pathlib import PurePosixPath

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from meshing import selectors, services
from meshing.forms import MeshParamsForm, MeshUploadForm, form_for_params
from meshing.models import BatchJob

DOWNLOAD_KINDS = ("msh", "result", "quality", "preview")


@login_required
def index(request):
    form = MeshUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        response = _submit(request, form)
        if response is not None:
            return response
    context = {
        "form": form,
        "mesh_jobs": selectors.mesh_jobs_for(request.user)[:50],
        "batches": selectors.batches_for(request.user)[:20],
    }
    return render(request, "meshing/index.html", context)


def _submit(request, form):
    from credits.services import CreditError

    files = form.cleaned_data["files"]
    batch_name = form.cleaned_data["batch_name"]
    try:
        if len(files) == 1 and not batch_name:
            preview_only = form.cleaned_data["preview_only"]
            mesh_job = services.submit_mesh(request.user, upload=files[0], params=form.params(), preview_only=preview_only)
            then = "start the full mesh here when it suits you" if preview_only else "then the full mesh"
            messages.success(request, f"{mesh_job.cad_file} uploaded: the preview comes first, {then}.")
            return redirect("meshing:detail", job_id=mesh_job.job_id)
        batch = services.submit_batch(request.user, uploads=files, params=form.params(), name=batch_name)
        messages.success(request, f"Batch of {len(files)} files uploaded.")
        return redirect("meshing:batch", batch_id=batch.pk)
    except (services.MeshInputError, CreditError) as exc:
        form.add_error(None, str(exc))
    return None


@login_required
def detail(request, job_id):
    mesh_job = get_object_or_404(selectors.mesh_jobs_for(request.user), job_id=job_id)
    context = {
        "mesh_job": mesh_job,
        "params_form": None if mesh_job.full_mesh_requested else form_for_params(mesh_job.params),
        "result": getattr(mesh_job, "result", None),
        "log_lines": list(mesh_job.job.log_lines.order_by("-id")[:40])[::-1],
        "preview_url": _download_url(mesh_job, "preview") if mesh_job.preview_file else "",
    }
    return render(request, "meshing/detail.html", context)


@login_required
@require_POST
def start_full_mesh(request, job_id):
    """The full mesh of an upload sent for its preview only, with the parameters of the form."""
    from credits.services import CreditError

    mesh_job = get_object_or_404(selectors.mesh_jobs_for(request.user), job_id=job_id)
    form = MeshParamsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Check the parameters: " + "; ".join(e for errors in form.errors.values() for e in errors))
        return redirect("meshing:detail", job_id=job_id)
    try:
        services.request_full_mesh(mesh_job, form.params())
        messages.success(request, "The full mesh has started.")
    except (services.MeshInputError, CreditError) as exc:
        messages.error(request, str(exc))
    return redirect("meshing:detail", job_id=job_id)


@login_required
def batch_detail(request, batch_id):
    try:
        batch = selectors.batch_for(request.user, batch_id)
    except BatchJob.DoesNotExist:
        raise Http404("No such batch") from None
    mesh_jobs = selectors.mesh_jobs_for(request.user).filter(batch=batch)
    return render(request, "meshing/batch.html", {"batch": batch, "mesh_jobs": mesh_jobs})


@login_required
def download(request, job_id, kind):
    """Stream one artifact from storage (filesystem or S3) to its owner."""
    mesh_job = get_object_or_404(selectors.mesh_jobs_for(request.user), job_id=job_id)
    field = selectors.artifact_field(mesh_job, kind) if kind in DOWNLOAD_KINDS else None
    if field is None:
        raise Http404("This file is not available")
    filename = PurePosixPath(field.name).name
    return FileResponse(field.open("rb"), as_attachment=kind != "preview", filename=filename)


def _download_url(mesh_job, kind):
    from django.urls import reverse

    return reverse("meshing:download", args=[mesh_job.job_id, kind])
