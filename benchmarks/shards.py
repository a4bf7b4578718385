"""Shard writing: corpusio.shards.write_shards against webdataset.ShardWriter, same samples."""

import os
import tempfile
from pathlib import Path

import webdataset as wds

from benchmarks.common import best_seconds, row
from corpusio.keys import content_key
from corpusio.shards import Sample, write_shards

SAMPLES = 3000
PAYLOAD = 64 * 1024
MAX_SAMPLES = 500


def _samples() -> list[Sample]:
    payload = os.urandom(PAYLOAD)
    return [
        Sample(content_key(str(i).encode()), {"bin": payload, "json": b'{"i": %d}' % i})
        for i in range(SAMPLES)
    ]


def _ours(samples, out: Path):
    write_shards(out, samples, prefix="ours", max_samples=MAX_SAMPLES, max_bytes=1 << 40)


def _bare(samples, out: Path):
    pattern = str(out / "bare-%06d.tar")
    with wds.ShardWriter(pattern, maxcount=MAX_SAMPLES, maxsize=1 << 40, verbose=0) as sink:
        for s in sorted(samples, key=lambda s: s.key):
            sink.write({"__key__": s.key, **s.members})


def run() -> list[dict]:
    samples = _samples()
    with tempfile.TemporaryDirectory() as tmp:
        ours = best_seconds(lambda: _ours(samples, Path(tmp)))
        bare = best_seconds(lambda: _bare(samples, Path(tmp)))
    return [row("shard_write (64 KiB samples)", SAMPLES, ours, bare, "webdataset.ShardWriter")]
