"""modal_stubs exposes modal's SDK surface: same signatures, same exception classes, Modal-style ids."""
import inspect
import re
from datetime import timedelta

import modal
import modal.exception
import pytest
from django.utils import timezone

import modal_stubs
from jobs.isolation import BadInput, CoreCrashed, CoreError
from modal_stubs import services
from modal_stubs.ids import is_call_id, new_call_id
from modal_stubs.models import StubCall

SURFACE = [
    ("Function.from_name", lambda m: m.Function.from_name),
    ("Function.spawn", lambda m: m.Function.spawn),
    ("Function.remote", lambda m: m.Function.remote),
    ("FunctionCall.from_id", lambda m: m.FunctionCall.from_id),
    ("FunctionCall.get", lambda m: m.FunctionCall.get),
    ("FunctionCall.cancel", lambda m: m.FunctionCall.cancel),
]


def shape(callable_):
    """Parameter names, kinds and defaults: what a caller relies on (annotations name Modal's own types).

    self/cls is left out: modal's decorators show `cls` on some bound classmethods.
    """
    parameters = inspect.signature(callable_).parameters.values()
    return [(p.name, p.kind, p.default) for p in parameters if p.name not in ("self", "cls")]


@pytest.mark.parametrize("name,get", SURFACE, ids=[name for name, _ in SURFACE])
def test_public_signatures_match_modal(name, get):
    assert shape(get(modal_stubs)) == shape(get(modal))


def test_exception_module_reexports_modals_own_classes():
    public = {n for n, v in vars(modal.exception).items() if isinstance(v, type) and issubclass(v, BaseException) and not n.startswith("_")}
    assert public  # the comparison below means something
    for name in public:
        assert getattr(modal_stubs.exception, name) is getattr(modal.exception, name), name
    assert modal_stubs.exception.OutputExpiredError is modal.exception.OutputExpiredError
    assert not issubclass(modal.exception.OutputExpiredError, TimeoutError)  # so "except TimeoutError" means running


def test_call_ids_have_modals_form_and_sort_by_time():
    # Modal's ids look like fc-01M2YTAV86BW1C2X49E7R7N381: "fc-" and a 26-character Crockford ULID.
    ids = [new_call_id() for _ in range(2000)]
    assert all(re.fullmatch(r"fc-[0-9A-HJKMNP-TV-Z]{26}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert is_call_id("fc-01M2YTAV86BW1C2X49E7R7N381")
    assert not is_call_id("fc-not-a-call") and not is_call_id("ap-01M2YTAV86BW1C2X49E7R7N381")
    earlier = new_call_id()
    import time

    time.sleep(0.002)
    assert new_call_id()[:13] > earlier[:13]  # the millisecond prefix grows


@pytest.mark.django_db
def test_from_name_of_an_undeclared_function_or_undeployed_app_raises_not_found():
    with pytest.raises(modal.exception.NotFoundError):
        modal_stubs.Function.from_name("modal-ops-portal", "no-such-function")
    with pytest.raises(modal.exception.NotFoundError):
        modal_stubs.Function.from_name("an-app-never-deployed", "stub-echo")
    assert modal_stubs.Function.from_name("modal-ops-portal", "stub-echo").name == "stub-echo"


@pytest.mark.django_db
def test_spawn_stores_one_queued_call_and_get_says_still_running():
    call = modal_stubs.Function.from_name("modal-ops-portal", "stub-echo").spawn(text="hello", n=3)
    assert is_call_id(call.object_id)
    row = StubCall.objects.get(object_id=call.object_id)
    assert (row.function_name, row.status, row.attempts) == ("stub-echo", "queued", 0)
    assert row.payload == {"args": [], "kwargs": {"text": "hello", "n": 3}}
    handle = modal_stubs.FunctionCall.from_id(call.object_id)
    with pytest.raises(TimeoutError) as caught:
        handle.get(timeout=0)
    assert type(caught.value) is TimeoutError  # the built-in class, as modal's poll_function raises
    started = timezone.now()
    with pytest.raises(TimeoutError):
        handle.get(timeout=0.3)
    assert timezone.now() - started >= timedelta(seconds=0.3)


@pytest.mark.django_db
def test_spawn_rejects_input_that_is_not_json():
    with pytest.raises(TypeError):
        modal_stubs.Function.from_name("modal-ops-portal", "stub-echo").spawn(when=object())


def finished_call(**fields) -> str:
    object_id = new_call_id()
    StubCall.objects.create(
        object_id=object_id, function_name="stub-echo", finished_at=timezone.now(), expires_at=timezone.now() + timedelta(hours=1), **fields
    )
    return object_id


@pytest.mark.django_db
def test_get_returns_a_stored_result():
    object_id = finished_call(status="succeeded", result={"output": {"n": 1}, "compute_seconds": 0.5})
    assert modal_stubs.FunctionCall.from_id(object_id).get(timeout=0) == {"output": {"n": 1}, "compute_seconds": 0.5}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "error_class,error_type,expected",
    [
        ("jobs.isolation:BadInput", "bad_input", BadInput),
        ("jobs.isolation:CoreCrashed", "crashed", CoreCrashed),
        ("jobs.isolation:CoreError", "docling_error", CoreError),
        ("modal.exception:FunctionTimeoutError", "timeout", modal.exception.FunctionTimeoutError),
        ("builtins:ValueError", "ValueError", ValueError),
        ("somewhere.never.imported:Boom", "Boom", CoreError),  # nothing is imported from a stored string
    ],
)
def test_get_re_raises_the_calls_own_error_type(error_class, error_type, expected):
    object_id = finished_call(status="failed", error_class=error_class, error_type=error_type, error_message="it broke")
    with pytest.raises(Exception) as caught:
        modal_stubs.FunctionCall.from_id(object_id).get(timeout=0)
    assert type(caught.value) is expected
    assert str(caught.value) == "it broke"
    assert caught.value.error_type == error_type


@pytest.mark.django_db
def test_cancel_of_a_queued_call_makes_get_raise_a_remote_error():
    call = modal_stubs.Function.from_name("modal-ops-portal", "stub-echo").spawn()
    call.cancel()
    assert StubCall.objects.get(object_id=call.object_id).status == "cancelled"
    with pytest.raises(modal.exception.RemoteError) as caught:
        call.get(timeout=0)
    assert caught.value.error_type == "cancelled"
    call.cancel()  # cancelling twice changes nothing and raises nothing
    assert not services.cancel_call(call.object_id)


@pytest.mark.django_db
def test_finished_calls_are_not_cancelled():
    object_id = finished_call(status="succeeded", result={"output": {}})
    modal_stubs.FunctionCall.from_id(object_id).cancel()
    assert StubCall.objects.get(object_id=object_id).status == "succeeded"


@pytest.mark.django_db
def test_results_past_their_retention_raise_output_expired():
    object_id = finished_call(status="succeeded", result={"output": {"n": 1}})
    StubCall.objects.filter(object_id=object_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    handle = modal_stubs.FunctionCall.from_id(object_id)
    with pytest.raises(modal.exception.OutputExpiredError):
        handle.get(timeout=0)  # past retention even before the worker's housekeeping ran

    expired, deleted = services.expire_results()
    row = StubCall.objects.get(object_id=object_id)
    assert (expired, deleted, row.status, row.result) == (1, 0, "expired", None)
    with pytest.raises(modal.exception.OutputExpiredError):
        handle.get(timeout=0)

    StubCall.objects.filter(object_id=object_id).update(expires_at=timezone.now() - timedelta(days=30))
    assert services.expire_results() == (0, 1)  # long-expired calls are forgotten altogether
    with pytest.raises(modal.exception.OutputExpiredError):
        handle.get(timeout=0)


@pytest.mark.django_db
def test_unknown_ids_and_other_indexes_are_refused():
    with pytest.raises(modal.exception.NotFoundError):
        modal_stubs.FunctionCall.from_id("fc-nonsense").get(timeout=0)
    object_id = finished_call(status="succeeded", result={})
    with pytest.raises(modal.exception.InvalidError):
        modal_stubs.FunctionCall.from_id(object_id).get(timeout=0, index=1)
