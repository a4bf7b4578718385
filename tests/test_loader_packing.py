"""Packed rows and exact mid-epoch resume of the training loader, on the CPU."""

import io
import json
import random

import pytest
import torch
from PIL import Image

from corpusio.shards import Sample, write_shards
from loader.bench import word_tokenizer
from loader.conversation import IGNORE_INDEX
from loader.dataset import make_loader
from loader.packing import Packer, packed_text, packing_efficiency


@pytest.fixture(scope="module")
def tokenizer():
    return word_tokenizer()


def _image(seed: int, size=(90, 60)) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _words(rng, n: int) -> str:
    return " ".join(f"w{rng.randrange(50)}" for _ in range(n))


def mixed_samples(n: int = 80, seed: int = 0) -> list[Sample]:
    """Chat rows of very different lengths; a third with one or two images (2,197 tokens each)."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        answer = _words(rng, rng.choice([3, 10, 40, 200, 600]))
        texts = [{"user": _words(rng, 5), "assistant": answer, "source": "t"}]
        members = {"json": json.dumps({"id": str(i), "texts": texts}).encode()}
        for k in range(rng.choice([0, 0, 0, 0, 1, 2])):
            members[f"{k:03d}.png"] = _image(i * 10 + k)
        samples.append(Sample(f"s{i:03d}", members))
    return samples


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("mixed")
    write_shards(out, mixed_samples(), prefix="mixed", max_samples=10)
    return sorted(str(p) for p in out.glob("*.tar"))


# -- the packer alone ---------------------------------------------------------------------


def _item(key: str, n: int, images: int = 0) -> dict:
    return {
        "key": key,
        "input_ids": torch.arange(1, n + 1),
        "labels": torch.arange(1, n + 1),
        "rows": [0] * images,
    }


def test_packer_rows_hold_whole_samples_once_and_fill_up():
    rng = random.Random(1)
    items = [_item(f"k{i}", rng.choice([5, 17, 40, 90]), rng.randrange(3)) for i in range(200)]
    packer = Packer(max_length=128, rows_per_batch=4, look_ahead=32, max_images_per_row=4)
    batches = list(packer(items))
    rows = [row for batch in batches for row in batch]
    assert all(len(batch) == 4 for batch in batches[:-1])
    keys = [item["key"] for row in rows for item in row]
    assert sorted(keys) == sorted(item["key"] for item in items)
    for row in rows:
        assert sum(len(item["input_ids"]) for item in row) <= 128
        assert sum(len(item["rows"]) for item in row) <= 4
    used = sum(len(item["input_ids"]) for item in items)
    assert used / (len(rows) * 128) >= 0.9
    assert list(packer(items)) == batches  # deterministic


def test_packer_starts_each_row_with_the_oldest_sample():
    items = [_item("long", 100)] + [_item(f"s{i}", 10) for i in range(30)]
    rows = [row for batch in Packer(100, 1, look_ahead=8)(items) for row in batch]
    assert [item["key"] for item in rows[0]] == ["long"]
    assert rows[1][0]["key"] == "s0"


def test_packer_reasons_for_samples_that_never_fit():
    packer = Packer(max_length=10, rows_per_batch=1, max_images_per_row=1)
    assert packer.fits_alone(_item("a", 11)) == "too_long"
    assert packer.fits_alone(_item("b", 5, images=2)) == "too_many_images"
    assert packer.fits_alone(_item("c", 10, images=1)) is None
    with pytest.raises(ValueError):
        Packer(max_length=0, rows_per_batch=1)


def test_packed_text_keeps_samples_apart():
    rows = [[_item("a", 3), _item("b", 2)], [_item("c", 4)]]
    out = packed_text(rows, max_length=6, pad_id=0)
    assert out["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 1]]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]]
    assert out["input_ids"].tolist() == [[1, 2, 3, 1, 2, 0], [1, 2, 3, 4, 0, 0]]
    ignore = IGNORE_INDEX
    assert out["labels"].tolist() == [
        [ignore, 2, 3, ignore, 2, ignore],
        [ignore, 2, 3, 4, ignore, ignore],
    ]
    assert out["seq_lens"] == [[3, 2], [4]]
    assert packing_efficiency(out["attention_mask"]) == 9 / 12


# -- packing through the loader -----------------------------------------------------------


def test_packed_batches_from_shards(shards, tokenizer):
    kw = {"tokenizer": tokenizer, "shuffle_buffer": 20, "initial": 5, "seed": 3}
    padded = list(make_loader(shards, 4, max_length=8192, **kw))
    loader = make_loader(shards, 4, max_length=8192, packing=True, max_images_per_row=6, **kw)
    packed = list(loader)
    keys = [key for batch in packed for row in batch["keys"] for key in row]
    assert sorted(keys) == [f"s{i:03d}" for i in range(80)]  # every sample once, none dropped
    for batch in packed:
        b = len(batch["keys"])
        for name in ("input_ids", "labels", "attention_mask", "position_ids"):
            assert batch[name].shape == (b, 8192)
        assert batch["n_images"].tolist() == [len(r) for r in batch["rows"]]
        assert (batch["n_images"] <= 6).all()
        for i, lengths in enumerate(batch["seq_lens"]):
            assert len(lengths) == len(batch["keys"][i])
            starts = (batch["position_ids"][i] == 0).nonzero().flatten().tolist()
            assert starts[: len(lengths)] == [sum(lengths[:j]) for j in range(len(lengths))]
            assert int(batch["attention_mask"][i].sum()) == sum(lengths)
        image_id = tokenizer.token_to_id("<image>")
        per_row = (batch["input_ids"] == image_id).sum(dim=1)
        assert per_row.tolist() == (batch["tile_mask"].sum(dim=1) * 169).tolist()
    efficiency = sum(int(b["attention_mask"].sum()) for b in packed) / sum(
        b["attention_mask"].numel() for b in packed
    )
    baseline = sum(int(b["attention_mask"].sum()) for b in padded) / sum(
        b["attention_mask"].numel() for b in padded
    )
    assert efficiency >= 0.9 > baseline


def test_packing_needs_a_tokenizer_and_a_length(shards):
    with pytest.raises(ValueError, match="packing needs"):
        make_loader(shards, 2, packing=True, max_length=100)


# -- exact resume -------------------------------------------------------------------------


def _signature(batch) -> tuple:
    return (
        json.dumps(batch["keys"]),
        batch["input_ids"].tolist(),
        batch["pixel_values"].sum().item(),
        tuple(batch["pixel_values"].shape),
    )


@pytest.mark.parametrize("packing", [False, True])
def test_resume_after_k_batches_gives_the_same_next_batches(shards, tokenizer, packing):
    def loader():
        return make_loader(
            shards,
            2,
            tokenizer=tokenizer,
            max_length=1024,
            packing=packing,
            num_workers=2,
            shuffle_buffer=8,
            initial=4,
            seed=7,
        )

    reference = [_signature(b) for b in loader()]
    assert len(reference) >= 8
    for k in (1, 2, 5):
        first = loader()
        it = iter(first)
        for _ in range(k):
            next(it)
        state = json.loads(json.dumps(first.state_dict()))  # survives a JSON round trip
        assert len(json.dumps(state)) < 1000
        resumed = loader()
        resumed.load_state_dict(state)
        got = [_signature(b) for _, b in zip(range(3), resumed, strict=False)]
        assert got == reference[k : k + 3], k


def test_resume_at_the_end_of_an_epoch_starts_the_next(shards, tokenizer):
    first = make_loader(shards, 4, tokenizer=tokenizer, shuffle_buffer=0)
    epoch0 = [b["keys"] for b in first]
    state = first.state_dict()
    assert state["epoch"] == 1 and state["consumed"] == [0]
    again = make_loader(shards, 4, tokenizer=tokenizer, shuffle_buffer=0)
    again.load_state_dict(state)
    epoch1 = [b["keys"] for b in again]
    assert sorted(map(tuple, epoch1)) != [] and epoch1 != epoch0  # a new shard order


def test_state_from_another_setup_is_refused(shards, tokenizer):
    state = make_loader(shards, 2, tokenizer=tokenizer).state_dict()
    with pytest.raises(ValueError, match="fingerprint"):
        make_loader(shards, 3, tokenizer=tokenizer).load_state_dict(state)
    with pytest.raises(ValueError, match="num_workers"):
        make_loader(shards, 2, tokenizer=tokenizer, num_workers=2).load_state_dict(state)


def test_ranks_split_the_shards_and_resume_on_their_own(shards, tokenizer, monkeypatch):
    def keys_of(rank, state=None, limit=None):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        loader = make_loader(shards, 2, tokenizer=tokenizer, shuffle_buffer=4, initial=2)
        if state:
            loader.load_state_dict(state)
        out = []
        for batch in loader:
            out.append(batch["keys"])
            if limit and len(out) == limit:
                return out, loader.state_dict()
        return out, loader.state_dict()

    rank0, _ = keys_of(0)
    rank1, _ = keys_of(1)
    flat0 = {k for b in rank0 for k in b}
    flat1 = {k for b in rank1 for k in b}
    assert flat0 and flat1 and not flat0 & flat1
    head, state = keys_of(1, limit=2)
    assert state["rank"] == 1 and state["world_size"] == 2
    tail, _ = keys_of(1, state=state)
    assert head + tail == rank1
    with pytest.raises(ValueError, match="rank"):
        keys_of(0, state=state)


def test_bench_packing_command(shards, capsys):
    from loader import bench

    folder = shards[0].rsplit("/", 1)[0]
    args = ["--shards", f"{folder}/*.tar", "--packing", "--max-length", "8192", "--batch-size", "2"]
    result = bench.main(args)
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == json.loads(json.dumps(result))
    padded, packed = result["padded"], result["packed"]
    assert padded["samples"] == packed["samples"] == 80
    assert padded["tokens"] == packed["tokens"]
    assert packed["packing_efficiency"] > padded["packing_efficiency"]
    assert packed["batches"] < padded["batches"]


def test_packed_rows_tiled_on_the_device_match_the_workers(shards, tokenizer):
    kw = {"tokenizer": tokenizer, "max_length": 8192, "packing": True, "shuffle_buffer": 0}
    workers = list(make_loader(shards[:2], 2, tiling="workers", **kw))
    device = list(make_loader(shards[:2], 2, tiling="device", **kw))
    assert [b["keys"] for b in workers] == [b["keys"] for b in device]
    for ours, theirs in zip(workers, device, strict=True):
        for name in ("input_ids", "position_ids", "tile_mask", "n_images"):
            assert torch.equal(ours[name], theirs[name]), name
        assert torch.equal(ours["pixel_values"], theirs["pixel_values"])
