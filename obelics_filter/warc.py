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
from warcio.exceptions import ArchiveLoadFailed

from corpusio.accounting import Reject
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
    except (ArchiveLoadFailed, OSError, EOFError, zlib.error, ValueError) as exc:
        yield Reject(f"{filename}@{offset}", "corrupt_warc", f"{type(exc).__name__}: {exc}"[:500])


# --- splitting a file into ranges of records, so that several workers read it ---------------

READ_ERRORS = (ArchiveLoadFailed, OSError, EOFError, zlib.error, ValueError)
GZIP_MAGIC = b"\x1f\x8b\x08"
_SEARCH_WINDOW = 1 << 20


def _record_member_at(stream, offset: int) -> bool:
    """Whether a gzip member that begins with a WARC record starts at `offset`."""
    stream.seek(offset)
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(stream.read(4096), 16)
    except zlib.error:
        return False
    return head.startswith(b"WARC/")


def _next_record_member(stream, start: int, size: int) -> int | None:
    """The first gzip member at or after `start` that holds a WARC record, if any."""
    position = start
    while position < size:
        stream.seek(position)
        window = stream.read(_SEARCH_WINDOW + len(GZIP_MAGIC))
        found = window.find(GZIP_MAGIC)
        while found != -1 and found < _SEARCH_WINDOW:
            if _record_member_at(stream, position + found):
                return position + found
            found = window.find(GZIP_MAGIC, found + 1)
        position += _SEARCH_WINDOW
    return None


def range_starts(stream, size: int, range_bytes: int) -> list[int]:
    """Where ranges of about `range_bytes` of a WARC file begin (always 0 first).

    A gzipped WARC is a gzip member per record (as Common Crawl and warcio
    write them): a range may begin at any member that decompresses to a WARC
    record header, found by seeking, without reading the file. An uncompressed
    WARC is walked header by header (`uncompressed_records`); an ARC file, or a
    WARC gzipped whole, is one range.
    """
    stream.seek(0)
    head = stream.read(len(GZIP_MAGIC))
    starts = [0]
    if head == GZIP_MAGIC:
        if not _record_member_at(stream, 0):
            return starts
        while starts[-1] + range_bytes < size:
            found = _next_record_member(stream, starts[-1] + range_bytes, size)
            if found is None:
                break
            starts.append(found)
        return starts
    if head != b"WAR":
        return starts  # an ARC file, or not an archive: one range reports it
    isolate = False  # a record that lies about its length is a range of its own
    for start, honest in uncompressed_records(stream, size):
        if (isolate or not honest or start >= starts[-1] + range_bytes) and start > starts[-1]:
            starts.append(start)
        isolate = not honest
    return starts


_HEADER_LIMIT = 64 << 10
_NEXT_RECORD = b"\r\n\r\nWARC/"


def _header_block(stream, start: int) -> tuple[int, int] | None:
    """(end of the WARC header block, its Content-Length), or None if no record starts here."""
    stream.seek(start)
    head = stream.read(_HEADER_LIMIT)
    end = head.find(b"\r\n\r\n")
    if not head.startswith(b"WARC/") or end < 0:
        return None
    for line in head[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return start + end + 4, int(value.strip())
    return None


def _find_next_record(stream, position: int, size: int) -> int | None:
    while position < size:
        stream.seek(position)
        window = stream.read(_SEARCH_WINDOW + len(_NEXT_RECORD))
        found = window.find(_NEXT_RECORD)
        if found != -1:
            return position + found + 4
        position += _SEARCH_WINDOW
    return None


def uncompressed_records(stream, size: int) -> Iterator[tuple[int, bool]]:
    """(start, whether its Content-Length is honest) for each record of an uncompressed WARC.

    Headers are read and blocks skipped by seeking. A record whose Content-Length
    does not end where the next record (or the file) begins lies about its
    length: the next record is then found by its `WARC/` header line, so the
    records after a lying one are still read.
    """
    position = 0
    while position < size:
        header = _header_block(stream, position)
        if header is None:
            return  # damage: the range that reaches it reports it
        block_start, length = header
        after = block_start + length + 4  # the block, then an empty line
        stream.seek(after - 4)
        honest = stream.read(4) == b"\r\n\r\n" and (
            after >= size or _header_block(stream, after) is not None
        )
        if honest:
            yield position, True
            position = after
            continue
        yield position, False
        following = _find_next_record(stream, block_start, size)
        if following is None:
            return
        position = following


def split_ranges(starts: list[int]) -> list[tuple]:
    """(start, end) pairs from range starts; the last range ends at None (the end of file)."""
    return list(zip(starts, [*starts[1:], None], strict=True))


class _Range:
    """A read-only view of a stream from its current position up to `end` (None: no end)."""

    def __init__(self, stream, end: int | None):
        self._stream = stream
        self._end = end

    def read(self, size: int = -1) -> bytes:
        if self._end is not None:
            left = self._end - self._stream.tell()
            if left <= 0:
                return b""
            size = left if size is None or size < 0 else min(size, left)
        return self._stream.read(size)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self._stream.tell()


def read_range(stream, filename: str, start: int, end: int | None) -> Iterator:
    """read_records over the records that begin in [start, end) of a seekable stream."""
    stream.seek(start)
    yield from read_records(_Range(stream, end), filename, start)
