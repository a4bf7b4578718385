"""Open an input file as pages: a PDF through PyMuPDF, or a page image (TIFF, PNG, JPEG).

Bad input becomes an `InputError` with a reason code (empty_file, not_a_pdf,
encrypted, truncated_pdf, corrupt_pdf, no_pages, too_many_pages) that the
transcriber turns into a reject. MuPDF's context is not thread-safe, so every
call into it holds `MUPDF_LOCK`; OCR runs outside it.
"""

import threading

import pymupdf

MUPDF_LOCK = threading.RLock()
PDF_MAGIC = b"%PDF-"
_IMAGE_MAGIC = {
    b"II*\x00": "tif",
    b"MM\x00*": "tif",
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
}
EOF_SEARCH_BYTES = 4096

pymupdf.TOOLS.mupdf_display_errors(False)
pymupdf.TOOLS.mupdf_display_warnings(False)


class InputError(Exception):
    """Input that cannot be transcribed; `reason` is the reject code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def mupdf_reason(exc: Exception) -> str:
    """The reject reason for an error MuPDF raised while reading or drawing a page."""
    message = str(exc).lower()
    if "cycle in page tree" in message:
        return "page_tree_cycle"
    if isinstance(exc, pymupdf.mupdf.FzErrorLimit):
        return "render_limit"  # an image or pixmap past MuPDF's size limits
    return "corrupt_pdf"


def sniff(data: bytes) -> str | None:
    """'pdf', 'tif', 'png' or 'jpg' from the first bytes (never from the file name)."""
    for magic, kind in _IMAGE_MAGIC.items():
        if data.startswith(magic):
            return kind
    # the PDF header may follow a little junk (the spec tolerates up to 1 KiB)
    if PDF_MAGIC in data[:1024]:
        return "pdf"
    return None


def open_pdf(
    data: bytes, max_pages: int | None = None, allow_truncated: bool = False
) -> pymupdf.Document:
    """Open PDF bytes, or raise InputError saying why they cannot be transcribed.

    `allow_truncated`: a file cut short (a crawl's size cap) is read for the pages
    MuPDF recovers instead of being refused.
    """
    if not data:
        raise InputError("empty_file", "0 bytes")
    if sniff(data) != "pdf":
        raise InputError("not_a_pdf", f"starts with {data[:16]!r}")
    with MUPDF_LOCK:
        try:
            doc = pymupdf.open(stream=data, filetype="pdf")
        except (pymupdf.FileDataError, pymupdf.EmptyFileError, RuntimeError, ValueError) as exc:
            raise InputError("corrupt_pdf", str(exc)[:500]) from exc
        if not doc.is_pdf:
            raise InputError("not_a_pdf", "MuPDF did not read it as a PDF")
        if doc.needs_pass and not doc.authenticate(""):
            raise InputError("encrypted", "a password is needed to open it")
        if doc.is_repaired and not allow_truncated and b"%%EOF" not in data[-EOF_SEARCH_BYTES:]:
            raise InputError("truncated_pdf", f"no %%EOF at the end of {len(data)} bytes")
        pages = doc.page_count
    if pages == 0:
        raise InputError("no_pages")
    if max_pages is not None and pages > max_pages:
        raise InputError("too_many_pages", f"{pages} pages > --max-pages {max_pages}")
    return doc
