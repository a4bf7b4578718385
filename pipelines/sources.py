"""Sources: input files from local paths or any Beam FileSystems path (gs://, s3://).

Patterns are checked when the job is launched, so a mistyped glob is a clear
error rather than an empty run; matching and reading then happen on workers.
Local patterns are matched by walking the folder without following links
into folders, so a link that leads nowhere or in a circle is reported (it
becomes a reject) instead of being skipped, and any file name, UTF-8 or not,
is carried as it is.
"""

import errno
import itertools
import os
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystem import FileSystem
from apache_beam.io.filesystems import FileSystems

from corpusio.accounting import Reject
from corpusio.names import from_bytes, printable, to_bytes
from corpusio.shards import iter_tar_samples
from pipelines.stage import Stage

DEFAULT_MAX_FILE_BYTES = 1 << 30
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class InputFile:
    """A matched input file: its path and size. The bytes are read by the stage that uses
    them (`read_input`), so that only the path travels through Beam's shuffles.

    `problem` is a reject reason found while matching (a link in a circle, ...).
    """

    path: str
    size: int
    problem: str | None = None


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


def _is_local(pattern: str) -> bool:
    return FileSystems.get_scheme(pattern) in (None, "file")


def _walk_root(pattern: str) -> str:
    """The deepest folder of a pattern that holds no wildcard."""
    parts = pattern.split("/")
    fixed = list(itertools.takewhile(lambda part: not _GLOB_CHARS.search(part), parts[:-1]))
    return "/".join(fixed) or ("/" if pattern.startswith("/") else ".")


def _stat(path: str) -> InputFile:
    try:
        return InputFile(path, os.stat(path).st_size)
    except OSError as exc:
        problem = "symlink_loop" if exc.errno == errno.ELOOP else "unreadable"
        if exc.errno == errno.ENOENT and os.path.islink(path):
            problem = "broken_link"
        return InputFile(path, 0, problem)


def _match_local(pattern: str) -> Iterator[InputFile]:
    if not _GLOB_CHARS.search(pattern):
        if os.path.lexists(pattern) and not os.path.isdir(pattern):
            yield _stat(pattern)
        return
    # Beam's `*` stops at a backslash too (a Windows separator); in a POSIX name it is a letter
    regex = re.compile(FileSystem.translate_pattern(pattern).replace(r"[^/\\]*", "[^/]*"))
    root = _walk_root(pattern)
    for folder, subfolders, names in os.walk(root, followlinks=False):
        subfolders.sort()
        for name in sorted(names):
            path = os.path.join(folder, name) if folder != "." else name
            if regex.fullmatch(path):
                yield _stat(path)


def match_pattern(pattern: str) -> Iterator[InputFile]:
    """The files one pattern matches (local: walked, links reported; remote: FileSystems)."""
    if _is_local(pattern):
        yield from _match_local(pattern)
        return
    for metadata in FileSystems.match([pattern])[0].metadata_list:
        yield InputFile(metadata.path, metadata.size_in_bytes)


def check_patterns(patterns: Iterable[str]) -> list[str]:
    """The patterns to match, `**` variants included; NoInputError if one matches nothing."""
    patterns = list(patterns)
    if not patterns:
        raise NoInputError("no --input given")
    expanded = []
    for pattern in patterns:
        variants = pattern_variants(pattern)
        if not any(next(match_pattern(v), None) for v in variants):
            raise NoInputError(f"--input {pattern!r} matches no file")
        expanded += variants
    return sorted(set(expanded))


def check_size(file: InputFile, max_bytes: int = DEFAULT_MAX_FILE_BYTES):
    """The file, or a reject when matching found a problem or it is too large."""
    if file.problem is not None:
        return Reject(file.path, file.problem, "found while matching the input patterns")
    if file.size > max_bytes:
        return Reject(file.path, "file_too_large", f"{file.size} > {max_bytes} bytes")
    return file


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


def _wire(file: InputFile) -> tuple:
    """A matched file as values Beam encodes deterministically, whatever bytes its name has."""
    return to_bytes(file.path), file.size, file.problem


def _unwire(wired: tuple) -> InputFile:
    path, size, problem = wired
    return InputFile(from_bytes(path), size, problem)


class MatchFiles(beam.PTransform):
    """The distinct files (InputFile) that patterns match, spread over the workers."""

    def __init__(self, patterns: list[str]):
        super().__init__()
        self._patterns = list(patterns)

    def expand(self, pbegin):
        return (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> beam.FlatMap(lambda pattern: map(_wire, match_pattern(pattern)))
            | "DedupPaths" >> beam.Distinct()
            | "Spread" >> beam.Reshuffle()
            | "Files" >> beam.Map(_unwire)
        )


class ReadFiles(beam.PTransform):
    """Match file patterns: returns (InputFile PCollection, rejects), counted as stage `read`.

    The stage that uses a file reads its bytes (`with_bytes`), so that only paths
    cross the reshuffle that spreads the files over the workers.
    """

    def __init__(self, patterns: list[str], max_bytes: int = DEFAULT_MAX_FILE_BYTES, stats=None):
        super().__init__()
        self._patterns = list(patterns)
        self._max_bytes = max_bytes
        self._stats = stats

    def expand(self, pbegin):
        max_bytes = self._max_bytes
        return (
            pbegin
            | "MatchFiles" >> MatchFiles(self._patterns)
            | "Read"
            >> Stage(
                "read",
                lambda f: check_size(f, max_bytes),
                id_of=lambda f: f.path,
                stats=self._stats,
            )
        )


def read_tar_samples(file: InputFile):
    """Samples of one WebDataset tar, each with `__url__` (the tar) and `__index__` (its
    place in it); a tar that cannot be opened or a corrupt or truncated tail is a reject."""
    if file.problem is not None:
        yield Reject(file.path, file.problem, "found while matching the input patterns")
        return
    url = printable(file.path)
    count = 0
    try:
        with FileSystems.open(file.path, compression_type="uncompressed") as f:
            for sample in iter_tar_samples(f):
                yield sample | {"__url__": url, "__index__": count}
                count += 1
    except (tarfile.TarError, OSError, EOFError) as exc:
        yield Reject(f"{file.path}@{count}", "corrupt_tar", f"after {count} samples: {exc}")


class MatchPaths(beam.PTransform):
    """The distinct paths that file patterns match, spread over workers for reading."""

    def __init__(self, patterns: list[str]):
        super().__init__()
        self._patterns = list(patterns)

    def expand(self, pbegin):
        return (
            pbegin
            | "MatchFiles" >> MatchFiles(self._patterns)
            | "Paths" >> beam.Map(lambda f: f.path)
        )


class ReadShards(beam.PTransform):
    """Match WebDataset tar patterns and read their samples (dicts, as webdataset gives them).

    Counted as fan-out stage `read_shards`: each sample is one unit, each tar a source.
    """

    def __init__(self, patterns: list[str]):
        super().__init__()
        self._patterns = list(patterns)

    def expand(self, pbegin):
        tars = pbegin | "MatchTars" >> MatchFiles(self._patterns)
        return tars | "ReadTars" >> Stage(
            "read_shards", read_tar_samples, fanout=True, id_of=lambda f: f.path
        )
