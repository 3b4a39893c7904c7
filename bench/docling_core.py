"""Direct-core baseline: documents per minute through datasets.compute with no portal at all.

    python bench/docling_core.py [--workers 2] [--copies 2] [--no-corpus]

Runs validate -> Docling parse -> chunk -> embed (local MiniLM) on a set of generated
documents (text PDFs, DOCX, HTML, Markdown) plus, when present, the real files in
../shared/corpus (PDF, DOCX, HTML), in --workers warm processes (the same number of
cores the portal benchmark gives its containers). Prints docs/min. bench/portal_overhead.py
uses the same files and this figure as its baseline.
"""
import argparse
import io
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus"
LOREM = (
    "The committee reviewed the annual report on water quality in the northern district. "
    "Measurements from twelve stations show stable nitrate levels and a slight rise in turbidity after storms. "
    "The engineers recommend replacing two filters and extending the monitoring programme by one year. "
)


def _pdf(pages: int, seed: int) -> bytes:
    from tests.datasets.files import make_pdf

    return make_pdf([[f"Section {seed}.{p}.{line}: " + LOREM[(line * 7) % 80:][:90] for line in range(45)]
                     for p in range(pages)])


def generated_files(copies: int = 2) -> list[tuple[str, bytes]]:
    from tests.datasets.files import make_docx, make_html, make_markdown

    files = []
    for i in range(copies):
        paragraphs = [f"{LOREM} (paragraph {i}.{n})" for n in range(30)]
        files.append((f"report-{i}.pdf", _pdf(4, i)))
        files.append((f"letter-{i}.docx", make_docx(f"Letter {i}", paragraphs)))
        files.append((f"page-{i}.html", make_html(f"Page {i}", paragraphs)))
        files.append((f"notes-{i}.md", make_markdown(f"Notes {i}", paragraphs)))
    return files


def corpus_files() -> list[tuple[str, bytes]]:
    if not CORPUS.is_dir():
        return []
    return [(path.name, path.read_bytes()) for folder in ("pdf", "docx", "html")
            for path in sorted((CORPUS / folder).glob("*")) if path.is_file()]


def benchmark_files(copies: int = 2, corpus: bool = True) -> list[tuple[str, bytes]]:
    return generated_files(copies) + (corpus_files() if corpus else [])


def process_direct(item) -> int:
    """The core's work on one file, called directly (no download, callbacks, isolation or upload)."""
    from datasets import compute

    name, data = item
    fmt = compute.validate_document(data, name, max_bytes=50 * 1024 * 1024, max_pages=500)
    parsed = compute.parse_document(data, name, fmt)
    chunks = compute.chunk_document(parsed)
    compute.embed_texts([compute.embedding_input(chunk) for chunk in chunks])
    return len(chunks)


def _warm():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    process_direct(("warm.md", b"# Warm\n\nLoads Docling, the tokenizer and the model."))


def direct_rate(files, workers: int) -> tuple[float, float, int]:
    """(docs per minute, seconds, chunks) for `files` on `workers` warm processes."""
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_warm) as pool:
        pool.map(_sleep, range(workers))  # wait until every worker is warm
        started = time.perf_counter()
        chunks = sum(pool.map(process_direct, files, chunksize=1))
        seconds = time.perf_counter() - started
    return len(files) / seconds * 60, seconds, chunks


def _sleep(_):
    time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--no-corpus", action="store_true")
    args = parser.parse_args()
    files = benchmark_files(args.copies, corpus=not args.no_corpus)
    size = sum(len(data) for _, data in files)
    rate, seconds, chunks = direct_rate(files, args.workers)
    print(f"direct core: {len(files)} documents ({size / 1e6:.1f} MB, {chunks} chunks) on {args.workers} workers "
          f"in {seconds:.1f} s -> {rate:.1f} docs/min")


if __name__ == "__main__":
    main()
