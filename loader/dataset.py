"""WebDataset shards -> Idefics3 training batches.

Reads our three shard layouts (see the README):

- Docmatix QA: `<key>.json` {"texts": [{user, assistant, source}]} + `<key>.NNNN.png`;
- Cauldron rows: `<key>.json` {"id", "texts"} + `<key>.NNN.<ext>`;
- OBELICS documents: `<key>.json` {"texts", "images", ...} + `<key>.NNN.<ext>`, NNN the
  position of the image among the texts (positions without a member were not fetched
  and are dropped).

The pipeline, per worker: seeded shard shuffle (the same order on every node), split by
node then by worker, tar members checked for unsafe names, a sample shuffle buffer;
each sample planned from its json and image headers (token ids, tile grids), then
grouped into batches (padded) or packed rows (loader.packing), and only then are the
images decoded and split into uint8 364 x 364 tiles (on the CPU, or on the device, see
loader.device). Planning before pixels is what makes resuming cheap: a resumed worker
plans the batches it already gave again, to reach the same place in its stream, but
decodes nothing for them. A bad sample (corrupt image, broken json) is skipped and
counted, never fatal.
"""

import hashlib
import io
import json
import random
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import count, islice

import torch
import webdataset as wds
from PIL import Image

from loader import idefics3
from loader.conversation import IGNORE_INDEX, format_conversation
from loader.device import (
    IMAGE_ERRORS,
    TILE,
    nvjpeg_decoder,
    peek_image,
    tiles_on_device,
    to_device,
)
from loader.packing import DEFAULT_LOOK_AHEAD, Packer, packed_text
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


# -- examples -> planned items -> tiles and tokens -------------------------------------


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

    Raises SkipSample when an image does not decode or its pixels disagree with the
    header the plan was made from.
    """
    out = {k: v for k, v in item.items() if k != "raw"}
    if on_device:
        images = [peek_image(raw.data, item["key"]) for raw in item["raw"]]
        for image, raw in zip(images, item["raw"], strict=True):
            if (image.height, image.width) != (raw.height, raw.width):
                raise SkipSample("bad_image", f"{item['key']}: size differs from its header")
        if images:
            out["images"] = images
            return out
    stacks = []
    for raw, rows, cols in zip(item["raw"], item["rows"], item["cols"], strict=True):
        image = decode_image(raw.data, item["key"])
        try:
            tiles, r, c = idefics3.split_image(image)
        except IMAGE_ERRORS as exn:
            raise SkipSample("bad_image", f"{item['key']}: {exn}") from exn
        if (r, c) != (rows, cols):
            raise SkipSample("bad_image", f"{item['key']}: size differs from its header")
        stacks.append(torch.as_tensor(tiles, dtype=torch.uint8))
    empty = torch.zeros((0, 3, TILE, TILE), dtype=torch.uint8)
    out["tiles"] = torch.cat(stacks) if stacks else empty
    return out


def tile_count(rows: int, cols: int) -> int:
    return rows * cols + 1 if rows else 1


# -- batches ---------------------------------------------------------------------------


def materialise_all(items: list[dict], on_device: bool, counter: SkipCounter) -> list[dict]:
    """Items with pixels; those whose images fail are dropped and counted."""
    out = []
    for item in items:
        try:
            out.append(materialise(item, on_device))
        except SkipSample as skip:
            counter.add(skip.reason)
    return out


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


# -- shards ----------------------------------------------------------------------------


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


def shuffled(urls: list[str], seed: int, epoch: int, pass_number: int) -> list[str]:
    """The shard order of one pass: the same on every node and worker, new every pass."""
    urls = list(urls)
    random.Random(f"{seed}:{epoch}:{pass_number}").shuffle(urls)
    return urls


# -- the stream each worker runs -------------------------------------------------------


@dataclass(frozen=True)
class LoaderConfig:
    """Everything that decides which samples go into which batch, in which order."""

    urls: tuple
    batch_size: int
    seed: int = 0
    shuffle_buffer: int = 2000
    initial: int = 500
    epoch_batches: int | None = None
    partial_batches: bool = False
    max_length: int | None = None
    packing: bool = False
    look_ahead: int = DEFAULT_LOOK_AHEAD
    max_images_per_row: int | None = None

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


class ShardStream(torch.utils.data.IterableDataset):
    """One worker's batches: its shards -> samples -> planned items -> batches -> pixels.

    Each batch is tagged with the worker and its number in that worker's stream, and
    the stream ends with a marker carrying the last skip counts. `skip` (per worker)
    makes a worker pass over batches a run already consumed: they are planned again
    (json, tokens, image headers) so the stream stays the same, but no pixel is
    decoded for them.
    """

    def __init__(self, config: LoaderConfig, tokenizer, on_device: bool):
        self.config, self.tokenizer, self.on_device = config, tokenizer, on_device
        self.epoch = 0
        self.skip: dict[int, int] = {}

    def __iter__(self) -> Iterator[dict]:
        rank, _, worker, _ = wds.utils.pytorch_worker_info()
        config, counter = self.config, SkipCounter()
        packer = None
        if config.packing:
            packer = Packer(
                config.max_length,
                config.batch_size,
                config.look_ahead,
                config.max_images_per_row,
                partial=config.partial_batches,
            )
        samples = self._samples(rank, worker)
        items = to_plans(samples, self.tokenizer, counter, config.max_length, packer)
        if packer is not None:
            groups = packer(items)
        else:
            groups = batches_of(items, config.batch_size, config.partial_batches)
        if config.epoch_batches:
            groups = islice(groups, config.epoch_batches)
        skip = self.skip.get(worker, 0)
        pad_id = _pad_id(self.tokenizer)
        for seq, group in enumerate(groups):
            if seq < skip:
                counter.drain()  # counted in the state the run resumes from
                continue
            if packer is not None:
                rows = [materialise_all(row, self.on_device, counter) for row in group]
                batch = collate_rows([r for r in rows if r], config.max_length, pad_id, counter)
            else:
                batch = collate(materialise_all(group, self.on_device, counter), pad_id, counter)
            batch["worker"], batch["seq"] = worker, seq
            yield batch
        yield {"keys": [], "skipped": counter.drain(), "worker": worker, "end": True}

    def _samples(self, rank: int, worker: int) -> Iterator[dict]:
        """Samples of this worker's shards, pass after pass when epochs are counted in batches."""
        config = self.config
        for pass_number in count() if config.epoch_batches else (0,):
            urls = shuffled(config.urls, config.seed, self.epoch, pass_number)
            stream = wds.split_by_worker(wds.split_by_node({"url": url} for url in urls))
            samples = wds.tariterators.group_by_keys(
                tar_members(wds.tariterators.url_opener(stream))
            )
            if config.shuffle_buffer > 1:
                seed = f"{config.seed}:{rank}:{worker}:{self.epoch}:{pass_number}"
                samples = wds.shuffle(
                    config.shuffle_buffer, config.initial, rng=random.Random(seed)
                )(samples)
            seen = 0
            for sample in samples:
                seen += 1
                yield sample
            if not seen:
                return  # nothing to cycle over


# -- the loader ------------------------------------------------------------------------


STATE_FORMAT = "vlm-corpus-loader-state/1"


class BatchLoader:
    """Iterable of device batches; `skipped` counts bad samples from every worker.

    Batches come in one fixed order, whatever the workers' timing: round robin over the
    workers by batch number (what the DataLoader gives an uninterrupted run), so that
    `state_dict()` after k batches and `load_state_dict()` in a new loader give
    batches k+1, k+2, ... exactly.
    """

    def __init__(self, stream: ShardStream, device: torch.device, num_workers: int, pin: bool):
        self.stream, self.device = stream, device
        self.num_workers, self.pin = num_workers, pin
        self.skipped = SkipCounter()
        self.on_device = stream.on_device
        self.epoch = 0
        self.consumed = [0] * max(1, num_workers)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.consumed = epoch, [0] * len(self.consumed)

    def state_dict(self) -> dict:
        """Where the run is: the epoch and how many batches each worker's stream gave.

        A few hundred bytes of JSON-able data, whatever the dataset's size.
        """
        rank, world, _, _ = wds.utils.pytorch_worker_info()
        return {
            "format": STATE_FORMAT,
            "fingerprint": self.stream.config.fingerprint(),
            "rank": rank,
            "world_size": world,
            "num_workers": len(self.consumed),
            "epoch": self.epoch,
            "consumed": list(self.consumed),
            "skipped": dict(self.skipped.counts),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue where `state` was taken; refuses a state from a different setup."""
        rank, world, _, _ = wds.utils.pytorch_worker_info()
        expected = {
            "format": STATE_FORMAT,
            "fingerprint": self.stream.config.fingerprint(),
            "rank": rank,
            "world_size": world,
            "num_workers": len(self.consumed),
        }
        for name, value in expected.items():
            if state.get(name) != value:
                raise ValueError(
                    f"loader state does not match this loader: {name} is "
                    f"{state.get(name)!r} in the state, {value!r} here (same shards, "
                    f"seed, batch size, packing, workers and ranks are needed)"
                )
        self.epoch = int(state["epoch"])
        self.consumed = [int(n) for n in state["consumed"]]
        self.skipped = SkipCounter()
        self.skipped.update(state.get("skipped", {}))

    def __iter__(self) -> Iterator[dict]:
        self.stream.epoch = self.epoch
        self.stream.skip = dict(enumerate(self.consumed))
        loader = torch.utils.data.DataLoader(
            self.stream,
            batch_size=None,
            num_workers=self.num_workers,
            pin_memory=self.pin and torch.cuda.is_available(),
        )
        for batch in self._in_order(loader):
            self.consumed[batch.pop("worker")] = batch.pop("seq") + 1
            self.skipped.update(batch.pop("skipped"))
            if not batch["keys"]:
                continue
            if "images" in batch:
                batch = tiles_on_device(batch, self.device, self.skipped)
                if not batch["keys"]:
                    continue
            yield to_device(batch, self.device)
        self.set_epoch(self.epoch + 1)

    def _in_order(self, batches) -> Iterator[dict]:
        """Batches sorted by (number, worker); a worker's end marker says it has no more."""
        queues: dict[int, deque] = {w: deque() for w in range(len(self.consumed))}
        ended: set[int] = set()
        for batch in batches:
            if batch.get("end"):
                ended.add(batch["worker"])
                self.skipped.update(batch["skipped"])
            else:
                queues[batch["worker"]].append(batch)
            yield from _ready(queues, ended)
        ended.update(queues)
        yield from _ready(queues, ended)


def _ready(queues: dict[int, deque], ended: set[int]) -> Iterator[dict]:
    """Pop batches while no worker that may still send an earlier one is waited for."""
    while True:
        if any(not q and w not in ended for w, q in queues.items()):
            return
        heads = [(q[0]["seq"], w) for w, q in queues.items() if q]
        if not heads:
            return
        yield queues[min(heads)[1]].popleft()


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
    partial_batches: bool | None = None,
    tiling: str = "auto",
    max_length: int | None = None,
    packing: bool = False,
    look_ahead: int = DEFAULT_LOOK_AHEAD,
    max_images_per_row: int | None = None,
) -> BatchLoader:
    """Batches of Idefics3 inputs from WebDataset shards (`urls`: a list or a brace pattern).

    Without packing a batch holds `batch_size` samples padded to the longest; full
    batches only unless `partial_batches` (evaluation). With `packing=True` (needs a
    tokenizer and `max_length`) a batch holds `batch_size` rows of `max_length` tokens,
    each row several whole samples (see loader.packing), at most `max_images_per_row`
    images; the packer holds up to `look_ahead` planned samples (their image bytes,
    still compressed, and token ids) per worker, and the last rows of an epoch are
    kept unless `partial_batches=False`.
    `epoch_batches` makes each worker yield that many batches per epoch, cycling its shards.
    tiling: "workers" (Lanczos tiles in the DataLoader workers, transformers' pixels to a
    level), "device" (JPEGs decoded by nvJPEG and tiled on `device`), or "auto":
    "device" on CUDA with torchvision installed, else "workers".
    max_length: samples with more tokens are skipped and counted as `too_long`.
    `state_dict()` / `load_state_dict()` resume a run mid-epoch exactly.
    """
    urls = wds.shardlists.expand_urls(urls) if isinstance(urls, str) else list(urls)
    if not urls:
        raise ValueError("no shard urls")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if packing and (tokenizer is None or not max_length):
        raise ValueError("packing needs a tokenizer and max_length")
    if partial_batches is None:
        partial_batches = packing
    device = torch.device(device)
    on_device = _tiles_on_device(tiling, device)
    config = LoaderConfig(
        urls=tuple(urls),
        batch_size=batch_size,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
        initial=initial,
        epoch_batches=epoch_batches,
        partial_batches=partial_batches,
        max_length=max_length,
        packing=packing,
        look_ahead=look_ahead,
        max_images_per_row=max_images_per_row,
    )
    if pin_memory is None:
        pin_memory = device.type == "cuda"
    stream = ShardStream(config, tokenizer, on_device)
    return BatchLoader(stream, device, num_workers, pin_memory)


TILINGS = ("auto", "workers", "device")


def _tiles_on_device(tiling: str, device: torch.device) -> bool:
    if tiling not in TILINGS:
        raise ValueError(f"tiling must be one of {TILINGS}, got {tiling!r}")
    if tiling == "auto":
        return nvjpeg_decoder(device) is not None
    return tiling == "device"


def _pad_id(tokenizer) -> int:
    pad = getattr(tokenizer, "pad_token_id", None)
    return pad if isinstance(pad, int) else 0
