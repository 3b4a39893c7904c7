"""Reads of the research app. Every query for a user's data filters by owner."""
from __future__ import annotations

from django.db.models import Count, QuerySet

from research import conf
from research.models import ResearchJob, ResearchSection, ResearchTemplate


def research_jobs_for(user) -> QuerySet[ResearchJob]:
    return (
        ResearchJob.objects.filter(owner=user)
        .select_related("job", "template")
        .annotate(sections_done=Count("sections"))
        .order_by("-created_at")
    )


def research_job_for(user, job_id) -> ResearchJob:
    """The user's research job by its public id (the ComputeJob UUID); DoesNotExist otherwise."""
    return research_jobs_for(user).get(job_id=job_id)


def completed_positions(research_job: ResearchJob) -> list[int]:
    return sorted(ResearchSection.objects.filter(research_job=research_job).values_list("position", flat=True))


def templates_with_sections() -> QuerySet[ResearchTemplate]:
    return ResearchTemplate.objects.annotate(section_count=Count("sections")).filter(section_count__gt=0)


def find_template(reference) -> ResearchTemplate | None:
    """A template by id (int or digit string) or by exact name."""
    queryset = templates_with_sections()
    if isinstance(reference, int) or (isinstance(reference, str) and reference.isdigit()):
        found = queryset.filter(pk=int(reference)).first()
        if found is not None:
            return found
    return queryset.filter(name=str(reference)).first()


def available_providers() -> list[dict]:
    """Provider names and default models for forms and the API; never keys or key names."""
    return [
        {"name": name, "default_model": config.get("model", "")}
        for name, config in conf.providers().items()
        if config.get("base_url")
    ]


def research_job_summary(research_job: ResearchJob, *, with_sections: bool = True) -> dict:
    """What the API and the live page show of one research job."""
    job = research_job.job
    sections = list(research_job.sections.all()) if with_sections else []
    done = len(sections) if with_sections else getattr(research_job, "sections_done", None)
    if done is None:
        done = research_job.sections.count()
    total = research_job.total_sections
    summary = {
        "id": str(job.pk),
        "subject": research_job.subject,
        "template": research_job.template.name,
        "provider": research_job.provider,
        "model": research_job.model,
        "status": display_status(job.status),
        "job_status": job.status,
        "progress": f"{done}/{total}",
        "sections_done": done,
        "sections_total": total,
        "error": research_job.failure_reason or job.error_message,
        "created_at": research_job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    if with_sections:
        summary["estimated_llm_cost"] = float(sum(s.estimated_cost for s in sections))
        summary["sections"] = [
            {
                "position": s.position,
                "title": s.title,
                "content": s.content,
                "prompt_tokens": s.prompt_tokens,
                "completion_tokens": s.completion_tokens,
                "latency_ms": s.latency_ms,
                "estimated_cost": float(s.estimated_cost),
                "completed_at": s.completed_at.isoformat(),
            }
            for s in sections
        ]
    return summary


def display_status(job_status: str) -> str:
    """The seed's vocabulary for the end user: a succeeded job reads "completed"."""
    return {"succeeded": "completed", "running": "processing"}.get(job_status, job_status)
