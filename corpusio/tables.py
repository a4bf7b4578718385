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


def table_bytes(rows: list, schema: pa.Schema) -> bytes:
    """One parquet file of `rows`, ordered by their digests (rows may come in any order)."""
    return measured_table_bytes([measured(r) for r in rows], schema)


def measured_table_bytes(entries: list[tuple[str, int, dict]], schema: pa.Schema) -> bytes:
    """table_bytes for rows already `measured`, so nothing is hashed twice."""
    entries = sorted(entries, key=lambda entry: entry[0])
    table = pa.Table.from_pylist([row for _, _, row in entries], schema=schema)
    total = sum(size for _, size, _ in entries)
    group = max(1, math.ceil(len(entries) * ROW_GROUP_BYTES / total)) if total else None
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=group)
    return out.getvalue()
