"""CORD-v2 receipts (naver-clova-ix/cord-v2): the receipt image, and its `gt_parse` as JSON.

The answer is canonical JSON (sorted keys, fixed separators, non-ASCII kept) so the same
receipt always gives the same text and the text parses back to exactly `gt_parse`. The
structure is kept as annotated: a receipt with one item has `menu` as an object, as in CORD.
"""

import json
from collections.abc import Iterator
from pathlib import Path

from cauldron import prompts
from cauldron.schema import cauldron_row
from cauldron.subsets.base import Reject, SourceItem, checked_images
from cauldron.subsets.files import cell_image, parquet_files, parquet_rows

NAME = "cord_v2"
DEFAULT_SPLITS = ("train",)


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def read_source(
    path: Path, images: Path | None = None, splits: tuple[str, ...] | None = DEFAULT_SPLITS
) -> Iterator[SourceItem]:
    """Rows of the hub's parquet files; `images` is unused (the images are embedded)."""
    for file in parquet_files(path, splits):
        stem = file.name.removesuffix(".parquet")
        for index, row in enumerate(parquet_rows(file, ["image", "ground_truth"])):
            item_id = f"{stem}/{index}"
            image = cell_image(f"{file.name}[{index}].image", row["image"])
            yield SourceItem(NAME, item_id, (image,), ({"ground_truth": row["ground_truth"]},))


def convert(item: SourceItem, seed: int) -> dict | Reject:
    kept = checked_images(item)
    if isinstance(kept, Reject):
        return kept
    try:
        gt_parse = json.loads(item.records[0]["ground_truth"])["gt_parse"]
    except (TypeError, KeyError, ValueError) as exc:
        return Reject(item.key, "bad_annotation", f"ground_truth: {type(exc).__name__}: {exc}")
    if not gt_parse:
        return Reject(item.key, "bad_annotation", "empty gt_parse")
    user = prompts.draw(seed, NAME, item.id)
    return cauldron_row(kept, [(user, canonical_json(gt_parse))], NAME)
