"""The research core: one LLM call per template section, in order.

Framework-free (no Django, Celery or Modal): it runs unchanged inside a Modal
function, a Celery task and a modal_stubs container. It holds no database
credentials; every finished section goes back to the portal at once through
the signed callback (a "section" event plus progress k/N), so a later failure
never loses work already done, and a retry (which passes the positions already
saved as `completed_positions`) resumes at the first unfinished section.

The LLM is any OpenAI-compatible chat-completions endpoint. The payload names
the environment variable that holds the API key (a Modal secret in Modal, the
worker's environment under Celery or the stub), never the key itself.
"""
from __future__ import annotations

import os
import time

import openai
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from jobs.isolation import BadInput, CoreError, run_isolated
from jobs.reporting import Reporter

SYSTEM_PROMPT = (
    "You are a careful building-code and property research assistant. Answer the section asked for, "
    "cite the code or source you rely on, and say plainly when something cannot be determined."
)
DEFAULT_RETRY = {"attempts": 3, "initial_wait": 2.0, "max_wait": 30.0}
DEFAULT_REQUEST_TIMEOUT = 120.0
DEFAULT_TIME_LIMIT = 1800.0


class ProviderError(CoreError):
    error_type = "provider_error"


def handle_research(**payload) -> dict:
    """The compute function's handler: the core in a child process under a hard time limit."""
    time_limit = float(payload.pop("time_limit", DEFAULT_TIME_LIMIT))
    return run_isolated(run_research, payload, timeout=time_limit)


def run_research(
    *,
    subject: str,
    sections: list[dict],
    completed_positions: list[int] = (),
    provider: dict,
    retry: dict | None = None,
    callback_url: str | None = None,
    callback_key: str | None = None,
    attempt_id=None,
    **_ignored,
) -> dict:
    """Research every section not yet completed; return the sections produced in this run."""
    reporter = Reporter(callback_url, callback_key)
    client = _client(provider)
    retry = {**DEFAULT_RETRY, **(retry or {})}
    ordered = sorted(sections, key=lambda section: section["position"])
    done_positions = set(completed_positions)
    total = len(ordered)
    produced = []
    for section in ordered:
        if section["position"] in done_positions:
            continue
        result = research_section(client, subject, section, provider, retry, reporter)
        produced.append(result)
        done_positions.add(section["position"])
        reporter.event("section", result)
        reporter.progress(len(done_positions), total, f"section {section['position']}: {section['title']}")
    return {"sections": produced, "total": total, "model": provider["model"]}


def research_section(client, subject: str, section: dict, provider: dict, retry: dict, reporter: Reporter) -> dict:
    label = f"Section {section['position']} ({section['title']})"
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": render_prompt(section["prompt"], subject)},
    ]
    timed = {}

    def call():
        started = time.monotonic()
        response = client.chat.completions.create(model=provider["model"], messages=messages)
        timed["latency_ms"] = int((time.monotonic() - started) * 1000)
        return response

    retrying = Retrying(
        stop=stop_after_attempt(int(retry["attempts"])),
        wait=wait_exponential(multiplier=float(retry["initial_wait"]), max=float(retry["max_wait"])),
        retry=retry_if_exception(is_transient),
        before_sleep=lambda state: reporter.log(
            f"{label}: {describe(state.outcome.exception())}, try {state.attempt_number} of {retry['attempts']}; retrying",
            level="warning",
        ),
        reraise=True,
    )
    try:
        response = retrying(call)
    except openai.OpenAIError as exc:
        tries = retrying.statistics.get("attempt_number", 1)
        raise ProviderError(f"{label}: {describe(exc)} after {tries} {'try' if tries == 1 else 'tries'}") from None
    return section_result(section, response, timed["latency_ms"], provider)


def section_result(section: dict, response, latency_ms: int, provider: dict) -> dict:
    usage = response.usage
    prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
    completion_tokens = getattr(usage, "completion_tokens", 0) or 0
    content = (response.choices[0].message.content or "") if response.choices else ""
    return {
        "position": section["position"],
        "title": section["title"],
        "content": content,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "latency_ms": latency_ms,
        "estimated_cost": estimate_cost(prompt_tokens, completion_tokens, provider),
    }


def render_prompt(prompt: str, subject: str) -> str:
    # Plain replacement, not str.format: prompts edited in the admin may contain other braces.
    return prompt.replace("{subject}", subject)


def estimate_cost(prompt_tokens: int, completion_tokens: int, provider: dict) -> float:
    price_in = float(provider.get("price_in_per_1k", 0) or 0)
    price_out = float(provider.get("price_out_per_1k", 0) or 0)
    return round(prompt_tokens / 1000 * price_in + completion_tokens / 1000 * price_out, 8)


def is_transient(exc: BaseException) -> bool:
    """Rate limits, server errors and connection failures are worth another try; 4xx are not."""
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return False


def describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "provider timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "could not connect to the provider"
    if isinstance(exc, openai.APIStatusError):
        return f"provider returned {exc.status_code}"
    return f"provider error: {exc}"


def _client(provider: dict) -> openai.OpenAI:
    key_env = provider.get("api_key_env") or ""
    api_key = os.environ.get(key_env, "") if key_env else ""
    if not api_key:
        raise BadInput(
            f"The LLM API key is missing: environment variable {key_env or '(none configured)'} is not set "
            "on the worker (in Modal: add it to the function's secret)"
        )
    if not provider.get("base_url"):
        raise BadInput(f"The LLM provider {provider.get('name', '')!r} has no base URL configured")
    return openai.OpenAI(
        api_key=api_key,
        base_url=provider["base_url"],
        timeout=float(provider.get("request_timeout", DEFAULT_REQUEST_TIMEOUT)),
        max_retries=0,  # tenacity owns retries, so that every try is counted and reported
    )
