"""Document selection and page chunking, as Docmatix did it.

A document is skipped whole when it has more than `max_pages` pages, when no
page has any text, or when a single page is longer than `max_tokens`. The
rest are cut into chunks of consecutive pages: pages are added while the
chunk stays within `max_tokens` (the sum of its pages' token counts, the
NEW PAGE lines not counted, as in the original) and `max_chunk_pages`; when
the next page would break a limit the chunk is closed and the next one starts
with the closed chunk's last page (an overlap of one page).

Edge cases, and what we chose:

- One page, or pages that all fit: one chunk, no overlap.
- Overlap page plus next page over a limit: the original appended the page
  anyway and produced a chunk over the limit. We drop the overlap instead and
  start the chunk with the next page alone, so every chunk keeps both limits
  (a single page never breaks them: longer pages skip the document). With
  `max_chunk_pages=1` this means no overlap at all.
- Progress and duplicates: every chunk after the first holds the page that
  closed its predecessor, a page the predecessor lacks, so no chunk repeats
  another and the loop advances one page per step.
- Empty pages stay in place (they still count as pages and keep page numbers
  aligned with page images); a chunk made only of empty pages is not emitted,
  since a model can ask nothing about it. Chunk indices stay consecutive.
- `prompt_id` is drawn from a hash of (seed, doc key, chunk index), so it does
  not depend on the order documents are processed in, nor on other documents.
"""

import hashlib

from docmatix.prompts import PROMPT_IDS
from docmatix.qa_records import NEW_PAGE, Chunk, PdfaDocument

TOO_MANY_PAGES = "too_many_pages"
PAGE_TOO_LONG = "page_too_long"
NO_TEXT = "no_text"

PAGE_SEPARATOR = f"\n{NEW_PAGE}\n"


class SkipDocument(Exception):
    """A document left out by selection; `reason` is a rejects-record code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def prompt_id_for(seed: int, doc_key: str, index: int, choices=PROMPT_IDS) -> int:
    """A uniform, order-independent draw from `choices` for one chunk."""
    digest = hashlib.blake2b(f"{seed}\x1f{doc_key}\x1f{index}".encode(), digest_size=8).digest()
    return choices[int.from_bytes(digest, "big") % len(choices)]


def group_pages(token_counts: list[int], max_tokens: int, max_chunk_pages: int) -> list[list[int]]:
    """Page indices of each chunk (see the module notes for the overlap rule)."""
    groups: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for page, count in enumerate(token_counts):
        if current and (tokens + count > max_tokens or len(current) + 1 > max_chunk_pages):
            groups.append(current)
            last = current[-1]
            overlap_fits = token_counts[last] + count <= max_tokens and max_chunk_pages >= 2
            current = [last] if overlap_fits else []
            tokens = token_counts[last] if overlap_fits else 0
        current.append(page)
        tokens += count
    if current:
        groups.append(current)
    return groups


def _check_selection(doc: PdfaDocument, max_pages: int) -> None:
    pages = len(doc.page_texts)
    if pages > max_pages:
        raise SkipDocument(TOO_MANY_PAGES, f"{pages} pages > {max_pages}")
    if not any(text.strip() for text in doc.page_texts):
        raise SkipDocument(NO_TEXT, f"{pages} pages, none with text")


def _check_page_lengths(counts: list[int], max_tokens: int) -> None:
    for page, count in enumerate(counts):
        if count > max_tokens:
            raise SkipDocument(PAGE_TOO_LONG, f"page {page} has {count} tokens > {max_tokens}")


def select_and_chunk(
    doc: PdfaDocument,
    counter,
    max_pages: int = 4,
    max_tokens: int = 5000,
    max_chunk_pages: int = 5,
    seed: int = 0,
) -> list[Chunk]:
    """The chunks of a selected document; raises SkipDocument for a skipped one.

    `counter` is anything with `count(text) -> int` (a TokenCounter).
    `Chunk.tokens` is the sum of its pages' counts, the figure the limit used.
    """
    if max_chunk_pages < 1:
        raise ValueError("max_chunk_pages must be at least 1")
    _check_selection(doc, max_pages)
    counts = [counter.count(text) for text in doc.page_texts]
    _check_page_lengths(counts, max_tokens)
    chunks = []
    for pages in group_pages(counts, max_tokens, max_chunk_pages):
        texts = [doc.page_texts[p] for p in pages]
        if not any(text.strip() for text in texts):
            continue
        index = len(chunks)
        chunks.append(
            Chunk(
                doc_key=doc.key,
                index=index,
                pages=tuple(pages),
                text=PAGE_SEPARATOR.join(texts),
                tokens=sum(counts[p] for p in pages),
                prompt_id=prompt_id_for(seed, doc.key, index),
            )
        )
    return chunks
