"""Settings of the datasets app, with their defaults (docs/settings.md lists them)."""
import os

from django.conf import settings


def _int(name: str, default: int) -> int:
    """A Django setting if set, else the environment variable of the same name, else the default."""
    return int(getattr(settings, name, os.environ.get(name, default)))


def max_bytes() -> int:
    return getattr(settings, "DOCUMENT_MAX_BYTES", 50 * 1024 * 1024)


def max_pages() -> int:
    return getattr(settings, "DOCUMENT_MAX_PAGES", 500)


def parse_timeout() -> int:
    # Must stay below the compute function's own 900 s timeout.
    return _int("DOCUMENT_PARSE_TIMEOUT", 600)


def chunk_max_tokens() -> int:
    # MiniLM reads at most 256 word pieces; leave room for the heading that is embedded with a chunk.
    return _int("DOCUMENT_CHUNK_MAX_TOKENS", 200)


def chunk_overlap_tokens() -> int:
    return _int("DOCUMENT_CHUNK_OVERLAP_TOKENS", 30)


def artifacts_path() -> str | None:
    return getattr(settings, "DOCLING_ARTIFACTS_PATH", "") or None


def search_ef_search() -> int:
    return _int("SEARCH_HNSW_EF_SEARCH", 100)


def embedding_options() -> dict:
    """Embedding options for the core. The OpenAI key is never put in a payload: the compute
    container reads OPENAI_API_KEY from its own environment (a Modal secret)."""
    backend = getattr(settings, "EMBEDDING_BACKEND", "local")
    if backend != "openai":
        return {"backend": "local"}
    options = {"backend": "openai", "model": getattr(settings, "OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")}
    if getattr(settings, "OPENAI_BASE_URL", None):
        options["base_url"] = settings.OPENAI_BASE_URL
    return options


def query_embedding_options() -> dict:
    """Same backend for queries, with the key, since the portal itself embeds search queries."""
    options = embedding_options()
    if options["backend"] == "openai" and getattr(settings, "OPENAI_API_KEY", ""):
        options["api_key"] = settings.OPENAI_API_KEY
    return options


def cpu_threads() -> int:
    """Torch threads per document call. On Modal a container has the function's own cores;
    on this machine the stub containers or Celery worker processes share the cores, and each
    taking all of them slows every one down (measured: 2-3x with two containers on 2 cores)."""
    from portal.compute_functions import get_function

    declared = max(1, int(get_function("process_document").cpu))
    if getattr(settings, "MODAL_BACKEND", "stub") == "modal":
        default = declared
    else:
        sharing = max(getattr(settings, "MODAL_STUB_CONTAINERS", 1), getattr(settings, "CELERY_WORKER_CONCURRENCY", 1), 1)
        default = max(1, min(declared, (os.cpu_count() or 1) // sharing))
    return _int("DOCUMENT_CPU_THREADS", default)


def counts_cache_seconds() -> int:
    # A dataset's counts are one aggregate query over its documents; 21,000 documents finishing
    # must not mean 21,000 recomputations (or rewrites) while a page polls: cache them briefly.
    return _int("DATASET_COUNTS_CACHE_SECONDS", 3)


def checkpoint_max_bytes() -> int:
    # Seed 004: checkpoints are capped (100 MB); a larger parse result is simply not saved.
    return _int("ARTIFACT_MAX_BYTES", 100 * 1024 * 1024)


def storage_threads() -> int:
    # Parallel writes of an upload's files to storage (I/O: the GIL is released while waiting).
    return _int("DOCUMENT_STORAGE_THREADS", 8)
