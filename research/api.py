"""REST API of the research app, mounted at /api/research/."""
from datetime import datetime
from typing import Optional, Union
from uuid import UUID

from django.db import transaction
from ninja import Router, Schema, Status
from ninja.pagination import PageNumberPagination, paginate

from research import selectors
from research.models import ResearchJob
from research.services import ResearchInputError, submit_research

router = Router(tags=["research"])


class JobIn(Schema):
    subject: str
    template: Union[int, str]
    provider: str = ""
    model: Optional[str] = None


class JobCreatedOut(Schema):
    id: UUID
    status: str
    progress: str
    url: str


class SectionOut(Schema):
    position: int
    title: str
    content: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    estimated_cost: float
    completed_at: datetime


class JobOut(Schema):
    id: UUID
    subject: str
    template: str
    provider: str
    model: str
    status: str
    job_status: str
    progress: str
    sections_done: int
    sections_total: int
    error: str
    created_at: datetime
    finished_at: Optional[datetime]


class JobDetailOut(JobOut):
    estimated_llm_cost: float
    sections: list[SectionOut]


class ErrorOut(Schema):
    detail: str


class TemplateOut(Schema):
    id: int
    name: str
    description: str
    section_count: int


class ProviderOut(Schema):
    name: str
    default_model: str


@router.post(
    "/jobs",
    response={201: JobCreatedOut, 400: ErrorOut, 402: ErrorOut},
    summary="Start a research job; returns its id at once",
)
def create_job(request, payload: JobIn):
    from credits.services import InsufficientCredits

    try:
        with transaction.atomic():
            research_job = submit_research(
                request.auth,
                subject=payload.subject,
                template=payload.template,
                provider=payload.provider,
                model=payload.model or "",
            )
    except ResearchInputError as exc:
        return Status(400, {"detail": str(exc)})
    except InsufficientCredits as exc:
        return Status(402, {"detail": str(exc)})
    return Status(
        201,
        {
            "id": research_job.job_id,
            "status": "pending",
            "progress": f"0/{research_job.total_sections}",
            "url": f"/api/research/jobs/{research_job.job_id}",
        },
    )


@router.get("/jobs", response=list[JobOut], summary="Your research jobs, newest first")
@paginate(PageNumberPagination, page_size=50)
def list_jobs(request):
    return _Summaries(selectors.research_jobs_for(request.auth))


@router.get("/jobs/{job_id}", response={200: JobDetailOut, 404: ErrorOut}, summary="Status, progress and sections")
def get_job(request, job_id: UUID):
    try:
        research_job = selectors.research_job_for(request.auth, job_id)
    except ResearchJob.DoesNotExist:
        return Status(404, {"detail": "No such research job."})
    return selectors.research_job_summary(research_job)


@router.get("/templates", response=list[TemplateOut], summary="Research templates")
def list_templates(request):
    return list(selectors.templates_with_sections().order_by("name"))


@router.get("/providers", response=list[ProviderOut], summary="LLM providers configured on this portal")
def list_providers(request):
    return selectors.available_providers()


class _Summaries:
    """A lazily summarised queryset, so that the paginator slices before summarising."""

    def __init__(self, queryset):
        self.queryset = queryset

    def __len__(self):
        return self.queryset.count()

    def count(self):
        return self.queryset.count()

    def __getitem__(self, item):
        rows = self.queryset[item]
        if isinstance(item, slice):
            return [selectors.research_job_summary(r, with_sections=False) for r in rows]
        return selectors.research_job_summary(rows, with_sections=False)
