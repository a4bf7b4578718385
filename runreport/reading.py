"""Bounded reads of a run's outputs: the first rows or samples, in file-name order.

A report must stay cheap on a huge run, so every reader stops after a row
limit and a file limit. A file that cannot be read is skipped and named, so
one bad output costs a note, not the report.
"""

import json
import tarfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from corpusio.shards import iter_tar_samples
from runreport.files import Files

MAX_FILES = 16
MAX_SHARD_FILES = 4
_BATCH = 1024


@dataclass
class Sampled:
    """Rows read from an output, and what they stand for."""

    rows: list[dict] = field(default_factory=list)
    files_read: int = 0
    files_total: int = 0
    skipped: list[str] = field(default_factory=list)
    limited: bool = False

    def add_file(self, rows: list[dict], limit: int) -> None:
        """Count one file read and keep its rows, up to `limit` rows in all."""
        self.files_read += 1
        room = limit - len(self.rows)
        self.limited |= len(rows) > room
        self.rows += rows[:room]

    def basis(self, unit: str = "rows") -> str:
        """'1,234 rows from 2 of 3 files' (with 'first' when a limit cut the read short)."""
        capped = self.files_read + len(self.skipped) < self.files_total
        first = "first " if self.limited or capped else ""
        return (
            f"{first}{len(self.rows):,} {unit} from {self.files_read} of "
            f"{self.files_total} file{'s' if self.files_total != 1 else ''}"
        )


def _columns(parquet: pq.ParquetFile, wanted: list[str]) -> list[str]:
    """Resolve column specs: "name" is a top-level column, "name/leaf" one leaf below it.

    A leaf ("images/path") reads a list's lengths without its heavy sibling
    (image bytes); the list's inner names differ between writers, hence the search.
    """
    top = set(parquet.schema_arrow.names)
    leaves = [parquet.schema.column(i).path for i in range(len(parquet.schema))]
    resolved = []
    for spec in wanted:
        name, _, leaf = spec.partition("/")
        if name not in top:
            raise ValueError(f"no column {name!r}")
        if not leaf:
            resolved.append(name)
            continue
        found = [p for p in leaves if p.startswith(name + ".") and p.endswith("." + leaf)]
        if not found:
            raise ValueError(f"no column {spec!r}")
        resolved.append(found[0])
    return resolved


def _sample_files(files: Files, pattern: str, limit: int, max_files: int, read) -> Sampled:
    """Rows from the files matching `pattern`, `read(path, room)` per file, `limit` in all.

    A file that cannot be read becomes a note in `skipped`, never an error.
    """
    sampled = Sampled()
    paths = files.glob(pattern)
    sampled.files_total = len(paths)
    for path in paths[:max_files]:
        if len(sampled.rows) >= limit:
            sampled.limited = True
            break
        try:
            rows = read(path, limit - len(sampled.rows))
        except Exception as exc:  # noqa: BLE001 - any unreadable file becomes a note
            sampled.skipped.append(f"{path}: {type(exc).__name__}: {exc}")
            continue
        sampled.add_file(rows, limit)
    return sampled


def read_parquet(
    files: Files, pattern: str, columns: list[str], limit: int, max_files: int = MAX_FILES
) -> Sampled:
    """The first `limit` rows (only `columns`) of the files matching `pattern`."""

    def read(path: str, room: int) -> list[dict]:
        rows: list[dict] = []
        with files.open(path) as stream:
            parquet = pq.ParquetFile(stream)
            wanted = _columns(parquet, columns)
            for batch in parquet.iter_batches(batch_size=_BATCH, columns=wanted):
                rows += batch.to_pylist()
                if len(rows) >= room:
                    break
        return rows

    return _sample_files(files, pattern, limit, max_files, read)


def iter_shard_samples(
    files: Files, pattern: str, skipped: list[str], max_files: int = MAX_SHARD_FILES
) -> Iterator[dict]:
    """WebDataset samples ({"__key__", ext: bytes}) of the first tars matching `pattern`.

    Stops when the caller stops; a truncated or unreadable tar is named in
    `skipped` after the complete samples before the damage.
    """
    for path in files.glob(pattern)[:max_files]:
        try:
            with files.open(path) as stream:
                yield from iter_tar_samples(stream)
        except (OSError, tarfile.TarError, ValueError) as exc:
            skipped.append(f"{path}: {type(exc).__name__}: {exc}")


def read_shard_indexes(
    files: Files, pattern: str, limit: int, max_files: int = MAX_FILES
) -> Sampled:
    """Index entries ({"key", "members": {ext: [offset, size]}}) from `<shard>.index.json` files.

    The indexes give every member's size without opening the shards.
    """

    def read(path: str, room: int) -> list[dict]:
        return json.loads(files.read_bytes(path))["samples"]

    return _sample_files(files, pattern, limit, max_files, read)


def read_shard_members(
    files: Files, pattern: str, limit: int, max_files: int = MAX_SHARD_FILES
) -> Sampled:
    """Index-like entries ({"key", "members": {ext: [0, size]}}) read from the tars themselves.

    For shards written without index files; the tars are streamed, up to `limit` samples.
    """
    sampled = Sampled(files_total=len(files.glob(pattern)))
    samples = iter_shard_samples(files, pattern, sampled.skipped, max_files)
    with closing(samples):
        for sample in samples:
            if len(sampled.rows) >= limit:
                sampled.limited = True
                break
            members = {ext: [0, len(data)] for ext, data in sample.items() if ext != "__key__"}
            sampled.rows.append({"key": sample["__key__"], "members": members})
    sampled.files_read = min(sampled.files_total, max_files)
    return sampled
