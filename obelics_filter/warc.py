"""Reading WARC (and ARC) files as a stream: HTML pages, image records, and what went wrong.

Each `response` record is one unit: an HTML page (`WebPage`), an image
(`ImageRecord`, for resolving images offline), or a reject (`not_html`,
`truncated_record`). Other record types (warcinfo, request, metadata,
revisit) carry no page and are only counted. warcio does not raise when a
file is cut inside a record body: it hands back a short record, so the body
is checked against its HTTP Content-Length. A file that breaks off entirely
ends in one `corrupt_warc` reject for the rest.
"""

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from warcio.archiveiterator import ArchiveIterator

from corpusio.accounting import Reject
from corpusio.warc import READ_ERRORS, open_range
from obelics_filter.records import WebPage

HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class ImageRecord:
    url: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class SkippedRecord:
    """A record that holds no page (warcinfo, request, ...): counted, not a unit."""

    record_type: str


def _content_type(record) -> str:
    value = record.http_headers.get_header("Content-Type") if record.http_headers else None
    return (value or "").split(";")[0].strip().lower()


def _declared_length(record) -> int | None:
    headers = record.http_headers
    if headers is None or headers.get_header("Transfer-Encoding"):
        return None
    value = headers.get_header("Content-Length")
    return int(value) if value and value.strip().isdigit() else None


def _read_all(stream, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read to the end (warcio's readers hand out a buffer at a time), at most `limit` bytes."""
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(min(1 << 16, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


COMPLETE, TRUNCATED, TOO_LARGE = "complete", "truncated_record", "body_too_large"


def _read_body(record) -> tuple[bytes, str]:
    """(decoded body, COMPLETE | TRUNCATED | TOO_LARGE).

    A plain body must have its declared Content-Length. A chunked or compressed
    body is decoded by warcio; it counts as complete when decoding does not fail.
    A body over MAX_BODY_BYTES is not read further.
    """
    headers = record.http_headers
    encoded = headers is not None and (
        headers.get_header("Transfer-Encoding") or headers.get_header("Content-Encoding")
    )
    if encoded:
        try:
            body = _read_all(record.content_stream())
        except (OSError, EOFError, zlib.error, ValueError):
            return b"", TRUNCATED
    else:
        body = _read_all(record.raw_stream)
        declared = _declared_length(record)
        if len(body) <= MAX_BODY_BYTES and declared is not None and len(body) < declared:
            return body, TRUNCATED
    return (b"", TOO_LARGE) if len(body) > MAX_BODY_BYTES else (body, COMPLETE)


def _headers(record) -> dict[str, str]:
    if record.http_headers is None:
        return {}
    return {name.lower(): value for name, value in record.http_headers.headers}


def read_records(stream, filename: str, start: int = 0) -> Iterator:
    """WebPage, ImageRecord, SkippedRecord or Reject for each record of one WARC/ARC file.

    `start`: where in the file the stream begins (a range from `read_range`).
    """
    iterator = ArchiveIterator(stream, arc2warc=True)
    offset = start
    try:
        for record in iterator:
            url = record.rec_headers.get_header("WARC-Target-URI") or ""
            if record.rec_type != "response":
                yield SkippedRecord(record.rec_type)
                continue
            body, status = _read_body(record)
            # offsets are known only once the record has been read to its end
            iterator.read_to_end(record)
            offset = iterator.get_record_offset()
            where = f"{filename}@{offset}"
            if status == TRUNCATED:
                yield Reject(where, status, f"{url}: body shorter than Content-Length")
                continue
            if status == TOO_LARGE:
                yield Reject(where, status, f"{url}: body over {MAX_BODY_BYTES} bytes")
                continue
            kind = _content_type(record)
            if kind.startswith("image/"):
                yield ImageRecord(url, body, kind)
            elif kind in HTML_TYPES or (not kind and body.lstrip()[:1] == b"<"):
                yield WebPage(
                    url=url,
                    html=body,
                    http_headers=_headers(record),
                    warc_filename=filename,
                    warc_record_offset=offset,
                    warc_record_length=iterator.get_record_length() or 0,
                    warc_date=record.rec_headers.get_header("WARC-Date") or "",
                )
            else:
                yield Reject(where, "not_html", f"{url}: {kind or 'no content type'}")
    except READ_ERRORS as exc:
        yield Reject(f"{filename}@{offset}", "corrupt_warc", f"{type(exc).__name__}: {exc}"[:500])


def read_range(stream, filename: str, start: int, end: int | None) -> Iterator:
    """read_records over the records that begin in [start, end) of a seekable stream."""
    yield from read_records(open_range(stream, start, end), filename, start)
