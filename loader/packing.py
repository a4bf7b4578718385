"""Packing whole samples into fixed-length rows, so a batch is tokens and not padding.

Training on a mix of short QA rows and long document pages pads most of every batch
when each row holds one sample. Here a row holds several whole samples (never cut:
an image's tokens stay with its tiles) up to `max_length` tokens and at most
`max_images_per_row` images. The packer keeps a look-ahead buffer of samples in
arrival order; each row starts with the oldest (so no sample waits forever) and is
then filled best-fit: the longest buffered sample that still fits, again and again.
Everything is deterministic: the same stream gives the same rows.

Rows carry `position_ids` that restart at 0 for each sample and `seq_lens`, so
variable-length attention (flash-attention's varlen kernels; transformers derives
cu_seqlens from position_ids) keeps samples apart, and the first label of every
sample is ignored so no sample learns to predict the next one's start.
"""

from collections.abc import Iterable, Iterator

import torch

from loader.conversation import IGNORE_INDEX

DEFAULT_LOOK_AHEAD = 128


class Packer:
    """Items (dicts with `input_ids` and `rows`) -> batches of rows (lists of items)."""

    def __init__(
        self,
        max_length: int,
        rows_per_batch: int,
        look_ahead: int = DEFAULT_LOOK_AHEAD,
        max_images_per_row: int | None = None,
        partial: bool = True,
    ):
        if max_length < 1 or rows_per_batch < 1 or look_ahead < 1:
            raise ValueError("max_length, rows_per_batch and look_ahead must be positive")
        if max_images_per_row is not None and max_images_per_row < 0:
            raise ValueError("max_images_per_row must be >= 0")
        self.max_length = max_length
        self.rows_per_batch = rows_per_batch
        self.look_ahead = look_ahead
        self.max_images = max_images_per_row
        self.partial = partial

    def fits_alone(self, item: dict) -> str | None:
        """Why an item can never be packed (a skip reason), or None."""
        if len(item["input_ids"]) > self.max_length:
            return "too_long"
        if self.max_images is not None and len(item["rows"]) > self.max_images:
            return "too_many_images"
        return None

    def __call__(self, items: Iterable[dict]) -> Iterator[list[list[dict]]]:
        source = iter(items)
        buffer: list[dict] = []
        rows: list[list[dict]] = []
        exhausted = False
        while True:
            while not exhausted and len(buffer) < self.look_ahead:
                item = next(source, None)
                if item is None:
                    exhausted = True
                else:
                    buffer.append(item)
            if not buffer:
                break
            rows.append(self._row(buffer))
            if len(rows) == self.rows_per_batch:
                yield rows
                rows = []
        if rows and self.partial:
            yield rows

    def _row(self, buffer: list[dict]) -> list[dict]:
        """The oldest item, then the longest that fits, until nothing more fits."""
        row = [buffer.pop(0)]
        tokens = len(row[0]["input_ids"])
        images = len(row[0]["rows"])
        while buffer:
            room = self.max_length - tokens
            best = None
            for i, item in enumerate(buffer):
                n = len(item["input_ids"])
                if n > room or (best is not None and n <= len(buffer[best]["input_ids"])):
                    continue
                if self.max_images is not None and images + len(item["rows"]) > self.max_images:
                    continue
                best = i
            if best is None:
                break
            item = buffer.pop(best)
            row.append(item)
            tokens += len(item["input_ids"])
            images += len(item["rows"])
        return row


def packed_text(rows: list[list[dict]], max_length: int, pad_id: int) -> dict:
    """input_ids, labels, attention_mask, position_ids [B, max_length]; seq_lens per row.

    Padding after a row's samples has attention 0, label -100 and positions that count
    on from 0, one more segment that varlen attention keeps to itself.
    """
    shape = (len(rows), max_length)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    labels = torch.full(shape, IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros(shape, dtype=torch.long)
    position_ids = torch.zeros(shape, dtype=torch.long)
    seq_lens = []
    for r, row in enumerate(rows):
        start, lengths = 0, []
        for item in row:
            n = len(item["input_ids"])
            end = start + n
            input_ids[r, start:end] = item["input_ids"]
            labels[r, start:end] = item["labels"]
            labels[r, start] = IGNORE_INDEX  # never learn the next sample's first token
            attention_mask[r, start:end] = 1
            position_ids[r, start:end] = torch.arange(n)
            lengths.append(n)
            start = end
        position_ids[r, start:] = torch.arange(max_length - start)
        seq_lens.append(lengths)
    return {
        "input_ids": input_ids,
        "labels": labels,
        "attention_mask": attention_mask,
        "position_ids": position_ids,
        "seq_lens": seq_lens,
    }


def packing_efficiency(attention_mask: torch.Tensor) -> float:
    """Share of a batch's token slots that hold a sample's token."""
    return float(attention_mask.sum()) / max(1, attention_mask.numel())
