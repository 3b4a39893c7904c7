"""Pages of the datasets app: thin views over services and selectors, owner-only."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from credits.services import InsufficientCredits
from datasets import selectors, services
from datasets.forms import DatasetForm, SearchForm
from datasets.models import Dataset, Document


def _own_dataset(request, dataset_id) -> Dataset:
    try:
        return selectors.dataset_with_counts(request.user, dataset_id)
    except Dataset.DoesNotExist:
        raise Http404("No such dataset") from None


@login_required
def dataset_list(request):
    form = DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        dataset = services.create_dataset(request.user, form.cleaned_data["name"], form.cleaned_data["description"])
        return redirect("datasets:detail", dataset_id=dataset.pk)
    datasets = list(selectors.datasets_for(request.user))
    for dataset in datasets:
        dataset.status = selectors.dataset_status(dataset)
    return render(request, "datasets/list.html", {"datasets": datasets, "form": form})


@login_required
def dataset_detail(request, dataset_id: int):
    dataset = _own_dataset(request, dataset_id)
    if request.method == "POST":
        files = request.FILES.getlist("files")
        if not files:
            messages.warning(request, "Choose one or more files to upload.")
        else:
            _upload(request, dataset, files)
        return redirect("datasets:detail", dataset_id=dataset.pk)
    documents = selectors.documents_for(request.user, dataset.pk)
    dataset.status = selectors.dataset_status(dataset)
    return render(request, "datasets/detail.html", {"dataset": dataset, "documents": documents})


def _upload(request, dataset, files) -> None:
    try:
        result = services.upload_documents(request.user, dataset, [(f.name, f) for f in files])
    except InsufficientCredits as exc:
        messages.error(request, f"Upload refused: {exc}")
        return
    if result.accepted:
        messages.success(request, f"{len(result.accepted)} file(s) accepted for processing.")
    for name, reason in result.rejected:
        messages.error(request, f"Rejected {name}: {reason}")


@login_required
@require_GET
def dataset_status(request, dataset_id: int):
    """What the detail page polls every 2 s to update its table."""
    dataset = _own_dataset(request, dataset_id)
    documents = [
        {
            "id": document.pk,
            "status": document.status,
            "progress_done": document.job.progress_done if document.job_id else 0,
            "progress_total": document.job.progress_total if document.job_id else 0,
            "progress_label": document.job.progress_label if document.job_id else "",
            "page_count": document.page_count,
            "chunk_count": document.chunk_count,
            "error": document.error,
        }
        for document in selectors.documents_for(request.user, dataset.pk)
    ]
    return JsonResponse(
        {
            "status": selectors.dataset_status(dataset),
            "document_count": dataset.document_count,
            "succeeded_count": dataset.succeeded_count,
            "failed_count": dataset.failed_count,
            "in_progress_count": dataset.in_progress_count,
            "documents": documents,
        }
    )


@login_required
def document_detail(request, document_id: int):
    try:
        document = selectors.document_for(request.user, document_id)
    except Document.DoesNotExist:
        raise Http404("No such document") from None
    return render(request, "datasets/document.html", {"document": document})


@login_required
def search(request):
    datasets = list(selectors.datasets_for(request.user))
    form = SearchForm(request.GET or None, datasets=datasets)
    hits = None
    if form.is_valid():
        dataset_id = form.cleaned_data["dataset"]
        hits = selectors.search_chunks(
            request.user, form.cleaned_data["q"], dataset_ids=[dataset_id] if dataset_id else None
        )
    return render(request, "datasets/search.html", {"form": form, "hits": hits})
