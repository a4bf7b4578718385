"""Atomic writes through Beam FileSystems, so outputs land whole on local disk and on gs://."""

import uuid

from apache_beam.io.filesystems import FileSystems


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


class AtomicWriter:
    """A context manager giving a writable stream; the file appears under `path` only on success."""

    def __init__(self, path: str):
        self.path = path
        self._tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        self._stream = None
        self.bytes_written = 0

    def __enter__(self):
        self._stream = FileSystems.create(self._tmp, mime_type="application/octet-stream")
        return self

    def write(self, data: bytes) -> int:
        self._stream.write(data)
        self.bytes_written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.bytes_written

    def flush(self) -> None:
        self._stream.flush()

    @property
    def closed(self) -> bool:
        return self._stream is None or self._stream.closed

    def __exit__(self, exc_type, exc, tb):
        self._stream.close()
        if exc_type is not None:
            FileSystems.delete([self._tmp])
            return False
        if FileSystems.exists(self.path):
            FileSystems.delete([self.path])
        FileSystems.rename([self._tmp], [self.path])
        return False


def write_bytes(path: str, data: bytes) -> None:
    with AtomicWriter(path) as out:
        out.write(data)


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return f.read()


RANGED_READ_BUFFER = 1 << 20


def open_ranged(path: str):
    """A seekable stream for reads at scattered offsets: on gs:// with a 1 MiB buffer
    instead of Beam's 16 MiB, so that each small read does not fetch 16 MiB."""
    if FileSystems.get_scheme(path) == "gs":
        from apache_beam.io.gcp import gcsio

        return gcsio.GcsIO().open(path, "r", read_buffer_size=RANGED_READ_BUFFER)
    return FileSystems.open(path, compression_type="uncompressed")
