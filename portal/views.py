from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from portal.models import ApiKey
from portal.services import create_api_key, revoke_api_key


def home(request):
    if not request.user.is_authenticated:
        return render(request, "portal/welcome.html")
    return redirect("datasets:list")


@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request):
    new_key = None
    if request.method == "POST":
        if "revoke" in request.POST:
            revoke_api_key(request.user, int(request.POST["revoke"]))
            messages.info(request, "The key was revoked.")
            return redirect("api_keys")
        _api_key, new_key = create_api_key(request.user, request.POST.get("name", "").strip())
    keys = ApiKey.objects.filter(user=request.user)
    return render(request, "portal/api_keys.html", {"keys": keys, "new_key": new_key})
