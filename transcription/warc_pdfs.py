"""PDF responses read out of WARC files, the way PDFA's source (SafeDocs, CC-MAIN-2021-31)
was collected from Common Crawl.

Common Crawl cuts a response body at 1 MiB and says so in the record's
`WARC-Truncated` header; such a PDF is a `truncated_pdf` reject with its URL,
unless the caller accepts truncated PDFs (their surviving pages are then
transcribed and the transcript says it was truncated). Other records are
skipped and counted.
"""

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from warcio.archiveiterator import ArchiveIterator

from corpusio.accounting import Reject
from corpusio.warc import READ_ERRORS, open_range

PDF_TYPES = ("application/pdf", "application/x-pdf", "application/acrobat")


@dataclass(frozen=True)
class WarcPdf:
    """A PDF response: its bytes and where it came from."""

    url: str
    data: bytes
    warc_filename: str
    warc_record_offset: int
    warc_record_length: int
    warc_date: str
    truncated: str | None = None  # the WARC-Truncated reason, when the body was cut

    @property
    def id(self) -> str:
        return f"{self.warc_filename}@{self.warc_record_offset}"

    def meta(self) -> dict:
        meta = {
            "url": self.url,
            "warc_filename": self.warc_filename,
            "warc_record_offset": self.warc_record_offset,
            "warc_record_length": self.warc_record_length,
            "warc_date": self.warc_date,
        }
        return meta | ({"truncated": self.truncated} if self.truncated else {})


@dataclass(frozen=True)
class OtherRecord:
    """A record that holds no PDF: counted by its kind, not transcribed."""

    kind: str  # warcinfo, request, html, image ...


def _kind(record) -> str:
    if record.rec_type != "response":
        return record.rec_type
    header = record.http_headers.get_header("Content-Type") if record.http_headers else None
    return (header or "").split(";")[0].strip().lower()


def _body_stream(record):
    headers = record.http_headers
    encoded = headers is not None and headers.get_header("Content-Encoding")
    return record.content_stream() if encoded else record.raw_stream


def read_pdf_records(
    stream, filename: str, start: int, end: int | None, max_bytes: int, accept_truncated: bool
) -> Iterator[WarcPdf | OtherRecord | Reject]:
    """The PDFs, other records and rejects of the records that begin in [start, end)."""
    iterator = ArchiveIterator(open_range(stream, start, end), arc2warc=True)
    offset = start
    try:
        for record in iterator:
            kind = _kind(record)
            if record.rec_type != "response":
                yield OtherRecord(kind)
                continue
            stream = _body_stream(record)
            head = stream.read(8)
            if kind not in PDF_TYPES and not head.startswith(b"%PDF"):  # sniffed, not named
                yield OtherRecord(kind.split("/")[-1] or "unknown")
                continue
            url = record.rec_headers.get_header("WARC-Target-URI") or ""
            body = head + stream.read(max_bytes + 1 - len(head))
            iterator.read_to_end(record)
            offset = iterator.get_record_offset()
            truncated = record.rec_headers.get_header("WARC-Truncated")
            where = f"{url} ({filename}@{offset})"
            if len(body) > max_bytes:
                yield Reject(where, "file_too_large", f"a body over {max_bytes} bytes")
            elif truncated and not accept_truncated:
                yield Reject(where, "truncated_pdf", f"WARC-Truncated: {truncated}")
            else:
                yield WarcPdf(
                    url,
                    body,
                    filename,
                    offset,
                    iterator.get_record_length() or 0,
                    record.rec_headers.get_header("WARC-Date") or "",
                    truncated,
                )
    except (*READ_ERRORS, zlib.error) as exc:
        yield Reject(f"{filename}@{offset}", "corrupt_warc", f"{type(exc).__name__}: {exc}"[:500])
