"""Record types of a page transcription: words and lines in reading order.

Coordinates here are absolute, in the frame of the upright page (PDF points
for a text layer, pixels of the upright image for OCR), as (x0, y0, x1, y1)
with y growing downwards. They are normalised to the page only when the
PDFA-layout json is written (transcription.pdfa).
"""

import functools
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]
BLOCK_TYPES = (
    "text",
    "title",
    "section_header",
    "list_item",
    "table",
    "picture",
    "caption",
    "formula",
    "page_header",
    "page_footer",
    "footnote",
)
FURNITURE = ("page_header", "page_footer")  # blocks left out of the Markdown


@dataclass(frozen=True)
class Word:
    text: str
    box: Box
    score: float = 1.0  # 1.0 for a text layer; Tesseract's confidence / 100 for OCR


@dataclass(frozen=True)
class Line:
    words: tuple[Word, ...]

    @functools.cached_property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @functools.cached_property
    def box(self) -> Box:
        return union(w.box for w in self.words)

    @property
    def score(self) -> float:
        return sum(w.score for w in self.words) / len(self.words)


@dataclass(frozen=True)
class Block:
    """A region of the page (transcription.layout.BLOCK_TYPES): its box and its lines,
    as indices into the page's lines."""

    type: str
    box: Box
    lines: tuple[int, ...] = ()


@dataclass
class PageText:
    """The transcription of one page, before normalisation: lines in reading order, and once
    laid out (transcription.layout) its blocks in reading order and its Markdown."""

    lines: list[Line]
    width: float
    height: float
    images: list[Box] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    markdown: str = ""


def union(boxes) -> Box:
    x0, y0, x1, y1 = zip(*boxes, strict=True)
    return (min(x0), min(y0), max(x1), max(y1))


def rotate_box(box: Box, width: float, height: float, rotation: int) -> Box:
    """A box in a width x height frame, after the frame is turned `rotation` degrees clockwise."""
    x0, y0, x1, y1 = box
    if rotation == 90:
        return (height - y1, x0, height - y0, x1)
    if rotation == 180:
        return (width - x1, height - y1, width - x0, height - y0)
    if rotation == 270:
        return (y0, width - x1, y1, width - x0)
    return box
