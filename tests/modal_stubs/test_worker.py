"""The stub worker runs calls like Modal: results, timeouts, retries, crashes, cancel, max_containers."""
import json
import os
import time

import modal.exception
import pytest

from jobs.isolation import BadInput, CoreCrashed, CoreError, CoreTimeout
from modal_stubs import services
from modal_stubs.models import StubCall
from tests.fixtures.services import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def result_of(call, timeout=30):
    return call.get(timeout=timeout)


def row(call) -> StubCall:
    return StubCall.objects.get(object_id=call.object_id)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def records(directory, pattern="*.json"):
    return [json.loads(path.read_text()) for path in directory.glob(pattern)]


def test_spawned_call_runs_in_a_warm_container_and_get_returns_its_envelope(stub_app):
    first = stub_app.function("stub-echo").spawn(text="héllo", n=1)
    envelope = result_of(first)
    assert envelope["output"]["echo"] == {"text": "héllo", "n": 1}
    assert envelope["compute_seconds"] >= 0
    second = result_of(stub_app.function("stub-echo").spawn(n=2))
    assert second["output"]["container_pid"] == envelope["output"]["container_pid"]  # one warm container ran both
    done = row(first)
    assert (done.status, done.attempts, done.app_name) == ("succeeded", 1, stub_app.name)
    assert done.started_at <= done.finished_at < done.expires_at
    assert f"call {first.object_id} (stub-echo) succeeded" in stub_app.worker.log_text()


def test_call_past_its_timeout_fails_with_error_type_timeout(stub_app, tmp_path):
    call = stub_app.function("stub-slow").spawn(seconds=30, record_dir=str(tmp_path))  # declared timeout: 2 s
    started = time.monotonic()
    # The core's own isolation (CoreTimeout) and the worker (FunctionTimeoutError, as Modal raises)
    # both enforce the declared timeout; whichever comes first, it is a timeout.
    with pytest.raises((modal.exception.FunctionTimeoutError, CoreTimeout)) as caught:
        result_of(call)
    assert 2 <= time.monotonic() - started < 10
    assert caught.value.error_type == "timeout"
    [record] = records(tmp_path)
    assert "end" not in record  # it never finished its sleep
    wait_until(lambda: not pid_alive(record["pid"]), timeout=5)
    assert row(call).status == "failed"


def test_a_container_hung_past_the_timeout_is_killed(stub_app, tmp_path):
    call = stub_app.function("stub-freeze").spawn(record_dir=str(tmp_path))  # stops its own container
    with pytest.raises(modal.exception.FunctionTimeoutError) as caught:
        result_of(call)
    assert caught.value.error_type == "timeout"
    assert "time limit of 2 s" in str(caught.value)
    record = json.loads((tmp_path / "frozen.json").read_text())
    wait_until(lambda: not pid_alive(record["container_pid"]) and not pid_alive(record["pid"]), timeout=5)
    assert result_of(stub_app.function("stub-echo").spawn(after="freeze"))["output"]["echo"] == {"after": "freeze"}


def test_failures_are_retried_up_to_the_declared_retries(stub_app, tmp_path):
    counter = tmp_path / "count"
    call = stub_app.function("stub-flaky").spawn(counter_path=str(counter), failures=2)  # retries=2
    assert result_of(call)["output"] == {"attempts": 3}
    assert row(call).attempts == 3

    counter.unlink()
    doomed = stub_app.function("stub-flaky").spawn(counter_path=str(counter), failures=5)
    with pytest.raises(CoreError) as caught:  # the core's error as jobs.isolation hands it over
        result_of(doomed)
    assert caught.value.error_type == "RuntimeError"
    assert str(caught.value) == "transient failure 3"
    assert (row(doomed).attempts, counter.read_text()) == (3, "3")
    assert "transient failure 3" in row(doomed).traceback


def test_bad_input_is_not_retried(stub_app, tmp_path):
    counter = tmp_path / "count"
    call = stub_app.function("stub-reject").spawn(counter_path=str(counter))  # retries=3: retrying cannot fix input
    with pytest.raises(BadInput) as caught:
        result_of(call)
    assert str(caught.value) == "The file is not a PDF (magic bytes say ZIP)"
    assert caught.value.error_type == "bad_input"
    assert (row(call).attempts, counter.read_text()) == (1, "1")


@pytest.mark.parametrize(
    "how,expected",
    [("exit", "exited with code 3"), ("segv", "SIGSEGV"), ("container", "container running the call died (killed by SIGKILL)")],
)
def test_a_crash_fails_its_call_and_the_worker_carries_on(stub_app, how, expected):
    call = stub_app.function("stub-crash").spawn(how=how)
    with pytest.raises(CoreCrashed) as caught:
        result_of(call)
    assert caught.value.error_type == "crashed"
    assert expected in str(caught.value)
    assert stub_app.worker.alive()
    assert result_of(stub_app.function("stub-echo").spawn(after="crash"))["output"]["echo"] == {"after": "crash"}


def test_results_that_are_not_json_and_positional_arguments_fail_clearly(stub_app):
    with pytest.raises(TypeError) as caught:
        result_of(stub_app.function("stub-not-json").spawn())
    assert caught.value.error_type == "TypeError" and "JSON serializable" in str(caught.value)
    with pytest.raises(TypeError, match="keyword arguments only"):
        result_of(stub_app.function("stub-echo").spawn("a-file.pdf"))


def test_a_container_that_cannot_boot_fails_its_call_after_the_retries(start_stub_app):
    app = start_stub_app(STUB_TEST_BREAK_IMPORTS="1")
    call = app.function("stub-broken").spawn()  # retries=1
    with pytest.raises(ImportError, match="a_package_the_image_lacks") as caught:
        result_of(call)
    assert caught.value.error_type == "ImportError"
    assert row(call).attempts == 2
    assert "could not start" in app.worker.log_text() and app.worker.alive()


def test_cancel_kills_the_container_running_the_call(stub_app, tmp_path):
    call = stub_app.function("stub-sleep").spawn(seconds=60, record_dir=str(tmp_path), tag="cancel-me")
    marker = wait_until(lambda: next(tmp_path.glob("cancel-me-*.json"), None), timeout=20)
    pid = json.loads(marker.read_text())["pid"]
    call.cancel()
    wait_until(lambda: not pid_alive(pid), timeout=5)
    with pytest.raises(modal.exception.RemoteError) as caught:
        call.get(timeout=0)
    assert caught.value.error_type == "cancelled"
    assert row(call).status == "cancelled"
    assert result_of(stub_app.function("stub-echo").spawn(after="cancel"))["output"]["echo"] == {"after": "cancel"}


def most_at_once(intervals) -> int:
    events = sorted([(i["start"], 1) for i in intervals] + [(i["end"], -1) for i in intervals])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def test_max_containers_is_never_exceeded(stub_app, tmp_path):
    # stub-sleep declares max_containers=2; the worker has 3 containers.
    calls = [stub_app.function("stub-sleep").spawn(seconds=0.5, record_dir=str(tmp_path)) for _ in range(6)]
    for call in calls:
        result_of(call)
    intervals = records(tmp_path)
    assert len(intervals) == 6
    assert most_at_once(intervals) == 2  # two at once (the limit was reached), never three


def test_the_worker_cap_bounds_all_functions_together(start_stub_app, tmp_path):
    app = start_stub_app("--containers", "1")
    calls = [app.function("stub-sleep").spawn(seconds=0.3, record_dir=str(tmp_path)) for _ in range(2)]
    calls += [app.function("stub-slow").spawn(seconds=0.3, record_dir=str(tmp_path)) for _ in range(2)]
    for call in calls:
        result_of(call)
    intervals = records(tmp_path)
    assert len(intervals) == 4 and most_at_once(intervals) == 1


def test_sigterm_gives_running_calls_back_to_the_queue(start_stub_app, tmp_path):
    app = start_stub_app()
    call = app.function("stub-sleep").spawn(seconds=60, record_dir=str(tmp_path), tag="interrupted")
    marker = wait_until(lambda: next(tmp_path.glob("interrupted-*.json"), None), timeout=20)
    record = json.loads(marker.read_text())
    assert app.stop() == 0
    wait_until(lambda: not pid_alive(record["pid"]) and not pid_alive(record["container_pid"]), timeout=5)
    stored = row(call)
    assert (stored.status, stored.attempts, stored.worker) == ("queued", 0, "")
    assert "1 running calls given back to the queue" in app.worker.log_text()


def test_once_drains_the_queue_and_exits(start_stub_app, tmp_path):
    app = start_stub_app("--once")
    calls = [app.function("stub-echo").spawn(i=i) for i in range(5)]
    assert app.worker.process.wait(60) == 0
    assert [result_of(call, timeout=0)["output"]["echo"] for call in calls] == [{"i": i} for i in range(5)]


def test_calls_of_a_worker_that_vanished_are_recovered():
    # A worker killed with SIGKILL leaves its call "running"; once its lease runs out it is retried.
    import modal_stubs

    call = modal_stubs.Function("no-worker-serves-this", "stub-flaky").spawn(counter_path="/dev/null", failures=0)
    claimed = services.claim_calls("no-worker-serves-this", "stub-flaky", 1, "dead-worker")
    assert [c.object_id for c in claimed] == [call.object_id]
    StubCall.objects.filter(object_id=call.object_id).update(heartbeat_at=row(call).heartbeat_at.replace(year=2000))
    assert services.recover_abandoned_calls({"stub-flaky": 2}, lease_seconds=60) == 1
    stored = row(call)
    assert (stored.status, stored.error_type, stored.worker, stored.attempts) == ("queued", "crashed", "", 1)

    services.claim_calls("no-worker-serves-this", "stub-flaky", 1, "another-dead-worker")
    StubCall.objects.filter(object_id=call.object_id).update(heartbeat_at=row(call).heartbeat_at.replace(year=2000))
    assert services.recover_abandoned_calls({"stub-flaky": 0}, lease_seconds=60) == 1  # no retries left
    with pytest.raises(CoreCrashed, match="stopped responding"):
        call.get(timeout=0)


def test_a_spawn_wakes_an_idle_worker_without_waiting_for_its_poll(start_stub_app):
    # A poll of 30 s: only the NOTIFY sent with the spawn can start these calls promptly.
    app = start_stub_app(MODAL_STUB_POLL_SECONDS="30", MODAL_STUB_HOUSEKEEPING_SECONDS="30")
    warm = result_of(app.function("stub-echo").spawn(n=0), timeout=20)  # boots the container
    time.sleep(0.5)  # the worker is idle again, waiting on its 30 s poll
    started = time.monotonic()
    second = result_of(app.function("stub-echo").spawn(n=1), timeout=20)
    assert time.monotonic() - started < 3
    assert second["output"]["container_pid"] == warm["output"]["container_pid"]


def test_a_notice_names_the_function_whose_calls_the_worker_claims_first():
    import modal_stubs
    from modal_stubs.worker import NewCallListener, StubWorker

    listener = NewCallListener()
    listener.open()
    try:
        modal_stubs.Function("notice-app", "stub-echo").spawn(n=1)
        modal_stubs.Function("other-app", "stub-sleep").spawn(seconds=0)
        notices = set()
        wait_until(lambda: notices.update(listener.drain()) or len(notices) == 2, timeout=10)
    finally:
        listener.close()
    assert notices == {"notice-app:stub-echo", "other-app:stub-sleep"}
    # A worker of one app reads only its own app's notices, and only of functions it serves.
    worker = StubWorker(app_name="notice-app", containers=1)
    assert worker._notified_functions(notices | {"notice-app:not-declared"}) == ["stub-echo"]
