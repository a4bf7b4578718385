"""Words, lines and reading order from the text layer of a PDF page.

`extract_page` turns one PyMuPDF page into a `PageText`: the words MuPDF finds
in the text layer (visible or invisible, so the OCR layer of a scan counts),
grouped into lines, the lines in reading order, plus the boxes of the raster
images drawn on the page. Everything is in the upright page frame (what a
viewer shows, /Rotate applied), in points, y down.

Reading order is a recursive XY-cut over MuPDF's text blocks:

- A region is cut vertically only at a gutter that separates real text
  columns: a band of x that no block crosses, with a side on each hand that
  is at least `COLUMN_WIDTH` typical line heights wide and holds a paragraph
  (a block of two or more rows). Left is read before right.
- Otherwise the region is cut horizontally at every band of y that no block
  crosses, giving strips read top to bottom. Consecutive strips are merged
  back when together they have such a column gutter, so paragraph gaps that
  happen to line up across two columns do not interleave the columns.
- A region with no cut left is a leaf: its lines are grouped into rows by
  their vertical overlap and each row is read left to right. That keeps a
  table row, or a `label: value` pair, on one line.

Vertical text (a margin stamp, a rotated caption) is kept out of the cut and
appended after the page's horizontal text, in MuPDF's order.
"""

from __future__ import annotations

import operator
import statistics

import pymupdf

from transcription.records import Box, Line, PageText, Word

# The words flags of `page.get_text("words")`, plus image blocks for `images`.
TEXT_FLAGS = pymupdf.TEXTFLAGS_WORDS | pymupdf.TEXT_PRESERVE_IMAGES
IMAGE_BLOCK = 1

# A text column is at least this many typical line heights wide (about 10 em);
# narrower strips (line numbers, a table's key column) are read row-wise.
COLUMN_WIDTH = 10.0
# Two lines share a row when they overlap by this part of the shorter height.
ROW_OVERLAP = 0.5
# Lines of one row may touch (kerning), but overlapping more in x means stacked.
STACKED = 1.0

# Sort keys at C speed: words by their box (so by x0), blocks by x0.
_BOX = operator.attrgetter("box")
_X0 = operator.attrgetter("x0")


class _Line:
    """A MuPDF line: its words in MuPDF's order and their bounding box."""

    __slots__ = ("words", "x0", "y0", "x1", "y1")

    def __init__(self, words: list[Word]):
        self.words = words
        x0, y0, x1, y1 = words[0].box
        for word in words:
            box = word.box
            if box[0] < x0:
                x0 = box[0]
            if box[1] < y0:
                y0 = box[1]
            if box[2] > x1:
                x1 = box[2]
            if box[3] > y1:
                y1 = box[3]
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1

    def is_vertical(self) -> bool:
        """True for text running up or down the page (margin stamps, rotated labels).

        Several words: they advance more in y than in x. One word: it is clearly
        taller than wide, which horizontal words of four or more letters never are.
        """
        words = self.words
        if len(words) > 1:
            first, last = words[0].box, words[-1].box
            return abs(last[1] + last[3] - first[1] - first[3]) > abs(
                last[0] + last[2] - first[0] - first[2]
            )
        return len(words[0].text) >= 4 and self.y1 - self.y0 > 1.5 * (self.x1 - self.x0)


class _Block:
    """A MuPDF text block: the unit the XY-cut moves around, never split."""

    __slots__ = ("lines", "x0", "y0", "x1", "y1", "rows")

    def __init__(self, lines: list[_Line]):
        self.lines = lines
        if len(lines) == 1:  # common (headings, table cells): skip the scans
            ln = lines[0]
            self.x0, self.y0, self.x1, self.y1, self.rows = ln.x0, ln.y0, ln.x1, ln.y1, 1
            return
        self.x0 = min(ln.x0 for ln in lines)
        self.y0 = min(ln.y0 for ln in lines)
        self.x1 = max(ln.x1 for ln in lines)
        self.y1 = max(ln.y1 for ln in lines)
        self.rows = _count_rows(lines)


def extract_page(page: pymupdf.Page) -> PageText:
    """The page's text layer as lines in reading order, with its image boxes."""
    rect = page.rect
    textpage = page.get_textpage(flags=TEXT_FLAGS)
    # MuPDF reports boxes on the unrotated page; a viewer shows the rotated one.
    to_upright = page.rotation_matrix if page.rotation % 360 else None
    blocks, vertical = _blocks(textpage.extractWORDS(), to_upright, rect)
    lines: list[Line] = []
    if blocks:
        unit = COLUMN_WIDTH * _typical_height(blocks)
        for leaf in _reading_order(blocks, unit):
            lines.extend(_rows(leaf))
    lines.extend(Line(words=tuple(ln.words)) for ln in vertical)
    return PageText(
        lines=lines,
        width=rect.width,
        height=rect.height,
        images=_image_boxes(textpage, to_upright, rect),
    )


def page_text(page_text: PageText) -> str:
    """The page as plain text: its lines in reading order, one per text line."""
    return "\n".join(line.text for line in page_text.lines)


# --- words, lines and blocks -------------------------------------------------


def _blocks(raw_words, to_upright, rect) -> tuple[list[_Block], list[_Line]]:
    """MuPDF's words grouped back into its lines and blocks; vertical lines apart.

    MuPDF lists words block by block and line by line, so one pass suffices.
    Boxes are turned upright and clipped to the page, and words that are only
    whitespace are dropped. This loop runs once per word: it stays plain.
    """
    width, height = rect.width, rect.height
    blocks: list[_Block] = []
    vertical: list[_Line] = []
    block_lines: list[_Line] = []
    words: list[Word] = []
    current_block = current_line = -1
    for x0, y0, x1, y1, text, block_no, line_no, _ in raw_words:
        if not text or text.isspace():
            continue
        if to_upright is not None:
            x0, y0, x1, y1 = _transform((x0, y0, x1, y1), to_upright)
        if x0 < 0.0 or y0 < 0.0 or x1 > width or y1 > height:
            x0, y0 = min(max(x0, 0.0), width), min(max(y0, 0.0), height)
            x1, y1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
        if line_no != current_line or block_no != current_block:
            if words:
                _close_line(words, block_lines, vertical)
                words = []
            if block_no != current_block:
                if block_lines:
                    blocks.append(_Block(block_lines))
                    block_lines = []
                current_block = block_no
            current_line = line_no
        words.append(Word(text, (x0, y0, x1, y1)))
    if words:
        _close_line(words, block_lines, vertical)
    if block_lines:
        blocks.append(_Block(block_lines))
    return blocks, vertical


def _close_line(words: list[Word], block_lines: list[_Line], vertical: list[_Line]) -> None:
    """File a finished MuPDF line with its block, or with the vertical text."""
    line = _Line(words)
    (vertical if line.is_vertical() else block_lines).append(line)


def _transform(box: Box, m: pymupdf.Matrix) -> Box:
    """A box mapped by a rotation matrix (multiples of 90 degrees keep it a box)."""
    xa = m.a * box[0] + m.c * box[1] + m.e
    ya = m.b * box[0] + m.d * box[1] + m.f
    xb = m.a * box[2] + m.c * box[3] + m.e
    yb = m.b * box[2] + m.d * box[3] + m.f
    return (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))


def _count_rows(lines: list[_Line]) -> int:
    """How many rows of text the lines stand in (cells side by side count once)."""
    rows, bottom = 0, None
    for ln in sorted(lines, key=lambda ln: ln.y0 + ln.y1):
        if bottom is None or (ln.y0 + ln.y1) / 2 > bottom:
            rows += 1
            bottom = ln.y1
    return rows


def _typical_height(blocks: list[_Block]) -> float:
    """The median line height of the page: the scale for column widths."""
    return statistics.median(ln.y1 - ln.y0 for b in blocks for ln in b.lines) or 1.0


def _image_boxes(textpage, to_upright, rect) -> list[Box]:
    """Boxes of the raster images MuPDF saw drawn on the page, clipped to it."""
    boxes = []
    for block in textpage.extractBLOCKS():
        if block[6] != IMAGE_BLOCK:
            continue
        box = tuple(block[:4])
        if to_upright is not None:
            box = _transform(box, to_upright)
        x0, y0 = max(box[0], 0.0), max(box[1], 0.0)
        x1, y1 = min(box[2], rect.width), min(box[3], rect.height)
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1, y1))
    return boxes


# --- reading order -------------------------------------------------------------


def _reading_order(blocks: list[_Block], unit: float) -> list[list[_Block]]:
    """The XY-cut: leaves (groups of blocks read row-wise) in reading order."""
    if len(blocks) == 1:
        return [blocks]
    columns = _column_cut(blocks, unit)
    if columns is not None:
        left, right = columns
        return _reading_order(left, unit) + _reading_order(right, unit)
    strips = _strips(blocks)
    if len(strips) == 1:
        return [blocks]
    groups = _merge_strips(strips, unit)
    if len(groups) == 1:
        return [blocks]
    leaves = []
    for group in groups:
        leaves.extend(_reading_order(group, unit))
    return leaves


def _column_cut(blocks: list[_Block], unit: float) -> tuple[list[_Block], list[_Block]] | None:
    """The widest gutter with a text column on both hands, as (left, right); else None.

    A gutter is a band of x that no block crosses. A side is a text column when
    it is at least `unit` wide and holds a paragraph (a block of two or more
    rows); that keeps tables, forms and line-numbered transcripts from being
    read column-wise. One sweep left to right, with the right-hand sides'
    extent and paragraphs gathered beforehand from the right.
    """
    if sum(block.rows > 1 for block in blocks) < 2:
        return None  # two columns need a paragraph each
    ordered = sorted(blocks, key=_X0)
    right_x1, right_paragraph = [], []
    x1, paragraph = float("-inf"), False
    for block in reversed(ordered):
        if block.x1 > x1:
            x1 = block.x1
        paragraph = paragraph or block.rows > 1
        right_x1.append(x1)
        right_paragraph.append(paragraph)
    right_x1.reverse()
    right_paragraph.reverse()

    best, best_gap = 0, 0.0
    left_x0, reach, left_paragraph = ordered[0].x0, ordered[0].x1, ordered[0].rows > 1
    for i in range(1, len(ordered)):
        block = ordered[i]
        gap = block.x0 - reach
        if (
            gap > best_gap
            and left_paragraph
            and right_paragraph[i]
            and reach - left_x0 >= unit
            and right_x1[i] - block.x0 >= unit
        ):
            best, best_gap = i, gap
        if block.x1 > reach:
            reach = block.x1
        left_paragraph = left_paragraph or block.rows > 1
    return (ordered[:best], ordered[best:]) if best else None


def _strips(blocks: list[_Block]) -> list[list[_Block]]:
    """The blocks cut at every band of y that no block crosses, top to bottom."""
    ordered = sorted(blocks, key=lambda b: b.y0)
    strips = [[ordered[0]]]
    bottom = ordered[0].y1
    for block in ordered[1:]:
        if block.y0 >= bottom:
            strips.append([block])
        else:
            strips[-1].append(block)
        bottom = max(bottom, block.y1)
    return strips


def _merge_strips(strips: list[list[_Block]], unit: float) -> list[list[_Block]]:
    """Consecutive strips joined again while together they still have a column gutter.

    A horizontal cut through a two-column region happens wherever paragraph
    breaks of the two columns line up; rejoining such strips lets the column
    cut read each column whole. (The strips never all join up again: the
    whole region had no column gutter, or it would have been cut there.)
    """
    groups = [strips[0]]
    for strip in strips[1:]:
        joined = groups[-1] + strip
        if _column_cut(joined, unit) is not None:
            groups[-1] = joined
        else:
            groups.append(strip)
    return groups


# --- lines of a leaf -----------------------------------------------------------


def _rows(blocks: list[_Block]) -> list[Line]:
    """The leaf's lines grouped into rows, each read left to right.

    A line joins the row above it when it overlaps that row's first line by
    most of the shorter height and sits beside (not under) every line in it,
    so a small heading stacked over a large title stays a line of its own.
    """
    mupdf_lines = [ln for b in blocks for ln in b.lines]
    if len(mupdf_lines) > 1:
        mupdf_lines.sort(key=lambda ln: ln.y0 + ln.y1)
    rows: list[list[_Line]] = []
    for ln in mupdf_lines:
        if rows and _same_row(rows[-1], ln):
            rows[-1].append(ln)
        else:
            rows.append([ln])
    return [Line(words=tuple(sorted(_row_words(row), key=_BOX))) for row in rows]


def _same_row(row: list[_Line], ln: _Line) -> bool:
    """True when `ln` is level with the row and beside each of its lines."""
    first = row[0]
    overlap = min(first.y1, ln.y1) - max(first.y0, ln.y0)
    if overlap < ROW_OVERLAP * min(first.y1 - first.y0, ln.y1 - ln.y0):
        return False
    x0, x1 = ln.x0, ln.x1
    for other in row:
        if other.x1 - x0 > STACKED and x1 - other.x0 > STACKED:
            return False
    return True


def _row_words(row: list[_Line]) -> list[Word]:
    """All words of a row (the line's own list when there is one line)."""
    if len(row) == 1:
        return row[0].words
    return [w for ln in row for w in ln.words]
