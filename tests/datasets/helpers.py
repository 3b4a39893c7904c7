"""Shared setup for the datasets tests: documents uploaded and processed in this process."""
from datasets import compute, services
from datasets.jobs import ingest


def process_inline(document) -> dict:
    """What the handler would return without an upload URL, computed here from the stored file."""
    with document.file.open("rb") as handle:
        data = handle.read()
    fmt = compute.validate_document(data, document.filename, max_bytes=10**8, max_pages=100)
    parsed = compute.parse_document(data, document.filename, fmt)
    chunks = compute.chunk_document(parsed)
    for chunk, vector in zip(chunks, compute.embed_texts([compute.embedding_input(c) for c in chunks])):
        chunk["embedding"] = vector
    return {"format": fmt, "page_count": parsed["page_count"], "chunk_count": len(chunks),
            "markdown": parsed["markdown"], "chunks": chunks}


def upload_and_ingest(owner, dataset, files) -> list:
    """Upload through the service, then ingest each result as the engine would on success."""
    result = services.upload_documents(owner, dataset, files)
    assert not result.rejected, result.rejected
    for document in result.accepted:
        ingest(document.job, process_inline(document))
        document.job.status = "succeeded"
        document.job.save(update_fields=["status"])
        document.refresh_from_db()
    return result.accepted
