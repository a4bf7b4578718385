"""Part files: payloads written once under OUTPUT/_work, passed on as small references.

Beam's local runner keeps every PCollection that crosses a GroupByKey, a
Reshuffle or a side input in memory, and Dataflow shuffles it over the
network. So a step that makes a payload (a document, page images, a sample
of a shard, image bytes) writes it here and passes on a `Stored` reference
of a few dozen bytes; the step that needs the payload again, after the
shuffle, reads it back by offset. Objects are appended, pickled, to part
files that roll over every few hundred MiB, so the number of files grows
with the input, not with its items.

A checkpoint (pipelines.stage) is a part file plus an index written when the
part is complete: the element ids it holds and where each one's results are.
"""

import logging
import os
import pickle
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

from corpusio.names import to_bytes
from pipelines.files import join, open_ranged, write_bytes

PART_SUFFIX = ".part"
INDEX_SUFFIX = ".index"
PART_BYTES = 256 << 20
_OPEN_FILES = 64
_OPEN_REMOTE = 4  # per thread: each holds a read buffer


@dataclass(frozen=True, slots=True)
class Stored:
    """Where one pickled object lies: a part file, a byte offset and a length."""

    path: str
    offset: int
    length: int


class StorageError(OSError):
    """A part could not be written: a problem of the machine, not of one input."""


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


class PartWriter:
    """Appends pickled objects to part files in `folder`, starting a new part when asked.

    The part being written is not read by anyone: a reference is handed on only
    through Beam, and the consumer runs after this bundle has finished, which
    closes the part.
    """

    def __init__(self, folder: str, max_bytes: int = PART_BYTES):
        self.folder = folder
        self.max_bytes = max_bytes
        self.path: str | None = None
        self.size = 0
        self.opened_at = 0.0
        self._stream = None

    def _open(self) -> None:
        self.path = join(self.folder, f"{uuid.uuid4().hex}{PART_SUFFIX}")
        if _is_local(self.path):
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self._stream = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        else:
            self._stream = FileSystems.create(self.path, mime_type="application/octet-stream")
        self.size = 0
        self.opened_at = time.monotonic()

    def put(self, obj) -> Stored:
        """Write one object; returns where it lies."""
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            if self._stream is None:
                self._open()
            self._stream.write(data)
        except OSError as exc:
            raise StorageError(f"cannot write {self.path}: {exc}") from exc
        stored = Stored(self.path, self.size, len(data))
        self.size += len(data)
        if self.size >= self.max_bytes:
            self.close()
        return stored

    def close(self) -> str | None:
        """Finish the current part; returns its path (None when nothing was written)."""
        if self._stream is None:
            return None
        self._stream.close()
        self._stream = None
        path, self.path = self.path, None
        return path


class _Reader:
    """Reads stored objects: positional reads on local files, one stream per remote part."""

    def __init__(self):
        self._lock = threading.Lock()
        self._local: OrderedDict[str, int] = OrderedDict()
        self._remote = threading.local()

    def _pread(self, stored: Stored) -> bytes:
        """A positional read under the lock, so no other thread closes the file meanwhile."""
        with self._lock:
            fd = self._local.get(stored.path)
            if fd is None:
                fd = self._local[stored.path] = os.open(stored.path, os.O_RDONLY)
                if len(self._local) > _OPEN_FILES:
                    _, old = self._local.popitem(last=False)
                    os.close(old)
            else:
                self._local.move_to_end(stored.path)
            return os.pread(fd, stored.length, stored.offset)

    def read(self, stored: Stored) -> bytes:
        if _is_local(stored.path):
            data = self._pread(stored)
        else:
            streams = getattr(self._remote, "streams", None)
            if streams is None:
                streams = self._remote.streams = OrderedDict()
            stream = streams.get(stored.path)
            if stream is None:
                stream = streams[stored.path] = open_ranged(stored.path)
                if len(streams) > _OPEN_REMOTE:
                    streams.popitem(last=False)[1].close()
            stream.seek(stored.offset)
            data = stream.read(stored.length)
        if len(data) != stored.length:
            raise OSError(f"{stored.path}: {len(data)} of {stored.length} bytes at {stored.offset}")
        return data

    def forget(self) -> None:
        """Close every cached file (parts may be deleted after a run)."""
        with self._lock:
            for fd in self._local.values():
                os.close(fd)
            self._local.clear()


_READER = _Reader()


def load(stored: Stored):
    """The object a `Stored` reference points to."""
    return pickle.loads(_READER.read(stored))


def forget_open_parts() -> None:
    _READER.forget()


# --- checkpoint indexes ---------------------------------------------------------


def write_index(part: str, entries: list[tuple[str, Stored]]) -> None:
    """Name the elements a finished part holds: one line `id <TAB> offset <TAB> length`.

    Written after the part is complete and renamed into place whole, so an index
    on disk always describes a readable part.
    """
    lines = [f"{index_key(i)}\t{stored.offset}\t{stored.length}\n" for i, stored in entries]
    write_bytes(part[: -len(PART_SUFFIX)] + INDEX_SUFFIX, "".join(lines).encode("utf-8"))


def index_key(element_id: str) -> str:
    """An element id as an index line spells it: the hex of its bytes, so that any id (a
    path with tabs, line breaks or bytes that are not UTF-8) is one unambiguous key."""
    return to_bytes(element_id).hex()


def read_indexes(folder: str) -> dict[str, Stored]:
    """Every finished element in a checkpoint folder: index key -> where its results lie."""
    saved: dict[str, Stored] = {}
    pattern = join(folder, "*" + INDEX_SUFFIX)
    for metadata in FileSystems.match([pattern])[0].metadata_list:
        index = metadata.path
        part = index[: -len(INDEX_SUFFIX)] + PART_SUFFIX
        try:
            with FileSystems.open(index, compression_type="uncompressed") as f:
                lines = f.read().decode("ascii").split("\n")
            entries = [line.split("\t") for line in lines if line]
            found = {key: Stored(part, int(offset), int(length)) for key, offset, length in entries}
        except (OSError, ValueError) as exc:  # its elements are computed again
            logging.warning("checkpoint index %s unreadable (%r)", index, exc)
            continue
        saved.update(found)
    return saved
