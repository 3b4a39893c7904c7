from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from jobs.models import JobStatus
from portal.admin_actions import confirmed_action

from research.models import ResearchJob, ResearchSection, ResearchTemplate, TemplateSection


class TemplateSectionInline(admin.TabularInline):
    model = TemplateSection
    extra = 1
    ordering = ["position"]
    fields = ["position", "title", "prompt"]


@admin.register(ResearchTemplate)
class ResearchTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "section_count", "updated_at"]
    search_fields = ["name", "description"]
    inlines = [TemplateSectionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_section_count=Count("sections"))

    @admin.display(description="sections", ordering="_section_count")
    def section_count(self, obj):
        return obj._section_count


class ResearchSectionInline(admin.TabularInline):
    model = ResearchSection
    extra = 0
    can_delete = False
    ordering = ["position"]
    fields = ["position", "title", "prompt_tokens", "completion_tokens", "latency_ms", "estimated_cost", "completed_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ResearchJob)
class ResearchJobAdmin(admin.ModelAdmin):
    list_display = ["subject", "owner", "template", "provider", "model", "job_status", "progress", "created_at"]
    list_filter = ["job__status", "provider", "template"]
    search_fields = ["subject", "owner__username", "job__id"]
    list_select_related = ["owner", "template", "job"]
    readonly_fields = [
        "owner", "subject", "template", "provider", "model", "compute_job", "failure_reason",
        "credit_charges", "credits_held", "section_plan", "created_at",
    ]
    exclude = ["job"]
    inlines = [ResearchSectionInline]
    actions = ["retry_research"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_sections_done=Count("sections"))

    def has_add_permission(self, request):
        return False  # research jobs are started by users through the page or the API

    @admin.display(description="status", ordering="job__status")
    def job_status(self, obj):
        return obj.job.get_status_display()

    @admin.display(description="progress")
    def progress(self, obj):
        return f"{obj._sections_done}/{obj.total_sections}"

    @admin.display(description="compute job")
    def compute_job(self, obj):
        url = reverse("admin:jobs_computejob_change", args=[obj.job_id])
        return format_html('<a href="{}">{}</a>', url, obj.job_id)

    @confirmed_action(
        description="Retry failed or cancelled research jobs (resumes at the first unfinished section)",
        permission="change",
        verb="Retry",
    )
    def retry_research(self, request, research_job, reason):
        from credits.services import InsufficientCredits
        from jobs.services import JobStateError, retry_job

        if research_job.job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            return None
        resume_at = _first_unfinished(research_job)
        try:
            retry_job(research_job.job, actor=request.user)
        except (JobStateError, InsufficientCredits) as exc:
            self.message_user(request, f"{research_job}: not retried: {exc}", messages.WARNING)
            return None
        return f"Retried, resuming at section {resume_at}. {reason}".strip()


def _first_unfinished(research_job: ResearchJob) -> int:
    saved = set(research_job.sections.values_list("position", flat=True))
    positions = [item["position"] for item in research_job.section_plan if item["position"] not in saved]
    return min(positions) if positions else 0
