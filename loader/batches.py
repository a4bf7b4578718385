"""Items with pixels -> batches: padded to the longest sample, or packed rows.

Tiles are padded with all-zero tiles to the batch's (or row's) most tiles; `tile_mask`
says which are real. Items whose tiles are made on the device contribute their images
instead (loader.device).
"""

from collections.abc import Iterator

import torch

from loader.conversation import IGNORE_INDEX
from loader.device import TILE
from loader.packing import packed_text
from loader.skips import SkipCounter


def tile_count(rows: int, cols: int) -> int:
    return rows * cols + 1 if rows else 1


def collate(items: list[dict], pad_id: int = 0, counter: SkipCounter | None = None) -> dict:
    """Stack items, padding tile stacks with all-zero tiles and text on the right."""
    batch = image_fields(items)
    batch["keys"] = [item["key"] for item in items]
    batch["skipped"] = counter.drain() if counter is not None else {}
    if items and "input_ids" in items[0]:
        batch.update(pad_text(items, pad_id))
    return batch


def collate_rows(
    rows: list[list[dict]], max_length: int, pad_id: int, counter: SkipCounter | None = None
) -> dict:
    """Packed rows: [B, max_length] text, each row's tiles in order; `keys` per row."""
    merged = []
    for row in rows:
        entry = {
            "rows": [r for item in row for r in item["rows"]],
            "cols": [c for item in row for c in item["cols"]],
        }
        if any("images" in item for item in row):
            entry["images"] = [image for item in row for image in item.get("images", [])]
        else:
            entry["tiles"] = torch.cat([item["tiles"] for item in row])
        merged.append(entry)
    batch = image_fields(merged)
    batch["keys"] = [[item["key"] for item in row] for row in rows]
    batch["n_images"] = torch.tensor([len(entry["rows"]) for entry in merged], dtype=torch.long)
    batch["skipped"] = counter.drain() if counter is not None else {}
    if rows and "input_ids" in rows[0][0]:
        batch.update(packed_text(rows, max_length, pad_id))
    return batch


def image_fields(items: list[dict]) -> dict:
    """tile_mask, rows, cols and either pixel_values (uint8) or the images left for the device."""
    counts = [
        [tile_count(r, c) for r, c in zip(item["rows"], item["cols"], strict=True)]
        for item in items
    ]
    most = max((sum(c) for c in counts), default=0)
    tile_mask = torch.zeros((len(items), most), dtype=torch.bool)
    for i, item_counts in enumerate(counts):
        tile_mask[i, : sum(item_counts)] = True
    batch = {"tile_mask": tile_mask}
    if items and all("images" in item or not item["rows"] for item in items):
        batch["images"] = [item.get("images", []) for item in items]
    else:
        pixel_values = torch.zeros((len(items), most, 3, TILE, TILE), dtype=torch.uint8)
        for i, item in enumerate(items):
            pixel_values[i, : len(item["tiles"])] = item["tiles"]
        batch["pixel_values"] = pixel_values
    batch["rows"] = [item["rows"] for item in items]
    batch["cols"] = [item["cols"] for item in items]
    return batch


def pad_text(items: list[dict], pad_id: int) -> dict:
    longest = max(len(item["input_ids"]) for item in items)
    input_ids = torch.full((len(items), longest), pad_id, dtype=torch.long)
    labels = torch.full((len(items), longest), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(items), longest), dtype=torch.long)
    for i, item in enumerate(items):
        n = len(item["input_ids"])
        input_ids[i, :n] = item["input_ids"]
        labels[i, :n] = item["labels"]
        attention_mask[i, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


def batches_of(items, batch_size: int, partial: bool) -> Iterator[list[dict]]:
    group = []
    for item in items:
        group.append(item)
        if len(group) == batch_size:
            yield group
            group = []
    if group and partial:
        yield group
