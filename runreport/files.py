"""File access handed in by the caller, so reports read local disk or gs:// without Beam.

The report only needs to read a few files, list a pattern and write a few
files; the pipelines pass Beam's FileSystems in, tests and scripts pass the
local helpers below.
"""

import glob
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class Files:
    """The file operations a report uses.

    `open_read` (path -> seekable binary stream) is optional: with it parquet
    files are read by row group and column and tars are streamed, so only the
    bytes the sample needs are fetched; without it each file read is whole.
    """

    read_bytes: Callable[[str], bytes]
    match: Callable[[str], list[str]]
    write_bytes: Callable[[str, bytes], None]
    open_read: Callable[[str], BinaryIO] | None = None

    def open(self, path: str) -> BinaryIO:
        if self.open_read is not None:
            return self.open_read(path)
        return io.BytesIO(self.read_bytes(path))

    def glob(self, pattern: str) -> list[str]:
        """Paths matching `pattern`, sorted, so samples are the same on every run."""
        return sorted(set(self.match(pattern)))


def join(base: str, *parts: str) -> str:
    """Join with '/', which local paths and gs:// URLs share."""
    path = base
    for part in parts:
        path = path.rstrip("/") + "/" + part.lstrip("/")
    return path


def _write_local(path: str, data: bytes) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def local_files() -> Files:
    """Files on the local disk (scripts, tests, the command line)."""
    return Files(
        read_bytes=lambda path: Path(path).read_bytes(),
        match=lambda pattern: glob.glob(pattern, recursive=True),
        write_bytes=_write_local,
        open_read=lambda path: open(path, "rb"),  # noqa: SIM115 - the caller closes it
    )
