from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from credits import services
from credits.forms import CreditMovementForm
from credits.models import CreditAccount, CreditTransaction
from portal.admin_mixins import ViewOnlyAdminMixin

RECENT_TRANSACTIONS = 20
LEDGER_FIELDS = ["created_at", "kind", "amount", "balance_after", "description", "reference", "idempotency_key",
                 "created_by"]


class RecentTransactionInline(ViewOnlyAdminMixin, admin.TabularInline):
    """The account's latest ledger rows, read-only; the full ledger is in Credit transactions."""

    model = CreditTransaction
    fields = LEDGER_FIELDS
    readonly_fields = LEDGER_FIELDS
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = f"Recent transactions (latest {RECENT_TRANSACTIONS})"

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("created_by")
        object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
        if object_id is None:
            return queryset.none()
        # The formset filters by account after this, so a slice must become a pk list.
        recent_ids = list(
            queryset.filter(account_id=object_id).order_by("-created_at", "-id").values_list("pk", flat=True)[
                :RECENT_TRANSACTIONS
            ]
        )
        return queryset.filter(pk__in=recent_ids).order_by("-created_at", "-id")



@admin.register(CreditAccount)
class CreditAccountAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    # Balances move only through the ledger's services (the actions below), never by editing a form.
    list_display = ["user", "balance", "updated_at"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    readonly_fields = ["user", "balance", "full_ledger", "created_at", "updated_at"]
    inlines = [RecentTransactionInline]
    actions = ["refund_credits", "grant_credits"]

    @admin.display(description="Ledger")
    def full_ledger(self, account):
        url = reverse("admin:credits_credittransaction_changelist") + f"?account__id__exact={account.pk}"
        return format_html('<a href="{}">All transactions of this account</a>', url)

    def has_issue_refund_permission(self, request):
        return request.user.has_perm("credits.issue_refund")

    def has_issue_grant_permission(self, request):
        return request.user.has_perm("credits.issue_grant")

    @admin.action(description="Refund credits to the selected accounts", permissions=["issue_refund"])
    def refund_credits(self, request, queryset):
        if not self.has_issue_refund_permission(request):
            raise PermissionDenied
        return self._move_credits(request, queryset, action="refund_credits", title="Refund credits",
                                  verb="Refunded", move=_admin_refund)

    @admin.action(description="Grant credits to the selected accounts", permissions=["issue_grant"])
    def grant_credits(self, request, queryset):
        if not self.has_issue_grant_permission(request):
            raise PermissionDenied
        return self._move_credits(request, queryset, action="grant_credits", title="Grant credits",
                                  verb="Granted", move=_admin_grant)

    def _move_credits(self, request, queryset, *, action, title, verb, move):
        """Show the confirmation page; on its confirmed POST, move credits for each account."""
        accounts = list(queryset.select_related("user").order_by("pk"))
        if "confirm" in request.POST:
            form = CreditMovementForm(request.POST)
            if form.is_valid():
                self._apply(request, accounts, form.cleaned_data, verb=verb, move=move)
                return None
        else:
            form = CreditMovementForm(initial=CreditMovementForm.fresh_initial())
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "accounts": accounts,
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "verb": verb,
        }
        return TemplateResponse(request, "admin/credits/creditaccount/confirm_credit_movement.html", context)

    def _apply(self, request, accounts, data, *, verb, move):
        # All accounts or none: a failure half-way through leaves no partial batch.
        with transaction.atomic():
            for account in accounts:
                row = move(account, data, request.user)
                self.log_change(
                    request,
                    account,
                    f"{verb} {data['amount']} credits (ledger row {row.pk}, balance {row.balance_after}). "
                    f"Reason: {data['reason']}",
                )
        self.message_user(request, f"{verb} {data['amount']} credits to {len(accounts)} account(s).", messages.SUCCESS)


def _admin_refund(account, data, actor):
    return services.refund(
        account.user,
        data["amount"],
        key=f"admin-refund:{data['token']}:{account.pk}",
        description=data["reason"],
        reference=f"admin:{actor.pk}",
        actor=actor,
    )


def _admin_grant(account, data, actor):
    return services.grant(
        account.user,
        data["amount"],
        actor=actor,
        reason=data["reason"],
        key=f"admin-grant:{data['token']}:{account.pk}",
        reference=f"admin:{actor.pk}",
    )


@admin.register(CreditTransaction)
class CreditTransactionAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "user", "kind", "amount", "balance_after", "reference", "idempotency_key",
                    "created_by"]
    list_filter = ["kind", "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["account__user__username", "idempotency_key", "reference", "description"]
    list_select_related = ["account__user", "created_by"]
    readonly_fields = ["account", *LEDGER_FIELDS]
    fields = readonly_fields
    show_full_result_count = False  # the ledger grows large; skip the extra COUNT(*)

    @admin.display(ordering="account__user__username")
    def user(self, row):
        return row.account.user

