"""Bad input is refused with a message an operator can act on."""
import pytest

from datasets.compute import memory_for_size, safe_filename, validate_document
from jobs.isolation import BadInput
from tests.datasets.files import ELF_BYTES, encrypt_pdf, make_docx, make_html, make_markdown, make_pdf

LIMIT = 1_000_000


def reason(data, name, **limits):
    with pytest.raises(BadInput) as caught:
        validate_document(data, name, max_bytes=limits.get("max_bytes", LIMIT), max_pages=limits.get("max_pages", 50))
    return str(caught.value)


@pytest.fixture(scope="module")
def pdf():
    return make_pdf([["A valid text PDF"], ["Second page"]])


def test_accepts_each_supported_format(pdf):
    assert validate_document(pdf, "report.pdf", max_bytes=LIMIT, max_pages=5) == "pdf"
    assert validate_document(make_docx("T", ["x"]), "letter.DOCX", max_bytes=LIMIT) == "docx"
    assert validate_document(make_html("T", ["x"]), "page.htm", max_bytes=LIMIT) == "html"
    assert validate_document(make_markdown("T", ["x"]), "notes.md", max_bytes=LIMIT) == "md"


def test_zero_byte_file():
    assert reason(b"", "empty.pdf") == "'empty.pdf' is empty (0 bytes)"


def test_oversized_file(pdf):
    message = reason(pdf, "big.pdf", max_bytes=100)
    assert "over the size limit" in message and "big.pdf" in message


def test_too_many_pages(pdf):
    assert reason(pdf, "long.pdf", max_pages=1) == "'long.pdf' has 2 pages, over the limit of 1"


def test_renamed_executable_is_named_as_such():
    assert reason(ELF_BYTES, "invoice.pdf") == "'invoice.pdf' is an ELF executable, not a PDF"
    assert reason(b"MZ\x90\x00" + b"\x00" * 100, "setup.docx") == "'setup.docx' is a Windows (PE) executable, not a Word (DOCX) document"


def test_extension_must_agree_with_content(pdf):
    assert reason(make_docx("T", ["x"]), "fake.pdf") == "'fake.pdf' is a Word (DOCX) document, not a PDF"
    assert reason(pdf, "fake.html") == "'fake.html' is a PDF, not an HTML page"
    assert reason(make_html("T", ["x"]), "page.pdf") == "'page.pdf' is an HTML page, not a PDF"


def test_unsupported_extension():
    assert "unsupported extension .exe" in reason(b"hello", "tool.exe")


def test_encrypted_pdf(pdf):
    assert "is password-protected" in reason(encrypt_pdf(pdf), "secret.pdf")


def test_truncated_pdf(pdf):
    assert "truncated PDF" in reason(pdf[: len(pdf) // 2], "cut.pdf")


def test_damaged_pdf_with_end_marker():
    message = reason(b"%PDF-1.4\n garbage garbage\n%%EOF\n", "broken.pdf")
    assert message.startswith("'broken.pdf' is a damaged PDF")


def test_damaged_docx():
    message = reason(make_docx("T", ["x"])[:300], "cut.docx")
    assert "cut.docx" in message and ("damaged" in message or "not a Word" in message)


def test_safe_filename_strips_paths_and_keeps_letters():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("..\\..\\windows\\system32\\evil.pdf") == "evil.pdf"
    assert safe_filename("Prüfbericht 東京 №5.pdf") == "Prüfbericht 東京 _5.pdf"
    assert safe_filename("a\x00b\nc.md") == "abc.md"
    assert safe_filename("...") == "document"
    long_name = safe_filename("x" * 400 + ".pdf")
    assert len(long_name) == 150 and long_name.endswith(".pdf")


def test_traversal_name_is_validated_by_its_extension(pdf):
    assert validate_document(pdf, "../../../../tmp/x.pdf", max_bytes=LIMIT) == "pdf"


def test_memory_rule_of_seed_004():
    assert memory_for_size(10_000_000) == 4096
    assert memory_for_size(60_000_000) == 8192
