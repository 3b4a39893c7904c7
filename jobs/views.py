import json

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from jobs import ratelimit
from jobs.artifacts import read_token
from jobs.callbacks import is_valid_signature
from jobs.models import JobAttempt
from jobs.reporting import SIGNATURE_HEADER, TIMESTAMP_HEADER
from jobs.services import record_event


@csrf_exempt
@require_POST
def callback(request, attempt_id: int):
    """Progress, log lines and events from a running compute function (HMAC-signed per attempt)."""
    body = request.body
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not is_valid_signature(attempt_id, timestamp, signature, body):
        return HttpResponseForbidden("Bad or expired signature")
    try:
        event = json.loads(body)
        event_type, data = str(event["type"]), dict(event.get("data") or {})
    except (ValueError, KeyError, TypeError):
        return HttpResponseBadRequest("Expected JSON {type, data}")
    attempt = get_object_or_404(JobAttempt, pk=attempt_id)
    if event_type == "ratelimit":
        return JsonResponse({"wait": ratelimit.acquire(str(data.get("bucket", "")), int(data.get("tokens", 1)))})
    record_event(attempt, event_type, data)
    return JsonResponse({"ok": True})


@csrf_exempt
@require_http_methods(["GET", "PUT"])
def artifact(request, token: str):
    """Signed, expiring file access for compute functions when storage is the filesystem."""
    try:
        grant = read_token(token)
    except signing.BadSignature:
        return HttpResponseForbidden("Bad or expired link")
    if request.method != {"get": "GET", "put": "PUT"}[grant["op"]]:
        return HttpResponseForbidden("This link does not allow that")
    name = grant["name"]
    if request.method == "GET":
        if not default_storage.exists(name):
            return HttpResponse(status=404)
        return FileResponse(default_storage.open(name, "rb"))
    if len(request.body) > settings.ARTIFACT_MAX_BYTES:
        return HttpResponse("Artifact too large", status=413)
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(request.body))
    return HttpResponse(status=201)
