"""The HMAC-signed callback endpoint for progress, log lines and events."""
import json
import time

import pytest

from jobs.callbacks import callback_key
from jobs.models import JobLogLine, JobStatus
from jobs.reporting import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.jobs.factories import dispatched_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def attempt(user):
    return dispatched_job(user, call_id="fc-x")[1]


def post_event(client, attempt_id, event_type, data, *, key=None, timestamp=None):
    return post_body(client, attempt_id, {"type": event_type, "data": data}, key=key, timestamp=timestamp)


def post_body(client, attempt_id, payload, *, key=None, timestamp=None):
    body = json.dumps(payload).encode()
    timestamp = timestamp or str(int(time.time()))
    signature = sign(key or callback_key(attempt_id), timestamp, body)
    return client.post(f"/jobs/callback/{attempt_id}/", data=body, content_type="application/json",
                       headers={SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: timestamp})


def test_progress_marks_the_job_running(client, attempt):
    response = post_event(client, attempt.pk, "progress", {"done": 2, "total": 4, "label": "parsing"})

    assert response.status_code == 200
    job = attempt.job
    job.refresh_from_db()
    assert (job.status, job.progress_done, job.progress_total, job.progress_label) == ("running", 2, 4, "parsing")
    assert job.started_at is not None
    assert job.progress_text == "2/4 parsing"


def test_log_lines_are_kept(client, attempt):
    post_event(client, attempt.pk, "log", {"message": "Meshing 3D with HXT", "level": "info"})
    assert list(JobLogLine.objects.filter(attempt=attempt).values_list("message", flat=True)) == ["Meshing 3D with HXT"]


def test_finished_flags_the_attempt_for_the_next_poll(client, attempt):
    post_event(client, attempt.pk, "finished", {"seconds": 1.5})
    attempt.refresh_from_db()
    assert attempt.result_ready is True


def test_a_finished_notice_with_its_result_completes_the_call_without_asking_modal(
    client, attempt, django_capture_on_commit_callbacks, eager_celery
):
    result = {"output": {"value": "from the notice"}, "compute_seconds": 0.25}
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, attempt.pk, "finished", {"seconds": 0.3, "result": result})
    # The stub knows no call "fc-x": had the portal asked for the result, the attempt would have failed.
    job = attempt.job
    job.refresh_from_db()
    assert (job.status, job.compute_seconds) == (JobStatus.SUCCEEDED, 0.25)
    assert JobLogLine.objects.filter(job=job, message="ingested 'from the notice'").exists()


def test_a_finished_notice_without_a_result_asks_modal(client, attempt, django_capture_on_commit_callbacks, eager_celery):
    with django_capture_on_commit_callbacks(execute=True):
        post_event(client, attempt.pk, "finished", {"seconds": 0.3})
    job = attempt.job
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED  # the stub was asked about call "fc-x", which it never ran
    assert (job.error_type, job.error_message) == ("NotFoundError", "No function call with id 'fc-x'")


def test_a_key_for_another_attempt_is_refused(client, attempt):
    response = post_event(client, attempt.pk, "progress", {"done": 1, "total": 2}, key=callback_key(attempt.pk + 1))
    assert response.status_code == 403
    attempt.job.refresh_from_db()
    assert attempt.job.status == JobStatus.DISPATCHED


def test_an_old_signature_is_refused(client, attempt):
    response = post_event(client, attempt.pk, "log", {"message": "x"}, timestamp=str(int(time.time()) - 10 * 24 * 3600))
    assert response.status_code == 403
    assert not JobLogLine.objects.exists()


def test_progress_for_a_finished_job_changes_nothing(client, attempt):
    job = attempt.job
    job.status = JobStatus.SUCCEEDED
    job.save()
    post_event(client, attempt.pk, "progress", {"done": 1, "total": 9})
    job.refresh_from_db()
    assert (job.status, job.progress_total) == ("succeeded", 0)


def test_a_batch_of_events_is_applied_in_order(client, attempt):
    events = [
        {"type": "log", "data": {"message": "first"}},
        {"type": "log", "data": {"message": "second", "level": "warning"}},
        {"type": "progress", "data": {"done": 1, "total": 2, "label": "half"}},
        {"type": "log", "data": {"message": "third"}},
    ]
    response = post_body(client, attempt.pk, {"events": events})

    assert response.status_code == 200 and response.json()["recorded"] == 4
    lines = list(JobLogLine.objects.filter(attempt=attempt).order_by("id").values_list("message", "level"))
    assert lines == [("first", "info"), ("second", "warning"), ("third", "info")]
    attempt.job.refresh_from_db()
    assert (attempt.job.status, attempt.job.progress_text) == ("running", "1/2 half")


@pytest.mark.parametrize("payload", [
    {"events": []},
    {"events": "log"},
    {"events": [{"data": {}}]},
    {"events": [{"type": "log", "data": {}}, {"type": "ratelimit", "data": {"bucket": "openai"}}]},
])
def test_a_malformed_batch_is_refused_whole(client, attempt, payload):
    response = post_body(client, attempt.pk, payload)

    assert response.status_code == 400
    assert not JobLogLine.objects.filter(attempt=attempt).exists()
