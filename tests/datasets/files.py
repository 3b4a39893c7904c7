"""Test inputs built in code (no files from ../shared): the documents of datasets.samples, an
encrypted PDF and an executable."""
import io

from datasets.samples import make_docx, make_html, make_markdown, make_pdf

__all__ = ["ELF_BYTES", "encrypt_pdf", "make_docx", "make_html", "make_markdown", "make_pdf"]


def encrypt_pdf(data: bytes, password: str = "secret") -> bytes:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


ELF_BYTES = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
