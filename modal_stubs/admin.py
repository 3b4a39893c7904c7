from django.contrib import admin
from django.utils.html import format_html

from modal_stubs import services
from modal_stubs.models import StubCall
from portal.admin_actions import confirmed_action


@admin.register(StubCall)
class StubCallAdmin(admin.ModelAdmin):
    """The stand-in's call log, like Modal's dashboard: read-only, with cancel."""

    list_display = ["object_id", "function_name", "status_badge", "attempts", "error_type", "created_at", "finished_at", "expires_at"]
    list_filter = ["status", "function_name", "error_type"]
    search_fields = ["=object_id"]  # exact: served by the primary key
    show_full_result_count = False  # a COUNT(*) over every call is slow when the table is large
    readonly_fields = [field.name for field in StubCall._meta.fields]
    actions = ["cancel_calls"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="status", ordering="status")
    def status_badge(self, call):
        colours = {"succeeded": "#1a7f37", "failed": "#b42318", "running": "#2a5bd7", "queued": "#9a6700"}
        return format_html('<b style="color:{}">{}</b>', colours.get(call.status, "#6b7280"), call.get_status_display())

    # Cancelling a call here is what cancelling in Modal's dashboard is: the job that spawned it
    # learns of it on its next poll and fails with error_type "cancelled".
    @confirmed_action(description="Cancel selected queued or running calls", permission="change", verb="Cancel")
    def cancel_calls(self, request, call, reason):
        if not services.cancel_call(call.object_id):
            return None
        return f"Cancelled{': ' + reason if reason else ''}"
