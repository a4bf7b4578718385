"""Page layout: blocks in reading order, page headers and footers, and a Markdown view.

Two engines, chosen with `--layout`:

- `model`: PyMuPDF's layout engine (an ONNX model inside the PyMuPDF wheel)
  through pymupdf4llm. It classifies regions (text, title, section header,
  list item, table, picture, caption, formula, page header, page footer,
  footnote), orders them, reads tables into rows and cells, and writes the
  page as Markdown. About 3 text-layer pages a second per core.
- `fast`: heuristics over the page's own lines (transcription.textlayer's
  reading order): a block where the vertical gap between lines opens up,
  page headers and footers from their place at the top or bottom of the page,
  page numbers, and lines that repeat on other pages of the document. Pages
  read by OCR always use these.

Either way each PDFA line belongs to exactly one block, and the Markdown
leaves page headers, footers and page numbers out.
"""

import re
import statistics
from collections import Counter
from dataclasses import replace

import pymupdf

from transcription.cleanup import clean_text, join_lines
from transcription.documents import MUPDF_LOCK
from transcription.records import BLOCK_TYPES, FURNITURE, Block, Box, PageText

LAYOUTS = ("model", "fast")
MODEL_BATCH_PAGES = 16  # pages laid out per call: its state is freed between batches

# fast: where a page header or footer may sit, as a share of the page height
MARGIN_BAND = 0.08
MAX_FURNITURE_WORDS = 25
SHORT_LINE = 0.35  # a line ending this far (share of the block width) from the right edge
_PAGE_NUMBER = re.compile(
    r"^\W*(?:page|p\.|pg\.?)?\s*(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:of|/)\s*\d{1,4})?\W*$", re.I
)
_DIGITS = re.compile(r"\d+")


# --- the model -------------------------------------------------------------------------


def model_layouts(data: bytes, numbers: list[int]) -> dict[int, tuple[list[tuple[str, Box]], str]]:
    """For each page number: its regions (type, box) in reading order, and its Markdown.

    The layout engine changes the document it reads (it takes the pages' rotation
    off), so it reads a copy opened from the same bytes.
    """
    from pymupdf4llm.helpers.document_layout import parse_document

    layouts = {}
    with MUPDF_LOCK:
        doc = pymupdf.open(stream=data, filetype="pdf")
        try:
            for start in range(0, len(numbers), MODEL_BATCH_PAGES):
                batch = numbers[start : start + MODEL_BATCH_PAGES]
                parsed = parse_document(doc, pages=batch, use_ocr=False, force_text=True)
                for page in parsed.pages:
                    pictures = (b for b in page.boxes if b.boxclass in ("picture", "formula"))
                    for number, box in enumerate(pictures, start=1):
                        box.image = f"#{box.boxclass}-{number}"  # a placeholder, not the pixels
                chunks = parsed.to_markdown(
                    header=False, footer=False, page_chunks=True, ignore_code=True
                )
                for page, chunk in zip(parsed.pages, chunks, strict=True):
                    regions = [
                        (_block_type(b.boxclass), (b.x0, b.y0, b.x1, b.y1)) for b in page.boxes
                    ]
                    layouts[page.page_number - 1] = (regions, clean_text(chunk["text"]).strip())
        finally:
            doc.close()
    return layouts


def _block_type(name: str) -> str:
    name = name.replace("-", "_")
    return name if name in BLOCK_TYPES else "text"


def _overlap(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return max(width, 0.0) * max(height, 0.0)


def blocks_from_regions(page: PageText, regions: list[tuple[str, Box]]) -> list[Block]:
    """The model's regions as blocks, each PDFA line in the region that covers most of it.

    Lines no region covers (the model left them out) form a text block of their
    own at the end, so every line is in a block.
    """
    owned: list[list[int]] = [[] for _ in regions]
    orphans = []
    for index, line in enumerate(page.lines):
        box = line.box
        area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-6)
        best, share = None, 0.0
        for number, (_, region) in enumerate(regions):
            covered = _overlap(box, region) / area
            if covered > share:
                best, share = number, covered
        if best is not None and share >= 0.5:
            owned[best].append(index)
        else:
            orphans.append(index)
    blocks = [
        Block(kind, box, tuple(lines)) for (kind, box), lines in zip(regions, owned, strict=True)
    ]
    if orphans:
        blocks.append(Block("text", _union_box(page, orphans), tuple(orphans)))
    return blocks


def _union_box(page: PageText, indices) -> Box:
    boxes = [page.lines[i].box for i in indices]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


# --- fast: blocks from the lines -------------------------------------------------------------


def fast_blocks(page: PageText) -> list[Block]:
    """Consecutive lines (in reading order) form a block until the gap below a line opens
    up past half a line height, or the next line starts higher (another column)."""
    if not page.lines:
        return []
    heights = [ln.box[3] - ln.box[1] for ln in page.lines]
    gap_limit = 0.6 * statistics.median(heights)
    groups: list[list[int]] = [[0]]
    for index in range(1, len(page.lines)):
        above, line = page.lines[index - 1].box, page.lines[index].box
        gap = line[1] - above[3]
        if gap > gap_limit or line[1] < above[1] - 1:
            groups.append([index])
        else:
            groups[-1].append(index)
    return [Block("text", _union_box(page, group), tuple(group)) for group in groups]


def _furniture_key(text: str) -> str:
    return _DIGITS.sub("#", text.strip().lower())


def _margin_side(page: PageText, block: Block) -> str | None:
    top, bottom = block.box[1], block.box[3]
    if bottom <= page.height * MARGIN_BAND:
        return "page_header"
    if top >= page.height * (1 - MARGIN_BAND):
        return "page_footer"
    return None


def _block_text(page: PageText, block: Block) -> str:
    return " ".join(page.lines[i].text for i in block.lines)


def mark_furniture(pages: list[PageText]) -> list[PageText]:
    """Heuristic page headers and footers: short blocks at the top or bottom of a page that
    are page numbers, or whose text (digits aside) comes back on other pages there too.

    Blocks the model already typed keep their type.
    """
    candidates = []  # (page index, block index, side, key)
    for number, page in enumerate(pages):
        for index, block in enumerate(page.blocks):
            if block.type != "text" or not block.lines:
                continue
            side = _margin_side(page, block)
            text = _block_text(page, block)
            if side and len(text.split()) <= MAX_FURNITURE_WORDS:
                candidates.append((number, index, side, _furniture_key(text), text))
    seen = Counter((side, key) for _, _, side, key, _ in candidates)
    repeated = max(2, len(pages) // 3)
    out = [replace(page, blocks=list(page.blocks)) for page in pages]
    for number, index, side, key, text in candidates:
        if _PAGE_NUMBER.match(text) or (len(pages) >= 3 and seen[(side, key)] >= repeated):
            blocks = out[number].blocks
            blocks[index] = replace(blocks[index], type=side)
    return out


def lines_markdown(page: PageText) -> str:
    """The page as Markdown from its blocks: paragraphs of joined lines, headers, footers and
    page numbers left out. A line that ends well short of its block's right edge ends
    its row (a table row, a list item, an address line) instead of running on."""
    paragraphs = []
    for block in page.blocks:
        if block.type in FURNITURE or not block.lines:
            continue
        right = block.box[2]
        width = max(block.box[2] - block.box[0], 1e-6)
        rows, current = [], []
        for index in block.lines:
            line = page.lines[index]
            current.append(line.text)
            if (right - line.box[2]) / width > SHORT_LINE:
                rows.append(join_lines(current))
                current = []
        if current:
            rows.append(join_lines(current))
        paragraphs.append("\n".join(rows))
    return clean_text("\n\n".join(p for p in paragraphs if p))


def furniture_lines(page: PageText) -> set[int]:
    """Indices of the lines in page header or footer blocks."""
    return {i for block in page.blocks if block.type in FURNITURE for i in block.lines}


_MARKUP = re.compile(r"[*_#`>|]+")


def _plain(text: str) -> str:
    return " ".join(_MARKUP.sub(" ", text).split()).lower()


def without_furniture(markdown: str, marked: PageText, before: PageText) -> str:
    """The model's Markdown without the paragraphs of blocks that mark_furniture turned into
    page headers or footers (running heads, page numbers the model read as text)."""
    newly = [
        block
        for block, old in zip(marked.blocks, before.blocks, strict=True)
        if block.type in FURNITURE and old.type not in FURNITURE
    ]
    if not newly:
        return markdown
    texts = {_plain(_block_text(marked, block)) for block in newly}
    kept = [p for p in markdown.split("\n\n") if _plain(p) not in texts]
    return "\n\n".join(kept).strip()


def with_picture_text(markdown: str, regions, region: Box, text: str) -> str:
    """The model's Markdown with the words read from a picture in place of its placeholder."""
    pictures = [box for kind, box in regions if kind in ("picture", "formula")]
    kinds = [kind for kind, _ in regions if kind in ("picture", "formula")]
    if pictures:
        best = max(range(len(pictures)), key=lambda i: _overlap(pictures[i], region))
        if _overlap(pictures[best], region) > 0:
            placeholder = f"![](#{kinds[best]}-{best + 1})"  # numbered as model_layouts does
            if placeholder in markdown:
                return markdown.replace(placeholder, text, 1)
    return f"{text}\n\n{markdown}" if markdown else text
