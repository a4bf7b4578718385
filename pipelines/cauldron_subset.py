"""A public source dataset -> a new subset of The Cauldron, decontaminated, in the hub layout.

    python -m pipelines.cauldron_subset --subset {cord_v2,lnqa,sharegpt4o,iiw400,geo170k,docmatix}
        --input PATH --output DIR [--images PATH] [--decontaminate-against PATH ...] [beam options]

Writes DIR/<subset>/train-NNNNN-of-NNNNN.parquet (images + texts), DIR/<subset>/README.md
(a dataset card with counts and provenance), DIR/<subset>/shards/*.tar,
DIR/<subset>/decontamination.json (rows removed for matching a benchmark image,
and groups of identical images inside the subset), rejects, manifest and report.
"""

import dataclasses
import hashlib
import json

import apache_beam as beam

from cauldron.schema import SCHEMA
from cauldron.subsets import REGISTRY
from corpusio.accounting import Reject
from corpusio.keys import text_key
from corpusio.report import stage_order
from corpusio.shards import Sample
from pipelines.files import join, write_bytes
from pipelines.job import cli_main, run_job
from pipelines.options import (
    add_resume_args,
    add_shard_args,
    new_parser,
    parse_pipeline_args,
    pipeline_options,
)
from pipelines.outputs import shard_files, table_files
from pipelines.parts import load
from pipelines.resume import ResumeOptions
from pipelines.sinks import WriteParquet, WriteRejects, WriteShards
from pipelines.stage import Stage


def parse_args(argv):
    parser = new_parser("pipelines.cauldron_subset", __doc__)
    parser.add_argument("--subset", required=True, choices=sorted(REGISTRY))
    parser.add_argument("--input", required=True, help="the source dataset's folder or file")
    parser.add_argument("--output", required=True, help="output folder; the subset goes below")
    parser.add_argument("--images", default=None, help="a local folder of the source's images")
    parser.add_argument(
        "--decontaminate-against",
        action="append",
        default=[],
        metavar="PATH",
        help="benchmark images: a folder or a parquet file; repeatable",
    )
    parser.add_argument(
        "--fetch-images",
        action="store_true",
        help="fetch images given only as URLs (iiw400) with the safe fetcher",
    )
    parser.add_argument("--allow-loopback", action="store_true", help="tests only")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompt phrasing draw")
    add_shard_args(parser, default_prefix="cauldron")
    add_resume_args(parser)
    return parse_pipeline_args(parser, argv)


class _Fetch(beam.DoFn):
    def __init__(self, allow_loopback: bool):
        self._allow_loopback = allow_loopback
        self._fetcher = None

    def setup(self):
        from obelics_filter.fetch import ImageFetcher

        self._fetcher = ImageFetcher(allow_loopback=self._allow_loopback)

    def process(self, item):
        urls = item.urls_to_fetch()
        yield item.with_fetched(self._fetcher.fetch_many(urls)) if urls else item


class Decontaminate:
    """Drop rows whose images match a benchmark image; loaded once per worker process."""

    def __init__(self, locations: list[str]):
        self._locations = list(locations)
        self._decontaminator = None

    def __getstate__(self):
        return {"_locations": self._locations, "_decontaminator": None}

    def __call__(self, keyed):
        from cauldron.decontaminate import BenchmarkHashes, Decontaminator

        if self._decontaminator is None:
            self._decontaminator = Decontaminator(BenchmarkHashes.load(*self._locations))
        key, row = keyed
        matches = [m for image in row["images"] for m in self._decontaminator.match(image["bytes"])]
        if matches:
            detail = json.dumps([dataclasses.asdict(m) for m in matches], sort_keys=True)
            return Reject(key, "benchmark_image", detail)
        return keyed


def _keyed(item, convert, seed):
    row = convert(item, seed)
    return row if isinstance(row, Reject) else (item.key, row)


def _image_digests(keyed):
    key, row = keyed
    return [(hashlib.sha256(image["bytes"]).hexdigest(), key) for image in row["images"]]


_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpg"), (b"GIF8", "gif"), (b"RIFF", "webp"))


def _image_ext(data: bytes) -> str:
    return next((ext for magic, ext in _MAGIC if data.startswith(magic)), "img")


def _sample(keyed) -> Sample:
    key, row = keyed
    members = {"json": json.dumps({"id": key, "texts": row["texts"]}, ensure_ascii=False).encode()}
    for number, image in enumerate(row["images"]):
        members[f"{number:03d}.{_image_ext(image['bytes'])}"] = image["bytes"]
    return Sample(text_key(key), members)


def _write_report(parts, path):
    removed = sorted((r for kind, r in parts if kind == "removed"), key=lambda r: r["id"])
    groups = sorted((g for kind, g in parts if kind == "duplicates"), key=lambda g: g["sha256"])
    report = {"removed_for_benchmark_match": removed, "identical_images": groups}
    write_bytes(path, (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())


def dataset_card(subset: str, manifest: dict, args) -> str:
    stages = manifest["stages"]
    written = stages.get("shards", {}).get("out", 0)
    against = ", ".join(f"`{p}`" for p in args.decontaminate_against) or "nothing"
    lines = [
        "---",
        f"pretty_name: The Cauldron, {subset} (rebuilt)",
        "configs:",
        f"- config_name: {subset}",
        "  data_files:",
        "  - split: train",
        "    path: train-*.parquet",
        "---",
        "",
        f"# {subset}",
        "",
        f"A subset in the layout of HuggingFaceM4/the_cauldron: `images` (a list of images) "
        f"and `texts` (a list of {{user, assistant, source}} turns). {written} rows.",
        "",
        "## Provenance",
        "",
        f"- source: `{args.input}` read as the published `{subset}` format",
        f"- prompt phrasings drawn with seed {args.seed}",
        f"- decontaminated against: {against}",
        f"- built {manifest['finished']} by `python -m pipelines.cauldron_subset`",
        "",
        "## Counts",
        "",
        "| stage | in | out | rejected | by reason |",
        "|---|---:|---:|---:|---|",
    ]
    for name in stage_order(manifest):
        counts = stages[name]
        reasons = ", ".join(f"{r}: {n}" for r, n in counts["rejected_by_reason"].items()) or "-"
        lines.append(
            f"| {name} | {counts['in']} | {counts['out']} | {counts['rejected']} | {reasons} |"
        )
    return "\n".join(lines) + "\n"


def run(argv=None, save_main_session=True) -> dict:
    args, beam_args = parse_args(argv)
    converter = REGISTRY[args.subset]
    out = join(args.output, args.subset)
    seed, images, source = args.seed, args.images, args.input
    resume = ResumeOptions(
        out,
        restart=args.restart,
        keep_work=args.keep_work,
        wait=not args.no_wait,
        overwrite=args.overwrite,
    )

    def build(p):
        items, r_read = (
            p
            | "Source" >> beam.Create([source])
            | "ReadSource"
            >> Stage(
                "read_source",
                lambda path: converter.read_source(path, images=images),
                fanout=True,
                id_of=str,
                store=lambda item, put: put(item),
                spill=resume.spill("items"),
            )
        )
        # One reader lists the source; its items are stored, and only their
        # references are spread over the workers.
        items = items | "Spread" >> beam.Reshuffle() | "LoadItems" >> beam.Map(load)
        if args.fetch_images:
            items = items | "FetchImages" >> beam.ParDo(_Fetch(args.allow_loopback))
        rows, r_convert = items | "Convert" >> Stage(
            "convert",
            lambda item: _keyed(item, converter.convert, seed),
            id_of=lambda item: item.key,
        )
        rejects = [r_read, r_convert]
        removed = []
        if args.decontaminate_against:
            rows, r_decon = rows | "Decontaminate" >> Stage(
                "decontaminate",
                Decontaminate(args.decontaminate_against),
                id_of=lambda keyed: keyed[0],
                checkpoint=resume.checkpoint(
                    "decontaminate", args.subset, seed, images, args.decontaminate_against
                ),
            )
            rejects.append(r_decon)
            removed = [
                r_decon
                | "Removed"
                >> beam.Map(lambda r: ("removed", {"id": r.id, "matches": json.loads(r.detail)}))
            ]
        duplicates = (
            rows
            | "Digests" >> beam.FlatMap(_image_digests)
            | "GroupDigests" >> beam.GroupByKey()
            | "Shared" >> beam.Filter(lambda kv: len(set(kv[1])) > 1)
            | "DuplicateGroups"
            >> beam.Map(lambda kv: ("duplicates", {"sha256": kv[0], "rows": sorted(set(kv[1]))}))
        )
        _ = (
            (*removed, duplicates)
            | "ReportParts" >> beam.Flatten()
            | "AllParts" >> beam.combiners.ToList()
            | "WriteReport" >> beam.Map(_write_report, join(out, "decontamination.json"))
        )
        _ = (
            rows
            | "Rows" >> beam.Values()
            | "WriteParquet" >> WriteParquet(join(out, "train"), SCHEMA, spill=resume.spill("rows"))
        )
        rejects.append(
            rows
            | "Samples" >> beam.Map(_sample)
            | "WriteShards"
            >> WriteShards(
                join(out, "shards"),
                args.shard_prefix,
                args.shard_max_samples,
                args.shard_max_bytes,
                spill=resume.spill("shards"),
            )
        )
        _ = tuple(rejects) | "AllRejects" >> beam.Flatten() | "WriteRejects" >> WriteRejects(out)

    links = [("read_source", "convert")]
    links += (
        [("convert", "decontaminate"), ("decontaminate", "shards")]
        if (args.decontaminate_against)
        else [("convert", "shards")]
    )
    manifest = run_job(
        "cauldron_subset",
        argv,
        pipeline_options(beam_args, save_main_session),
        build,
        out,
        links=links,
        outputs={"data": out, "report": join(out, "decontamination.json")},
        extra={"subset": args.subset},
        resume=resume,
        owned=[
            *table_files("train"),
            *shard_files("shards", args.shard_prefix),
            r"decontamination\.json",
            r"README\.md",
        ],
    )
    if manifest.get("dry_run") or manifest.get("submitted"):
        return manifest
    write_bytes(join(out, "README.md"), dataset_card(args.subset, manifest, args).encode())
    return manifest


if __name__ == "__main__":
    cli_main(run)
