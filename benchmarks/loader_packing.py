"""Packed rows against padded batches: one epoch of the loader each way, the same shards.

The shards are generated: 120 chat rows whose answers run from a few words to a page,
a third with one or two page-sized images, as a Docmatix and Cauldron mix looks. Token
slots that hold a sample's token (packing efficiency) and sample tokens per second;
word counts stand in for the tokenizer (loader.bench.word_tokenizer).
"""

import io
import json
import random
import tempfile
from pathlib import Path

from PIL import Image

from benchmarks.common import row
from corpusio.shards import Sample, write_shards
from loader.bench import bench_packing, word_tokenizer

MAX_LENGTH = 8192
ROWS = 4


def _page(seed: int) -> bytes:
    image = Image.new("RGB", (620, 877), (240, 240, 240))
    image.paste((seed * 37 % 256, 90, 160), (60, 80, 560, 120 + seed % 300))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def samples(n: int = 120, seed: int = 0) -> list[Sample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = " ".join("word" for _ in range(rng.choice([5, 20, 80, 300, 900])))
        texts = [{"user": "what does the page say", "assistant": words, "source": "bench"}]
        members = {"json": json.dumps({"id": str(i), "texts": texts}).encode()}
        for k in range(rng.choice([0, 0, 0, 0, 1, 2])):
            members[f"{k:03d}.png"] = _page(i * 3 + k)
        out.append(Sample(f"s{i:04d}", members))
    return out


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as folder:
        write_shards(Path(folder), samples(), prefix="mix", max_samples=20)
        urls = sorted(str(p) for p in Path(folder).glob("*.tar"))
        padded, packed = bench_packing(urls, ROWS, MAX_LENGTH, word_tokenizer(), workers=0)
    print(
        f"loader packing: efficiency {packed['packing_efficiency']} packed, "
        f"{padded['packing_efficiency']} padded ({MAX_LENGTH} tokens, {ROWS} rows)"
    )
    tokens = packed["tokens"]
    return [
        row(
            "loader packed rows (tokens)",
            tokens,
            tokens / packed["tokens_per_s"],
            tokens / padded["tokens_per_s"],
            "same loader, padded batches",
        )
    ]
