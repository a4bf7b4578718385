"""Sources: input files from local paths or any Beam FileSystems path (gs://, s3://).

Patterns are checked when the job is launched, so a mistyped glob is a clear
error rather than an empty run; matching and reading then happen on workers.
"""

import tarfile
from collections.abc import Iterable
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems

from corpusio.accounting import Reject
from corpusio.shards import iter_tar_samples
from pipelines.stage import Stage

DEFAULT_MAX_FILE_BYTES = 1 << 30


@dataclass(frozen=True)
class InputFile:
    """A file's path and its bytes, as read by ReadFiles."""

    path: str
    data: bytes


class NoInputError(ValueError):
    """An input pattern matched no file."""


def check_patterns(patterns: Iterable[str]) -> list[str]:
    """Return the patterns, raising NoInputError for any that matches nothing."""
    patterns = list(patterns)
    if not patterns:
        raise NoInputError("no --input given")
    for pattern in patterns:
        if not FileSystems.match([pattern], limits=[1])[0].metadata_list:
            raise NoInputError(f"--input {pattern!r} matches no file")
    return patterns


def read_file(matched: tuple[str, int], max_bytes: int = DEFAULT_MAX_FILE_BYTES):
    """Read one matched (path, size) file, or reject it when it is too large or unreadable."""
    path, size = matched
    if size > max_bytes:
        return Reject(path, "file_too_large", f"{size} > {max_bytes} bytes")
    try:
        with FileSystems.open(path, compression_type="uncompressed") as f:
            data = f.read()
    except OSError as exc:
        return Reject(path, "unreadable", f"{type(exc).__name__}: {exc}")
    return InputFile(path, data)


def _path_and_size(metadata: FileMetadata) -> tuple[str, int]:
    return metadata.path, metadata.size_in_bytes


class ReadFiles(beam.PTransform):
    """Match file patterns and read each file: returns (InputFile PCollection, rejects).

    Counted as stage `read`. The reshuffle after matching spreads files over
    workers; without it every file would be read by the worker that matched it.
    """

    def __init__(self, patterns: list[str], max_bytes: int = DEFAULT_MAX_FILE_BYTES):
        super().__init__()
        self._patterns = list(patterns)
        self._max_bytes = max_bytes

    def expand(self, pbegin):
        max_bytes = self._max_bytes
        matched = (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
            | "PathAndSize" >> beam.Map(_path_and_size)
            | "DedupPaths" >> beam.Distinct()
            | "Spread" >> beam.Reshuffle()
        )
        return matched | "Read" >> Stage(
            "read", lambda m: read_file(m, max_bytes), id_of=lambda m: m[0]
        )


def read_tar_samples(path: str):
    """Samples of one WebDataset tar; a corrupt or truncated tail becomes a reject."""
    count = 0
    try:
        with FileSystems.open(path, compression_type="uncompressed") as f:
            for sample in iter_tar_samples(f):
                count += 1
                yield sample
    except (tarfile.TarError, OSError, EOFError) as exc:
        yield Reject(f"{path}@{count}", "corrupt_tar", f"after {count} samples: {exc}")


class MatchPaths(beam.PTransform):
    """The distinct paths that file patterns match, spread over workers for reading."""

    def __init__(self, patterns: list[str]):
        super().__init__()
        self._patterns = list(patterns)

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
            | "Paths" >> beam.Map(lambda m: m.path)
            | "DedupPaths" >> beam.Distinct()
            | "Spread" >> beam.Reshuffle()
        )


class ReadShards(beam.PTransform):
    """Match WebDataset tar patterns and read their samples (dicts, as webdataset gives them).

    Counted as fan-out stage `read_shards`: each sample is one unit, each tar a source.
    """

    def __init__(self, patterns: list[str]):
        super().__init__()
        self._patterns = list(patterns)

    def expand(self, pbegin):
        tars = pbegin | "MatchTars" >> MatchPaths(self._patterns)
        return tars | "ReadTars" >> Stage(
            "read_shards", read_tar_samples, fanout=True, id_of=lambda path: path
        )
