"""Geo170K (Luckyjhg/Geo170K): geometry QA (qa_tuning) and figure descriptions (alignment)
in LLaVA conversations, with the figures inside images.zip.

Records about the same figure, from either file, become one multi-turn row.
"""

from collections.abc import Iterator
from pathlib import Path

from cauldron.subsets import llava
from cauldron.subsets.base import Reject, SourceItem
from cauldron.subsets.files import ImageStore, read_records

NAME = "geo170k"
DEFAULT_SPLITS = ("qa_tuning", "alignment")
IMAGE_ROOTS = ("images.zip", "images")


def record_files(path: Path, splits: tuple[str, ...]) -> list[Path]:
    """The split files of the dataset folder: the .json files, else the hub parquet copies."""
    if path.is_file():
        return [path]
    found = []
    for split in splits:
        json_file = path / f"{split}.json"
        parquet = sorted((path / "data").glob(f"{split}-*.parquet"))
        found.extend([json_file] if json_file.is_file() else parquet)
    if not found:
        raise FileNotFoundError(f"no Geo170K split files {splits} under {path}")
    return found


def default_images(folder: Path) -> Path:
    """images.zip, or its extracted images/ folder, in the dataset folder or the one above
    (when a hub parquet copy under data/ is read)."""
    candidates = [base / name for base in (folder, folder.parent) for name in IMAGE_ROOTS]
    return next((c for c in candidates if c.exists()), candidates[0])


def read_source(
    path: Path, images: Path | None = None, splits: tuple[str, ...] = DEFAULT_SPLITS
) -> Iterator[SourceItem]:
    """`path` is the dataset folder or one split file; `images` is images.zip (default: the
    one in the dataset folder) or an extracted folder."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if images is None:
        images = default_images(folder)
    records = (record for file in record_files(path, splits) for record in read_records(file))
    with ImageStore(images) as store:
        yield from llava.grouped_items(NAME, records, store)


def convert(item: SourceItem, seed: int) -> dict | Reject:
    return llava.convert(item, NAME)
