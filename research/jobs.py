"""The "research" job kind: what the job engine needs to know about research jobs."""
from jobs.registry import JobKind, register_kind
from research import services

RESEARCH_KIND = JobKind(
    name=services.KIND,
    label="Research",
    function="run_research",
    build_payload=services.build_payload,
    ingest=services.ingest_result,
    on_failure=services.record_failure,
    on_retry=services.prepare_retry,
    on_event=services.record_section_event,
)


def register() -> None:
    register_kind(RESEARCH_KIND)
