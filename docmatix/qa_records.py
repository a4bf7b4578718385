"""Record types of QA generation: documents in, chunks, LLM requests and replies, pairs out.

A chunk id (`<doc key>:<n>`) names a unit of LLM work everywhere: in the
request, the completion, the checkpoint and the rejects record.
"""

from dataclasses import dataclass

NEW_PAGE = "NEW PAGE"


@dataclass(frozen=True)
class PdfaDocument:
    """One PDFA-layout sample: the text of each page (its lines joined by " \\n ", as the
    original fed the LLM), the PDF bytes when present, and page PNGs when present."""

    key: str
    page_texts: tuple[str, ...]
    pdf: bytes | None = None
    page_images: tuple[bytes, ...] | None = None
    source: str = ""  # where the sample was read: "<tar>@<position>"


@dataclass(frozen=True)
class Chunk:
    """Consecutive pages of a document given to the LLM together."""

    doc_key: str
    index: int
    pages: tuple[int, ...]
    text: str  # the pages' texts joined by a "NEW PAGE" line
    tokens: int
    prompt_id: int

    @property
    def id(self) -> str:
        return f"{self.doc_key}:{self.index}"


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
