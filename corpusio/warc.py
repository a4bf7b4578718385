"""WARC files as ranges of records, so that several workers read one file.

Shared by the web stage (HTML pages and images) and transcription (PDF
responses). A gzipped WARC is a gzip member per record, as Common Crawl and
warcio write them: a range may begin at any member that decompresses to a
WARC record header, found by seeking, without reading the file. An
uncompressed WARC is walked header by header, and a record whose
Content-Length overruns the next record is a range of its own, so that it
cannot swallow the records after it.
"""

import zlib
from collections.abc import Iterator

from warcio.exceptions import ArchiveLoadFailed

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


def open_range(stream, start: int, end: int | None):
    """A read-only view of a seekable stream's bytes [start, end) (end None: to its end)."""
    stream.seek(start)
    return _Range(stream, end)
