"""Per-document steps of QA generation around the LLM call: select and chunk, then assemble.

`select_document` turns a transcription into chunks (or a reject saying why
the document is skipped). After generation, `assemble` parses each chunk's
completion, filters the pairs (regex rules per pair, near-duplicates across
the document's chunks) and builds the document's row, counting every drop
by rule. A document left without pairs is a reject (`no_pairs`).
"""

import functools
from collections import Counter
from dataclasses import dataclass, field

from corpusio.accounting import Reject
from docmatix.chunking import SkipDocument, select_and_chunk
from docmatix.prompts import build_request
from docmatix.qa_filters import FilterConfig, filter_pairs
from docmatix.qa_parsing import parse_pairs
from docmatix.qa_records import Chunk, PdfaDocument
from docmatix.qa_rows import (
    PagesMismatch,
    images_row,
    page_pngs,
    pdf_row,
    qa_sample,
    text_entry,
)
from docmatix.tokens import TokenCounter
from llm.records import ChatRequest, Completion

PARSERS = ("robust", "faithful")


@dataclass(frozen=True)
class AssembleOptions:
    max_pages: int = 4
    max_tokens: int = 5000
    max_chunk_pages: int = 5
    seed: int = 0
    filter_mode: str = "docmatix"
    parser: str = "robust"
    tokenizer: str | None = None
    max_new_tokens: int = 2000

    def __post_init__(self):
        if self.parser not in PARSERS:
            raise ValueError(f"parser must be one of {PARSERS}, got {self.parser!r}")
        FilterConfig.for_mode(self.filter_mode)  # validates the mode early


@functools.lru_cache(maxsize=4)
def token_counter(name: str | None) -> TokenCounter:
    """One counter per tokenizer per process: loading a tokenizer is slow."""
    return TokenCounter(name)


@dataclass(frozen=True)
class SelectedDoc:
    doc: PdfaDocument
    chunks: tuple[Chunk, ...]

    def requests(self, options: AssembleOptions) -> list[ChatRequest]:
        return [build_request(chunk, options.max_new_tokens) for chunk in self.chunks]


def select_document(doc: PdfaDocument, options: AssembleOptions) -> SelectedDoc | Reject:
    try:
        chunks = select_and_chunk(
            doc,
            token_counter(options.tokenizer),
            max_pages=options.max_pages,
            max_tokens=options.max_tokens,
            max_chunk_pages=options.max_chunk_pages,
            seed=options.seed,
        )
    except SkipDocument as skip:
        return Reject(doc.key, skip.reason, skip.detail)
    if not chunks:
        return Reject(doc.key, "no_text", "no chunk with text")
    return SelectedDoc(doc, tuple(chunks))


@dataclass
class AssembledDoc:
    """A document's QA texts and page images, ready to be written in every output form."""

    doc: PdfaDocument
    texts: list[dict]
    pngs: list[bytes]
    stats: dict[str, int] = field(default_factory=dict)

    def images_row(self) -> dict:
        return images_row(self.texts, self.pngs)

    def pdf_rows(self) -> list[dict]:
        return [pdf_row(self.doc, self.texts)] if self.doc.pdf is not None else []

    def sample(self):
        return qa_sample(self.doc, self.texts, self.pngs)


def assemble(
    selected: SelectedDoc, completions: list[Completion], options: AssembleOptions
) -> AssembledDoc | Reject:
    """Parse, filter and collect the document's pairs, chunk by chunk in page order."""
    by_chunk = {c.id: c for c in completions}
    config = FilterConfig.for_mode(options.filter_mode)
    seen_questions: list = []
    stats: Counter = Counter()
    texts = []
    for chunk in selected.chunks:
        completion = by_chunk.get(chunk.id)
        if completion is None:  # generation failed: its reject is already recorded
            stats["chunks_without_completion"] += 1
            continue
        parsed = parse_pairs(completion.text or "", faithful=options.parser == "faithful")
        stats["pairs_parsed"] += len(parsed.pairs)
        stats["parse_unused"] += parsed.unused
        result = filter_pairs(parsed.pairs, chunk.text, config, seen_questions=seen_questions)
        for rule, count in result.counts.items():
            stats[f"dropped_{rule}"] += count
        key = selected.doc.key
        texts += [
            text_entry(key, pair.question, pair.answer, completion.source, chunk.prompt_id)
            for pair in result.kept
        ]
    stats["pairs_kept"] += len(texts)
    if not texts:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(stats.items()) if v)
        return Reject(selected.doc.key, "no_pairs", detail)
    try:
        pngs = page_pngs(selected.doc)
    except PagesMismatch as exc:
        return Reject(selected.doc.key, "pdf_json_mismatch", str(exc))
    except (ValueError, RuntimeError) as exc:
        return Reject(selected.doc.key, "no_page_images", str(exc)[:300])
    return AssembledDoc(selected.doc, texts, pngs, dict(stats))
