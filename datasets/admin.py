from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html

from datasets.models import Chunk, Dataset, Document
from jobs import services as job_services
from jobs.models import JobStatus
from portal.admin_actions import confirmed_action


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at", "document_count", "succeeded_count", "failed_count"]
    list_filter = ["created_at"]
    search_fields = ["name", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        # Counts in the same query as the rows, not one query per row.
        return super().get_queryset(request).annotate(
            n_documents=Count("documents"),
            n_succeeded=Count("documents", filter=Q(documents__job__status=JobStatus.SUCCEEDED)),
            n_failed=Count("documents", filter=Q(documents__job__status=JobStatus.FAILED)),
        )

    @admin.display(description="documents", ordering="n_documents")
    def document_count(self, dataset):
        return dataset.n_documents

    @admin.display(description="succeeded", ordering="n_succeeded")
    def succeeded_count(self, dataset):
        return dataset.n_succeeded

    @admin.display(description="failed", ordering="n_failed")
    def failed_count(self, dataset):
        return dataset.n_failed


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["original_filename", "dataset", "owner", "detected_format", "size", "job_status", "page_count",
                    "chunk_count", "job_link", "error", "created_at"]
    list_filter = [("job__status", admin.ChoicesFieldListFilter), "detected_format", "dataset"]
    search_fields = ["original_filename", "sha256", "owner__username", "error"]
    list_select_related = ["dataset", "owner", "job"]
    readonly_fields = [f.name for f in Document._meta.fields] + ["job_link"]
    exclude = ["markdown"]
    actions = ["retry_failed_documents"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_retry_permission(self, request):
        return request.user.has_perm("jobs.change_computejob")

    @admin.display(description="status", ordering="job__status")
    def job_status(self, document):
        return document.status

    @admin.display(description="job")
    def job_link(self, document):
        if not document.job_id:
            return "—"
        url = reverse("admin:jobs_computejob_change", args=[document.job_id])
        return format_html('<a href="{}">{}</a>', url, str(document.job_id)[:8])

    @confirmed_action(description="Retry selected failed documents", permission="retry", verb="Retry")
    def retry_failed_documents(self, request, document, reason):
        if not document.job_id:
            return None
        try:
            job_services.retry_job(document.job, actor=request.user)
        except job_services.JobStateError:
            return None
        return f"Retried its processing job{': ' + reason if reason else ''}"


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["document", "index", "page", "heading", "token_count", "owner"]
    list_select_related = ["document", "owner"]
    search_fields = ["text", "document__original_filename"]
    raw_id_fields = ["document", "dataset", "owner"]
    exclude = ["embedding"]
    readonly_fields = ["document", "dataset", "owner", "index", "text", "heading", "page", "token_count"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
