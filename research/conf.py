"""Settings of the research app: `getattr(settings, NAME, default from the environment)`.

Providers are OpenAI-compatible chat-completions endpoints. Each names the
environment variable holding its API key; the key itself never enters a job
payload (Modal gets it from a Modal secret, Celery and the stub worker from
their own environment).
"""
import os

from django.conf import settings


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _provider(prefix: str, base_url: str, api_key_env: str, model: str, price_in: float, price_out: float) -> dict:
    return {
        "base_url": os.environ.get(f"{prefix}_BASE_URL", base_url),
        "api_key_env": os.environ.get(f"{prefix}_API_KEY_ENV", api_key_env),
        "model": os.environ.get(f"{prefix}_MODEL", model),
        "price_in_per_1k": _env_float(f"{prefix}_PRICE_IN_PER_1K", price_in),
        "price_out_per_1k": _env_float(f"{prefix}_PRICE_OUT_PER_1K", price_out),
    }


def default_providers() -> dict[str, dict]:
    """OpenAI-compatible endpoints of the supported providers, each overridable by environment."""
    return {
        "openai": _provider(
            "RESEARCH_OPENAI", "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4o-mini", 0.00015, 0.0006
        ),
        "perplexity": _provider(
            "RESEARCH_PERPLEXITY", "https://api.perplexity.ai", "PERPLEXITY_API_KEY", "sonar", 0.001, 0.001
        ),
        "gemini": _provider(
            "RESEARCH_GEMINI",
            "https://generativelanguage.googleapis.com/v1beta/openai/",
            "GEMINI_API_KEY",
            "gemini-2.0-flash",
            0.0001,
            0.0004,
        ),
        # Any OpenAI-compatible server (vLLM, Ollama, a gateway): its base URL comes from OPENAI_BASE_URL.
        "custom": _provider(
            "RESEARCH_CUSTOM", os.environ.get("OPENAI_BASE_URL", ""), "OPENAI_API_KEY", "gpt-4o-mini", 0, 0
        ),
    }


def providers() -> dict[str, dict]:
    """RESEARCH_PROVIDERS: name -> {base_url, api_key_env, model, price_in_per_1k, price_out_per_1k}."""
    return getattr(settings, "RESEARCH_PROVIDERS", None) or default_providers()


def default_provider() -> str:
    return getattr(settings, "RESEARCH_DEFAULT_PROVIDER", os.environ.get("RESEARCH_DEFAULT_PROVIDER", "openai"))


def retry_policy() -> dict:
    """Tries per section and exponential backoff (seconds) on 429, 5xx and connection errors."""
    return getattr(
        settings,
        "RESEARCH_RETRY",
        {
            "attempts": int(os.environ.get("RESEARCH_RETRY_ATTEMPTS", 3)),
            "initial_wait": _env_float("RESEARCH_RETRY_INITIAL_WAIT", 2.0),
            "max_wait": _env_float("RESEARCH_RETRY_MAX_WAIT", 30.0),
        },
    )


def request_timeout() -> float:
    return getattr(settings, "RESEARCH_REQUEST_TIMEOUT", _env_float("RESEARCH_REQUEST_TIMEOUT", 120.0))


def credits_per_job() -> int:
    from credits.conf import credits_per_research_job  # CREDITS_PER_RESEARCH_JOB, owned by the credits app

    return credits_per_research_job()
