"""The framework-free core: Docling parsing, chunking, local embeddings and the handler."""
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from datasets import compute
from jobs import reporting
from jobs.isolation import BadInput
from jobs.reporting import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.datasets.files import ELF_BYTES, make_docx, make_html, make_markdown, make_pdf

PARAGRAPHS = [
    "Mallard ducks dabble in shallow ponds and eat aquatic plants.",
    "The committee approved the annual budget for road maintenance.",
]


def parse(data, name):
    fmt = compute.validate_document(data, name, max_bytes=10_000_000, max_pages=10)
    return compute.parse_document(data, name, fmt)


def test_pdf_is_parsed_per_page_without_models():
    parsed = parse(make_pdf([["Mallard ducks dabble in ponds."], ["Budget for road maintenance."]]), "two.pdf")
    assert parsed["page_count"] == 2
    assert "Mallard ducks dabble in ponds." in parsed["markdown"]
    assert [page["page"] for page in parsed["pages"]] == [1, 2]
    assert "road maintenance" in parsed["pages"][1]["markdown"]


@pytest.mark.parametrize(
    "name,builder",
    [("letter.docx", make_docx), ("page.html", make_html), ("notes.md", make_markdown)],
)
def test_office_and_web_formats(name, builder):
    parsed = parse(builder("Pond life", PARAGRAPHS), name)
    assert "Pond life" in parsed["markdown"]
    assert PARAGRAPHS[0] in parsed["markdown"] and PARAGRAPHS[1] in parsed["markdown"]
    assert parsed["pages"] == []


def test_chunks_follow_headings_and_respect_the_budget():
    markdown = "# Ducks\n\n" + "\n\n".join(["Ducks swim and dabble in the pond all day long."] * 40)
    markdown += "\n\n## Budget\n\nThe council approved the budget."
    chunks = compute.chunk_document({"markdown": markdown, "pages": []}, max_tokens=60, overlap_tokens=10)
    assert len(chunks) > 3
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert all(c["token_count"] <= 60 for c in chunks)
    assert chunks[0]["heading"] == "Ducks"
    assert chunks[-1]["heading"] == "Budget" and chunks[-1]["text"] == "The council approved the budget."
    # consecutive chunks under one heading share a few words of overlap (10 tokens -> 7 words)
    tail = " ".join(chunks[0]["text"].split()[-7:])
    assert chunks[1]["text"].startswith(tail + "\n\n")


def test_a_single_long_paragraph_is_split():
    text = " ".join(f"word{i}" for i in range(2000))
    chunks = compute.chunk_document({"markdown": text, "pages": []}, max_tokens=100, overlap_tokens=0)
    assert len(chunks) >= 10 and all(c["token_count"] <= 100 for c in chunks)


def test_pdf_chunks_know_their_page():
    parsed = parse(make_pdf([["First page text."], ["Second page text."]]), "p.pdf")
    chunks = compute.chunk_document(parsed)
    assert [(c["page"], c["text"]) for c in chunks] == [(1, "First page text."), (2, "Second page text.")]


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_local_embeddings_are_384_dimensional_and_meaningful():
    vectors = compute.embed_texts(
        ["A duck swims on the lake.", "Ducks are paddling across the pond.", "Quarterly tax filing deadline."]
    )
    assert len(vectors) == 3 and all(len(v) == 384 for v in vectors)
    assert abs(cosine(vectors[0], vectors[0]) - 1) < 1e-4
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2


class FakePortal:
    """Serves an input file, accepts an artifact PUT and records signed callback events."""

    def __init__(self, files: dict[str, bytes], key: str = "k"):
        self.files, self.key = files, key
        self.artifacts: dict[str, bytes] = {}
        self.events: list[dict] = []
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _body(self):
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_GET(self):
                data = portal.files.get(self.path.removeprefix("/files/"))
                self.send_response(200 if data is not None else 404)
                self.end_headers()
                self.wfile.write(data or b"")

            def do_PUT(self):
                portal.artifacts[self.path] = self._body()
                self.send_response(201)
                self.end_headers()

            def do_POST(self):
                body = self._body()
                expected = sign(portal.key, self.headers[TIMESTAMP_HEADER], body)
                if self.headers[SIGNATURE_HEADER] == expected:
                    portal.events.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def portal():
    files = {
        "ducks.pdf": make_pdf([["Mallard ducks dabble in shallow ponds."], ["They eat aquatic plants."]]),
        "renamed.pdf": ELF_BYTES,
    }
    server = FakePortal(files)
    yield server
    server.close()


def test_handler_uploads_the_full_result_and_returns_a_compact_one(portal):
    output = compute.process_document(
        source_url=f"{portal.url}/files/ducks.pdf",
        filename="ducks.pdf",
        params={"artifact_name": "artifacts/x.json"},
        callback_url=f"{portal.url}/callback",
        callback_key=portal.key,
        attempt_id=1,
        artifact_upload_url=f"{portal.url}/artifact/x.json",
    )
    assert output["format"] == "pdf" and output["page_count"] == 2 and output["chunk_count"] == 2
    assert output["artifact"] == "artifacts/x.json"
    assert "chunks" not in output and "markdown" not in output
    assert set(output["seconds"]) >= {"download", "validate", "parse", "chunk", "embed", "upload", "total"}
    artifact = json.loads(portal.artifacts["/artifact/x.json"])
    assert "Mallard ducks" in artifact["markdown"]
    assert [len(c["embedding"]) for c in artifact["chunks"]] == [384, 384]
    reporting.flush()  # progress is posted in the background (jobs.runtime flushes after a handler)
    progress = [(e["data"]["done"], e["data"]["total"]) for e in portal.events if e["type"] == "progress"]
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_handler_returns_chunks_inline_without_upload_url(portal):
    output = compute.process_document(source_url=f"{portal.url}/files/ducks.pdf", filename="ducks.pdf")
    assert output["chunk_count"] == len(output["chunks"]) == 2
    assert output["chunks"][1]["page"] == 2


def test_handler_raises_bad_input_for_a_renamed_executable(portal):
    with pytest.raises(BadInput, match="is an ELF executable, not a PDF"):
        compute.process_document(source_url=f"{portal.url}/files/renamed.pdf", filename="renamed.pdf")


def test_handler_stops_a_parse_that_runs_too_long(portal):
    from jobs.isolation import CoreTimeout

    big = make_pdf([[f"line {i} of a long page" for i in range(40)] for _ in range(30)])
    portal.files["big.pdf"] = big
    with pytest.raises(CoreTimeout):
        compute.process_document(
            source_url=f"{portal.url}/files/big.pdf", filename="big.pdf", params={"parse_timeout": 0.01}
        )


def test_the_declared_function_runs_warm_through_the_runtime(portal):
    from jobs.runtime import run_function
    from portal.compute_functions import get_function

    function = get_function("process_document")
    assert function.handler == "datasets.handler:process_document"
    assert (function.timeout, function.retries, function.memory, function.cpu) == (900, 1, 4096, 2.0)
    function.load_handler()  # imports datasets.handler: Docling and MiniLM loaded in this process
    assert compute._local_model is not None and compute._converters
    # The warm-up parsed a sample of every format: the PDF pipeline and the one for DOCX, HTML and
    # Markdown are built here, in the parent, not again in every forked call.
    pipelines = {type(pipeline).__name__ for pipeline in compute._converter(None).initialized_pipelines.values()}
    assert {"NativePdfPipeline", "SimplePipeline"} <= pipelines
    envelope = run_function("process_document", {"source_url": f"{portal.url}/files/ducks.pdf", "filename": "ducks.pdf",
                                                  "params": {"cpu_threads": 1}})
    assert envelope["output"]["chunk_count"] == 2 and envelope["compute_seconds"] > 0
