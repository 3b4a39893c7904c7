"""Direct-core baseline: documents per minute through datasets.compute with no portal at all.

    python bench/docling_core.py [--workers 2] [--copies 2] [--no-corpus]

Runs validate -> Docling parse -> chunk -> embed (local MiniLM) on a set of generated
documents (text PDFs, DOCX, HTML, Markdown) plus, when present, the real files in
../shared/corpus (PDF, DOCX, HTML), in --workers warm processes (the same number of
cores the portal benchmark gives its containers). Prints docs/min. bench/portal_overhead.py
uses the same files and this figure as its baseline.
"""
import argparse

from _documents import benchmark_files, direct_rate  # also takes bench/ off sys.path


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
