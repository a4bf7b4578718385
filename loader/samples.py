"""Shard samples -> planned items -> items with pixels.

Reads our three shard layouts (see the README):

- Docmatix QA: `<key>.json` {"texts": [{user, assistant, source}]} + `<key>.NNNN.png`;
- Cauldron rows: `<key>.json` {"id", "texts"} + `<key>.NNN.<ext>`;
- OBELICS documents: `<key>.json` {"texts", "images", ...} + `<key>.NNN.<ext>`, NNN the
  position of the image among the texts (positions without a member were not fetched
  and are dropped).

A sample is first planned from its json and its image headers (token ids, tile grids,
the image bytes still compressed); its pixels are decoded and tiled only once its batch
is formed (`materialise`). A bad sample raises SkipSample with the reason it is counted
under.
"""

import io
import json
import re
from dataclasses import dataclass, field

import torch
from PIL import Image

from loader import idefics3
from loader.conversation import format_conversation
from loader.device import IMAGE_ERRORS, TILE, peek_image
from loader.skips import SkipCounter, SkipSample

IMAGE_MEMBER = re.compile(r"^(\d+)\.([a-z0-9_]+)$")


class UnsafeShardError(ValueError):
    """A shard holds a member whose name could escape a directory: the shard is refused."""


@dataclass
class Example:
    """One decoded sample: `turns` is a chat row or an interleaved document (None = image)."""

    key: str
    kind: str  # "chat" or "interleaved"
    turns: list
    images: list = field(default_factory=list)


# -- samples ---------------------------------------------------------------------------


def check_member_name(name: str, url: str = "?") -> None:
    """Refuse names that could write outside a directory if anyone ever extracts the shard."""
    if name.startswith("/") or "/" in name or "\\" in name or ".." in name:
        raise UnsafeShardError(f"refusing shard {url}: unsafe member name {name!r}")


def sample_to_example(sample: dict, decode=None) -> Example:
    """Decode a grouped WebDataset sample; raises SkipSample for unusable ones.

    `decode(data, key)` turns image bytes into what the example holds: a PIL image
    (`decode_image`, the default) or an `EncodedImage` left for the device (`peek_image`).
    """
    decode = decode or decode_image
    key = sample.get("__key__", "?")
    for ext in sample:
        if not ext.startswith("__"):
            check_member_name(f"{key}.{ext}", sample.get("__url__", "?"))
    if "json" not in sample:
        raise SkipSample("no_json", key)
    try:
        meta = json.loads(sample["json"])
    except (UnicodeDecodeError, json.JSONDecodeError) as exn:
        raise SkipSample("bad_json", f"{key}: {exn}") from exn
    images = image_members(sample)
    if _is_document(meta):
        turns, numbers = document_turns(meta, images, key)
        return Example(key, "interleaved", turns, [decode(images[n], key) for n in numbers])
    if _is_chat(meta):
        turns = [dict(t) for t in meta["texts"]]
        return Example(key, "chat", turns, [decode(images[n], key) for n in sorted(images)])
    raise SkipSample("unknown_layout", key)


def image_members(sample: dict) -> dict[int, bytes]:
    """Members named `NNN.<ext>` (any image extension), by number."""
    found = {}
    for ext, data in sample.items():
        match = IMAGE_MEMBER.match(ext)
        if match:
            found[int(match.group(1))] = data
    return found


def document_turns(meta: dict, images: dict[int, bytes], key: str) -> tuple[list, list[int]]:
    """OBELICS texts with None at the image positions that have an image member."""
    texts, urls = meta["texts"], meta["images"]
    if len(texts) != len(urls):
        raise SkipSample("bad_json", f"{key}: texts and images differ in length")
    turns, numbers = [], []
    for position, (text, url) in enumerate(zip(texts, urls, strict=True)):
        if text is not None:
            turns.append(text)
        elif url is not None and position in images:
            turns.append(None)
            numbers.append(position)
    return turns, numbers


def decode_image(data: bytes, key: str) -> Image.Image:
    """Fully decode an image of any format PIL reads, as RGB; a broken one skips the sample."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return idefics3.to_rgb(image)
    except IMAGE_ERRORS as exn:
        raise SkipSample("bad_image", f"{key}: {exn}") from exn


def _is_chat(meta) -> bool:
    texts = meta.get("texts") if isinstance(meta, dict) else None
    return isinstance(texts, list) and bool(texts) and all(isinstance(t, dict) for t in texts)


def _is_document(meta) -> bool:
    if not isinstance(meta, dict) or not isinstance(meta.get("images"), list):
        return False
    texts = meta.get("texts")
    return isinstance(texts, list) and all(t is None or isinstance(t, str) for t in texts)


@dataclass
class RawImage:
    """Image bytes whose header has been read: the size fixes the tile grid and the prompt,
    so samples can be tokenised, packed and batched before any pixel is decoded."""

    data: bytes
    height: int
    width: int


def peek_raw(data: bytes, key: str) -> RawImage:
    """The header's size (and, for formats that allow it, a check of the file's structure)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if image.format != "JPEG":
                image.verify()  # chunk checksums, no pixels: catches most truncated files
    except IMAGE_ERRORS as exn:
        raise SkipSample("bad_image", f"{key}: {exn}") from exn
    if width <= 0 or height <= 0:
        raise SkipSample("bad_image", f"{key}: size {width}x{height}")
    return RawImage(data, height, width)


def plan_item(example: Example, tokenizer=None, max_length: int | None = None) -> dict:
    """Key, tile grid per image, image bytes and, with a tokenizer, input_ids and labels."""
    rows, cols = [], []
    for image in example.images:
        r, c = idefics3.grid(*idefics3.tile_geometry(image.height, image.width)[2:])
        rows.append(int(r))
        cols.append(int(c))
    item = {"key": example.key, "rows": rows, "cols": cols, "raw": list(example.images)}
    if tokenizer is not None:
        prompts = [idefics3.image_prompt(r, c) for r, c in zip(rows, cols, strict=True)]
        try:
            ids, labels = format_conversation(example.turns, len(prompts), prompts, tokenizer)
        except ValueError as exn:
            raise SkipSample("bad_text", f"{example.key}: {exn}") from exn
        if max_length is not None and len(ids) > max_length:
            # Cutting would split an image's tokens from its tiles: the sample is skipped.
            raise SkipSample("too_long", f"{example.key}: {len(ids)} tokens")
        item["input_ids"] = torch.tensor(ids, dtype=torch.long)
        item["labels"] = torch.tensor(labels, dtype=torch.long)
    return item


def to_plans(samples, tokenizer, counter: SkipCounter, max_length=None, packer=None):
    """Pipeline stage: samples -> planned items, skipping and counting the bad ones."""
    for sample in samples:
        try:
            item = plan_item(sample_to_example(sample, peek_raw), tokenizer, max_length)
            reason = packer.fits_alone(item) if packer is not None else None
            if reason:
                raise SkipSample(reason, item["key"])
        except SkipSample as skip:
            counter.add(skip.reason)
            continue
        yield item


def materialise(item: dict, on_device: bool) -> dict:
    """The item with its pixels: uint8 tiles [N, 3, 364, 364], or images for the device.

    The grid was planned from the same header the decoder reads, so it stands. Raises
    SkipSample when an image does not decode.
    """
    out = {k: v for k, v in item.items() if k != "raw"}
    if on_device and item["raw"]:
        out["images"] = [peek_image(raw.data, item["key"]) for raw in item["raw"]]
        return out
    stacks = []
    for raw in item["raw"]:
        image = decode_image(raw.data, item["key"])
        try:
            tiles, _, _ = idefics3.split_image(image)
        except IMAGE_ERRORS as exn:
            raise SkipSample("bad_image", f"{item['key']}: {exn}") from exn
        stacks.append(torch.as_tensor(tiles, dtype=torch.uint8))
    empty = torch.zeros((0, 3, TILE, TILE), dtype=torch.uint8)
    out["tiles"] = torch.cat(stacks) if stacks else empty
    return out


def materialise_all(items: list[dict], on_device: bool, counter: SkipCounter) -> list[dict]:
    """Items with pixels; those whose images fail are dropped and counted."""
    out = []
    for item in items:
        try:
            out.append(materialise(item, on_device))
        except SkipSample as skip:
            counter.add(skip.reason)
    return out
