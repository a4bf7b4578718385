"""Parquet tables that come out byte for byte the same whenever the rows are the same.

A row's place depends only on its content: a digest of the row picks its file (out
of a count fixed by the totals) and orders it within the file. So a rerun, on any
runner, with bundles finishing in any order, writes identical files, and a
regenerated dataset diffs cleanly. Files are named the Hugging Face Hub's way,
`<prefix>-NNNNN-of-NNNNN.parquet`.
"""

import hashlib
import io
import math
import struct
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_FILE_BYTES = 256 << 20  # about what the Hub's parquet conversions aim for
ROW_GROUP_BYTES = 64 << 20


def row_digest(row) -> str:
    """A digest of a row's content (dicts, lists, bytes, str, numbers, None), type-aware."""
    h = hashlib.blake2b(digest_size=16)
    _feed(h, row)
    return h.hexdigest()


def _feed(h, value) -> None:
    if value is None:
        h.update(b"N")
    elif isinstance(value, bool):
        h.update(b"T" if value else b"F")
    elif isinstance(value, int):
        h.update(b"i" + str(value).encode() + b";")
    elif isinstance(value, float):
        h.update(b"f" + struct.pack(">d", value))
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        h.update(b"s" + str(len(data)).encode() + b":" + data)
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        h.update(b"b" + str(len(data)).encode() + b":" + data)
    elif isinstance(value, Mapping):
        h.update(b"{" + str(len(value)).encode() + b":")
        for key in sorted(value):
            _feed(h, str(key))
            _feed(h, value[key])
        h.update(b"}")
    elif isinstance(value, Sequence):
        h.update(b"[" + str(len(value)).encode() + b":")
        for item in value:
            _feed(h, item)
        h.update(b"]")
    else:
        raise TypeError(f"cannot digest a {type(value).__name__} in a table row")


def row_bytes(row) -> int:
    """A cheap estimate of a row's size: the lengths of its bytes and strings, 8 per scalar."""
    if isinstance(row, bytes | bytearray | str):
        return len(row)
    if isinstance(row, Mapping):
        return sum(row_bytes(v) for v in row.values())
    if isinstance(row, list | tuple):
        return sum(row_bytes(v) for v in row)
    return 8


def file_count(rows: int, nbytes: int, file_bytes: int = DEFAULT_FILE_BYTES) -> int:
    """How many files a table of `rows` rows and about `nbytes` bytes is cut into (>= 1)."""
    return max(1, math.ceil(nbytes / file_bytes)) if rows else 1


def file_of(digest: str, files: int) -> int:
    return int(digest[:16], 16) % files


def file_name(prefix: str, number: int, files: int) -> str:
    return f"{prefix}-{number:05d}-of-{files:05d}.parquet"


def measured(row) -> tuple[str, int, dict]:
    """(digest, estimated bytes, row): what placing and writing a row need, computed once."""
    return row_digest(row), row_bytes(row), row


def rows_per_group(count: int, total_bytes: int) -> int:
    """Rows per row group so that a group holds about ROW_GROUP_BYTES."""
    if not count or not total_bytes:
        return max(count, 1)
    return max(1, math.ceil(count * ROW_GROUP_BYTES / total_bytes))


def write_rows(out, entries: Sequence, load_row, schema: pa.Schema) -> None:
    """Write one parquet file to the stream `out`, one row group at a time.

    entries: (digest, estimated bytes, handle) for each row, in any order; rows go
    in digest order, and `load_row(handle)` gives a row when its group is written,
    so at most one row group of rows is in memory.
    """
    entries = sorted(entries, key=lambda entry: entry[0])
    group = rows_per_group(len(entries), sum(entry[1] for entry in entries))
    with pq.ParquetWriter(out, schema) as writer:
        if not entries:
            writer.write_table(schema.empty_table())
        for start in range(0, len(entries), group):
            rows = [load_row(entry[2]) for entry in entries[start : start + group]]
            writer.write_table(pa.Table.from_pylist(rows, schema=schema), row_group_size=len(rows))


def table_bytes(rows: list, schema: pa.Schema) -> bytes:
    """One parquet file of `rows`, ordered by their digests (rows may come in any order)."""
    out = io.BytesIO()
    write_rows(out, [measured(r) for r in rows], lambda row: row, schema)
    return out.getvalue()
