"""End-user pages: the research form and list, and a live job page."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from research import conf, selectors
from research.models import ResearchJob
from research.services import ResearchInputError, submit_research


@login_required
@require_http_methods(["GET", "POST"])
def index(request):
    if request.method == "POST":
        from credits.services import InsufficientCredits

        try:
            with transaction.atomic():
                research_job = submit_research(
                    request.user,
                    subject=request.POST.get("subject", ""),
                    template=request.POST.get("template", ""),
                    provider=request.POST.get("provider", ""),
                    model=request.POST.get("model", ""),
                )
        except (ResearchInputError, InsufficientCredits) as exc:
            messages.error(request, str(exc))
        else:
            return redirect("research:detail", job_id=research_job.job_id)
    context = {
        "templates": selectors.templates_with_sections().order_by("name"),
        "providers": selectors.available_providers(),
        "default_provider": conf.default_provider(),
        "research_jobs": selectors.research_jobs_for(request.user)[:100],
        "form": request.POST,
    }
    return render(request, "research/index.html", context)


@login_required
@require_GET
def detail(request, job_id):
    research_job = _own_job(request.user, job_id)
    return render(
        request,
        "research/detail.html",
        {"research_job": research_job, "summary": selectors.research_job_summary(research_job)},
    )


@login_required
@require_GET
def status(request, job_id):
    """The live page polls this every two seconds."""
    return JsonResponse(selectors.research_job_summary(_own_job(request.user, job_id)))


def _own_job(user, job_id) -> ResearchJob:
    try:
        return selectors.research_job_for(user, job_id)
    except ResearchJob.DoesNotExist:
        raise Http404("No such research job") from None
