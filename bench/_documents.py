"""Benchmark documents and the direct core, shared by bench/docling_core.py and bench/portal_overhead.py.

(Not named after docling_core on purpose: a bench module of that name on sys.path would
shadow the docling-core package that Docling imports.)
"""
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


_threads = None


def process_direct(item) -> int:
    """The core's work on one file, called directly (no download, callbacks, isolation or upload)."""
    from datasets import compute

    name, data = item
    fmt = compute.validate_document(data, name, max_bytes=50 * 1024 * 1024, max_pages=500)
    parsed = compute.parse_document(data, name, fmt)
    chunks = compute.chunk_document(parsed)
    compute.embed_texts([compute.embedding_input(chunk) for chunk in chunks], cpu_threads=_threads)
    return len(chunks)


def _warm(threads: int):
    global _threads
    _threads = threads  # the portal gives each container the same share of the cores
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    process_direct(("warm.md", b"# Warm\n\nLoads Docling, the tokenizer and the model."))


def direct_rate(files, workers: int) -> tuple[float, float, int]:
    """(docs per minute, seconds, chunks) for `files` on `workers` warm processes."""
    # fork: the workers inherit sys.path without bench/ (see below) and this module.
    threads = max(1, (os.cpu_count() or 1) // workers)
    with multiprocessing.get_context("fork").Pool(workers, initializer=_warm, initargs=(threads,)) as pool:
        pool.map(_sleep, range(workers))  # wait until every worker is warm
        started = time.perf_counter()
        chunks = sum(pool.map(process_direct, files, chunksize=1))
        seconds = time.perf_counter() - started
    return len(files) / seconds * 60, seconds, chunks


def _sleep(_):
    time.sleep(0.2)



BENCH_DIR = Path(__file__).resolve().parent
# bench/docling_core.py must not be importable as `docling_core` once Docling is imported.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
