"""PDFA-layout shards -> Docmatix-style document QA (offline, OpenAI-compatible, vLLM, Beam vLLM).

    python -m pipelines.docmatix_qa --input 'TRANSCRIPTS/shards/*.tar' --output OUT
        [--llm offline|openai|vllm|beam-vllm] [--model ID] [--base-url URL]
        [--concurrency N] [--max-pages 4] [--seed S] [--filter docmatix|strict]
        [--zero-shot-split N] [beam options]

Writes OUT/data/train-*.parquet (and test-* with --zero-shot-split): `images`
+ `texts` as in HuggingFaceM4/Docmatix; OUT/pdf/train-*.parquet (pdf bytes +
texts); OUT/shards/*.tar for the loader; OUT/checkpoint/ (finished chunks, so
a rerun resumes); OUT/rejects-*.jsonl, OUT/manifest.json, OUT/report.md.
"""

import uuid

import apache_beam as beam
from apache_beam.io import fileio

from corpusio.accounting import Reject
from docmatix.checkpoint import completion_line, read_completion_line
from docmatix.pdfa_reader import PAGE_TEXTS, read_sample
from docmatix.qa_assemble import (
    PARSERS,
    AssembledDoc,
    AssembleOptions,
    SelectedDoc,
    assemble,
    select_document,
)
from docmatix.qa_rows import IMAGES_SCHEMA, PDF_SCHEMA, split_rank
from llm.records import Completion
from pipelines.files import AtomicWriter, join
from pipelines.job import cli_main, run_job
from pipelines.options import parse_pipeline_args, pipeline_options, pipeline_parser
from pipelines.outputs import shard_files, table_files
from pipelines.parts import load
from pipelines.records import AssembledRef, SelectedRef
from pipelines.resume import resume_options
from pipelines.sinks import (
    WriteParquet,
    WriteRejects,
    WriteShards,
    row_entry,
    shard_entry,
)
from pipelines.sources import ReadShards, check_patterns
from pipelines.stage import Stage

LLM_KINDS = ("offline", "openai", "vllm", "beam-vllm")
SPLITS = ("train", "test")
CHECKPOINT_DIR = "checkpoint"


def parse_args(argv):
    parser = pipeline_parser(
        "pipelines.docmatix_qa", __doc__, "PDFA-layout WebDataset tar", "docmatix"
    )
    parser.add_argument(
        "--llm",
        choices=LLM_KINDS,
        default="offline",
        help="offline: no model, simple extractive QA (labelled as such)",
    )
    parser.add_argument("--model", default=None, help="model id (default: the backend's)")
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="tokenizer name or folder for token counts (default: --model)",
    )
    parser.add_argument(
        "--base-url",
        default="http://127.0.0.1:8000/v1",
        help="OpenAI-compatible server for --llm openai",
    )
    parser.add_argument("--api-key", default="EMPTY")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="requests in flight per worker (openai)"
    )
    parser.add_argument("--request-timeout", type=float, default=300.0, help="seconds")
    parser.add_argument("--max-attempts", type=int, default=5, help="tries per request")
    parser.add_argument("--max-new-tokens", type=int, default=2000)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument(
        "--batch-size", type=int, default=256, help="chunks handed to the backend at once"
    )
    parser.add_argument(
        "--page-text",
        choices=PAGE_TEXTS,
        default="markdown",
        help="markdown: each page's Markdown (tables, reading order, no running heads) when "
        "the transcription has it; lines: its lines joined, as the original did",
    )
    parser.add_argument("--max-pages", type=int, default=4, help="skip longer documents")
    parser.add_argument("--max-tokens", type=int, default=5000, help="token limit per chunk")
    parser.add_argument("--max-chunk-pages", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="seed of the prompt draw")
    parser.add_argument(
        "--filter",
        choices=("docmatix", "strict"),
        default="docmatix",
        help="docmatix: the original's nine patterns; strict: plus our checks",
    )
    parser.add_argument(
        "--parser",
        choices=PARSERS,
        default="robust",
        help="faithful: the original's regex parse, for exact reproduction",
    )
    parser.add_argument(
        "--zero-shot-split",
        type=int,
        default=0,
        metavar="N",
        help="put N documents in a test split (no document in both)",
    )
    return parse_pipeline_args(parser, argv)


DEFAULT_OPENAI_MODEL = "microsoft/Phi-3-small-8k-instruct"  # the model Docmatix used


def backend_options(args) -> dict:
    """Constructor options of the chosen backend (make_backend)."""
    if args.llm == "openai":
        options = dict(
            base_url=args.base_url,
            model=args.model or DEFAULT_OPENAI_MODEL,
            api_key=args.api_key,
            concurrency=args.concurrency,
            timeout=args.request_timeout,
            max_attempts=args.max_attempts,
            temperature=args.temperature,
        )
    elif args.llm == "vllm":
        options = dict(model=args.model, temperature=args.temperature)
    else:
        options = {}
    return {k: v for k, v in options.items() if v is not None}


class GenerateBatch:
    """A batch of requests through a backend made on first use in each worker process."""

    def __init__(self, kind: str, options: dict):
        self._kind = kind
        self._options = options
        self._backend = None

    def __getstate__(self):
        return {"_kind": self._kind, "_options": self._options, "_backend": None}

    def __call__(self, batch):
        if self._backend is None:
            self._backend = _make_backend(self._kind, self._options)
        for completion in self._backend.generate(batch):
            yield _failed_to_reject(completion)


def _make_backend(kind: str, options: dict):
    """The QA stage's backends: the shared LLM ones, or the model-free offline one."""
    if kind == "offline":
        from docmatix.offline_qa import OfflineBackend

        return OfflineBackend(**options)
    from llm import make_backend

    return make_backend(kind, **options)


def _failed_to_reject(completion: Completion):
    """A failed request ends as a reject with the backend's reason code."""
    if completion.error is None:
        return completion
    return Reject(completion.id, completion.error, completion.detail)


class _WriteCheckpoint(beam.DoFn):
    """Write each batch of finished completions as one checkpoint file, then pass them on."""

    def __init__(self, directory: str):
        self._directory = directory

    def process(self, batch):
        name = f"part-{uuid.uuid4().hex}.jsonl"
        with AtomicWriter(join(self._directory, name)) as out:
            out.write(("\n".join(completion_line(c) for c in batch) + "\n").encode())
        yield from batch


def _read_checkpoint_lines(readable):
    for line in readable.read_utf8().splitlines():
        completion = read_completion_line(line)
        if completion is not None:
            yield completion.id, completion


def store_selected(selected: SelectedDoc, put, options: AssembleOptions) -> SelectedRef:
    """The selected document and each chunk's request, stored; only references go on."""
    requests = tuple((r.id, put(r)) for r in selected.requests(options))
    doc = selected.doc
    return SelectedRef(doc.key, put(selected), requests, len(doc.page_texts), doc.source)


def first_of_key(item):
    """(key, documents) -> the one read first; a reject for every other document of that key.

    Shards from elsewhere may hold a key twice; two documents with one key would
    share chunk ids and rows, so only one goes on.
    """
    key, docs = item
    first, *others = sorted(docs, key=lambda d: d.source)
    yield first
    for doc in others:
        yield Reject(key, "duplicate_key", f"{doc.source}: {first.source} has this key too")


def store_assembled(assembled: AssembledDoc, put) -> AssembledRef:
    return AssembledRef(
        assembled.doc.key,
        row_entry(assembled.images_row(), put),
        tuple(row_entry(row, put) for row in assembled.pdf_rows()),
        shard_entry(assembled.sample(), put),
        assembled.stats,
    )


def _resume_or_generate(item):
    """(chunk id, {request, done}) -> ('done', completion) or ('todo', stored request).

    Checkpoint lines of chunks this run does not have were filtered out before.
    """
    _, grouped = item
    (request,) = grouped["request"]
    done = sorted(grouped["done"], key=lambda c: (c.text or "", c.source))
    return ("done", done[0]) if done else ("todo", request)


def _beam_vllm_completions(requests, model: str, max_new_tokens: int):
    """RunInference with Beam's vLLM chat handler (Dataflow GPU workers)."""
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
    from apache_beam.ml.inference.vllm_inference import OpenAIChatMessage, VLLMChatModelHandler

    handler = KeyedModelHandler(VLLMChatModelHandler(model_name=model))
    return (
        requests
        | "ToChat"
        >> beam.Map(
            lambda r: (r.id, [OpenAIChatMessage(m["role"], m["content"]) for m in r.messages])
        )
        | "RunInference" >> RunInference(handler, inference_args={"max_tokens": max_new_tokens})
        | "ToCompletion"
        >> beam.MapTuple(
            lambda chunk_id, result: Completion(
                chunk_id, result.inference.choices[0].message.content, f"beam-vllm:{model}"
            )
        )
    )


def run(argv=None, save_main_session=True) -> dict:
    args, beam_args = parse_args(argv)
    patterns = check_patterns(args.input)
    options = AssembleOptions(
        max_pages=args.max_pages,
        max_tokens=args.max_tokens,
        max_chunk_pages=args.max_chunk_pages,
        seed=args.seed,
        filter_mode=args.filter,
        parser=args.parser,
        tokenizer=args.tokenizer or args.model,
        max_new_tokens=args.max_new_tokens,
    )
    checkpoint_dir = join(args.output, CHECKPOINT_DIR)
    resume = resume_options(args)
    spill = resume.spill("documents")

    def build(p):
        samples, r_read = p | "ReadShards" >> ReadShards(patterns)
        docs, r_docs = samples | "ReadDocuments" >> Stage(
            "read_documents",
            lambda sample: read_sample(sample, args.page_text),
            id_of=lambda s: s.get("__key__", "?"),
        )
        selected, r_select = docs | "Select" >> Stage(
            "select",
            lambda d: select_document(d, options),
            id_of=lambda d: d.key,
            stats=lambda s: {"chunks": len(s.requests), "pages": s.pages},
            store=lambda s, put: store_selected(s, put, options),
            spill=spill,
        )
        selected, r_unique = (
            selected
            | "ByKey" >> beam.Map(lambda s: (s.key, s))
            | "GroupKeys" >> beam.GroupByKey()
            | "UniqueKeys"
            >> Stage(
                "unique_keys",
                first_of_key,
                fanout=True,
                id_of=lambda item: item[0],
                stats=lambda s: {"chunks": len(s.requests), "pages": s.pages},
            )
        )
        requests = selected | "Requests" >> beam.FlatMap(lambda s: s.requests)
        done = (
            p
            | "CheckpointPattern" >> beam.Create([join(checkpoint_dir, "*.jsonl")])
            | "MatchCheckpoint" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
            | "OpenCheckpoint" >> fileio.ReadMatches()
            | "ReadCheckpoint" >> beam.FlatMap(_read_checkpoint_lines)
        )
        routed = (
            {"request": requests, "done": done}
            | "JoinCheckpoint" >> beam.CoGroupByKey()
            | "OnlyThisRun" >> beam.Filter(lambda item: bool(list(item[1]["request"])))
            | "Resume"
            >> Stage(
                "resume",
                _resume_or_generate,
                id_of=lambda item: item[0],
                stats=lambda out: {out[0]: 1},
            )
        )
        resumed, r_resume = routed
        reused = (
            resumed
            | "Reused" >> beam.Filter(lambda t: t[0] == "done")
            | "ReusedValues" >> beam.Values()
        )
        todo = (
            resumed
            | "Todo" >> beam.Filter(lambda t: t[0] == "todo")
            | "TodoValues" >> beam.Values()
            | "LoadRequests" >> beam.Map(load)
        )
        if args.llm == "beam-vllm":
            generated = _beam_vllm_completions(todo, args.model, args.max_new_tokens)
            completions, r_generate = generated | "Generate" >> Stage(
                "generate", _failed_to_reject, id_of=lambda c: c.id
            )
        else:
            completions, r_generate = (
                todo
                | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=args.batch_size)
                | "Generate"
                >> Stage(
                    "generate",
                    GenerateBatch(args.llm, backend_options(args)),
                    fanout=True,
                    id_of=lambda batch: batch[0].id if batch else "?",
                )
            )
        fresh = (
            completions
            | "CheckpointBatches" >> beam.BatchElements(min_batch_size=1, max_batch_size=500)
            | "WriteCheckpoint" >> beam.ParDo(_WriteCheckpoint(checkpoint_dir))
        )
        all_completions = (reused, fresh) | "AllCompletions" >> beam.Flatten()
        joined = {
            "selected": selected | "KeySelected" >> beam.Map(lambda s: (s.key, s)),
            "completions": all_completions
            | "KeyCompletions" >> beam.Map(lambda c: (c.id.rsplit(":", 1)[0], c)),
        } | "JoinDocuments" >> beam.CoGroupByKey()
        rows, r_assemble = joined | "Assemble" >> Stage(
            "assemble",
            lambda item: assemble(
                load(list(item[1]["selected"])[0].doc), list(item[1]["completions"]), options
            ),
            id_of=lambda item: item[0],
            stats=lambda a: a.stats,
            store=store_assembled,
            spill=spill,
        )
        r_shards = _write_rows(rows, args)
        _ = (
            (r_read, r_docs, r_select, r_unique, r_resume, r_generate, r_assemble, r_shards)
            | "AllRejects" >> beam.Flatten()
            | "WriteRejects" >> WriteRejects(args.output)
        )

    return run_job(
        "docmatix_qa",
        argv,
        pipeline_options(beam_args, save_main_session),
        build,
        args.output,
        links=[
            ("read_shards", "read_documents"),
            ("read_documents", "select"),
            ("select", "unique_keys"),
            ("unique_keys/chunks", "resume"),
            ("resume/todo", "generate"),
            ("assemble", "shards"),
        ],
        outputs={
            "data": join(args.output, "data"),
            "pdf": join(args.output, "pdf"),
            "shards": join(args.output, "shards"),
            "checkpoint": checkpoint_dir,
        },
        resume=resume,
        # Rows are rewritten in full; finished chunks stay in the checkpoint (unless --restart).
        owned=[
            *(
                p
                for kind in ("data", "pdf")
                for split in SPLITS
                for p in table_files(f"{kind}/{split}")
            ),
            *shard_files("shards", args.shard_prefix),
        ]
        + ([rf"{CHECKPOINT_DIR}/part-[0-9a-f]{{32}}\.jsonl"] if args.restart else []),
        extra={
            "generator": "offline-extractive" if args.llm == "offline" else args.llm,
            "model": backend_options(args).get("model"),
            "filter": args.filter,
            "parser": args.parser,
            "page_text": args.page_text,
        },
    )


def _write_rows(rows, args):
    """Parquet (images config, pdf config) split train/test by key rank, and shards.

    Only small records (AssembledRef) pass the split; the rows are read back when
    their files are written. Returns the shard sink's rejects.
    """
    test_keys = (
        rows
        | "Ranks" >> beam.Map(lambda a: (split_rank(a.key), a.key))
        | "SmallestRanks" >> beam.combiners.Top.Smallest(max(args.zero_shot_split, 0))
        | "TestKeys" >> beam.Map(lambda ranked: {key for _, key in ranked})
    )
    tagged = rows | "Split" >> beam.Map(
        lambda a, test: ("test" if a.key in test else "train", a),
        test=beam.pvalue.AsSingleton(test_keys),
    )
    for split in SPLITS if args.zero_shot_split > 0 else ("train",):
        part = (
            tagged
            | f"Only{split}" >> beam.Filter(lambda t, s=split: t[0] == s)
            | (f"Values{split}" >> beam.Values())
        )
        _ = (
            part
            | f"ImagesRows{split}" >> beam.Map(lambda a: a.images_row)
            | (
                f"WriteImages{split}"
                >> WriteParquet(join(args.output, "data", split), IMAGES_SCHEMA, stored=True)
            )
        )
        _ = (
            part
            | f"PdfRows{split}" >> beam.FlatMap(lambda a: a.pdf_rows)
            | (
                f"WritePdf{split}"
                >> WriteParquet(join(args.output, "pdf", split), PDF_SCHEMA, stored=True)
            )
        )
    shard_rejects = (
        rows
        | "ToSamples" >> beam.Map(lambda a: a.shard)
        | (
            "WriteShards"
            >> WriteShards(
                join(args.output, "shards"),
                args.shard_prefix,
                args.shard_max_samples,
                args.shard_max_bytes,
                stored=True,
            )
        )
    )
    return shard_rejects


if __name__ == "__main__":
    cli_main(run)
