"""PDFs and page images -> page transcriptions in the PDFA layout (text layer, else Tesseract;
optionally a vision-language model).

    python -m pipelines.pdf_transcribe --input 'DIR/**/*.pdf' --output OUT [--dpi 200]
        [--ocr auto|always|never] [--layout model|fast] [--lang eng] [--max-pages N]
        [--render-pages] [--accept-truncated]
        [--transcriber classic|vlm --llm openai|vllm|beam-vllm --model M [--base-url URL]
         [--vlm-pages all|ocr] [--concurrency N] ...] [beam options]

With `--transcriber vlm` the pages `--vlm-pages` selects (all, or only those the
classic path would OCR) are transcribed by a vision-language model (olmOCR-class,
served by vLLM); its Markdown is kept and its words get the boxes of the classic
read they align to; a page whose answer fails a check keeps the classic read.

Inputs named *.warc(.gz) are read as WARC files: their PDF responses are
transcribed (with the record's URL and offsets in the transcript's meta).

Writes OUT/shards/*.tar + _info.json (per input: `<key>.pdf` or the page image,
`<key>.json` = {pages: [...]} in the PDFA layout, and with --render-pages the
page images `<key>.NNNN.png`), OUT/pages/pages-*.parquet (a row per page),
OUT/rejects-*.jsonl, OUT/manifest.json and OUT/report.md.
"""

import re

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from corpusio.accounting import Reject
from corpusio.names import printable
from pipelines.beam_vllm import make_backend
from pipelines.files import join
from pipelines.job import cli_main, run_job
from pipelines.options import (
    file_pipeline_parser,
    is_local,
    parse_pipeline_args,
    pipeline_options,
)
from pipelines.outputs import shard_files, table_files
from pipelines.records import StoredTranscript, WarcRange
from pipelines.resume import resume_options
from pipelines.sinks import (
    WriteParquet,
    WriteRejects,
    WriteShards,
    row_entry,
    shard_entry,
)
from pipelines.sources import ReadFiles, check_patterns, with_bytes
from pipelines.stage import Stage
from pipelines.warcs import SplitWarcs, is_warc
from transcription.layout import LAYOUTS
from transcription.ocr import check_tesseract
from transcription.pdfa import PAGE_SCHEMA
from transcription.transcribe import OCR_MODES, TranscribeOptions, Transcript, transcribe
from transcription.vlm import VLM_PAGES, VlmOptions, VlmSettings, transcriber_for
from transcription.vlm_requests import TEMPERATURES
from transcription.warc_pdfs import WarcPdf, read_pdf_records

TRANSCRIBERS = ("classic", "vlm")
VLM_LLMS = ("openai", "vllm", "beam-vllm")
_SETTINGS, _OPTIONS = VlmSettings(llm="openai", model=""), VlmOptions()
VLM_FLAGS = {  # flag: default, refused without --transcriber vlm when changed
    "llm": _SETTINGS.llm,
    "model": None,
    "base_url": None,
    "api_key": _SETTINGS.api_key,
    "concurrency": _SETTINGS.concurrency,
    "llm_timeout": _SETTINGS.timeout_s,
    "vlm_pages": _OPTIONS.pages,
    "vlm_longest_side": _OPTIONS.longest_side,
    "vlm_max_tokens": _OPTIONS.max_tokens,
    "vlm_attempts": _OPTIONS.attempts,
}


def store_transcript(transcript: Transcript, put) -> StoredTranscript:
    rows = [row_entry(row, put) for row in transcript.page_rows()]
    return StoredTranscript(shard_entry(transcript.sample(), put), rows, transcript.stats())


def parse_args(argv):
    defaults = TranscribeOptions()
    parser = file_pipeline_parser("pipelines.pdf_transcribe", __doc__, "PDF or page-image", "pdfa")
    parser.add_argument("--dpi", type=int, default=defaults.dpi, help="OCR render resolution")
    parser.add_argument(
        "--ocr",
        choices=OCR_MODES,
        default=defaults.ocr,
        help="auto: OCR pages whose text layer is missing or garbage",
    )
    parser.add_argument("--lang", default=defaults.lang, help="Tesseract languages, e.g. eng+fra")
    parser.add_argument(
        "--max-pages", type=int, default=defaults.max_pages, help="reject documents with more pages"
    )
    parser.add_argument(
        "--max-page-pixels",
        type=int,
        default=defaults.max_page_pixels,
        help="reject documents with a page image larger than this",
    )
    parser.add_argument(
        "--ocr-timeout",
        type=float,
        default=defaults.ocr_timeout_s,
        help="seconds Tesseract may spend on one page",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=defaults.layout,
        help="model: PyMuPDF's layout engine (blocks, tables, headers and footers); "
        "fast: our own heuristics, about 30 times faster",
    )
    parser.add_argument(
        "--render-pages",
        action="store_true",
        help="add page images as Docmatix stored them (150 dpi PNG)",
    )
    parser.add_argument(
        "--accept-truncated",
        action="store_true",
        help="transcribe what survives of PDFs a crawl cut short (WARC-Truncated), "
        "marked in their meta, instead of rejecting them",
    )
    vlm = parser.add_argument_group("VLM transcription (--transcriber vlm)")
    vlm.add_argument(
        "--transcriber",
        choices=TRANSCRIBERS,
        default="classic",
        help="classic: text layer, else Tesseract; vlm: a vision-language model on the pages "
        "--vlm-pages selects, the classic read as fallback and for word boxes",
    )
    vlm.add_argument("--llm", choices=VLM_LLMS, default=VLM_FLAGS["llm"], help="model backend")
    vlm.add_argument("--model", help="served model name, e.g. allenai/olmOCR-2-7B-1025-FP8")
    vlm.add_argument("--base-url", help="OpenAI-compatible server root, e.g. http://host:8000/v1")
    vlm.add_argument("--api-key", default=VLM_FLAGS["api_key"])
    vlm.add_argument(
        "--concurrency",
        type=int,
        default=VLM_FLAGS["concurrency"],
        help="requests in flight per worker process",
    )
    vlm.add_argument(
        "--llm-timeout", type=float, default=VLM_FLAGS["llm_timeout"], help="seconds per request"
    )
    vlm.add_argument(
        "--vlm-pages",
        choices=VLM_PAGES,
        default=VLM_FLAGS["vlm_pages"],
        help="all pages, or only those the classic path would OCR",
    )
    vlm.add_argument(
        "--vlm-longest-side",
        type=int,
        default=VLM_FLAGS["vlm_longest_side"],
        help="pixels of the page image's longest side",
    )
    vlm.add_argument("--vlm-max-tokens", type=int, default=VLM_FLAGS["vlm_max_tokens"])
    vlm.add_argument(
        "--vlm-attempts",
        type=int,
        default=VLM_FLAGS["vlm_attempts"],
        help=f"tries at a page whose answer does not finish (1-{len(TEMPERATURES)}), "
        "each at a higher temperature",
    )
    args, beam_args = parse_pipeline_args(parser, argv)
    check_vlm_flags(parser, args)
    return args, beam_args


def check_vlm_flags(parser, args) -> None:
    """Refuse, before any work, VLM flags without --transcriber vlm, or a backend left
    without what it needs."""
    if args.transcriber != "vlm":
        changed = [f for f, default in VLM_FLAGS.items() if getattr(args, f) != default]
        if changed:
            flags = ", ".join("--" + f.replace("_", "-") for f in changed)
            parser.error(f"{flags} only apply with --transcriber vlm")
        return
    if not args.model:
        parser.error("--transcriber vlm needs --model")
    if args.llm == "openai" and not args.base_url:
        parser.error("--llm openai needs --base-url (the server's /v1 root)")
    if args.llm != "openai" and args.base_url:
        parser.error(f"--base-url does not apply to --llm {args.llm}")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    try:
        vlm_settings(args)
    except ValueError as exc:
        parser.error(str(exc))


def vlm_settings(args) -> VlmSettings | None:
    if args.transcriber != "vlm":
        return None
    return VlmSettings(
        llm=args.llm,
        model=args.model,
        base_url=args.base_url,
        api_key=args.api_key,
        concurrency=args.concurrency,
        timeout_s=args.llm_timeout,
        options=VlmOptions(
            pages=args.vlm_pages,
            longest_side=args.vlm_longest_side,
            max_tokens=args.vlm_max_tokens,
            attempts=args.vlm_attempts,
        ),
    )


def read_warc_pdfs(warc_range: WarcRange, max_bytes: int, accept_truncated: bool):
    """The PDF responses of one range of a WARC file."""
    if warc_range.problem is not None:
        yield Reject(warc_range.path, warc_range.problem, "found while matching the inputs")
        return
    with FileSystems.open(warc_range.path, compression_type="uncompressed") as f:
        yield from read_pdf_records(
            f,
            printable(warc_range.path),
            warc_range.start,
            warc_range.end,
            max_bytes,
            accept_truncated,
        )


def _warc_stats(unit) -> dict:
    if isinstance(unit, WarcPdf):
        return {"pdf_records": 1}
    kind = re.sub(r"[^a-z0-9]+", "_", unit.kind.lower()).strip("_") or "unknown"
    return {"skipped_records": 1, f"skipped_{kind}": 1}


def run(argv=None, save_main_session=True) -> dict:
    args, beam_args = parse_args(argv)
    patterns = check_patterns(args.input)
    if args.ocr != "never" and is_local(beam_args):
        check_tesseract(args.lang)  # a missing Tesseract stops the run here, not per page
    options = TranscribeOptions(
        dpi=args.dpi,
        ocr=args.ocr,
        lang=args.lang,
        max_pages=args.max_pages,
        max_page_pixels=args.max_page_pixels,
        ocr_timeout_s=args.ocr_timeout,
        render_pages=args.render_pages,
        layout=args.layout,
        accept_truncated=args.accept_truncated,
    )
    vlm = vlm_settings(args)
    resume = resume_options(args)
    shards_dir = join(args.output, "shards")
    pages_prefix = join(args.output, "pages", "pages")

    def build(p):
        files, read_rejects = p | "ReadFiles" >> ReadFiles(
            patterns, args.max_file_bytes, stats=lambda f: {"warc_files": is_warc(f.path)}
        )
        checkpoint = resume.checkpoint("transcribe", options, *([vlm] if vlm else []))
        plain = files | "NotWarc" >> beam.Filter(lambda f: not is_warc(f.path))
        from_files, transcribe_rejects = plain | "Transcribe" >> Stage(
            "transcribe",
            with_bytes(
                lambda path, data: transcribe(
                    path, data, options, vlm=transcriber_for(vlm, make_backend)
                )
            ),
            id_of=lambda f: f.path,
            stats=lambda t: t.stats,
            checkpoint=checkpoint,
            store=store_transcript,
        )
        # PDF responses of WARC files: ranges of records spread over the workers, each PDF
        # transcribed where it is read (a stage of the same name: the counts add up)
        units, warc_rejects = (
            files
            | "Warcs" >> beam.Filter(lambda f: is_warc(f.path))
            | "SplitWarcs" >> SplitWarcs()
            | "ReadWarc"
            >> Stage(
                "read_warc",
                lambda r: read_warc_pdfs(r, args.max_file_bytes, args.accept_truncated),
                fanout=True,
                id_of=lambda r: r.id,
                stats=_warc_stats,
            )
        )
        from_warcs, warc_transcribe_rejects = (
            units
            | "WarcPdfs" >> beam.Filter(lambda u: isinstance(u, WarcPdf))
            | "TranscribeWarcPdfs"
            >> Stage(
                "transcribe",
                lambda pdf: transcribe(
                    pdf.id,
                    pdf.data,
                    options,
                    meta=pdf.meta(),
                    vlm=transcriber_for(vlm, make_backend),
                ),
                id_of=lambda pdf: pdf.id,
                stats=lambda t: t.stats,
                checkpoint=checkpoint,
                store=store_transcript,
            )
        )
        transcripts = (from_files, from_warcs) | "AllTranscripts" >> beam.Flatten()
        shard_rejects = (
            transcripts
            | "ShardEntries" >> beam.Map(lambda t: t.shard)
            | "WriteShards"
            >> WriteShards(
                shards_dir,
                args.shard_prefix,
                args.shard_max_samples,
                args.shard_max_bytes,
                stored=True,
            )
        )
        _ = (
            transcripts
            | "PageRows" >> beam.FlatMap(lambda t: t.rows)
            | "WritePages" >> WriteParquet(pages_prefix, PAGE_SCHEMA, stored=True)
        )
        _ = (
            (read_rejects, transcribe_rejects, warc_rejects, warc_transcribe_rejects, shard_rejects)
            | "AllRejects" >> beam.Flatten()
            | "WriteRejects" >> WriteRejects(args.output)
        )

    return run_job(
        "pdf_transcribe",
        argv,
        pipeline_options(beam_args, save_main_session),
        build,
        args.output,
        links=[
            ("read-read/warc_files+read_warc/pdf_records", "transcribe"),
            ("transcribe", "shards"),
        ],
        outputs={
            "shards": shards_dir,
            "pages": pages_prefix + "-*.parquet",
            "rejects": join(args.output, "rejects-*.jsonl"),
        },
        resume=resume,
        owned=[*shard_files("shards", args.shard_prefix), *table_files("pages/pages")],
    )


if __name__ == "__main__":
    cli_main(run)
