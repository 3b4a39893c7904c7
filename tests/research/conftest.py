import os

import pytest

from tests.research.fake_openai import FakeOpenAI

# Set at import, before any worker subprocess is started, so that the Celery and
# Modal-stub workers inherit it: the payload names this variable, never the key.
LLM_KEY_ENV = "RESEARCH_TEST_LLM_KEY"
LLM_KEY = "sk-test-research-key"
os.environ[LLM_KEY_ENV] = LLM_KEY

FAST_RETRY = {"attempts": 3, "initial_wait": 0.01, "max_wait": 0.05}


@pytest.fixture(scope="session")
def fake_llm_server():
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm(fake_llm_server):
    fake_llm_server.reset()
    yield fake_llm_server
    fake_llm_server.reset()


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
