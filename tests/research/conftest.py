"""Research tests talk to FAKE_LLM, a real local OpenAI-protocol server.

It starts, and the environment below is set, when this conftest is imported,
before any worker subprocess is started: the Celery and Modal-stub workers
inherit these variables, so the portal's own provider settings ("custom" from
RESEARCH_CUSTOM_BASE_URL) point at the fake server in every process, and the
payload names the key's variable, never the key.
"""
import os

import pytest

from tests.research.fake_openai import FakeOpenAI

FAKE_LLM = FakeOpenAI().start()
LLM_KEY_ENV = "RESEARCH_TEST_LLM_KEY"
LLM_KEY = "sk-test-research-key"
FAST_RETRY = {"attempts": 3, "initial_wait": 0.01, "max_wait": 0.05}
os.environ.update(
    {
        LLM_KEY_ENV: LLM_KEY,
        "RESEARCH_CUSTOM_BASE_URL": FAKE_LLM.base_url,
        "RESEARCH_CUSTOM_API_KEY_ENV": LLM_KEY_ENV,
        "RESEARCH_CUSTOM_MODEL": "fake-model-1",
        "RESEARCH_CUSTOM_PRICE_IN_PER_1K": "0.5",
        "RESEARCH_CUSTOM_PRICE_OUT_PER_1K": "1.5",
        "RESEARCH_RETRY_ATTEMPTS": str(FAST_RETRY["attempts"]),
        "RESEARCH_RETRY_INITIAL_WAIT": str(FAST_RETRY["initial_wait"]),
        "RESEARCH_RETRY_MAX_WAIT": str(FAST_RETRY["max_wait"]),
        "RESEARCH_DEFAULT_PROVIDER": "custom",
    }
)


@pytest.fixture
def template(db):
    """The shipped building-code template. Transactional tests flush what migrations created,
    so it is put back by the data migration's own function when missing."""
    import importlib

    from django.apps import apps

    from research.models import ResearchTemplate

    shipped = importlib.import_module("research.migrations.0002_building_code_template")
    shipped.create_template(apps, None)
    return ResearchTemplate.objects.get(name=shipped.TEMPLATE_NAME)


@pytest.fixture
def fake_llm():
    FAKE_LLM.reset()
    yield FAKE_LLM
    FAKE_LLM.reset()


def provider_config(fake: FakeOpenAI, **extra) -> dict:
    return {
        "name": "fake",
        "base_url": fake.base_url,
        "api_key_env": LLM_KEY_ENV,
        "model": "fake-model-1",
        "price_in_per_1k": 0.5,
        "price_out_per_1k": 1.5,
        "request_timeout": 10,
        **extra,
    }


def building_code_sections(count: int = 13) -> list[dict]:
    titles = {7: "Fire safety"}
    return [
        {
            "position": position,
            "title": titles.get(position, f"Topic {position}"),
            "prompt": f"[S{position:02d}] Research topic {position} for {{subject}}.",
        }
        for position in range(1, count + 1)
    ]
