"""Writes of the research app: submit a job, save sections, failure and retry bookkeeping.

Sections are saved idempotently on the unique (research_job, position): the
callback event, the final ingest and a racing retry may all deliver the same
section, and the first one wins.
"""
from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from jobs.models import ComputeJob
from jobs.services import create_job, dispatch_jobs_later
from research import conf
from research.models import ResearchJob, ResearchSection, ResearchTemplate
from research.selectors import completed_positions, find_template

KIND = "research"


class ResearchInputError(ValueError):
    """The submission cannot be accepted; the message says why, for the user."""


def submit_research(owner, *, subject: str, template, provider: str = "", model: str = "") -> ResearchJob:
    """Create (and charge for) a research job; it is dispatched once the transaction commits."""
    subject = (subject or "").strip()
    if not subject:
        raise ResearchInputError("A subject is required (for example a street address).")
    if len(subject) > 500:
        raise ResearchInputError("The subject is longer than 500 characters.")
    resolved = template if isinstance(template, ResearchTemplate) else find_template(template)
    if resolved is None:
        raise ResearchInputError(f"No research template {template!r} with sections exists.")
    provider = provider or conf.default_provider()
    config = provider_settings(provider)
    plan = [
        {"position": s.position, "title": s.title, "prompt": s.prompt}
        for s in resolved.sections.order_by("position")
    ]
    with transaction.atomic():
        job = create_job(KIND, owner, progress_total=len(plan))
        research_job = ResearchJob.objects.create(
            owner=owner,
            subject=subject,
            template=resolved,
            provider=provider,
            model=(model or "").strip() or config.get("model", ""),
            section_plan=plan,
            job=job,
        )
        _charge(research_job)
        dispatch_jobs_later([job.pk])
    return research_job


def provider_settings(name: str) -> dict:
    providers = conf.providers()
    if name not in providers:
        raise ResearchInputError(f"Unknown LLM provider {name!r}; choose one of {', '.join(sorted(providers))}.")
    config = providers[name]
    if not config.get("base_url"):
        raise ResearchInputError(f"The LLM provider {name!r} has no base URL configured on this portal.")
    return config


def build_payload(job: ComputeJob) -> dict:
    """The compute function's inputs: the section plan, what is already done, and the provider."""
    from portal.compute_functions import get_function

    research_job = ResearchJob.objects.get(job=job)
    config = conf.providers().get(research_job.provider, {})
    function = get_function("run_research")
    return {
        "subject": research_job.subject,
        "sections": research_job.section_plan,
        "completed_positions": completed_positions(research_job),
        "provider": {
            "name": research_job.provider,
            "base_url": config.get("base_url", ""),
            "api_key_env": config.get("api_key_env", ""),
            "model": research_job.model,
            "price_in_per_1k": float(config.get("price_in_per_1k", 0) or 0),
            "price_out_per_1k": float(config.get("price_out_per_1k", 0) or 0),
            "request_timeout": conf.request_timeout(),
        },
        "retry": conf.retry_policy(),
        # Below the function's own timeout, so the core's clear message wins over a hard kill.
        "time_limit": max(function.timeout - 30, 30),
    }


def save_section(research_job: ResearchJob, data: dict) -> bool:
    """Save one finished section unless it is saved already; return True when this call saved it."""
    position = int(data["position"])
    if not any(item["position"] == position for item in research_job.section_plan):
        raise ValueError(f"Section {position} is not part of this job's plan")
    _section, created = ResearchSection.objects.get_or_create(
        research_job=research_job,
        position=position,
        defaults={
            "title": str(data.get("title", ""))[:200],
            "content": str(data.get("content", "")),
            "prompt_tokens": int(data.get("prompt_tokens", 0) or 0),
            "completion_tokens": int(data.get("completion_tokens", 0) or 0),
            "latency_ms": int(data.get("latency_ms", 0) or 0),
            "estimated_cost": Decimal(str(data.get("estimated_cost", 0) or 0)),
        },
    )
    return created


def record_section_event(job: ComputeJob, event_type: str, data: dict) -> None:
    """A "section" callback: save it at once and move the job's progress forward."""
    if event_type != "section":
        return
    research_job = ResearchJob.objects.get(job=job)
    save_section(research_job, data)
    done = research_job.sections.count()
    # Conditional: progress only moves forward, whatever order events arrive in.
    ComputeJob.objects.filter(pk=job.pk, progress_done__lt=done).update(
        progress_done=done, progress_total=research_job.total_sections
    )


def ingest_result(job: ComputeJob, output: dict) -> None:
    """Save any section whose callback never arrived, then insist that every section is saved."""
    research_job = ResearchJob.objects.get(job=job)
    for data in output.get("sections", []):
        save_section(research_job, data)
    missing = sorted(
        {item["position"] for item in research_job.section_plan} - set(completed_positions(research_job))
    )
    if missing:
        raise ValueError(f"The result is missing sections {', '.join(map(str, missing))}")
    if research_job.failure_reason:
        research_job.failure_reason = ""
        research_job.save(update_fields=["failure_reason"])


def record_failure(job: ComputeJob) -> None:
    """The job ended failed or cancelled: keep the reason and give the credits back."""
    research_job = ResearchJob.objects.select_for_update().get(job=job)
    research_job.failure_reason = job.error_message or job.error_type or "failed"
    research_job.save(update_fields=["failure_reason"])
    _refund(research_job)


def prepare_retry(job: ComputeJob) -> None:
    """A retry resumes at the first unfinished section (build_payload passes the saved ones)."""
    research_job = ResearchJob.objects.select_for_update().get(job=job)
    research_job.failure_reason = ""
    research_job.save(update_fields=["failure_reason"])
    _charge(research_job)


# --- credits ----------------------------------------------------------------
# Each run of a job is charged once (at submission, and again at each retry) and
# refunded once if that run ends failed or cancelled. Keys number the runs so that
# the ledger's idempotency makes a repeated call harmless.


def _charge(research_job: ResearchJob) -> None:
    from credits.services import charge_run

    charge_run(research_job, conf.credits_per_job(), key_prefix=f"research-job:{research_job.job_id}",
               description=f"Research: {research_job.template.name} for {research_job.subject}",
               reference=str(research_job.job_id), what="This research job")
    research_job.save(update_fields=["credit_charges", "credits_held"])


def _refund(research_job: ResearchJob) -> None:
    from credits.services import refund_run

    refund_run(research_job, key_prefix=f"research-job:{research_job.job_id}",
               description=f"Refund: research job {research_job.job_id} {research_job.failure_reason}",
               reference=str(research_job.job_id))
    research_job.save(update_fields=["credits_held"])
