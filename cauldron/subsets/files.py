"""Reading the published source layouts: parquet with embedded images, JSON/JSON-lines
records, and images named by relative path inside a folder or a zip archive."""

import errno
import json
import os
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pyarrow.parquet as pq

from cauldron.subsets.base import SourceImage
from corpusio.accounting import Reject

BATCH_ROWS = 64
MAX_IMAGE_BYTES = 64 << 20  # no source image is this large; a bigger one is refused


def parquet_files(path: Path, splits: tuple[str, ...] | None) -> list[Path]:
    """The parquet files of a dataset folder (under data/ as on the hub), or one file.

    With `splits`, only files named `<split>-...parquet` (the hub's naming) are kept.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    folder = path / "data" if (path / "data").is_dir() else path
    files = sorted(folder.glob("*.parquet"))
    if splits is not None:
        files = [f for f in files if f.name.split("-", 1)[0] in splits]
    if not files:
        raise FileNotFoundError(f"no parquet files for splits {splits} under {path}")
    return files


def parquet_rows(path: Path, columns: list[str]) -> Iterator[dict]:
    """Rows as plain dicts, batch by batch; image cells stay {bytes, path} structs."""
    reader = pq.ParquetFile(path)
    for batch in reader.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        yield from batch.to_pylist()


def cell_image(ref: str, cell: dict | None) -> SourceImage:
    """An embedded parquet image cell; a cell without bytes is an image to reject."""
    data = (cell or {}).get("bytes")
    if data:
        return SourceImage(ref, data=data)
    path = (cell or {}).get("path")
    return SourceImage(ref, detail=f"parquet cell has no bytes (path {path!r})")


def json_lines(path: Path) -> Iterator[dict | Reject]:
    """The records of a JSON-lines file; a line that does not parse is a reject of its own,
    and the lines after it are still read."""
    with open(path, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                yield Reject(f"{path}:{number}", "bad_json_line", str(exc)[:300])
                continue
            if isinstance(record, dict):
                yield record
            else:
                yield Reject(f"{path}:{number}", "bad_json_line", "not a JSON object")


def read_records(path: Path) -> Iterator[dict | Reject]:
    """LLaVA-style records from a .json list, a .jsonl file, or a hub parquet copy."""
    path = Path(path)
    if path.suffix == ".parquet":
        yield from pq.read_table(path).to_pylist()
    elif path.suffix == ".jsonl":
        yield from json_lines(path)
    else:
        yield from json.loads(path.read_text(encoding="utf-8"))


def _safe_name(name: str) -> PurePosixPath | None:
    """A relative path that cannot leave the image root, else None."""
    parts = PurePosixPath(name.replace("\\", "/"))
    if not name or parts.is_absolute() or ".." in parts.parts:
        return None
    return parts


def read_image_file(root: Path, file: Path, ref: str) -> SourceImage:
    """An image file under `root`: refused when a link takes it outside, loops, or it is
    larger than MAX_IMAGE_BYTES."""
    try:
        real = file.resolve(strict=True)
        if not real.is_relative_to(root.resolve()):
            return SourceImage(ref, reason="unsafe_image_path", detail=f"a link leads to {real}")
        size = real.stat().st_size
        if size > MAX_IMAGE_BYTES:
            return SourceImage(ref, reason="file_too_large", detail=f"{size} bytes")
        return SourceImage(ref, data=real.read_bytes())
    except RuntimeError as exc:  # resolve() on a circle of links (Python 3.11)
        return SourceImage(ref, reason="symlink_loop", detail=str(exc))
    except OSError as exc:
        reason = "symlink_loop" if exc.errno == errno.ELOOP else "unreadable"
        return SourceImage(ref, reason=reason, detail=str(exc))


class ImageStore:
    """Images looked up by the relative names the records use, in a folder or a zip.

    A zip's top `images/` folder is optional in the name, as Geo170K's records omit it.
    A member is read with a cap on its inflated size, whatever its header says, and a
    file is read only when it lies inside the folder (links included).
    Use as a context manager so an opened archive is closed.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self._zip = zipfile.ZipFile(self.root) if self.root.is_file() else None
        self._members = set(self._zip.namelist()) if self._zip else set()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self._zip is not None:
            self._zip.close()

    def image(self, name: str) -> SourceImage:
        ref = f"{self.root.name}:{name}"
        relative = _safe_name(name)
        if relative is None:
            return SourceImage(ref, reason="unsafe_image_path", detail="not a relative path")
        if self._zip is not None:
            for member in (relative.as_posix(), f"images/{relative.as_posix()}"):
                if member in self._members:
                    return self._member(member, ref)
        else:
            file = self.root / relative
            if os.path.lexists(file) and not file.is_dir():
                return read_image_file(self.root, file, ref)
        return SourceImage(ref, detail=f"not found in {self.root}")

    def _member(self, member: str, ref: str) -> SourceImage:
        info = self._zip.getinfo(member)
        if info.file_size > MAX_IMAGE_BYTES:
            detail = f"inflates to {info.file_size} bytes (from {info.compress_size})"
            return SourceImage(ref, reason="decompression_bomb", detail=detail)
        try:
            with self._zip.open(member) as f:
                data = f.read(MAX_IMAGE_BYTES + 1)  # the header may lie about the size
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
            # a header that lies about the size ends in a CRC error: the member is bad
            return SourceImage(ref, reason="corrupt_archive_member", detail=str(exc)[:300])
        if len(data) > MAX_IMAGE_BYTES:
            detail = f"inflates past {MAX_IMAGE_BYTES} bytes (from {info.compress_size})"
            return SourceImage(ref, reason="decompression_bomb", detail=detail)
        return SourceImage(ref, data=data)
