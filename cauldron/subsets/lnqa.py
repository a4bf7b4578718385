"""LNQA (vikhyatk/lnqa): Localized Narratives images with question/answer lists; one row
per image, one turn per QA item in the order given."""

from collections.abc import Iterator
from pathlib import Path

from cauldron.schema import cauldron_row
from cauldron.subsets.base import Reject, SourceItem, checked_images
from cauldron.subsets.files import cell_image, parquet_files, parquet_rows

NAME = "lnqa"
DEFAULT_SPLITS = ("train",)


def read_source(
    path: Path, images: Path | None = None, splits: tuple[str, ...] | None = DEFAULT_SPLITS
) -> Iterator[SourceItem]:
    """Rows of the hub's parquet files; `images` is unused (the images are embedded)."""
    for file in parquet_files(path, splits):
        stem = file.name.removesuffix(".parquet")
        for index, row in enumerate(parquet_rows(file, ["image", "qa"])):
            image = cell_image(f"{file.name}[{index}].image", row["image"])
            yield SourceItem(NAME, f"{stem}/{index}", (image,), ({"qa": row["qa"]},))


def convert(item: SourceItem, seed: int) -> dict | Reject:
    kept = checked_images(item)
    if isinstance(kept, Reject):
        return kept
    pairs = [
        ((qa.get("question") or "").strip(), (qa.get("answer") or "").strip())
        for qa in item.records[0]["qa"] or []
    ]
    if not pairs:
        return Reject(item.key, "no_turns", "empty qa list")
    if not all(question and answer for question, answer in pairs):
        return Reject(item.key, "bad_annotation", "a qa item has an empty question or answer")
    return cauldron_row(kept, pairs, NAME)
