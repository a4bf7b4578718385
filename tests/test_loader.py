"""The Idefics3 training loader on small shards in our three layouts, on the CPU."""

import importlib
import io
import json
import tarfile

import pytest
import torch
from PIL import Image

from corpusio.shards import Sample, write_shards
from loader.conversation import END_OF_UTTERANCE, IGNORE_INDEX, format_conversation
from loader.dataset import make_loader
from loader.samples import UnsafeShardError, sample_to_example
from loader.skips import SkipSample

TILE = 364
RED, GREEN, BLUE, GREY = (220, 20, 20), (20, 200, 20), (20, 20, 220), (128, 128, 128)
SPECIALS = [
    "<|begin_of_text|>",
    "<end_of_utterance>",
    "<image>",
    "<fake_token_around_image>",
    "<global-img>",
    "<pad>",
] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
WORDS = "User Assistant : what is the total answer forty two who signed it ana page one".split()


@pytest.fixture
def idefics3():
    return importlib.import_module("loader.idefics3")


# -- a tokenizer built in-process --------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate(["[UNK]", *SPECIALS, *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(SPECIALS)
    return tok


def _decode(tokenizer, ids):
    return [tokenizer.id_to_token(int(i)) for i in ids]


# -- shards in the three layouts -----------------------------------------------------------


def _image(colour, size=(120, 90), fmt="PNG", mode="RGB"):
    image = Image.new("RGB", size, colour).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _corrupt_png():
    return _image(GREY, (400, 300))[:200]


def _json(obj):
    return json.dumps(obj).encode()


def _turn(user, assistant):
    return {"user": user, "assistant": assistant, "source": "test"}


def docmatix_samples():
    two_turns = [_turn("what is the total", "forty two"), _turn("who signed it", "ana")]
    return [
        Sample(
            "doc_a",
            {
                "json": _json({"texts": two_turns}),
                "0000.png": _image(RED, (400, 300)),
                "0001.png": _image(GREEN, (300, 400)),
                "pdf": b"%PDF-1.4 not read",
            },
        ),
        Sample(
            "doc_b",
            {"json": _json({"texts": [_turn("page one", "one")]}), "0000.png": _image(BLUE)},
        ),
        Sample(
            "doc_c",
            {"json": _json({"texts": [_turn("what", "two")]}), "0000.png": _corrupt_png()},
        ),
    ]


def cauldron_samples():
    return [
        Sample(
            "row_a",
            {
                "json": _json({"id": "a", "texts": [_turn("what is it", "one")]}),
                "000.jpg": _image(RED, (500, 200), "JPEG"),
                "001.png": _image(BLUE, (64, 64), mode="P"),
            },
        ),
        Sample(
            "row_b",
            {
                "json": _json({"id": "b", "texts": [_turn("what", "two")]}),
                "000.img": _image(GREEN, (80, 80), "GIF"),
            },
        ),
    ]


def obelics_samples():
    texts = ["page one", None, "what is the total", None, None, "forty two"]
    urls = [None, "http://x/r.png", None, "http://x/g.jpg", "http://x/b.webp", None]
    doc = {"texts": texts, "images": urls, "metadata": [None] * 6, "general_metadata": "{}"}
    unfetched = {
        "texts": ["one", None, "two"],
        "images": [None, "http://x/missing.png", None],
        "metadata": [None] * 3,
        "general_metadata": "{}",
    }
    return [
        Sample(
            "web_a",
            {
                "json": _json(doc),
                "001.png": _image(RED, (400, 300)),
                "003.jpg": _image(GREEN, (100, 100), "JPEG"),
                "004.webp": _image(BLUE, (300, 500), "WEBP"),
            },
        ),
        Sample("web_b", {"json": _json(unfetched)}),
    ]


def _write(tmp_path, name, samples, **kw):
    out = tmp_path / name
    write_shards(out, samples, prefix=name, **kw)
    return sorted(str(p) for p in out.glob("*.tar"))


def _batches(urls, batch_size, **kw):
    kw.setdefault("shuffle_buffer", 0)
    loader = make_loader(urls, batch_size, **kw)
    return loader, list(loader)


def _tile_counts(rows, cols):
    return [r * c + 1 if r else 1 for r, c in zip(rows, cols, strict=True)]


def _global_tiles(pixel_values, rows, cols):
    """The global (last) tile of each image, in order."""
    ends = torch.tensor(_tile_counts(rows, cols)).cumsum(0) - 1
    return [pixel_values[int(end)] for end in ends]


def _colour_of(tile):
    """The colour a normalised tile shows, back in 0..255."""
    return tuple(int(round(v)) for v in ((tile.mean(dim=(1, 2)) * 0.5 + 0.5) * 255).tolist())


def _near(colour, expected, tolerance=6):
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


# -- conversation -------------------------------------------------------------------------


def test_chat_layout_and_labels(tokenizer, idefics3):
    turns = [_turn("what is the total", "forty two"), _turn("who signed it", "ana")]
    prompts = [idefics3.image_prompt(0, 0), idefics3.image_prompt(1, 2)]
    ids, labels = format_conversation(turns, 2, prompts, tokenizer)
    tokens = _decode(tokenizer, ids)
    assert len(ids) == len(labels)
    assert tokens[:3] == ["<|begin_of_text|>", "User", ":"]
    assert tokens[3] == "<fake_token_around_image>"
    assert tokens.count("<image>") == 169 * (1 + 3)
    assert tokens.count("<global-img>") == 2 and "<row_1_col_2>" in tokens
    learned = [tokenizer.id_to_token(i) for i in labels if i != IGNORE_INDEX]
    assert learned == ["forty", "two", END_OF_UTTERANCE, "ana", END_OF_UTTERANCE]
    # the second user turn carries no image and the answers follow "Assistant:"
    second = tokens.index("who")
    assert tokens[second - 3 : second] == [END_OF_UTTERANCE, "User", ":"]
    assert tokens.count("Assistant") == 2


def test_interleaved_document_learns_text_not_images(tokenizer, idefics3):
    items = ["page one", None, "forty two", None]
    prompts = [idefics3.image_prompt(0, 0)] * 2
    ids, labels = format_conversation(items, 2, prompts, tokenizer)
    tokens = _decode(tokenizer, ids)
    assert "User" not in tokens and "Assistant" not in tokens
    learned = [tokenizer.id_to_token(i) for i in labels if i != IGNORE_INDEX]
    assert learned == ["page", "one", "forty", "two"]
    assert tokens.index("forty") > tokens.index("<image>")


def test_conversation_rejects_mismatches(tokenizer, idefics3):
    prompt = idefics3.image_prompt(0, 0)
    with pytest.raises(ValueError):
        format_conversation([_turn("q", "a")], 2, [prompt], tokenizer)
    with pytest.raises(ValueError):
        format_conversation(["text", None, None], 1, [prompt], tokenizer)
    with pytest.raises(ValueError):
        format_conversation([_turn("<image> q", "a")], 1, [prompt], tokenizer)


def test_works_with_a_transformers_tokenizer(tokenizer, idefics3):
    from transformers import PreTrainedTokenizerFast

    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>")
    turns = [_turn("what is the total", "forty two")]
    prompts = [idefics3.image_prompt(0, 0)]
    assert format_conversation(turns, 1, prompts, wrapped) == format_conversation(
        turns, 1, prompts, tokenizer
    )


# -- samples ---------------------------------------------------------------------------------


def _as_wds(sample):
    return {"__key__": sample.key, "__url__": "mem", **sample.members}


def test_sample_kinds_detected():
    doc, _, bad = (
        sample_to_example(_as_wds(s)) if s.key != "doc_c" else s for s in docmatix_samples()
    )
    assert doc.kind == "chat" and len(doc.images) == 2 and doc.images[0].size == (400, 300)
    web = sample_to_example(_as_wds(obelics_samples()[0]))
    assert web.kind == "interleaved" and web.turns.count(None) == 3 and len(web.images) == 3
    unfetched = sample_to_example(_as_wds(obelics_samples()[1]))
    assert unfetched.turns == ["one", "two"] and unfetched.images == []
    with pytest.raises(SkipSample) as skip:
        sample_to_example(_as_wds(bad))
    assert skip.value.reason == "bad_image"
    with pytest.raises(UnsafeShardError):
        sample_to_example({"__key__": "../x", "json": b"{}"})


# -- batches -----------------------------------------------------------------------------------


def test_docmatix_batches_shapes_masks_and_skips(tmp_path, tokenizer):
    urls = _write(tmp_path, "docmatix", docmatix_samples())
    loader, batches = _batches(urls, 2, tokenizer=tokenizer, partial_batches=True)
    assert loader.skipped.counts == {"bad_image": 1}
    (batch,) = batches
    assert sorted(batch["keys"]) == ["doc_a", "doc_b"]
    i = batch["keys"].index("doc_a")
    tiles = [sum(_tile_counts(r, c)) for r, c in zip(batch["rows"], batch["cols"], strict=True)]
    pv, mask = batch["pixel_values"], batch["tile_mask"]
    assert pv.shape == (2, max(tiles), 3, TILE, TILE) and pv.dtype == torch.float32
    assert mask.tolist() == [[t < n for t in range(max(tiles))] for n in tiles]
    assert batch["pixel_attention_mask"].shape == (2, max(tiles), TILE, TILE)
    assert torch.equal(batch["pixel_attention_mask"][:, :, 0, 0], mask)
    padded = pv[~mask]
    assert padded.numel() and padded.abs().max() == 0
    assert pv[mask].min() >= -1 and pv[mask].max() <= 1
    assert len(batch["rows"][i]) == 2  # two pages, two images
    colours = [_colour_of(t) for t in _global_tiles(pv[i], batch["rows"][i], batch["cols"][i])]
    assert _near(colours[0], RED) and _near(colours[1], GREEN)
    # text: padded, masked outside the answers
    ids, labels, att = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert ids.shape == labels.shape == att.shape
    learned = [tokenizer.id_to_token(int(t)) for t in labels[i] if t != IGNORE_INDEX]
    assert learned == ["forty", "two", END_OF_UTTERANCE, "ana", END_OF_UTTERANCE]
    assert (labels[att == 0] == IGNORE_INDEX).all()
    image_id = tokenizer.token_to_id("<image>")
    n_image_tokens = (ids == image_id).sum(dim=1).tolist()
    assert n_image_tokens == [169 * t for t in tiles]


def test_cauldron_any_image_format_and_multi_image(tmp_path, tokenizer):
    urls = _write(tmp_path, "cauldron", cauldron_samples())
    loader, batches = _batches(urls, 1, tokenizer=tokenizer)
    assert loader.skipped.total == 0
    by_key = {b["keys"][0]: b for b in batches}
    row = by_key["row_a"]
    assert len(row["rows"][0]) == 2
    colours = [
        _colour_of(t) for t in _global_tiles(row["pixel_values"][0], row["rows"][0], row["cols"][0])
    ]
    assert _near(colours[0], RED, 12) and _near(colours[1], BLUE)
    row_b = by_key["row_b"]
    assert row_b["tile_mask"].sum() == sum(_tile_counts(row_b["rows"][0], row_b["cols"][0]))


def test_obelics_keeps_image_order(tmp_path, tokenizer):
    urls = _write(tmp_path, "obelics", obelics_samples())
    _, batches = _batches(urls, 2, tokenizer=tokenizer)
    (batch,) = batches
    i = batch["keys"].index("web_a")
    rows, cols = batch["rows"][i], batch["cols"][i]
    assert len(rows) == 3
    colours = [_colour_of(t) for t in _global_tiles(batch["pixel_values"][i], rows, cols)]
    assert [_near(c, e, 12) for c, e in zip(colours, (RED, GREEN, BLUE), strict=True)] == [True] * 3
    tokens = _decode(tokenizer, batch["input_ids"][i][batch["attention_mask"][i] == 1])
    first_image = tokens.index("<image>")
    assert tokens.index("page") < first_image < tokens.index("what") < tokens.index("forty")
    j = 1 - i
    assert batch["tile_mask"][j].sum() == 0  # the unfetched image is dropped: text only


def test_without_tokenizer_images_only(tmp_path):
    urls = _write(tmp_path, "docmatix", docmatix_samples())
    _, batches = _batches(urls, 2)
    assert "input_ids" not in batches[0] and batches[0]["pixel_values"].shape[0] == 2


def test_unsafe_member_name_refuses_the_shard(tmp_path):
    for name in ("../evil.json", "/abs/evil.json", "dir/evil.json"):
        path = tmp_path / "bad.tar"
        with tarfile.open(path, "w") as tar:
            data = _json({"texts": [_turn("q", "a")]})
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        with pytest.raises(UnsafeShardError, match="unsafe member name"):
            list(make_loader([str(path)], 1, shuffle_buffer=0))


def test_epoch_batches_and_seeded_order(tmp_path):
    samples = docmatix_samples()[:2] + cauldron_samples()
    urls = _write(tmp_path, "mixed", samples, max_samples=1)
    assert len(urls) == 4

    def keys(seed):
        loader = make_loader(urls, 1, seed=seed, shuffle_buffer=10, initial=4)
        return [b["keys"][0] for b in loader]

    assert keys(3) == keys(3) and sorted(keys(3)) == ["doc_a", "doc_b", "row_a", "row_b"]
    cycled = list(make_loader(urls, 1, epoch_batches=6, shuffle_buffer=0))
    assert len(cycled) == 6


def test_workers_split_the_shards(tmp_path):
    samples = docmatix_samples() + cauldron_samples()
    urls = _write(tmp_path, "split", samples, max_samples=1)
    loader = make_loader(urls, 1, num_workers=2, shuffle_buffer=4, initial=2)
    keys = sorted(b["keys"][0] for b in loader)
    assert keys == ["doc_a", "doc_b", "row_a", "row_b"]
    assert loader.skipped.counts == {"bad_image": 1}


def test_matches_transformers_image_processor(tmp_path, idefics3):
    from transformers import Idefics3ImageProcessorPil

    samples = cauldron_samples()[:1]
    urls = _write(tmp_path, "one", samples)
    (batch,) = list(make_loader(urls, 1, shuffle_buffer=0))
    images = [Image.open(io.BytesIO(samples[0].members[k])) for k in ("000.jpg", "001.png")]
    processor = Idefics3ImageProcessorPil()
    expected = processor(images=[images], return_tensors="pt", return_row_col_info=True)
    got = batch["pixel_values"]
    assert got.shape == expected["pixel_values"].shape
    diff = (got - expected["pixel_values"]).abs()
    assert diff.mean() <= 0.01 and diff.max() <= 0.1  # normalised units, as in test_idefics3
    assert batch["rows"] == [list(r) for r in expected["rows"]]
    assert torch.equal(batch["pixel_attention_mask"], expected["pixel_attention_mask"].bool())


def test_counter_survives_bad_json(tmp_path):
    samples = [
        Sample("a", {"json": b"{not json", "000.png": _image(RED)}),
        Sample("b", {"json": _json({"other": 1})}),
        Sample("c", {"000.png": _image(RED)}),
        Sample("d", {"json": _json({"id": "d", "texts": [_turn("q", "a")]})}),
    ]
    urls = _write(tmp_path, "junk", samples)
    loader, batches = _batches(urls, 1)
    assert [b["keys"] for b in batches] == [["d"]]
    assert loader.skipped.counts == {"bad_json": 1, "unknown_layout": 1, "no_json": 1}


# -- tiles made on the device (nvJPEG on CUDA; the same steps with PIL decode on the CPU) --


def _photo(size, seed, mode="RGB"):
    """A JPEG with detail, so a resize that differs would show."""
    import numpy as np

    rng = np.random.default_rng(seed)
    h, w = size[1], size[0]
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // w, y * 255 // h, (x ^ y) % 256], -1)
    rgb = (rgb + rng.integers(0, 40, (h, w, 3))).clip(0, 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert(mode).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def device_samples():
    return [
        Sample(
            "jpegs",
            {
                "json": _json({"id": "j", "texts": [_turn("what is it", "one")]}),
                "000.jpg": _photo((1200, 900), 1),
                "001.jpg": _photo((300, 700), 2, mode="L"),
                "002.jpg": _photo((640, 480), 3, mode="CMYK"),
                "003.png": _image(BLUE, (64, 64), mode="P"),
            },
        ),
        Sample(
            "truncated",
            {
                "json": _json({"id": "t", "texts": [_turn("q", "a")]}),
                "000.jpg": _photo((800, 600), 4)[:3000],
            },
        ),
        *obelics_samples(),
    ]


def test_device_tiling_matches_worker_tiling(tmp_path, tokenizer):
    urls = _write(tmp_path, "device", device_samples())
    kw = {"tokenizer": tokenizer, "partial_batches": True}
    workers, cpu_batches = _batches(urls, 8, tiling="workers", **kw)
    device, dev_batches = _batches(urls, 8, tiling="device", **kw)
    assert not workers.on_device and device.on_device
    # the truncated JPEG is found by the CPU decode in the workers, by the device decode here
    assert workers.skipped.counts == device.skipped.counts == {"bad_image": 1}
    (ref,), (got,) = cpu_batches, dev_batches
    assert got["keys"] == ref["keys"] == ["jpegs", "web_a", "web_b"]
    for name in ("rows", "cols"):
        assert got[name] == ref[name]
    for name in ("tile_mask", "pixel_attention_mask", "input_ids", "labels", "attention_mask"):
        assert torch.equal(got[name], ref[name]), name
    assert got["pixel_values"].shape == ref["pixel_values"].shape
    diff = (got["pixel_values"] - ref["pixel_values"]).abs()
    assert diff[~ref["tile_mask"]].max() == 0  # padding stays zero
    assert diff.mean() <= 0.01 and diff.max() <= 0.1  # normalised units, as in test_idefics3


def test_max_length_skips_long_samples(tmp_path, tokenizer):
    urls = _write(tmp_path, "docmatix", docmatix_samples())
    _, batches = _batches(urls, 1, tokenizer=tokenizer)
    lengths = sorted(b["input_ids"].shape[1] for b in batches)
    assert len(lengths) == 2 and lengths[0] < lengths[1]
    loader, batches = _batches(urls, 1, tokenizer=tokenizer, max_length=lengths[0])
    assert [b["input_ids"].shape[1] for b in batches] == lengths[:1]
    assert loader.skipped.counts["too_long"] == 1
    loader, batches = _batches(urls, 1, tokenizer=tokenizer, max_length=10)
    assert batches == [] and loader.skipped.counts == {"too_long": 2, "bad_image": 1}
    with pytest.raises(ValueError, match="tiling"):
        make_loader(urls, 1, tiling="gpu")


# -- random access through the shard index -------------------------------------------------


def test_indexed_shards_give_the_same_samples_as_streaming(tmp_path):
    import webdataset as wds

    from loader.indexed import IndexedShards

    samples = docmatix_samples() + cauldron_samples() + obelics_samples()
    urls = _write(tmp_path, "mixed", samples, max_samples=2)
    assert len(urls) > 1
    streamed = list(wds.WebDataset(urls, shardshuffle=False))
    indexed = IndexedShards(tmp_path / "mixed")
    assert len(indexed) == len(streamed) == len(samples)
    for i in (len(samples) - 1, 0, 3, -1):  # out of order, across shards
        want, got = streamed[i], indexed[i]
        assert got["__key__"] == want["__key__"]
        assert {k: v for k, v in got.items() if not k.startswith("__")} == {
            k: v for k, v in want.items() if not k.startswith("__")
        }
    example = sample_to_example(indexed[0])
    assert example.key == streamed[0]["__key__"]
    with pytest.raises(IndexError):
        indexed[len(samples)]


def test_indexed_shards_report_a_truncated_shard(tmp_path):
    from loader.indexed import IndexedShards

    urls = _write(tmp_path, "cut", docmatix_samples())
    indexed = IndexedShards(tmp_path / "cut" / "_info.json")
    last = indexed[len(indexed) - 1]
    (offset, size) = max(indexed._entries[-1][-1]["members"].values())
    with open(urls[-1], "r+b") as f:
        f.truncate(offset + size // 2)  # the last member loses its second half
    indexed = IndexedShards(tmp_path / "cut" / "_info.json")
    assert indexed[0]["__key__"] != last["__key__"]
    with pytest.raises(tarfile.ReadError, match="bytes at"):
        indexed[len(indexed) - 1]
