from django.contrib import admin
from django.utils.html import format_html

from jobs import selectors, services
from jobs.models import ComputeJob, JobAttempt, JobLogLine, RolloutPolicy, RolloutPolicyChange
from jobs.rollout import AUDITED_FIELDS, record_policy_edit
from portal.admin_actions import confirmed_action


class AttemptInline(admin.TabularInline):
    model = JobAttempt
    extra = 0
    can_delete = False
    fields = ["number", "processor", "fell_back", "call_id", "status", "submitted_at", "started_at",
              "finished_at", "compute_seconds", "estimated_cost", "error_type", "error_message"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class LogLineInline(admin.TabularInline):
    model = JobLogLine
    extra = 0
    can_delete = False
    fields = ["created_at", "level", "message"]
    readonly_fields = fields
    verbose_name_plural = "log (latest lines)"

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-id")


@admin.register(ComputeJob)
class ComputeJobAdmin(admin.ModelAdmin):
    list_display = ["short_id", "kind", "owner", "status_badge", "processor", "progress", "attempt_count",
                    "created_at", "compute_seconds", "estimated_cost", "error_type"]
    list_filter = ["status", "kind", "processor", "error_type", "created_at"]
    search_fields = ["id", "owner__username", "error_message"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    inlines = [AttemptInline, LogLineInline]
    actions = ["retry_jobs", "cancel_jobs"]
    readonly_fields = [f.name for f in ComputeJob._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_retry_permission(self, request):
        return request.user.has_perm("jobs.change_computejob")

    has_cancel_permission = has_retry_permission

    @admin.display(description="job", ordering="created_at")
    def short_id(self, job):
        return str(job.pk)[:8]

    @admin.display(description="status", ordering="status")
    def status_badge(self, job):
        colours = {"succeeded": "#1a7f37", "failed": "#b42318", "running": "#2a5bd7", "dispatched": "#6b7280",
                   "cancelled": "#6b7280", "pending": "#9a6700"}
        return format_html('<b style="color:{}">{}</b>', colours.get(job.status, "#000"), job.get_status_display())

    @admin.display(description="progress")
    def progress(self, job):
        if not job.progress_total:
            return job.progress_label or "—"
        return format_html('<progress max="{}" value="{}"></progress> {}', job.progress_total, job.progress_done,
                           job.progress_text)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "status_counts": selectors.status_counts()}
        return super().changelist_view(request, extra_context)

    @confirmed_action(description="Retry selected failed or cancelled jobs", permission="retry", verb="Retry")
    def retry_jobs(self, request, job, reason):
        try:
            services.retry_job(job, actor=request.user)
        except services.JobStateError:
            return None
        return f"Retried{': ' + reason if reason else ''}"

    @confirmed_action(description="Cancel selected unfinished jobs", permission="cancel", verb="Cancel")
    def cancel_jobs(self, request, job, reason):
        if not services.cancel_job(job, actor=request.user, reason=reason or f"Cancelled by {request.user}"):
            return None
        return f"Cancelled{': ' + reason if reason else ''}"


class PolicyChangeInline(admin.TabularInline):
    model = RolloutPolicyChange
    extra = 0
    can_delete = False
    fields = ["changed_at", "changed_by", "changes", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RolloutPolicy)
class RolloutPolicyAdmin(admin.ModelAdmin):
    list_display = ["kind", "modal_percentage", "fallback_to_celery", "monthly_budget_usd", "rolled_back_at", "updated_at"]
    readonly_fields = ["rolled_back_at", "rolled_back_reason", "updated_at"]
    inlines = [PolicyChangeInline]

    def save_model(self, request, obj, form, change):
        old = RolloutPolicy.objects.filter(pk=obj.pk).values(*AUDITED_FIELDS).first() or {}
        super().save_model(request, obj, form, change)
        record_policy_edit(obj, old, actor=request.user, reason="Edited in the admin")


@admin.register(JobAttempt)
class JobAttemptAdmin(admin.ModelAdmin):
    list_display = ["job", "number", "processor", "fell_back", "call_id", "status", "submitted_at", "finished_at",
                    "compute_seconds", "estimated_cost"]
    list_filter = ["status", "processor", "fell_back"]
    search_fields = ["call_id", "job__id"]
    readonly_fields = [f.name for f in JobAttempt._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False
