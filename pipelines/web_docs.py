"""Common Crawl WARC -> OBELICS-style interleaved web documents, filtered and deduplicated.

    python -m pipelines.web_docs --input 'DIR/*.warc.gz' --output OUT
        [--images warc|http|none] [--config FILTERS.yaml] [beam options]

Writes OUT/data/obelics-*.parquet (texts, images, metadata, general_metadata),
OUT/shards/*.tar (a document = json + its images), OUT/excluded/*.jsonl (the
documents the filters dropped, with the reason), OUT/rejects-*.jsonl,
OUT/manifest.json and OUT/report.md.
"""

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from corpusio.accounting import Reject
from corpusio.keys import text_key
from corpusio.shards import Sample
from obelics_filter.config import load_config
from obelics_filter.dedup import document_text, image_set_key, minhash_bands, newest_first, url_key
from obelics_filter.documents import (
    apply_node_filters,
    attach_images,
    document_verdict,
    extract_document,
    image_urls,
    keep_newest,
    opted_out,
    page_verdict,
    resolve,
    without_images,
)
from obelics_filter.records import ImageData, WebPage
from obelics_filter.schema import SCHEMA, obelics_row
from obelics_filter.warc import ImageRecord, SkippedRecord, read_records
from pipelines.files import join
from pipelines.job import cli_main, run_job
from pipelines.options import pipeline_options, pipeline_parser
from pipelines.resume import resume_options
from pipelines.sinks import WriteParquet, WriteRejects, WriteShards
from pipelines.sources import MatchPaths, check_patterns
from pipelines.stage import Stage

IMAGE_MODES = ("warc", "http", "none")


def parse_args(argv):
    parser = pipeline_parser(
        "pipelines.web_docs", __doc__, "WARC/ARC file (gzipped or not)", "obelics"
    )
    parser.add_argument(
        "--images",
        choices=IMAGE_MODES,
        default="warc",
        help="warc: from image records in the inputs; http: fetch; none: URLs only",
    )
    parser.add_argument("--config", default=None, help="YAML overriding filter thresholds")
    parser.add_argument(
        "--max-docs-per-image",
        type=int,
        default=10,
        help="image URLs used by more documents are removed (logos, banners)",
    )
    parser.add_argument(
        "--allow-loopback",
        action="store_true",
        help="let --images http fetch from 127.0.0.1 (tests only)",
    )
    return parser.parse_known_args(argv)


def read_warc(path: str):
    with FileSystems.open(path, compression_type="uncompressed") as f:
        yield from read_records(f, path)


def _kind(record) -> str:
    if isinstance(record, WebPage):
        return "page"
    if isinstance(record, ImageRecord):
        return "image"
    return "skipped"


def _record_stats(record) -> dict:
    return {f"{_kind(record)}_records": 1} | (
        {f"skipped_{record.record_type}": 1} if isinstance(record, SkippedRecord) else {}
    )


def _url_dedup(item):
    """(url key, pages) -> the newest capture, and a reject for every older one."""
    _, pages = item
    newest, *older = keep_newest(list(pages))
    yield newest
    for page in older:
        yield Reject(
            f"{page.url}@{page.warc_record_offset}",
            "duplicate_url",
            f"a newer capture of {page.url} is kept ({newest.warc_date})",
        )


def _extract(page: WebPage):
    if opted_out(page):
        return Reject(page.url, "opted_out", page.http_headers.get("x-robots-tag", ""))
    return extract_document(page)


class _FetchImages(beam.DoFn):
    """Fetch each document's images over HTTP with one fetcher per worker (rate limits, robots)."""

    def __init__(self, allow_loopback: bool):
        self._allow_loopback = allow_loopback
        self._fetcher = None

    def setup(self):
        from obelics_filter.fetch import ImageFetcher

        self._fetcher = ImageFetcher(allow_loopback=self._allow_loopback)

    def process(self, doc):
        results = self._fetcher.fetch_many(image_urls(doc))
        resolved = {url: r if isinstance(r, ImageData) else r.reason for url, r in results.items()}
        yield attach_images(doc, resolved)


def _resolve_from_warc(docs, image_records):
    """Join documents with the image records of the inputs by URL (newest record wins)."""
    refs = docs | "ImageRefs" >> beam.FlatMap(lambda d: [(u, d.page.url) for u in image_urls(d)])
    records = image_records | "KeyImages" >> beam.Map(lambda r: (r.url, r))
    resolved = (
        {"refs": refs, "records": records}
        | "JoinImages" >> beam.CoGroupByKey()
        | "Resolve" >> beam.FlatMap(_resolve_refs)
    )
    return (
        {"doc": docs | "KeyDocs" >> beam.Map(lambda d: (d.page.url, d)), "images": resolved}
        | "JoinDocImages" >> beam.CoGroupByKey()
        | "Attach"
        >> beam.Map(lambda item: attach_images(list(item[1]["doc"])[0], dict(item[1]["images"])))
    )


def _resolve_refs(item):
    url, grouped = item
    records = list(grouped["records"])
    value = resolve(url, records[-1].data) if records else "image_not_in_warc"
    for doc_url in set(grouped["refs"]):
        yield doc_url, (url, value)


def _node_stats(result) -> dict:
    _, counts = result
    return {f"node_dropped_{reason}": n for reason, n in counts.items()}


def _common_images(docs, max_docs: int):
    return (
        docs
        | "ImageUses" >> beam.FlatMap(lambda d: [(u, 1) for u in image_urls(d)])
        | "CountUses" >> beam.CombinePerKey(sum)
        | "TooCommon" >> beam.Filter(lambda kv, n=max_docs: kv[1] > n)
        | "CommonUrls" >> beam.Keys()
        | "AsSet" >> beam.combiners.ToSet()
    )


def _excluded_json(doc_and_reason) -> str:
    doc, reason = doc_and_reason
    row = obelics_row(doc)
    row["images"] = [image["path"] if image else None for image in row["images"]]
    return json.dumps({"reason": reason} | row, ensure_ascii=False)


def _judged(docs, stage: str, judge):
    """Apply a document filter as a counted stage; the dropped documents, as JSON, go aside.

    Returns (kept documents, rejects, excluded documents as JSON lines).
    """
    label = "".join(part.title() for part in stage.split("_"))
    verdicts = docs | f"Judge{label}" >> beam.Map(lambda d: (d, judge(d)))
    kept, rejects = verdicts | label >> Stage(
        stage,
        lambda dv: dv[0] if dv[1] is None else Reject(dv[0].page.url, dv[1]),
        id_of=lambda dv: dv[0].page.url,
    )
    excluded = (
        verdicts
        | f"Excluded{label}" >> beam.Filter(lambda dv: dv[1] is not None)
        | f"ExcludedJson{label}" >> beam.Map(_excluded_json)
    )
    return kept, rejects, excluded


def _keep_first_by(item):
    """(key, docs) -> the newest document, and a reject for every other one."""
    _, docs = item
    first, *others = sorted(docs, key=lambda d: newest_first(d.page))
    yield first
    for doc in others:
        yield Reject(doc.page.url, "duplicate_image_set", f"same images as {first.page.url}")


def _near_duplicates(docs):
    """URLs of documents whose text shares a MinHash band with a newer document."""
    return (
        docs
        | "Bands"
        >> beam.FlatMap(
            lambda d: [
                (band, (newest_first(d.page), d.page.url))
                for band in minhash_bands(document_text(d))
            ]
        )
        | "GroupBands" >> beam.GroupByKey()
        | "Losers" >> beam.FlatMap(lambda kv: [url for _, url in sorted(kv[1])[1:]])
        | "DistinctLosers" >> beam.Distinct()
    )


def _near_dedup(item):
    url, grouped = item
    (doc,) = grouped["doc"]
    if list(grouped["duplicate"]):
        return Reject(url, "near_duplicate", "text shares a MinHash band with a newer document")
    return doc


def _sample(doc) -> Sample:
    row = obelics_row(doc)
    members = {
        "json": json.dumps(
            {k: row[k] for k in ("texts", "metadata", "general_metadata")}
            | {"images": [i["path"] if i else None for i in row["images"]]},
            ensure_ascii=False,
        ).encode()
    }
    for position, image in enumerate(row["images"]):
        if image and image["bytes"]:
            fmt = doc.images[image["path"]].format
            ext = {"jpeg": "jpg"}.get(fmt, fmt)
            members[f"{position:03d}.{ext}"] = image["bytes"]
    return Sample(text_key(doc.page.url), members)


def run(argv=None, save_main_session=True) -> dict:
    args, beam_args = parse_args(argv)
    patterns = check_patterns(args.input)
    config = load_config(args.config)
    mode = args.images
    resume = resume_options(args)

    def build(p):
        records, r_read = (
            p
            | "MatchWarcs" >> MatchPaths(patterns)
            | "ReadWarc"
            >> Stage("read_warc", read_warc, fanout=True, id_of=str, stats=_record_stats)
        )
        pages = records | "Pages" >> beam.Filter(lambda r: isinstance(r, WebPage))
        image_records = records | "ImageRecords" >> beam.Filter(
            lambda r: isinstance(r, ImageRecord)
        )
        unique, r_url = (
            pages
            | "ByUrl" >> beam.Map(lambda page: (url_key(page.url), page))
            | "GroupUrl" >> beam.GroupByKey()
            | "UrlDedup" >> Stage("url_dedup", _url_dedup, fanout=True, id_of=lambda kv: kv[0])
        )
        docs, r_extract = unique | "Extract" >> Stage(
            "extract",
            _extract,
            id_of=lambda page: page.url,
            checkpoint=resume.checkpoint("extract"),
        )
        docs, r_gate, excluded_pages = _judged(docs, "page_gate", lambda d: page_verdict(d, config))
        if mode == "warc":
            docs = _resolve_from_warc(docs, image_records)
        elif mode == "http":
            docs = docs | "FetchImages" >> beam.ParDo(_FetchImages(args.allow_loopback))
        filtered_with_counts, _ = docs | "FilterNodes" >> Stage(
            "filter_nodes",
            lambda d: apply_node_filters(d, config, mode),
            id_of=lambda d: d.page.url,
            stats=_node_stats,
        )
        filtered = filtered_with_counts | "DropCounts" >> beam.Map(lambda result: result[0])
        common = _common_images(filtered, args.max_docs_per_image)
        trimmed = filtered | "DropCommonImages" >> beam.Map(
            lambda d, banned: without_images(d, banned)[0], banned=beam.pvalue.AsSingleton(common)
        )
        kept, r_filter, excluded_docs = _judged(
            trimmed, "filter_documents", lambda d: document_verdict(d, config)
        )
        _ = (
            (excluded_pages, excluded_docs)
            | "AllExcluded" >> beam.Flatten()
            | "WriteExcluded"
            >> beam.io.WriteToText(
                join(args.output, "excluded", "excluded"), file_name_suffix=".jsonl"
            )
        )
        unique_sets, r_sets = (
            kept
            | "BySet" >> beam.Map(lambda d: (image_set_key(d) or d.page.url, d))
            | "GroupSet" >> beam.GroupByKey()
            | "ImageSetDedup"
            >> Stage("image_set_dedup", _keep_first_by, fanout=True, id_of=lambda kv: kv[0])
        )
        final, r_near = (
            {
                "doc": unique_sets | "KeyFinal" >> beam.Map(lambda d: (d.page.url, d)),
                "duplicate": _near_duplicates(unique_sets) | "Flag" >> beam.Map(lambda u: (u, 1)),
            }
            | "JoinNear" >> beam.CoGroupByKey()
            | "NearDedup" >> Stage("near_dedup", _near_dedup, id_of=lambda kv: kv[0])
        )
        _ = (
            final
            | "Rows" >> beam.Map(obelics_row)
            | "WriteRows" >> WriteParquet(join(args.output, "data", "obelics"), SCHEMA)
        )
        r_shards = (
            final
            | "Samples" >> beam.Map(_sample)
            | "WriteShards"
            >> WriteShards(
                join(args.output, "shards"),
                args.shard_prefix,
                args.shard_max_samples,
                args.shard_max_bytes,
            )
        )
        _ = (
            (r_read, r_url, r_extract, r_gate, r_filter, r_sets, r_near, r_shards)
            | "AllRejects" >> beam.Flatten()
            | "WriteRejects" >> WriteRejects(args.output)
        )

    return run_job(
        "web_docs",
        argv,
        pipeline_options(beam_args, save_main_session),
        build,
        args.output,
        links=[
            ("read_warc/page_records", "url_dedup"),
            ("url_dedup", "extract"),
            ("extract", "page_gate"),
            ("page_gate", "filter_nodes"),
            ("filter_nodes", "filter_documents"),
            ("filter_documents", "image_set_dedup"),
            ("image_set_dedup", "near_dedup"),
            ("near_dedup", "shards"),
        ],
        outputs={
            "data": join(args.output, "data"),
            "shards": join(args.output, "shards"),
            "excluded": join(args.output, "excluded"),
        },
        extra={"images": mode},
        resume=resume,
        stale=["data/*", "shards/*", "excluded/*"],
    )


if __name__ == "__main__":
    cli_main(run)
