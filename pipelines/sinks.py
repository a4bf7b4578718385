"""Sinks every pipeline shares: WebDataset shards, Parquet tables and the rejects record.

Payloads never pass through a shuffle here. A sink's first step, fused with
the stage that made its input, writes each sample or row to a part file
(pipelines.parts) and passes on a small entry: key, content digest, size and
where it is stored. Shards and files are planned from the entries alone, and
the writer reads each payload back by offset as it writes it. A stage that
already stored its payloads hands its entries over directly (`stored=True`).

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
    table_bytes,
    write_rows,
)
from pipelines.files import AtomicWriter, join, write_bytes
from pipelines.parts import PartWriter, load
from pipelines.records import RowEntry, ShardEntry
from pipelines.stage import REJECTS

SHARD_STAGE = "shards"
BUCKET_FILL = 0.8  # aim buckets below the caps so few of them spill into a second shard


def sample_digest(sample: Sample) -> str:
    h = hashlib.sha256()
    for ext in sorted(sample.members):
        h.update(ext.encode())
        h.update(hashlib.sha256(sample.members[ext]).digest())
    return h.hexdigest()


def shard_entry(sample: Sample, put) -> ShardEntry:
    """Store a sample with `put` (a PartWriter's) and describe it for planning."""
    return ShardEntry(sample.key, sample_digest(sample), sample.tar_bytes, put(sample))


def row_entry(row: dict, put) -> RowEntry:
    digest, size, _ = measured(row)
    return RowEntry(digest, size, put(row))


class StoreEach(beam.DoFn):
    """Pass on `entry_of(element, put)`: `put` stores a payload in this bundle's part file."""

    def __init__(self, folder: str, entry_of):
        self._folder = folder
        self._entry_of = entry_of
        self._writer = None

    def start_bundle(self):
        self._writer = PartWriter(self._folder)

    def process(self, element):
        yield self._entry_of(element, self._writer.put)

    def finish_bundle(self):
        self._writer.close()


def bucket_count(totals: tuple[int, int], max_samples: int, max_bytes: int) -> int:
    count, nbytes = totals
    return max(
        1,
        math.ceil(count / (max_samples * BUCKET_FILL)),
        math.ceil(nbytes / (max_bytes * BUCKET_FILL)),
    )


def dedup_sorted(entries: list) -> tuple[list, list]:
    """Entries sorted by key; keep the first of each key, return (kept, dropped)."""
    kept, dropped = [], []
    for entry in entries:
        (dropped if kept and kept[-1].key == entry.key else kept).append(entry)
    return kept, dropped


class _PlanBucket(beam.DoFn):
    """A bucket's entries in key order, duplicates rejected, cut into shard-sized parts."""

    def __init__(self, max_samples, max_bytes):
        self._max_samples = max_samples
        self._max_bytes = max_bytes
        ns = stage_namespace(SHARD_STAGE)
        self._in = Metrics.counter(ns, IN)
        self._rejected = Metrics.counter(ns, REJECTED)
        self._duplicates = Metrics.counter(ns, REASON_PREFIX + "duplicate_key")

    def process(self, item):
        bucket, entries = item
        entries = sorted(entries, key=lambda e: (e.key, e.digest, e.stored.path, e.stored.offset))
        self._in.inc(len(entries))
        kept, dropped = dedup_sorted(entries)
        for entry in dropped:
            self._rejected.inc()
            self._duplicates.inc()
            yield beam.pvalue.TaggedOutput(
                REJECTS,
                Reject(
                    entry.key,
                    "duplicate_key",
                    f"another sample has this key (sha256 {entry.digest[:16]})",
                    SHARD_STAGE,
                ),
            )
        parts = plan_parts([e.size for e in kept], self._max_samples, self._max_bytes)
        yield bucket, [[kept[i] for i in part] for part in parts]


def _offsets(parts_per_bucket: list[tuple[int, int]]) -> dict[int, int]:
    offsets, total = {}, 0
    for bucket, parts in sorted(parts_per_bucket):
        offsets[bucket] = total
        total += parts
    return offsets


class _WriteParts(beam.DoFn):
    """Write a bucket's planned parts as tars, reading each sample back from its part file."""

    def __init__(self, output_dir, prefix):
        self._output_dir = output_dir
        self._prefix = prefix
        ns = stage_namespace(SHARD_STAGE)
        self._out = Metrics.counter(ns, OUT)
        self._shards = Metrics.counter(ns, STAT_PREFIX + "shard_files")
        self._bytes = Metrics.counter(ns, STAT_PREFIX + "shard_bytes")

    def process(self, planned, offsets):
        bucket, parts = planned
        for number, part in enumerate(parts, start=offsets[bucket]):
            name = shard_name(self._prefix, number)
            with AtomicWriter(join(self._output_dir, name)) as out:
                index = write_tar(out, (load(entry.stored) for entry in part))
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

    Samples are first stored under `spill` (a folder, ResumeOptions.spill); with
    `stored=True` the input is ShardEntry records whose samples are stored already.
    Counted as stage `shards`: samples in, samples written, duplicate keys rejected.
    """

    def __init__(
        self,
        output_dir: str,
        prefix: str = "shard",
        max_samples: int = DEFAULT_MAX_SAMPLES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        name: str | None = None,
        spill: str | None = None,
        stored: bool = False,
    ):
        super().__init__()
        if not (stored or spill):
            raise ValueError("WriteShards needs a spill folder for samples not stored yet")
        self._output_dir = output_dir
        self._prefix = prefix
        self._max_samples = max_samples
        self._max_bytes = max_bytes
        self._name = name or prefix
        self._spill = spill
        self._stored = stored

    def expand(self, samples):
        max_samples, max_bytes = self._max_samples, self._max_bytes
        entries = (
            samples
            if self._stored
            else samples | "StoreSamples" >> beam.ParDo(StoreEach(self._spill, shard_entry))
        )
        buckets = (
            entries
            | "Sizes" >> beam.Map(lambda e: (1, e.size))
            | "Totals" >> beam.CombineGlobally(beam.combiners.TupleCombineFn(sum, sum))
            | "Buckets" >> beam.Map(bucket_count, max_samples, max_bytes)
        )
        planned = (
            entries
            | "KeyByBucket"
            >> beam.Map(
                lambda e, n: (stable_bucket(e.key, n), e), n=beam.pvalue.AsSingleton(buckets)
            )
            | "GroupBuckets" >> beam.GroupByKey()
            | "Plan"
            >> beam.ParDo(_PlanBucket(max_samples, max_bytes)).with_outputs(REJECTS, main="plans")
        )
        offsets = (
            planned.plans
            | "PartsPerBucket" >> beam.MapTuple(lambda bucket, parts: (bucket, len(parts)))
            | "AllParts" >> beam.combiners.ToList()
            | "Offsets" >> beam.Map(_offsets)
        )
        infos = planned.plans | "WriteTars" >> beam.ParDo(
            _WriteParts(self._output_dir, self._prefix), offsets=beam.pvalue.AsSingleton(offsets)
        )
        _ = (
            infos
            | "AllInfos" >> beam.combiners.ToList()
            | "WriteInfo" >> beam.Map(_write_info, self._output_dir, self._name)
        )
        return planned[REJECTS]


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


class _WriteTable(beam.DoFn):
    """Write one Parquet file from its rows' entries, reading the rows back group by group."""

    def __init__(self, prefix: str, schema):
        self._prefix = prefix
        self._schema = schema

    def process(self, item, files):
        number, entries = item
        path = file_name(self._prefix, number, files)
        with AtomicWriter(path) as out:
            write_rows(out, [(e.digest, e.size, e.stored) for e in entries], load, self._schema)
        yield path


def _write_empty_table(totals, prefix: str, schema) -> None:
    """An empty output is still one (empty) file, so readers find the table and its schema."""
    if totals[0] == 0:
        write_bytes(file_name(prefix, 0, 1), table_bytes([], schema))


class WriteParquet(beam.PTransform):
    """Rows as Parquet files named the hub's way: `<prefix>-NNNNN-of-NNNNN.parquet`.

    The same rows give the same files byte for byte (corpusio.tables): the file count
    comes from the totals, and each row's file and place follow from its content.
    Rows are first stored under `spill`; with `stored=True` the input is RowEntry records.
    """

    def __init__(
        self,
        prefix: str,
        schema,
        file_bytes: int = DEFAULT_FILE_BYTES,
        spill: str | None = None,
        stored: bool = False,
    ):
        super().__init__()
        if not (stored or spill):
            raise ValueError("WriteParquet needs a spill folder for rows not stored yet")
        self._prefix = prefix
        self._schema = schema
        self._file_bytes = file_bytes
        self._spill = spill
        self._stored = stored

    def expand(self, rows):
        prefix, schema, file_bytes = self._prefix, self._schema, self._file_bytes
        entries = (
            rows
            if self._stored
            else rows | "StoreRows" >> beam.ParDo(StoreEach(self._spill, row_entry))
        )
        totals = (
            entries
            | "Sizes" >> beam.Map(lambda e: (1, e.size))
            | "Totals" >> beam.CombineGlobally(beam.combiners.TupleCombineFn(sum, sum))
        )
        files = totals | "Files" >> beam.MapTuple(file_count, file_bytes)
        _ = totals | "EmptyTable" >> beam.Map(_write_empty_table, prefix, schema)
        return (
            entries
            | "ToFile"
            >> beam.Map(lambda e, n: (file_of(e.digest, n), e), n=beam.pvalue.AsSingleton(files))
            | "GroupFiles" >> beam.GroupByKey()
            | "WriteFiles"
            >> beam.ParDo(_WriteTable(prefix, schema), files=beam.pvalue.AsSingleton(files))
        )
