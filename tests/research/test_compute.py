"""The framework-free research core against a real local OpenAI-protocol server."""
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobs.isolation import BadInput, CoreError
from jobs.reporting import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from research.compute import ProviderError, handle_research, run_research
from tests.research.conftest import FAST_RETRY, LLM_KEY, building_code_sections, provider_config

SUBJECT = "221B Baker Street, London"


@pytest.fixture
def callback_recorder():
    """A local endpoint that records the signed events a core posts."""
    events = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            expected = sign("attempt-key", self.headers[TIMESTAMP_HEADER], body)
            assert hmac.compare_digest(expected, self.headers[SIGNATURE_HEADER])
            events.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callback", events
    server.shutdown()
    server.server_close()


def research(fake, **kwargs):
    arguments = {
        "subject": SUBJECT,
        "sections": building_code_sections(),
        "completed_positions": [],
        "provider": provider_config(fake),
        "retry": FAST_RETRY,
    }
    arguments.update(kwargs)
    return run_research(**arguments)


def test_every_section_is_researched_in_order_with_tokens_latency_and_cost(fake_llm):
    output = research(fake_llm)

    assert [s["position"] for s in output["sections"]] == list(range(1, 14))
    assert output["total"] == 13
    prompts = fake_llm.user_prompts()
    assert prompts == [f"[S{p:02d}] Research topic {p} for {SUBJECT}." for p in range(1, 14)]
    seventh = output["sections"][6]
    assert seventh["title"] == "Fire safety"
    assert seventh["content"].startswith("Findings for: [S07]")
    assert seventh["prompt_tokens"] > 20 and seventh["completion_tokens"] > 0
    assert seventh["latency_ms"] >= 0
    expected_cost = seventh["prompt_tokens"] / 1000 * 0.5 + seventh["completion_tokens"] / 1000 * 1.5
    assert seventh["estimated_cost"] == pytest.approx(expected_cost)
    first_request = fake_llm.requests[0]
    assert first_request["authorization"] == f"Bearer {LLM_KEY}"
    assert first_request["body"]["model"] == "fake-model-1"


def test_each_section_is_reported_at_once_with_progress(fake_llm, callback_recorder):
    url, events = callback_recorder
    research(fake_llm, sections=building_code_sections(3), callback_url=url, callback_key="attempt-key")

    assert [e["type"] for e in events] == ["section", "progress"] * 3
    assert [(e["data"]["done"], e["data"]["total"]) for e in events if e["type"] == "progress"] == [(1, 3), (2, 3), (3, 3)]
    assert events[0]["data"]["content"].startswith("Findings for: [S01]")


def test_failure_at_section_seven_names_the_section_and_the_tries(fake_llm):
    fake_llm.fail("[S07]", status=500)

    with pytest.raises(ProviderError) as caught:
        research(fake_llm)

    assert str(caught.value) == "Section 7 (Fire safety): provider returned 500 after 3 tries"
    assert caught.value.error_type == "provider_error"
    assert fake_llm.user_prompts(status=500) == [f"[S07] Research topic 7 for {SUBJECT}."] * 3
    assert len(fake_llm.user_prompts(status=200)) == 6


def test_resume_skips_completed_positions_and_reports_progress_against_the_whole(fake_llm, callback_recorder):
    url, events = callback_recorder
    output = research(fake_llm, completed_positions=[1, 2, 3, 4, 5, 6], callback_url=url, callback_key="attempt-key")

    assert [s["position"] for s in output["sections"]] == list(range(7, 14))
    assert [p[:5] for p in fake_llm.user_prompts()] == [f"[S{p:02d}]" for p in range(7, 14)]
    progress = [e["data"]["done"] for e in events if e["type"] == "progress"]
    assert progress == list(range(7, 14))


def test_rate_limit_twice_is_retried_and_succeeds(fake_llm, callback_recorder):
    url, events = callback_recorder
    fake_llm.fail("[S02]", status=429, times=2)

    output = research(fake_llm, sections=building_code_sections(3), callback_url=url, callback_key="attempt-key")

    assert len(output["sections"]) == 3
    assert fake_llm.user_prompts(status=429) == [f"[S02] Research topic 2 for {SUBJECT}."] * 2
    warnings = [e["data"]["message"] for e in events if e["type"] == "log"]
    assert warnings[0].startswith("Section 2 (Topic 2): provider returned 429, try 1 of 3")


def test_client_errors_are_not_retried(fake_llm):
    fake_llm.fail("[S01]", status=401)

    with pytest.raises(ProviderError, match=r"^Section 1 \(Topic 1\): provider returned 401 after 1 try$"):
        research(fake_llm)

    assert len(fake_llm.requests) == 1


def test_connection_failure_is_retried_then_reported(fake_llm):
    dead = provider_config(fake_llm, base_url="http://127.0.0.1:9/v1")

    with pytest.raises(ProviderError, match=r"could not connect to the provider after 3 tries"):
        research(fake_llm, provider=dead)


def test_missing_api_key_variable_is_bad_input(fake_llm):
    with pytest.raises(BadInput, match="RESEARCH_TEST_MISSING_KEY is not set"):
        research(fake_llm, provider=provider_config(fake_llm, api_key_env="RESEARCH_TEST_MISSING_KEY"))
    assert fake_llm.requests == []


def test_handler_runs_the_core_in_a_child_process_and_keeps_the_error(fake_llm):
    fake_llm.fail("[S02]", status=503)
    payload = {
        "subject": SUBJECT,
        "sections": building_code_sections(2),
        "completed_positions": [],
        "provider": provider_config(fake_llm),
        "retry": FAST_RETRY,
        "time_limit": 30,
    }
    with pytest.raises(CoreError) as caught:
        handle_research(**payload)
    assert caught.value.error_type == "provider_error"
    assert str(caught.value) == "Section 2 (Topic 2): provider returned 503 after 3 tries"
    # The child's requests reached the server in this process.
    assert len(fake_llm.user_prompts(status=503)) == 3

    fake_llm.reset()
    result = handle_research(**{**payload, "completed_positions": [1]})
    assert [s["position"] for s in result["sections"]] == [2]
