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
    """A matched input file: its path and size. The bytes are read by the stage that uses
    them (`read_input`), so that only the path travels through Beam's shuffles."""

    path: str
    size: int


class NoInputError(ValueError):
    """An input pattern matched no file."""


MAX_DOUBLE_STARS = 4


def pattern_variants(pattern: str) -> list[str]:
    """A pattern as Beam's matcher needs it, so that `**` spans zero or more folders.

    Beam reads `**` as "any characters", so `DIR/**/*.pdf` needs at least one
    folder between DIR and the file. Python's glob and gitignore read it as zero
    or more folders; each `/**/` (and a leading `**/`) is therefore also tried as `/`.
    """
    lead = pattern.startswith("**/")
    pieces = (pattern[3:] if lead else pattern).split("/**/")
    if len(pieces) - 1 + lead > MAX_DOUBLE_STARS:
        raise NoInputError(f"--input {pattern!r}: at most {MAX_DOUBLE_STARS} '**' per pattern")
    variants = [pieces[0]]
    for piece in pieces[1:]:
        variants = [f"{v}{sep}{piece}" for v in variants for sep in ("/**/", "/")]
    if lead:
        variants = [p for v in variants for p in (f"**/{v}", v)]
    return sorted(set(variants))


def check_patterns(patterns: Iterable[str]) -> list[str]:
    """The patterns to match, `**` variants included; NoInputError if one matches nothing."""
    patterns = list(patterns)
    if not patterns:
        raise NoInputError("no --input given")
    expanded = []
    for pattern in patterns:
        variants = pattern_variants(pattern)
        results = FileSystems.match(variants, limits=[1] * len(variants))
        if not any(r.metadata_list for r in results):
            raise NoInputError(f"--input {pattern!r} matches no file")
        expanded += variants
    return sorted(set(expanded))


def check_size(matched: tuple[str, int], max_bytes: int = DEFAULT_MAX_FILE_BYTES):
    """A matched (path, size) file as an InputFile, or a reject when it is too large."""
    path, size = matched
    if size > max_bytes:
        return Reject(path, "file_too_large", f"{size} > {max_bytes} bytes")
    return InputFile(path, size)


def read_input(file: InputFile) -> bytes | Reject:
    """The bytes of an input file, or an `unreadable` reject."""
    try:
        with FileSystems.open(file.path, compression_type="uncompressed") as f:
            return f.read()
    except OSError as exc:
        return Reject(file.path, "unreadable", f"{type(exc).__name__}: {exc}")


def with_bytes(fn):
    """fn(path, data) as a stage function over InputFile: reads the bytes first."""

    def apply(file: InputFile):
        data = read_input(file)
        return data if isinstance(data, Reject) else fn(file.path, data)

    return apply


def _path_and_size(metadata: FileMetadata) -> tuple[str, int]:
    return metadata.path, metadata.size_in_bytes


class MatchFiles(beam.PTransform):
    """The distinct (path, size) of the files that patterns match, spread over the workers."""

    def __init__(self, patterns: list[str]):
        super().__init__()
        self._patterns = list(patterns)

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
            | "PathAndSize" >> beam.Map(_path_and_size)
            | "DedupPaths" >> beam.Distinct()
            | "Spread" >> beam.Reshuffle()
        )


class ReadFiles(beam.PTransform):
    """Match file patterns: returns (InputFile PCollection, rejects), counted as stage `read`.

    The stage that uses a file reads its bytes (`with_bytes`), so that only paths
    cross the reshuffle that spreads the files over the workers.
    """

    def __init__(self, patterns: list[str], max_bytes: int = DEFAULT_MAX_FILE_BYTES):
        super().__init__()
        self._patterns = list(patterns)
        self._max_bytes = max_bytes

    def expand(self, pbegin):
        max_bytes = self._max_bytes
        return (
            pbegin
            | "MatchFiles" >> MatchFiles(self._patterns)
            | "Read" >> Stage("read", lambda m: check_size(m, max_bytes), id_of=lambda m: m[0])
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
            | "MatchFiles" >> MatchFiles(self._patterns)
            | "Paths" >> beam.MapTuple(lambda path, size: path)
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
