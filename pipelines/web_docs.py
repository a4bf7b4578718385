"""Common Crawl WARC -> OBELICS-style interleaved web documents, filtered and deduplicated.

    python -m pipelines.web_docs --input 'DIR/*.warc.gz' --output OUT
        [--images warc|http|none] [--config FILTERS.yaml] [beam options]

Writes OUT/data/obelics-*.parquet (texts, images, metadata, general_metadata),
OUT/shards/*.tar (a document = json + its images), OUT/excluded/*.jsonl (the
documents the filters dropped, with the reason, one file set per filter
stage), OUT/rejects-*.jsonl,
OUT/manifest.json and OUT/report.md.

How it runs: each WARC file is split into ranges of records (one quick pass
over its record offsets) so that several workers read it. A range is read,
its pages extracted and judged by the language gate and its images
validated in one step: HTML and image bytes never leave the worker that read
them. Documents and images are written once to part files under OUT/_work and
travel on as small WebDocRef records; the global steps (URL dedup, the image
join, common images, image-set and MinHash dedup) group those records only,
and a step that needs a document reads it back.
"""

import json
from dataclasses import replace

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from corpusio.accounting import Reject
from corpusio.images import ImageData
from corpusio.keys import text_key
from corpusio.names import printable
from corpusio.shards import Sample
from obelics_filter.config import load_config
from obelics_filter.dedup import (
    document_text,
    image_set_key,
    minhash_bands,
    newest_first,
    recency_key,
    url_key,
)
from obelics_filter.documents import (
    CheckedImage,
    ExtractedPage,
    apply_node_filters,
    check_image_record,
    document_verdict,
    extract_page,
    image_urls,
    without_images,
)
from obelics_filter.records import WebDocument, WebPage
from obelics_filter.schema import SCHEMA, obelics_row
from obelics_filter.warc import ImageRecord, SkippedRecord, read_range
from pipelines.files import join
from pipelines.job import cli_main, run_job
from pipelines.options import parse_pipeline_args, pipeline_options, pipeline_parser
from pipelines.outputs import jsonl_files, shard_files, table_files
from pipelines.parts import PartWriter, load
from pipelines.records import ImageUnit, PageUnit, StoredImage, WarcRange, WebDocRef
from pipelines.resume import resume_options
from pipelines.sinks import StoreEach, WriteParquet, WriteRejects, WriteShards
from pipelines.sources import MatchFiles, check_patterns
from pipelines.stage import Stage
from pipelines.warcs import RANGE_BYTES, SplitWarcs

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
    return parse_pipeline_args(parser, argv)


# --- reading: ranges of records, extracted where they are read ------------------------


def read_warc_range(warc_range: WarcRange, config):
    """Each record of a range: an extracted page, a checked image, a skipped record, a reject."""
    if warc_range.problem is not None:
        yield Reject(warc_range.path, warc_range.problem, "found while matching the inputs")
        return
    name = printable(warc_range.path)  # as recorded in the documents' metadata
    with FileSystems.open(warc_range.path, compression_type="uncompressed") as f:
        for record in read_range(f, name, warc_range.start, warc_range.end):
            if isinstance(record, WebPage):
                yield extract_page(record, config)
            elif isinstance(record, ImageRecord):
                yield check_image_record(record.url, record.data)
            else:
                yield record


def _doc_ref(doc: WebDocument, put, **fields) -> WebDocRef:
    page = doc.page
    return WebDocRef(
        url=page.url,
        warc_date=page.warc_date,
        warc_filename=page.warc_filename,
        warc_record_offset=page.warc_record_offset,
        doc=put(doc),
        image_urls=tuple(image_urls(doc)),
        **fields,
    )


def _stored_image(image: ImageData, put) -> StoredImage:
    return StoredImage(image.width, image.height, image.format, put(image.data))


def _image_data(url: str, image: StoredImage, data: bytes = b"") -> ImageData:
    return ImageData(url, data, image.width, image.height, image.format)


def store_unit(unit, put):
    """A record of a range with its document or image bytes stored: what leaves the reader."""
    if isinstance(unit, ExtractedPage):
        page = unit.page
        result = unit.result
        if isinstance(result, WebDocument):
            result = _doc_ref(result, put, gate=unit.gate)
        return PageUnit(
            page.url,
            url_key(page.url),
            page.warc_date,
            page.warc_filename,
            page.warc_record_offset,
            result,
        )
    if isinstance(unit, CheckedImage):
        value = unit.value
        stored = _stored_image(value, put) if isinstance(value, ImageData) else value
        return ImageUnit(unit.url, unit.digest, stored)
    return unit


def _kind(unit) -> str:
    if isinstance(unit, PageUnit):
        return "page"
    if isinstance(unit, ImageUnit):
        return "image"
    return "skipped"


def _record_stats(unit) -> dict:
    return {f"{_kind(unit)}_records": 1} | (
        {f"skipped_{unit.record_type}": 1} if isinstance(unit, SkippedRecord) else {}
    )


def _url_dedup(item):
    """(url key, pages) -> the newest capture, and a reject for every older one."""
    _, pages = item
    newest, *older = sorted(pages, key=newest_first)
    yield newest
    for page in older:
        yield Reject(
            f"{page.url}@{page.warc_record_offset}",
            "duplicate_url",
            f"a newer capture of {page.url} is kept ({newest.warc_date})",
        )


# --- judging documents: verdicts on small records, documents read back when needed ------------


def _excluded_json(doc: WebDocument, reason: str) -> str:
    row = obelics_row(doc)
    row["images"] = [image["path"] if image else None for image in row["images"]]
    return json.dumps({"reason": reason} | row, ensure_ascii=False)


def _judged(refs, stage: str, judge, spill: str):
    """Apply a document filter as a counted stage; the dropped documents, as JSON, go aside.

    Returns (kept refs, rejects, excluded documents as JSON lines).
    """
    label = "".join(part.title() for part in stage.split("_"))
    # judge(ref, put) -> (ref, verdict or None, excluded JSON line or None)
    verdicts = refs | f"Judge{label}" >> beam.ParDo(StoreEach(spill, judge))
    kept, rejects = verdicts | label >> Stage(
        stage,
        lambda v: v[0] if v[1] is None else Reject(v[0].url, v[1]),
        id_of=lambda v: v[0].url,
    )
    excluded = (
        verdicts
        | f"Excluded{label}" >> beam.Filter(lambda v: v[2] is not None)
        | f"ExcludedJson{label}" >> beam.Map(lambda v: v[2])
    )
    return kept, rejects, excluded


def judge_page(ref: WebDocRef, put):
    """The language gate's verdict, computed when the page was read."""
    if ref.gate is None:
        return ref, None, None
    return ref, ref.gate, _excluded_json(load(ref.doc), ref.gate)


def _resolved_images(ref: WebDocRef) -> dict[str, ImageData]:
    return {u: _image_data(u, v) for u, v in ref.images.items() if isinstance(v, StoredImage)}


def filter_document_nodes(ref: WebDocRef, config, mode: str):
    doc = replace(load(ref.doc), images=_resolved_images(ref))
    filtered, counts = apply_node_filters(doc, config, mode)
    return ref, filtered, counts


def store_filtered(result, put):
    ref, doc, counts = result
    kept = set(image_urls(doc))
    images = {u: v for u, v in ref.images.items() if u in kept}
    return replace(ref, doc=put(doc), image_urls=tuple(sorted(kept)), images=images), counts


def _node_stats(result) -> dict:
    _, counts = result
    return {f"node_dropped_{reason}": n for reason, n in counts.items()}


def judge_document(ref: WebDocRef, put, config):
    """Drop the images too many documents use, then the document-level filters."""
    doc = load(ref.doc)
    doc, _ = without_images(doc, set(image_urls(doc)) - set(ref.image_urls))
    verdict = document_verdict(doc, config)
    if verdict is not None:
        return ref, verdict, _excluded_json(doc, verdict)
    kept = replace(
        ref,
        doc=put(doc),
        images={u: v for u, v in ref.images.items() if u in set(ref.image_urls)},
        image_set=image_set_key(doc),
        bands=tuple(minhash_bands(document_text(doc))),
    )
    return kept, None, None


# --- images -----------------------------------------------------------------------------


class _FetchImages(beam.DoFn):
    """Fetch each document's images over HTTP with one fetcher per worker (rate limits, robots)."""

    def __init__(self, allow_loopback: bool, spill: str):
        self._allow_loopback = allow_loopback
        self._spill = spill
        self._fetcher = None
        self._writer = None

    def setup(self):
        from obelics_filter.fetch import ImageFetcher

        self._fetcher = ImageFetcher(allow_loopback=self._allow_loopback)

    def start_bundle(self):
        self._writer = PartWriter(self._spill)

    def process(self, ref: WebDocRef):
        results = self._fetcher.fetch_many(list(ref.image_urls))
        images = {
            url: _stored_image(r, self._writer.put) if isinstance(r, ImageData) else r.reason
            for url, r in results.items()
        }
        yield replace(ref, images=images)

    def finish_bundle(self):
        self._writer.close()


def _resolve_from_warc(docs, image_units):
    """Join documents with the image records of the inputs by URL (small records only)."""
    refs = docs | "ImageRefs" >> beam.FlatMap(lambda d: [(u, d.url) for u in d.image_urls])
    records = image_units | "KeyImages" >> beam.Map(lambda i: (i.url, i))
    resolved = (
        {"refs": refs, "records": records}
        | "JoinImages" >> beam.CoGroupByKey()
        | "Resolve" >> beam.FlatMap(_resolve_refs)
    )
    return (
        {"doc": docs | "KeyDocs" >> beam.Map(lambda d: (d.url, d)), "images": resolved}
        | "JoinDocImages" >> beam.CoGroupByKey()
        | "Attach"
        >> beam.Map(lambda item: replace(list(item[1]["doc"])[0], images=dict(item[1]["images"])))
    )


def _resolve_refs(item):
    url, grouped = item
    records = sorted(grouped["records"], key=lambda r: r.digest)
    value = records[-1].value if records else "image_not_in_warc"
    for doc_url in set(grouped["refs"]):
        yield doc_url, (url, value)


def _common_images(docs, max_docs: int):
    return (
        docs
        | "ImageUses" >> beam.FlatMap(lambda d: [(u, 1) for u in d.image_urls])
        | "CountUses" >> beam.CombinePerKey(sum)
        | "TooCommon" >> beam.Filter(lambda kv, n=max_docs: kv[1] > n)
        | "CommonUrls" >> beam.Keys()
        | "AsSet" >> beam.combiners.ToSet()
    )


# --- dedup and output -------------------------------------------------------------------


def _keep_first_by(item):
    """(key, docs) -> the newest document, and a reject for every other one."""
    _, docs = item
    first, *others = sorted(docs, key=newest_first)
    yield first
    for doc in others:
        yield Reject(doc.url, "duplicate_image_set", f"same images as {first.url}")


def _near_duplicates(docs):
    """URLs of documents whose text shares a MinHash band with a newer document."""
    return (
        docs
        | "Bands" >> beam.FlatMap(lambda d: [(band, (recency_key(d), d.url)) for band in d.bands])
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


def materialize(ref: WebDocRef) -> WebDocument:
    """The final document read back, with the bytes of its images."""
    doc = load(ref.doc)
    images = {
        url: _image_data(url, value, load(value.stored))
        for url, value in ref.images.items()
        if isinstance(value, StoredImage)
    }
    return replace(doc, images=images)


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
    spill = resume.spill("documents")

    def build(p):
        units, r_read = (
            p
            | "MatchWarcs" >> MatchFiles(patterns)
            | "SplitWarcs" >> SplitWarcs()
            | "ReadWarc"
            >> Stage(
                "read_warc",
                lambda r: read_warc_range(r, config),
                fanout=True,
                id_of=lambda r: r.id,
                stats=_record_stats,
                checkpoint=resume.checkpoint("read_warc", config, RANGE_BYTES),
                store=store_unit,
            )
        )
        pages = units | "Pages" >> beam.Filter(lambda u: isinstance(u, PageUnit))
        image_units = units | "ImageUnits" >> beam.Filter(lambda u: isinstance(u, ImageUnit))
        unique, r_url = (
            pages
            | "ByUrl" >> beam.Map(lambda u: (u.url_key, u))
            | "GroupUrl" >> beam.GroupByKey()
            | "UrlDedup" >> Stage("url_dedup", _url_dedup, fanout=True, id_of=lambda kv: kv[0])
        )
        docs, r_extract = unique | "Extract" >> Stage(
            "extract", lambda u: u.result, id_of=lambda u: u.url
        )
        docs, r_gate, excluded_pages = _judged(docs, "page_gate", judge_page, spill)
        if mode == "warc":
            docs = _resolve_from_warc(docs, image_units)
        elif mode == "http":
            docs = docs | "FetchImages" >> beam.ParDo(_FetchImages(args.allow_loopback, spill))
        filtered_with_counts, _ = docs | "FilterNodes" >> Stage(
            "filter_nodes",
            lambda d: filter_document_nodes(d, config, mode),
            id_of=lambda d: d.url,
            stats=_node_stats,
            store=store_filtered,
            spill=spill,
        )
        filtered = filtered_with_counts | "DropCounts" >> beam.Map(lambda result: result[0])
        common = _common_images(filtered, args.max_docs_per_image)
        trimmed = filtered | "DropCommonImages" >> beam.Map(
            lambda d, banned: replace(
                d, image_urls=tuple(u for u in d.image_urls if u not in banned)
            ),
            banned=beam.pvalue.AsSingleton(common),
        )
        kept, r_filter, excluded_docs = _judged(
            trimmed,
            "filter_documents",
            lambda ref, put: judge_document(ref, put, config),
            spill,
        )
        for stage, excluded in (("page_gate", excluded_pages), ("filter_documents", excluded_docs)):
            # One sink each: a Flatten would make the local runner hold these lines in memory.
            _ = excluded | f"WriteExcluded{stage}" >> beam.io.WriteToText(
                join(args.output, "excluded", stage), file_name_suffix=".jsonl"
            )
        unique_sets, r_sets = (
            kept
            | "BySet" >> beam.Map(lambda d: (d.image_set or d.url, d))
            | "GroupSet" >> beam.GroupByKey()
            | "ImageSetDedup"
            >> Stage("image_set_dedup", _keep_first_by, fanout=True, id_of=lambda kv: kv[0])
        )
        final, r_near = (
            {
                "doc": unique_sets | "KeyFinal" >> beam.Map(lambda d: (d.url, d)),
                "duplicate": _near_duplicates(unique_sets) | "Flag" >> beam.Map(lambda u: (u, 1)),
            }
            | "JoinNear" >> beam.CoGroupByKey()
            | "NearDedup" >> Stage("near_dedup", _near_dedup, id_of=lambda kv: kv[0])
        )
        documents = final | "ReadBack" >> beam.Map(materialize)
        _ = (
            documents
            | "Rows" >> beam.Map(obelics_row)
            | "WriteRows"
            >> WriteParquet(
                join(args.output, "data", "obelics"), SCHEMA, spill=resume.spill("rows")
            )
        )
        r_shards = (
            documents
            | "Samples" >> beam.Map(_sample)
            | "WriteShards"
            >> WriteShards(
                join(args.output, "shards"),
                args.shard_prefix,
                args.shard_max_samples,
                args.shard_max_bytes,
                spill=resume.spill("shards"),
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
        owned=[
            *table_files("data/obelics"),
            *shard_files("shards", args.shard_prefix),
            *jsonl_files("excluded/page_gate"),
            *jsonl_files("excluded/filter_documents"),
        ],
    )


if __name__ == "__main__":
    cli_main(run)
