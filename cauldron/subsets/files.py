"""Reading the published source layouts: parquet with embedded images, JSON/JSON-lines
records, and images named by relative path inside a folder or a zip archive."""

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pyarrow.parquet as pq

from cauldron.subsets.base import SourceImage

BATCH_ROWS = 64


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


def read_records(path: Path) -> list[dict]:
    """LLaVA-style records from a .json list, a .jsonl file, or a hub parquet copy."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def _safe_name(name: str) -> PurePosixPath | None:
    """A relative path that cannot leave the image root, else None."""
    parts = PurePosixPath(name.replace("\\", "/"))
    if not name or parts.is_absolute() or ".." in parts.parts:
        return None
    return parts


class ImageStore:
    """Images looked up by the relative names the records use, in a folder or a zip.

    A zip's top `images/` folder is optional in the name, as Geo170K's records omit it.
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
        data = self._read(relative)
        if data is None:
            return SourceImage(ref, detail=f"not found in {self.root}")
        return SourceImage(ref, data=data)

    def _read(self, relative: PurePosixPath) -> bytes | None:
        if self._zip is not None:
            for member in (relative.as_posix(), f"images/{relative.as_posix()}"):
                if member in self._members:
                    return self._zip.read(member)
            return None
        file = self.root / relative
        return file.read_bytes() if file.is_file() else None
