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
from jobs.services import record_events


@csrf_exempt
@require_POST
def callback(request, attempt_id: int):
    """Progress, log lines and events from a running compute function (HMAC-signed per attempt).

    One event {type, data}, or several in order {"events": [{type, data}, ...]}.
    """
    body = request.body
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not is_valid_signature(attempt_id, timestamp, signature, body):
        return HttpResponseForbidden("Bad or expired signature")
    try:
        events = _parse_events(json.loads(body))
    except (ValueError, KeyError, TypeError, AttributeError):
        return HttpResponseBadRequest("Expected JSON {type, data} or {events: [{type, data}, ...]}")
    attempt = get_object_or_404(JobAttempt, pk=attempt_id)
    if len(events) == 1 and events[0][0] == "ratelimit":
        data = events[0][1]
        return JsonResponse({"wait": ratelimit.acquire(str(data.get("bucket", "")), int(data.get("tokens", 1)))})
    if any(event_type == "ratelimit" for event_type, _ in events):
        return HttpResponseBadRequest("A rate-limit request needs an answer of its own: send it alone")
    record_events(attempt, events)
    return JsonResponse({"ok": True, "recorded": len(events)})


def _parse_events(payload: dict) -> list[tuple[str, dict]]:
    items = payload["events"] if "events" in payload else [payload]
    if not isinstance(items, list) or not items:
        raise ValueError("no events")
    return [(str(item["type"]), dict(item.get("data") or {})) for item in items]


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
