"""Shared pieces of admin classes."""


class ViewOnlyAdminMixin:
    """Rows staff may look at but never add, edit or delete in a form (a ledger, derived data):
    they change only through services. Works for ModelAdmin and inlines alike."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
