"""Docmatix (ours, from pipelines.docmatix_qa, or the hub's): already Cauldron-shaped, so
rows pass through unchanged, texts included; page images are still checked to decode."""

from collections.abc import Iterator
from pathlib import Path

from cauldron.schema import image_struct
from cauldron.subsets.base import Reject, SourceItem, checked_images
from cauldron.subsets.files import cell_image, parquet_files, parquet_rows

NAME = "docmatix"
DEFAULT_SPLITS = ("train",)


def read_source(
    path: Path, images: Path | None = None, splits: tuple[str, ...] | None = DEFAULT_SPLITS
) -> Iterator[SourceItem]:
    """Rows of the images config (`data/<split>-*.parquet`); `images` is unused."""
    for file in parquet_files(path, splits):
        stem = file.name.removesuffix(".parquet")
        for index, row in enumerate(parquet_rows(file, ["images", "texts"])):
            pages = tuple(
                cell_image(f"{file.name}[{index}].images[{page}]", cell)
                for page, cell in enumerate(row["images"] or [])
            )
            yield SourceItem(NAME, f"{stem}/{index}", pages, ({"texts": row["texts"]},))


def convert(item: SourceItem, seed: int) -> dict | Reject:
    kept = checked_images(item)
    if isinstance(kept, Reject):
        return kept
    texts = item.records[0]["texts"] or []
    if not texts:
        return Reject(item.key, "no_turns", "row has no texts")
    return {"images": [image_struct(data) for data in kept], "texts": texts}
