"""WebDataset shards -> Idefics3 training batches: make_loader.

The pipeline, per worker: seeded shard shuffle (the same order on every node), split by
node then by worker, tar members checked for unsafe names, a sample shuffle buffer;
each sample planned from its json and image headers (token ids, tile grids), then
grouped into batches (padded) or packed rows (loader.packing), and only then are the
images decoded and split into uint8 364 x 364 tiles (loader.samples, loader.batches;
on the CPU, or on the device, see loader.device). Planning before pixels is what makes
resuming cheap: a resumed worker plans the batches it already gave again, to reach the
same place in its stream, but decodes nothing for them. A bad sample (corrupt image,
broken json) is skipped and counted, never fatal.
"""

import hashlib
import json
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import count, islice

import torch
import webdataset as wds

from loader.batches import batches_of, collate, collate_rows
from loader.device import nvjpeg_decoder, tiles_on_device, to_device
from loader.packing import DEFAULT_LOOK_AHEAD, Packer
from loader.samples import (
    check_member_name,
    materialise_all,
    to_plans,
)
from loader.skips import SkipCounter

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
        self.epoch = 0
        self.consumed = [0] * max(1, num_workers)

    @property
    def on_device(self) -> bool:
        """Whether images are decoded and tiled on the device (tiling="device")."""
        return self.stream.on_device

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
