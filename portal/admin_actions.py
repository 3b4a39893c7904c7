"""Admin actions that re-run work or move money go through a confirmation page.

`confirmed_action` wraps a per-object operation: the first POST shows the
page listing the selected objects (with an optional required reason); the
confirming POST runs the operation on each and writes a LogEntry per object.
"""
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse


def confirmed_action(*, description: str, permission: str, verb: str, reason_required: bool = False):
    """Decorator for `operation(modeladmin, request, obj, reason) -> str | None` (None: skipped)."""

    def decorate(operation):
        @admin.action(description=description, permissions=[permission])
        def action(modeladmin, request, queryset):
            reason = request.POST.get("reason", "").strip()
            if "confirm" in request.POST and (reason or not reason_required):
                return _perform(modeladmin, request, queryset, operation, verb, reason)
            return TemplateResponse(
                request,
                "admin/confirm_action.html",
                {
                    **modeladmin.admin_site.each_context(request),
                    "title": f"{description}: are you sure?",
                    "description": description,
                    "verb": verb,
                    "objects": queryset,
                    "opts": modeladmin.model._meta,
                    "action_name": operation.__name__,
                    "action_checkbox_name": ACTION_CHECKBOX_NAME,
                    "reason_required": reason_required,
                    "reason_missing": "confirm" in request.POST and reason_required and not reason,
                },
            )

        action.__name__ = operation.__name__
        return action

    return decorate


def _perform(modeladmin, request, queryset, operation, verb, reason):
    done = skipped = 0
    for obj in queryset:
        change_message = operation(modeladmin, request, obj, reason)
        if change_message is None:
            skipped += 1
            continue
        modeladmin.log_change(request, obj, change_message)
        done += 1
    messages.info(request, f"{verb}: {done} done, {skipped} skipped.")
    return None
