"""A test job kind, "echo", and its compute function: small, fast, controllable.

The payload says what the handler does: return a value, fail with a message,
sleep, or crash its process. Imported in the test process and in worker
subprocesses (through PORTAL_EXTRA_* variables set in tests/conftest.py).
"""
import os
import time

from jobs.registry import JobKind, register_kind
from portal.compute_functions import ComputeFunction

FUNCTIONS = [
    ComputeFunction("test_echo", "tests.jobs.kinds:echo", timeout=20, retries=0, max_containers=2, memory=512, cpu=1),
    # The same handler run in the caller's process, as the meshing functions are.
    ComputeFunction("test_echo_in_process", "tests.jobs.kinds:echo", timeout=20, memory=512, cpu=1, isolated=False),
]


def echo(*, value=None, fail=None, bad_input=None, sleep=0.0, crash=False, steps=0, **context):
    from jobs.isolation import BadInput, CoreError
    from jobs.reporting import reporter_from_payload

    reporter = reporter_from_payload(context)
    for step in range(1, steps + 1):
        reporter.progress(step, steps, f"step {step}")
        reporter.log(f"did step {step}")
    if sleep:
        time.sleep(sleep)
    if crash:
        os._exit(3)
    if bad_input:
        raise BadInput(bad_input)
    if fail:
        raise CoreError(fail, error_type="echo_failed")
    return {"value": value, "pid": os.getpid()}


def _payload(job):
    return dict(_inputs.get(str(job.pk), {}))


# Inputs per job id. The test process sets them before dispatch; worker processes never
# need them because the payload travels with the call.
_inputs: dict[str, dict] = {}


def set_inputs(job, **inputs):
    _inputs[str(job.pk)] = inputs


def _ingest(job, output):
    from jobs.models import JobLogLine

    JobLogLine.objects.create(job=job, message=f"ingested {output.get('value')!r}")


def _on_failure(job):
    from jobs.models import JobLogLine

    JobLogLine.objects.create(job=job, level="error", message=f"on_failure: {job.error_type}")


register_kind(JobKind(name="echo", label="Echo (tests)", function="test_echo", build_payload=_payload,
                      ingest=_ingest, on_failure=_on_failure))
