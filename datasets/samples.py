"""Small documents of every supported format, built in code (no files needed).

The handler's warm-up parses one of each (datasets.handler), the tests and the
benchmarks build their inputs with them, and portal/demo/generate.py writes the
demo PDF with make_pdf. Framework-free: imported inside Modal containers too,
where only Python files are shipped.
"""
from __future__ import annotations

import io


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]], *, font_size: int = 11, leading: int = 14, left: int = 50, top: int = 740) -> bytes:
    """A valid PDF with one text line per entry, in Helvetica, one list per page."""
    objects: list[bytes] = []
    page_count = len(pages)
    font_id = 3 + 2 * page_count
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(page_count))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {page_count} >>".encode())
    for i, lines in enumerate(pages):
        content_id = 4 + 2 * i
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        stream = (f"BT /F1 {font_size} Tf {leading} TL {left} {top} Td "
                  + " ".join(f"({_escape(line)}) Tj T*" for line in lines) + " ET")
        data = stream.encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def make_docx(title: str, paragraphs: list[str]) -> bytes:
    import docx  # python-docx, installed with Docling

    document = docx.Document()
    document.add_heading(title, level=1)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_html(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>{body}</body></html>".encode()


def make_markdown(title: str, paragraphs: list[str]) -> bytes:
    return ("# " + title + "\n\n" + "\n\n".join(paragraphs) + "\n").encode()


def one_of_each_format() -> list[tuple[str, bytes]]:
    """(filename, bytes) for a tiny PDF, DOCX, HTML and Markdown document."""
    text = ["Warm-up", "One short paragraph of text."]
    return [
        ("warm-up.pdf", make_pdf([text])),
        ("warm-up.docx", make_docx(text[0], text[1:])),
        ("warm-up.html", make_html(text[0], text[1:])),
        ("warm-up.md", make_markdown(text[0], text[1:])),
    ]
