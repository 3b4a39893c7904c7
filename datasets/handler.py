"""The `process_document` compute function's entry point, warm on import.

jobs.runtime runs every call of a handler in a forked child (a hang or a crash
must not take the container down), so whatever the child loads dies with it.
Importing this module - once per container or worker process, when the handler
is looked up - loads what every document needs (Docling and its converter, the
MiniLM tokenizer and model) in the parent, and each forked call starts with it
in memory instead of spending seconds loading it again. It also validates and
parses one tiny document of each format: Docling's backends, pypdf and their
caches load on first use, which would otherwise happen again in every call.

No model inference happens here: the parent never starts torch's OpenMP threads,
which a forked child could not use safely. (So with DOCLING_ARTIFACTS_PATH, where
PDFs go through Docling's layout models, the PDF sample is only validated.)
Framework-free, like datasets.compute.
"""
import logging
import os

from datasets import compute, samples

logger = logging.getLogger(__name__)


def warm_up() -> None:
    artifacts_path = os.environ.get("DOCLING_ARTIFACTS_PATH") or None
    compute._converter(artifacts_path)
    for filename, data in samples.one_of_each_format():
        fmt = compute.validate_document(data, filename, max_bytes=len(data), max_pages=1)
        if not (fmt == "pdf" and artifacts_path):
            compute.chunk_document(compute.parse_document(data, filename, fmt, artifacts_path=artifacts_path))
    if os.environ.get("EMBEDDING_BACKEND", "local") == "local":
        compute._load_local_model()


try:
    warm_up()
except Exception:  # noqa: BLE001 - a cold start is slower, not broken: each call loads what it needs
    logger.exception("Could not warm the document pipeline up; calls will load it themselves")


def process_document(**payload) -> dict:
    return compute.process_document(**payload)


process_document.__doc__ = compute.process_document.__doc__
