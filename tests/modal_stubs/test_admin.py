"""Staff see stub calls in the admin and can cancel them, through a confirmation page, with a LogEntry."""
import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

import modal_stubs
from modal_stubs.models import StubCall

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:modal_stubs_stubcall_changelist")


def spawn(**payload):
    return modal_stubs.Function.from_name("modal-ops-portal", "stub-echo").spawn(**payload).object_id


def test_staff_see_calls_filtered_by_status(client, staff_user):
    queued = spawn(n=1)
    done = spawn(n=2)
    StubCall.objects.filter(object_id=done).update(status="succeeded")
    client.force_login(staff_user)
    page = client.get(CHANGELIST, {"status__exact": "queued"})
    assert page.status_code == 200
    assert queued in page.content.decode() and done not in page.content.decode()
    detail = client.get(reverse("admin:modal_stubs_stubcall_change", args=[queued]))
    assert detail.status_code == 200 and "stub-echo" in detail.content.decode()
    assert client.get(reverse("admin:modal_stubs_stubcall_add")).status_code == 403


def test_non_staff_are_kept_out(client, user):
    spawn()
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_cancel_action_asks_first_then_cancels_and_logs(client, staff_user):
    queued = spawn(n=1)
    finished = spawn(n=2)
    StubCall.objects.filter(object_id=finished).update(status="succeeded")
    client.force_login(staff_user)
    form = {"action": "cancel_calls", "_selected_action": [queued, finished]}

    confirmation = client.post(CHANGELIST, form)
    assert confirmation.status_code == 200 and "are you sure?" in confirmation.content.decode()
    assert StubCall.objects.get(object_id=queued).status == "queued"  # nothing happened yet

    response = client.post(CHANGELIST, {**form, "confirm": "yes", "reason": "stuck in the queue"})
    assert response.status_code == 302
    assert StubCall.objects.get(object_id=queued).status == "cancelled"
    assert StubCall.objects.get(object_id=finished).status == "succeeded"  # finished calls are skipped
    [entry] = LogEntry.objects.filter(object_id=queued)
    assert entry.user == staff_user and "stuck in the queue" in entry.get_change_message()
    assert not LogEntry.objects.filter(object_id=finished).exists()
