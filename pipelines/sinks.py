"""Sinks every pipeline shares: WebDataset shards, Parquet tables and the rejects record.

WriteShards spreads samples over buckets by a hash of their key, sizes the
bucket count from the totals so that a bucket is about one shard, and writes
each bucket's samples in key order, cut at the caps. Shard numbers are fixed
before anything is written (a light first pass plans how many shards each
bucket needs), so names are contiguous (`prefix-000000.tar` ...), and the
same input always gives the same shards, byte for byte, on any runner.
"""

import hashlib
import math

import apache_beam as beam
from apache_beam.metrics import Metrics

from corpusio.accounting import (
    IN,
    OUT,
    REASON_PREFIX,
    REJECTED,
    STAT_PREFIX,
    Reject,
    stage_namespace,
)
from corpusio.keys import stable_bucket
from corpusio.shards import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_SAMPLES,
    INFO_NAME,
    Sample,
    ShardInfo,
    build_info,
    dumps_index,
    dumps_info,
    index_name,
    plan_parts,
    shard_name,
    write_tar,
)
from corpusio.tables import (
    DEFAULT_FILE_BYTES,
    file_count,
    file_name,
    file_of,
    measured,
    measured_table_bytes,
    table_bytes,
)
from pipelines.files import AtomicWriter, join, write_bytes
from pipelines.stage import REJECTS

SHARD_STAGE = "shards"
BUCKET_FILL = 0.8  # aim buckets below the caps so few of them spill into a second shard


def _digest(sample: Sample) -> str:
    h = hashlib.sha256()
    for ext in sorted(sample.members):
        h.update(ext.encode())
        h.update(hashlib.sha256(sample.members[ext]).digest())
    return h.hexdigest()


def bucket_count(totals: tuple[int, int], max_samples: int, max_bytes: int) -> int:
    count, nbytes = totals
    return max(
        1,
        math.ceil(count / (max_samples * BUCKET_FILL)),
        math.ceil(nbytes / (max_bytes * BUCKET_FILL)),
    )


def dedup_sorted(entries: list) -> tuple[list, list]:
    """Entries (key, digest, ...) sorted; keep the first of each key, return (kept, dropped)."""
    kept, dropped = [], []
    for entry in entries:
        (dropped if kept and kept[-1][0] == entry[0] else kept).append(entry)
    return kept, dropped


def _parts_for_bucket(item, max_samples, max_bytes):
    bucket, entries = item
    kept, _ = dedup_sorted(sorted(entries))
    return bucket, len(plan_parts([size for _, _, size in kept], max_samples, max_bytes))


def _offsets(parts_per_bucket: list[tuple[int, int]]) -> dict[int, int]:
    offsets, total = {}, 0
    for bucket, parts in sorted(parts_per_bucket):
        offsets[bucket] = total
        total += parts
    return offsets


class _WriteBucket(beam.DoFn):
    def __init__(self, output_dir, prefix, max_samples, max_bytes):
        self._output_dir = output_dir
        self._prefix = prefix
        self._max_samples = max_samples
        self._max_bytes = max_bytes
        ns = stage_namespace(SHARD_STAGE)
        self._in = Metrics.counter(ns, IN)
        self._out = Metrics.counter(ns, OUT)
        self._rejected = Metrics.counter(ns, REJECTED)
        self._duplicates = Metrics.counter(ns, REASON_PREFIX + "duplicate_key")
        self._shards = Metrics.counter(ns, STAT_PREFIX + "shard_files")
        self._bytes = Metrics.counter(ns, STAT_PREFIX + "shard_bytes")

    def process(self, item, offsets):
        bucket, samples = item
        entries = sorted((s.key, _digest(s), s.tar_bytes, s) for s in samples)
        self._in.inc(len(entries))
        kept, dropped = dedup_sorted([e[:3] + (i,) for i, e in enumerate(entries)])
        for key, digest, _, _ in dropped:
            self._rejected.inc()
            self._duplicates.inc()
            yield beam.pvalue.TaggedOutput(
                REJECTS,
                Reject(
                    key,
                    "duplicate_key",
                    f"another sample has this key (sha256 {digest[:16]})",
                    SHARD_STAGE,
                ),
            )
        parts = plan_parts([size for _, _, size, _ in kept], self._max_samples, self._max_bytes)
        for number, part in enumerate(parts, start=offsets[bucket]):
            name = shard_name(self._prefix, number)
            with AtomicWriter(join(self._output_dir, name)) as out:
                index = write_tar(out, (entries[kept[i][3]][3] for i in part))
            write_bytes(join(self._output_dir, index_name(name)), dumps_index(name, index))
            count = len(index)
            self._out.inc(count)
            self._shards.inc()
            self._bytes.inc(out.bytes_written)
            yield ShardInfo(name, count, out.bytes_written)


def _write_info(infos, output_dir, name):
    write_bytes(join(output_dir, INFO_NAME), dumps_info(build_info(name, infos)))
    return len(infos)


class WriteShards(beam.PTransform):
    """Write Samples as WebDataset tars plus `_info.json` under `output_dir`; returns rejects.

    Counted as stage `shards`: samples in, samples written, duplicate keys rejected.
    """

    def __init__(
        self,
        output_dir: str,
        prefix: str = "shard",
        max_samples: int = DEFAULT_MAX_SAMPLES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        name: str | None = None,
    ):
        super().__init__()
        self._output_dir = output_dir
        self._prefix = prefix
        self._max_samples = max_samples
        self._max_bytes = max_bytes
        self._name = name or prefix

    def expand(self, samples):
        max_samples, max_bytes = self._max_samples, self._max_bytes
        buckets = (
            samples
            | "Sizes" >> beam.Map(lambda s: (1, s.tar_bytes))
            | "Totals" >> beam.CombineGlobally(beam.combiners.TupleCombineFn(sum, sum))
            | "Buckets" >> beam.Map(bucket_count, max_samples, max_bytes)
        )
        keyed = samples | "KeyByBucket" >> beam.Map(
            lambda s, n: (stable_bucket(s.key, n), s), n=beam.pvalue.AsSingleton(buckets)
        )
        offsets = (
            keyed
            | "PlanEntries" >> beam.MapTuple(lambda b, s: (b, (s.key, _digest(s), s.tar_bytes)))
            | "GroupPlan" >> beam.GroupByKey()
            | "PartsPerBucket" >> beam.Map(_parts_for_bucket, max_samples, max_bytes)
            | "AllParts" >> beam.combiners.ToList()
            | "Offsets" >> beam.Map(_offsets)
        )
        written = (
            keyed
            | "GroupBuckets" >> beam.GroupByKey()
            | "WriteTars"
            >> beam.ParDo(
                _WriteBucket(self._output_dir, self._prefix, max_samples, max_bytes),
                offsets=beam.pvalue.AsSingleton(offsets),
            ).with_outputs(REJECTS, main="infos")
        )
        _ = (
            written.infos
            | "AllInfos" >> beam.combiners.ToList()
            | "WriteInfo" >> beam.Map(_write_info, self._output_dir, self._name)
        )
        return written[REJECTS]


class WriteRejects(beam.PTransform):
    """Write reject records as JSON lines under `<output_dir>/rejects-*.jsonl`."""

    def __init__(self, output_dir: str):
        super().__init__()
        self._output_dir = output_dir

    def expand(self, rejects):
        return (
            rejects
            | "ToJson" >> beam.Map(lambda r: r.to_json())
            | "WriteJsonl"
            >> beam.io.WriteToText(
                join(self._output_dir, "rejects"),
                file_name_suffix=".jsonl",
                shard_name_template="-SSSSS-of-NNNNN",
            )
        )


def _write_table(item, prefix: str, schema, files: int) -> str:
    number, entries = item
    path = file_name(prefix, number, files)
    write_bytes(path, measured_table_bytes(list(entries), schema))
    return path


def _write_empty_table(totals, prefix: str, schema) -> None:
    """An empty output is still one (empty) file, so readers find the table and its schema."""
    if totals[0] == 0:
        write_bytes(file_name(prefix, 0, 1), table_bytes([], schema))


class WriteParquet(beam.PTransform):
    """Rows as Parquet files named the hub's way: `<prefix>-NNNNN-of-NNNNN.parquet`.

    The same rows give the same files byte for byte (corpusio.tables): the file count
    comes from the totals, and each row's file and place follow from its content.
    """

    def __init__(self, prefix: str, schema, file_bytes: int = DEFAULT_FILE_BYTES):
        super().__init__()
        self._prefix = prefix
        self._schema = schema
        self._file_bytes = file_bytes

    def expand(self, rows):
        prefix, schema, file_bytes = self._prefix, self._schema, self._file_bytes
        sized = rows | "Measure" >> beam.Map(measured)
        totals = (
            sized
            | "Sizes" >> beam.Map(lambda t: (1, t[1]))
            | "Totals" >> beam.CombineGlobally(beam.combiners.TupleCombineFn(sum, sum))
        )
        files = totals | "Files" >> beam.MapTuple(file_count, file_bytes)
        _ = totals | "EmptyTable" >> beam.Map(_write_empty_table, prefix, schema)
        return (
            sized
            | "ToFile"
            >> beam.Map(lambda t, n: (file_of(t[0], n), t), n=beam.pvalue.AsSingleton(files))
            | "GroupFiles" >> beam.GroupByKey()
            | "WriteFiles"
            >> beam.Map(_write_table, prefix, schema, files=beam.pvalue.AsSingleton(files))
        )
