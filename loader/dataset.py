"""WebDataset shards -> Idefics3 training batches.

Reads our three shard layouts (see the README):

- Docmatix QA: `<key>.json` {"texts": [{user, assistant, source}]} + `<key>.NNNN.png`;
- Cauldron rows: `<key>.json` {"id", "texts"} + `<key>.NNN.<ext>`;
- OBELICS documents: `<key>.json` {"texts", "images", ...} + `<key>.NNN.<ext>`, NNN the
  position of the image among the texts (positions without a member were not fetched
  and are dropped).

The pipeline: seeded shard shuffle (the same order on every node), split by node then
by worker, tar members checked for unsafe names, a sample shuffle buffer, images split
into uint8 364 x 364 tiles on the CPU, batches padded to the batch's most tiles. uint8
tiles cross to the device and are normalised there: a quarter of the bytes of fp32.
A bad sample (corrupt image, broken json) is skipped and counted, never fatal.
"""

import io
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
import webdataset as wds
from PIL import Image

from loader import idefics3
from loader.conversation import IGNORE_INDEX, format_conversation

TILE = 364
IMAGE_MEMBER = re.compile(r"^(\d+)\.([a-z0-9_]+)$")
IMAGE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


class UnsafeShardError(ValueError):
    """A shard holds a member whose name could escape a directory: the shard is refused."""


class SkipSample(Exception):
    """A sample that cannot be used; `reason` is the counter key."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class Example:
    """One decoded sample: `turns` is a chat row or an interleaved document (None = image)."""

    key: str
    kind: str  # "chat" or "interleaved"
    turns: list
    images: list = field(default_factory=list)


class SkipCounter:
    """Skipped samples by reason; workers ship their counts to the main process in batches."""

    def __init__(self):
        self.counts = Counter()

    def add(self, reason: str, n: int = 1) -> None:
        self.counts[reason] += n

    def update(self, counts: dict) -> None:
        self.counts.update(counts)

    def drain(self) -> dict:
        """Counts since the last drain, reset: what one batch reports."""
        counts, self.counts = dict(self.counts), Counter()
        return counts

    @property
    def total(self) -> int:
        return sum(self.counts.values())


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


@dataclass
class EncodedImage:
    """An image whose tiles are made on the device: JPEG bytes for nvJPEG, else decoded pixels.

    The header gives the size, so the tile grid (and the prompt) is known in the worker
    without decoding. `data` is the JPEG file as uint8 [bytes] when `jpeg`, otherwise the
    image already decoded on the CPU (PNG, CMYK JPEG, ...) as uint8 [3, H, W].
    """

    data: torch.Tensor
    height: int
    width: int
    jpeg: bool


# JPEG modes that nvJPEG turns into the same RGB as PIL's convert("RGB").
DEVICE_JPEG_MODES = ("RGB", "L")


def peek_image(data: bytes, key: str) -> EncodedImage:
    """Read the header only for RGB or grey JPEGs; decode anything else on the CPU."""
    try:
        image = Image.open(io.BytesIO(data))
        if image.format == "JPEG" and image.mode in DEVICE_JPEG_MODES:
            raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            return EncodedImage(raw, image.height, image.width, jpeg=True)
        image.load()
        rgb = idefics3.to_rgb(image)
    except IMAGE_ERRORS as exn:
        raise SkipSample("bad_image", f"{key}: {exn}") from exn
    return EncodedImage(_chw(rgb), rgb.height, rgb.width, jpeg=False)


def _chw(rgb: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1).contiguous()


def _is_chat(meta) -> bool:
    texts = meta.get("texts") if isinstance(meta, dict) else None
    return isinstance(texts, list) and bool(texts) and all(isinstance(t, dict) for t in texts)


def _is_document(meta) -> bool:
    if not isinstance(meta, dict) or not isinstance(meta.get("images"), list):
        return False
    texts = meta.get("texts")
    return isinstance(texts, list) and all(t is None or isinstance(t, str) for t in texts)


# -- examples -> tiles and tokens ------------------------------------------------------


def example_to_item(example: Example, tokenizer=None, max_length: int | None = None) -> dict:
    """Tiles (uint8 [N, 3, 364, 364]), rows/cols per image and, with a tokenizer, the text.

    When the example holds `EncodedImage`s the tiles are left to the device: the item
    carries the images and each one's tile count instead.
    """
    stacks, rows, cols = [], [], []
    for image in example.images:
        if isinstance(image, EncodedImage):
            r, c = idefics3.grid(*idefics3.tile_geometry(image.height, image.width)[2:])
        else:
            try:
                tiles, r, c = idefics3.split_image(image)
            except IMAGE_ERRORS as exn:
                raise SkipSample("bad_image", f"{example.key}: {exn}") from exn
            stacks.append(torch.as_tensor(tiles, dtype=torch.uint8))
        rows.append(int(r))
        cols.append(int(c))
    item = {"key": example.key, "rows": rows, "cols": cols}
    if stacks or not example.images:
        empty = torch.zeros((0, 3, TILE, TILE), dtype=torch.uint8)
        item["tiles"] = torch.cat(stacks) if stacks else empty
    else:
        item["images"] = list(example.images)
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


def tile_count(rows: int, cols: int) -> int:
    return rows * cols + 1 if rows else 1


def to_items(
    samples, tokenizer, counter: SkipCounter, on_device: bool = False, max_length=None
) -> Iterator[dict]:
    """Pipeline stage: samples -> items, skipping and counting the bad ones."""
    decode = peek_image if on_device else decode_image
    for sample in samples:
        try:
            yield example_to_item(sample_to_example(sample, decode), tokenizer, max_length)
        except SkipSample as skip:
            counter.add(skip.reason)


def collate(items: list[dict], pad_id: int = 0, counter: SkipCounter | None = None) -> dict:
    """Stack items, padding tile stacks with all-zero tiles and text on the right.

    Items whose tiles are made on the device contribute their images instead, and the
    tile mask is built from each image's grid.
    """
    counts = [
        [tile_count(r, c) for r, c in zip(item["rows"], item["cols"], strict=True)]
        for item in items
    ]
    most = max(sum(c) for c in counts)
    tile_mask = torch.zeros((len(items), most), dtype=torch.bool)
    for i, item_counts in enumerate(counts):
        tile_mask[i, : sum(item_counts)] = True
    batch = {"keys": [item["key"] for item in items], "tile_mask": tile_mask}
    if all("images" in item or not item["rows"] for item in items):
        batch["images"] = [item.get("images", []) for item in items]
    else:
        pixel_values = torch.zeros((len(items), most, 3, TILE, TILE), dtype=torch.uint8)
        for i, item in enumerate(items):
            pixel_values[i, : len(item["tiles"])] = item["tiles"]
        batch["pixel_values"] = pixel_values
    batch |= {
        "rows": [item["rows"] for item in items],
        "cols": [item["cols"] for item in items],
        "skipped": counter.drain() if counter is not None else {},
    }
    if "input_ids" in items[0]:
        batch.update(pad_text(items, pad_id))
    return batch


def flush_skips(batches, counter: SkipCounter) -> Iterator[dict]:
    """Pass batches through; then one empty batch with the skips no batch carried yet.

    Without it, samples skipped after a worker's last full batch would never be counted.
    """
    yield from batches
    if counter.counts:
        yield {"keys": [], "skipped": counter.drain()}


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


def decode_on_device(images: list[EncodedImage], device: torch.device) -> list:
    """uint8 [3, H, W] per image on `device`, or None for an image that will not decode.

    JPEGs go to nvJPEG in one batched call when the device is CUDA and torchvision is
    installed (per image if the batch fails); otherwise, and for the few that nvJPEG
    refuses, PIL decodes them on the CPU. Pixels are the same either way up to the
    JPEG decoders' rounding.
    """
    out: list = [None] * len(images)
    jpegs = [i for i, image in enumerate(images) if image.jpeg]
    for i, image in enumerate(images):
        if not image.jpeg:
            out[i] = image.data.to(device, non_blocking=True)
    nvjpeg = _nvjpeg(device)
    if nvjpeg is not None and jpegs:
        try:
            decoded = nvjpeg([images[i].data for i in jpegs])
        except RuntimeError:
            decoded = [_try(nvjpeg, images[i].data) for i in jpegs]
        for i, tensor in zip(jpegs, decoded, strict=True):
            out[i] = tensor
    for i in jpegs:
        if out[i] is None:
            out[i] = _pil_decode(images[i].data, device)
    return out


def _nvjpeg(device: torch.device):
    """torchvision's batched GPU JPEG decoder bound to `device`, or None where it is not."""
    if device.type != "cuda":
        return None
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except ImportError:
        return None

    def decode(data):
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)

    return decode


def _try(decode, data):
    try:
        return decode(data)
    except RuntimeError:
        return None


def _pil_decode(data: torch.Tensor, device: torch.device):
    try:
        image = Image.open(io.BytesIO(data.numpy().tobytes()))
        image.load()
    except IMAGE_ERRORS:
        return None
    return _chw(idefics3.to_rgb(image)).to(device, non_blocking=True)


def tiles_on_device(batch: dict, device: torch.device, counter: SkipCounter) -> dict:
    """Decode and tile a batch's images on `device` into uint8 `pixel_values`.

    A sample with an image that does not decode is dropped from the batch and counted.
    """
    flat = [image for images in batch["images"] for image in images]
    decoded = iter(decode_on_device(flat, device))
    mask = batch["tile_mask"]
    pixel_values = torch.zeros((*mask.shape, 3, TILE, TILE), dtype=torch.uint8, device=device)
    keep = []
    for i in range(len(batch["images"])):
        start, ok = 0, True
        for rows, cols in zip(batch["rows"][i], batch["cols"][i], strict=True):
            pixels = next(decoded)
            if pixels is None:
                ok = False
                continue
            tiles, r, c = idefics3.split_image_tensor(pixels)
            if (r, c) != (rows, cols):  # the header lied about the size
                ok = False
                continue
            pixel_values[i, start : start + len(tiles)] = tiles
            start += len(tiles)
        if ok:
            keep.append(i)
        else:
            counter.add("bad_image")
    out = {k: v for k, v in batch.items() if k != "images"}
    out["pixel_values"] = pixel_values
    return _select(out, keep) if len(keep) < len(batch["keys"]) else out


def _select(batch: dict, keep: list[int]) -> dict:
    """The batch restricted to the samples at `keep` (first dimension of every field)."""
    index = torch.tensor(keep, dtype=torch.long)
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            out[k] = v[index.to(v.device)]
        elif isinstance(v, list):
            out[k] = [v[i] for i in keep]
        else:
            out[k] = v
    return out


def to_device(batch: dict, device: torch.device) -> dict:
    """Move a batch and normalise its tiles there; padded tiles stay all-zero floats.

    The model drops all-zero tiles, so padding is zeroed again after normalising
    (which maps 0 to -1). `pixel_attention_mask` is the per-pixel mask transformers
    passes, as a free broadcast view of the per-tile mask.
    """
    non_blocking = device.type == "cuda"
    out = {
        k: v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v
        for k, v in batch.items()
        if k != "images"
    }
    tiles = idefics3.normalise(out["pixel_values"])
    mask = out["tile_mask"]
    out["pixel_values"] = tiles * mask[:, :, None, None, None].to(tiles.dtype)
    out["pixel_attention_mask"] = mask[:, :, None, None].expand(*mask.shape, TILE, TILE)
    return out


# -- shards ----------------------------------------------------------------------------


class Epochs:
    """The epoch the main process is on; workers get a copy when each pass starts."""

    def __init__(self):
        self.epoch = 0


class ShardShuffle:
    """Shard list shuffled by (seed, epoch, pass): the same on every node, new every pass."""

    def __init__(self, urls: list[str], seed: int, epochs: Epochs):
        self.urls, self.seed, self.epochs, self.passes = list(urls), seed, epochs, 0

    def __call__(self) -> Iterator[dict]:
        urls = self.urls.copy()
        random.Random(f"{self.seed}:{self.epochs.epoch}:{self.passes}").shuffle(urls)
        self.passes += 1
        for url in urls:
            yield {"url": url}


class SampleShuffle:
    """A shuffle buffer seeded per node, worker, epoch and pass: reproducible, not shared."""

    def __init__(self, bufsize: int, initial: int, seed: int, epochs: Epochs):
        self.bufsize, self.initial, self.seed, self.epochs = bufsize, initial, seed, epochs
        self.passes = 0

    def __call__(self, samples):
        if self.bufsize <= 1:
            return samples
        rank, _, worker, _ = wds.utils.pytorch_worker_info()
        seed = f"{self.seed}:{rank}:{worker}:{self.epochs.epoch}:{self.passes}"
        self.passes += 1
        return wds.shuffle(self.bufsize, self.initial, rng=random.Random(seed))(samples)


def tar_members(streams) -> Iterator[dict]:
    """Regular tar members as {fname, data, __url__}, an empty dict after each shard.

    Every member name is checked first, whatever its type, so a shard with an unsafe
    name is refused rather than read past.
    """
    import tarfile

    for source in streams:
        url = source["url"]
        with tarfile.open(fileobj=source["stream"], mode="r|*") as tar:
            for member in tar:
                check_member_name(member.name, url)
                if member.isreg():
                    data = tar.extractfile(member).read()
                    yield {"fname": member.name, "data": data, "__url__": url}
                tar.members = []
        source["stream"].close()
        yield {}


# -- the loader ------------------------------------------------------------------------


class BatchLoader:
    """Iterable of device batches; `skipped` counts bad samples from every worker."""

    def __init__(self, pipeline, loader, device: torch.device, epochs: Epochs):
        self.pipeline, self.loader, self.device, self.epochs = pipeline, loader, device, epochs
        self.skipped = SkipCounter()
        self.on_device = False  # images decoded and tiled on `device` (set by make_loader)

    def set_epoch(self, epoch: int) -> None:
        self.epochs.epoch = epoch

    def __iter__(self) -> Iterator[dict]:
        for batch in self.loader:
            self.skipped.update(batch.pop("skipped"))
            if not batch["keys"]:
                continue  # a worker's last skip counts, with no samples
            if "images" in batch:
                batch = tiles_on_device(batch, self.device, self.skipped)
                if not batch["keys"]:
                    continue
            yield to_device(batch, self.device)
        self.epochs.epoch += 1


def make_loader(
    urls,
    batch_size: int,
    *,
    tokenizer=None,
    seed: int = 0,
    shuffle_buffer: int = 2000,
    initial: int = 500,
    epoch_batches: int | None = None,
    num_workers: int = 0,
    device="cpu",
    pin_memory: bool | None = None,
    partial_batches: bool = False,
    tiling: str = "auto",
    max_length: int | None = None,
) -> BatchLoader:
    """Batches of Idefics3 inputs from WebDataset shards (`urls`: a list or a brace pattern).

    Full batches only unless `partial_batches` (evaluation); `epoch_batches` makes each
    worker yield that many batches per pass, cycling its shards.
    tiling: "workers" (Lanczos tiles in the DataLoader workers, transformers' pixels to a
    level), "device" (JPEGs decoded by nvJPEG and tiled on `device`), or "auto":
    "device" on CUDA with torchvision installed, else "workers".
    max_length: samples with more tokens are skipped and counted as `too_long`.
    """
    urls = wds.shardlists.expand_urls(urls) if isinstance(urls, str) else list(urls)
    if not urls:
        raise ValueError("no shard urls")
    device = torch.device(device)
    on_device = _tiles_on_device(tiling, device)
    epochs, counter = Epochs(), SkipCounter()
    stages = [
        ShardShuffle(urls, seed, epochs),
        wds.split_by_node,
        wds.split_by_worker,
        wds.tariterators.url_opener,
        tar_members,
        wds.tariterators.group_by_keys,
        SampleShuffle(shuffle_buffer, initial, seed, epochs),
        partial(
            to_items,
            tokenizer=tokenizer,
            counter=counter,
            on_device=on_device,
            max_length=max_length,
        ),
        wds.batched(
            batch_size,
            collation_fn=partial(collate, pad_id=_pad_id(tokenizer), counter=counter),
            partial=partial_batches,
        ),
    ]
    if epoch_batches:
        # Shards cycle: later batches carry the skip counts, and every batch counts.
        pipeline = wds.DataPipeline(*stages).with_epoch(epoch_batches)
    else:
        pipeline = wds.DataPipeline(*stages, partial(flush_skips, counter=counter))
    if pin_memory is None:
        pin_memory = device.type == "cuda"
    loader = torch.utils.data.DataLoader(
        pipeline,
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory and torch.cuda.is_available(),
    )
    batches = BatchLoader(pipeline, loader, device, epochs)
    batches.on_device = on_device
    return batches


TILINGS = ("auto", "workers", "device")


def _tiles_on_device(tiling: str, device: torch.device) -> bool:
    if tiling not in TILINGS:
        raise ValueError(f"tiling must be one of {TILINGS}, got {tiling!r}")
    if tiling == "auto":
        return _nvjpeg(device) is not None
    return tiling == "device"


def _pad_id(tokenizer) -> int:
    pad = getattr(tokenizer, "pad_token_id", None)
    return pad if isinstance(pad, int) else 0
