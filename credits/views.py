from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from credits import conf, selectors


@login_required
@require_GET
def ledger(request):
    """The user's own balance and ledger, newest first."""
    page = Paginator(selectors.transactions_of(request.user), conf.ledger_page_size()).get_page(request.GET.get("page"))
    return render(request, "credits/ledger.html", {"balance": selectors.balance_of(request.user), "page": page})
