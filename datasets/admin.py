from django.contrib import admin
from django.contrib import messages
from django.db.models import CharField, Count, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Cast, Concat
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from credits.models import CreditTransaction, TransactionKind

from datasets.models import Chunk, Dataset, Document
from jobs import services as job_services
from datasets.jobs import RetryNotPaid
from jobs.models import JobStatus
from portal.admin_actions import confirmed_action
from portal.admin_mixins import ViewOnlyAdminMixin


def _credit_reference(dataset) -> str:
    return f"dataset:{dataset.pk}"


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at", "progress", "document_count", "succeeded_count",
                    "in_progress_count", "failed_count", "credits_charged"]
    list_filter = ["created_at"]
    search_fields = ["name", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["created_at", "progress", "credit_transactions"]

    def get_queryset(self, request):
        # Counts and credits in the same query as the rows, not one query per row.
        charged = (
            CreditTransaction.objects.filter(reference=Concat(Value("dataset:"), Cast(OuterRef("pk"), CharField())))
            .order_by()
            .values("reference")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        return super().get_queryset(request).annotate(
            n_documents=Count("documents"),
            n_succeeded=Count("documents", filter=Q(documents__job__status=JobStatus.SUCCEEDED)),
            n_in_progress=Count("documents", filter=Q(documents__job__status__in=(JobStatus.PENDING, JobStatus.DISPATCHED, JobStatus.RUNNING))),
            n_failed=Count("documents", filter=Q(documents__job__status__in=(JobStatus.FAILED, JobStatus.CANCELLED))),
            net_credits=Subquery(charged),
        )

    @admin.display(description="documents", ordering="n_documents")
    def document_count(self, dataset):
        return dataset.n_documents

    @admin.display(description="done", ordering="n_succeeded")
    def succeeded_count(self, dataset):
        return dataset.n_succeeded

    @admin.display(description="processing", ordering="n_in_progress")
    def in_progress_count(self, dataset):
        return dataset.n_in_progress

    @admin.display(description="failed", ordering="n_failed")
    def failed_count(self, dataset):
        return dataset.n_failed

    @admin.display(description="progress")
    def progress(self, dataset):
        return (f"{dataset.n_succeeded} done, {dataset.n_in_progress} processing, {dataset.n_failed} failed, "
                f"of {dataset.n_documents}")

    @admin.display(description="net credits", ordering="net_credits")
    def credits_charged(self, dataset):
        """Charged minus refunded, over the dataset's uploads, retries and refunds."""
        return -(dataset.net_credits or 0)

    @admin.display(description="credit transactions")
    def credit_transactions(self, dataset):
        rows = CreditTransaction.objects.filter(reference=_credit_reference(dataset)).order_by("created_at", "id")
        kinds = rows.values("kind").order_by().annotate(n=Count("id"), total=Sum("amount"))
        summary = ", ".join(f"{row['n']} {row['kind']}(s) {row['total']:+d}" for row in kinds)
        # The upload charges and the last refunds/retries; the credits admin has the full ledger.
        listed = list(rows.filter(kind=TransactionKind.DEDUCTION, idempotency_key__startswith="dataset-upload:"))
        links = format_html_join(
            "", '<li><a href="{}">{}</a>: {} ({})</li>',
            ((reverse("admin:credits_credittransaction_change", args=[row.pk]), row.idempotency_key, row.amount,
              row.description) for row in listed),
        )
        ledger = reverse("admin:credits_credittransaction_changelist") + f"?q={_credit_reference(dataset)}"
        return format_html('{}<ul>{}</ul><a href="{}">All of this dataset\'s ledger rows</a>',
                           summary or "none", links, ledger)


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
        except RetryNotPaid as exc:
            messages.error(request, f"{document}: {exc}")
            return None
        except job_services.JobStateError:
            return None
        return f"Retried its processing job{': ' + reason if reason else ''}"


@admin.register(Chunk)
class ChunkAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["document", "index", "page", "heading", "token_count", "owner"]
    list_select_related = ["document", "owner"]
    search_fields = ["text", "document__original_filename"]
    raw_id_fields = ["document", "dataset", "owner"]
    exclude = ["embedding"]
    readonly_fields = ["document", "dataset", "owner", "index", "text", "heading", "page", "token_count"]
    show_full_result_count = False

