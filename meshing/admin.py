"""Operators' view of meshing: uploads, mesh jobs with the 3D preview, results, batches."""
from django.contrib import admin, messages
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html

from jobs import services as job_services
from meshing.models import BatchJob, CadFile, MeshJob, MeshResult
from portal.admin_actions import confirmed_action


def _job_link(job):
    if job is None:
        return "—"
    url = reverse("admin:jobs_computejob_change", args=[job.pk])
    return format_html('<a href="{}">{}</a> {}', url, job.get_status_display(), job.progress_text)


def _strategies_table(result):
    if result is None or not result.strategies:
        return "—"
    return render_to_string("meshing/_strategies.html", {"strategies": result.strategies, "winner": result.strategy})


class MeshResultInline(admin.StackedInline):
    model = MeshResult
    can_delete = False
    extra = 0
    exclude = ["strategies", "summary"]
    readonly_fields = [f.name for f in MeshResult._meta.fields if f.name not in ("strategies", "summary")]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(MeshJob)
class MeshJobAdmin(admin.ModelAdmin):
    change_form_template = "admin/meshing/meshjob/change_form.html"
    list_display = ["cad_file", "owner", "batch", "preview_status", "mesh_status", "strategy", "elements", "created_at"]
    list_filter = ["job__status", "full_mesh_requested", "preview_job__status", "cad_file__file_format", "created_at"]
    search_fields = ["cad_file__original_name", "owner__username", "job__id"]
    list_select_related = ["cad_file", "owner", "batch", "job", "preview_job", "result"]
    date_hierarchy = "created_at"
    inlines = [MeshResultInline]
    actions = ["retry_meshes"]
    readonly_fields = [
        "owner", "cad_file", "batch", "params", "mesh_job_link", "preview_job_link", "preview_file",
        "preview_figures", "full_mesh_requested", "failure_reason", "credit_charges", "credits_held", "created_at",
        "strategies_table",
    ]
    exclude = ["job", "preview_job"]

    def has_add_permission(self, request):
        return False

    def has_retry_permission(self, request):
        return request.user.has_perm("jobs.change_computejob")

    @admin.display(description="preview")
    def preview_status(self, mesh_job):
        return mesh_job.preview_job.status if mesh_job.preview_job_id else "—"

    @admin.display(description="full mesh", ordering="job__status")
    def mesh_status(self, mesh_job):
        return mesh_job.full_mesh_status

    @admin.display(description="strategy")
    def strategy(self, mesh_job):
        return getattr(getattr(mesh_job, "result", None), "strategy", "") or "—"

    @admin.display(description="elements")
    def elements(self, mesh_job):
        return getattr(getattr(mesh_job, "result", None), "element_count", None) or "—"

    @admin.display(description="full mesh job")
    def mesh_job_link(self, mesh_job):
        return _job_link(mesh_job.job)

    @admin.display(description="preview job")
    def preview_job_link(self, mesh_job):
        return _job_link(mesh_job.preview_job)

    @admin.display(description="every tried strategy")
    def strategies_table(self, mesh_job):
        return _strategies_table(getattr(mesh_job, "result", None))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        mesh_job = self.get_object(request, object_id)
        preview_url = ""
        if mesh_job is not None and mesh_job.preview_file:
            preview_url = reverse("admin:meshing_meshjob_preview", args=[mesh_job.pk])
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "preview_url": preview_url})

    def get_urls(self):
        from django.urls import path

        return [
            path("<int:pk>/preview/", self.admin_site.admin_view(self.preview_view), name="meshing_meshjob_preview")
        ] + super().get_urls()

    def preview_view(self, request, pk):
        """The preview JSON for the embedded viewer (staff with view permission only)."""
        from django.http import FileResponse, Http404

        mesh_job = self.get_object(request, str(pk))
        if mesh_job is None or not self.has_view_permission(request, mesh_job) or not mesh_job.preview_file:
            raise Http404("No preview")
        return FileResponse(mesh_job.preview_file.open("rb"), content_type="application/json")

    @confirmed_action(description="Retry the full mesh of selected failed jobs", permission="retry", verb="Retry")
    def retry_meshes(self, request, mesh_job, reason):
        from credits.services import CreditError

        try:
            job_services.retry_job(mesh_job.job, actor=request.user)
        except job_services.JobStateError:
            return None
        except CreditError as exc:  # a retry is charged to the owner like a new upload
            messages.warning(request, f"{mesh_job}: not retried: {exc}")
            return None
        return f"Retried the full mesh (charged again){': ' + reason if reason else ''}"


@admin.register(MeshResult)
class MeshResultAdmin(admin.ModelAdmin):
    change_form_template = "admin/meshing/meshresult/change_form.html"
    list_display = ["mesh_job", "status", "processor", "modal_call_id", "strategy", "element_count", "min_sicn",
                    "mean_gamma", "started_at", "finished_at"]
    list_filter = ["status", "processor", "strategy"]
    search_fields = ["modal_call_id", "mesh_job__cad_file__original_name", "mesh_job__owner__username"]
    list_select_related = ["mesh_job__cad_file"]
    exclude = ["strategies", "summary"]
    readonly_fields = [f.name for f in MeshResult._meta.fields if f.name not in ("strategies", "summary")] + ["strategies_table"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="every tried strategy")
    def strategies_table(self, result):
        return _strategies_table(result)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        result = self.get_object(request, object_id)
        preview_url = ""
        if result is not None and result.mesh_job.preview_file:
            preview_url = reverse("admin:meshing_meshjob_preview", args=[result.mesh_job_id])
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "preview_url": preview_url})


class MeshJobInline(admin.TabularInline):
    model = MeshJob
    fields = ["cad_file", "job", "failure_reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(BatchJob)
class BatchJobAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owner", "file_count", "created_at"]
    search_fields = ["name", "owner__username"]
    readonly_fields = ["owner", "name", "params", "created_at"]
    inlines = [MeshJobInline]

    def has_add_permission(self, request):
        return False

    @admin.display(description="files")
    def file_count(self, batch):
        return batch.mesh_jobs.count()


@admin.register(CadFile)
class CadFileAdmin(admin.ModelAdmin):
    list_display = ["original_name", "owner", "file_format", "size_bytes", "created_at"]
    list_filter = ["file_format"]
    search_fields = ["original_name", "sha256", "owner__username"]
    readonly_fields = ["owner", "file", "original_name", "file_format", "size_bytes", "sha256", "created_at"]

    def has_add_permission(self, request):
        return False
