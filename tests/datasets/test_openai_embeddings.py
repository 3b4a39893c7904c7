"""The OpenAI embeddings path, against a real local server speaking the protocol."""
import openai
import pytest

from datasets.compute import embed_texts
from tests.datasets.openai_server import FakeOpenAIServer, fake_vector


def test_retries_rate_limits_then_returns_vectors_in_order():
    with FakeOpenAIServer(failures=2, failure_status=429) as server:
        vectors = embed_texts(["alpha", "beta", "gamma"], backend="openai", base_url=server.base_url, api_key="sk-test")
    assert len(server.requests) == 3  # two 429s, then success
    body = server.requests[-1]["body"]
    assert body["model"] == "text-embedding-3-small" and body["dimensions"] == 384
    assert body["input"] == ["alpha", "beta", "gamma"]
    assert server.requests[-1]["auth"] == "Bearer sk-test"
    assert vectors == [fake_vector(t, 384) for t in ["alpha", "beta", "gamma"]]


def test_retries_server_errors_and_batches_large_inputs():
    texts = [f"text {i}" for i in range(5)]
    with FakeOpenAIServer(failures=1, failure_status=503) as server:
        vectors = embed_texts(texts, backend="openai", base_url=server.base_url, api_key="k", batch_size=2)
    assert [len(r["body"]["input"]) for r in server.requests] == [2, 2, 2, 1]  # 503 retried, 3 batches
    assert len(vectors) == 5 and all(len(v) == 384 for v in vectors)


def test_gives_up_after_the_last_attempt():
    with FakeOpenAIServer(failures=10, failure_status=429) as server:
        with pytest.raises(openai.RateLimitError):
            embed_texts(["x"], backend="openai", base_url=server.base_url, api_key="k", max_attempts=2)
    assert len(server.requests) == 2


def test_client_errors_are_not_retried():
    with FakeOpenAIServer(failures=1, failure_status=400) as server:
        with pytest.raises(openai.BadRequestError):
            embed_texts(["x"], backend="openai", base_url=server.base_url, api_key="k")
    assert len(server.requests) == 1
