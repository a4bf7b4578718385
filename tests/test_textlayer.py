"""The text layer of a PDF page as words, lines and reading order.

Demo PDFs are checked against the facts their builder recorded (column text,
table cells, invoice fields, image boxes); real PDFs, where present, against
properties any sane reading order has: columns are not interleaved and a
hyphenated word continues on the next line of the same column.
"""

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from transcription.records import PageText
from transcription.textlayer import extract_page, page_text

REALDATA = Path("/work/shared/realdata/pdf")


def flat(text: str) -> str:
    return " ".join(text.split())


def entry(index: dict, name: str) -> dict:
    (found,) = [e for e in index["files"] if e["path"] == f"pdf/digital/{name}"]
    return found


def pdf_words(page: pymupdf.Page) -> Counter:
    """The page's words as PyMuPDF lists them, whitespace-only ones left out."""
    return Counter(
        (w[4], tuple(round(v, 2) for v in w[:4])) for w in page.get_text("words") if w[4].strip()
    )


def extracted_words(text: PageText) -> Counter:
    return Counter(
        (w.text, tuple(round(v, 2) for v in w.box)) for line in text.lines for w in line.words
    )


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# --- the demo corpus ------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(demo_corpus):
    """(root, index, open) where open(name) is the demo PDF pdf/digital/<name>."""
    root, index = demo_corpus
    return root, index, lambda name: pymupdf.open(root / "pdf" / "digital" / name)


def test_two_column_paper_reads_each_column_whole(demo):
    _, index, open_pdf = demo
    facts = entry(index, "paper_two_column.pdf")
    for number, page in enumerate(open_pdf("paper_two_column.pdf")):
        lines = [flat(line.text) for line in extract_page(page).lines]
        left, right = (column.split("\n") for column in facts["column_text"][number])
        expected = [flat(t) for t in left + right]
        start = lines.index(expected[0])
        # Left column whole, then right column whole: one line per printed line.
        assert lines[start : start + len(expected)] == expected


def test_two_column_paper_puts_title_and_abstract_first(demo):
    _, index, open_pdf = demo
    facts = entry(index, "paper_two_column.pdf")
    text = flat(page_text(extract_page(open_pdf("paper_two_column.pdf")[0])))
    first_column = flat(facts["column_text"][0][0])
    assert text.startswith(flat(facts["title"]))
    assert text.index(flat(facts["abstract"])) < text.index(first_column)


def test_paper_lines_stay_inside_one_column(demo):
    _, index, open_pdf = demo
    facts = entry(index, "paper_two_column.pdf")
    (_, left_x1), (right_x0, _) = facts["column_x"]
    for number, page in enumerate(open_pdf("paper_two_column.pdf")):
        lines = extract_page(page).lines
        first = facts["column_text"][number][0].split("\n")[0]
        (top,) = [line.box[1] for line in lines if line.text == first]
        bottom = page.rect.height - 50  # the page footer is centred below the columns
        in_columns = [line for line in lines if line.box[1] >= top - 1 and line.box[3] <= bottom]
        assert len(in_columns) > 40
        for line in in_columns:
            x0, _, x1, _ = line.box
            assert not (x0 < left_x1 and x1 > right_x0), line.text


def test_report_table_rows_read_row_by_row(demo):
    _, index, open_pdf = demo
    table = entry(index, "report.pdf")["table"]
    lines = extract_page(open_pdf("report.pdf")[table["page"] - 1]).lines
    cells = [[w.text for w in line.words] for line in lines]
    header_at = cells.index(table["header"])  # the header cells, alone and in order
    body = [" ".join(line) for line in cells[header_at + 1 : header_at + 1 + len(table["rows"])]]
    assert body == [" ".join(row) for row in table["rows"]]


def test_invoice_key_value_pairs_stay_on_one_line(demo):
    _, index, open_pdf = demo
    facts = entry(index, "invoice.pdf")
    texts = [line.text for line in extract_page(open_pdf("invoice.pdf")[0]).lines]
    for key, value in facts["fields"].items():
        assert any(f"{key}: {value}" in text for text in texts), key
    for item in facts["line_items"]:
        cells = [item["description"], str(item["qty"]), item["unit_price"], item["amount"]]
        assert " ".join(cells) in texts


def test_report_image_box_matches_the_fact(demo):
    _, index, open_pdf = demo
    facts = {fact["page"]: fact["bbox"] for fact in entry(index, "report.pdf")["images"]}
    for number, page in enumerate(open_pdf("report.pdf"), start=1):
        images = extract_page(page).images
        if number in facts:
            assert images == [pytest.approx(facts[number], abs=1.5)]
        else:
            assert images == []


@pytest.mark.parametrize("name", ["report.pdf", "paper_two_column.pdf", "invoice.pdf", "form.pdf"])
def test_words_are_the_pdf_words(demo, name):
    _, _, open_pdf = demo
    for page in open_pdf(name):
        text = extract_page(page)
        assert extracted_words(text) == pdf_words(page)
        assert (text.width, text.height) == (page.rect.width, page.rect.height)


def test_invisible_ocr_layer_counts_as_text(demo_corpus):
    root, index = demo_corpus
    (facts,) = [e for e in index["files"] if e.get("text_layer") == "invisible-ocr"]
    page = pymupdf.open(root / facts["path"])[0]
    text = extract_page(page)
    assert flat(page_text(text)) == flat((root / facts["ground_truth"]).read_text())
    assert text.images == [pytest.approx((0, 0, page.rect.width, page.rect.height), abs=0.5)]


# --- small pages built here -------------------------------------------------------


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_boxes_are_in_the_upright_frame_of_a_rotated_page(rotation):
    """Boxes match where a viewer (the renderer) shows the ink, whatever /Rotate says."""
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=600)
    page.set_rotation(rotation)
    upright = page.derotation_matrix
    for i, line in enumerate(["First line of text", "Second line here"]):
        page.insert_text(
            pymupdf.Point(50, 80 + 30 * i) * upright, line, fontsize=14, rotate=rotation
        )
    image = pymupdf.Rect(200, 300, 280, 360)
    page.insert_image(image * upright, stream=png(40, 30), keep_proportion=False)

    text = extract_page(page)
    assert [line.text for line in text.lines] == ["First line of text", "Second line here"]
    assert text.images == [pytest.approx(tuple(image), abs=0.5)]
    pix = page.get_pixmap(dpi=72)
    black = np.frombuffer(pix.samples, np.uint8).reshape(pix.h, pix.w, pix.n)[..., :3].max(2) < 128
    ys, xs = np.nonzero(black)
    x0, y0 = text.lines[0].box[:2]
    assert (pix.w, pix.h) == (text.width, text.height)
    assert x0 - 2 <= xs.min() and max(line.box[2] for line in text.lines) + 2 >= xs.max()
    assert y0 - 2 <= ys.min() and text.lines[1].box[3] + 2 >= ys.max()


def column_page(paragraphs: int) -> pymupdf.Page:
    """A full-width title over two columns whose paragraph breaks line up exactly,
    plus a stamp running up the margin."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    title = "A full width title that runs across both of the columns below it"
    page.insert_text((60, 70), title, fontsize=14)
    for column, x in enumerate((60, 320)):
        y = 100
        for p in range(paragraphs):
            for n in range(4):
                words = f"column {column} paragraph {p} line {n} of running text here"
                page.insert_text((x, y), words, fontsize=10)
                y += 12
            y += 10
    page.insert_text((30, 700), "stamped in the margin of the page", fontsize=8, rotate=90)
    return page


def test_aligned_paragraph_breaks_do_not_interleave_columns():
    """The title blocks a column cut of the whole page, so the page is cut into
    strips at every paragraph break; the strips must be joined again."""
    lines = [line.text for line in extract_page(column_page(5)).lines]
    assert lines[0].startswith("A full width title")
    body = lines[1:-1]
    assert body == [
        f"column {column} paragraph {p} line {n} of running text here"
        for column in range(2)
        for p in range(5)
        for n in range(4)
    ]
    assert lines[-1] == "stamped in the margin of the page"


@pytest.mark.parametrize("numbers_x,text_x", [(40, 80), (300, 80)], ids=["left", "right"])
def test_line_numbers_read_with_their_row(numbers_x, text_x):
    """A narrow strip beside text (line numbers) is no column, even as one tall block."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    for n in range(1, 11):  # written first, so MuPDF makes the numbers one block
        page.insert_text((numbers_x, 80 + 14 * n), str(n), fontsize=11)
    for n in range(1, 11):
        page.insert_text((text_x, 80 + 14 * n), f"spoken words of transcript line {n}", fontsize=11)
    texts = [line.text for line in extract_page(page).lines]
    if numbers_x < text_x:
        assert texts == [f"{n} spoken words of transcript line {n}" for n in range(1, 11)]
    else:
        assert texts == [f"spoken words of transcript line {n} {n}" for n in range(1, 11)]


SHUFFLED = [0, 4, 1, 5, 2, 6, 3, 7]


@pytest.mark.parametrize(
    "writes",
    [
        [(0, SHUFFLED), (1, SHUFFLED)],
        [(0, range(4)), (1, SHUFFLED), (0, range(4, 8))],
        [(1, range(4)), (0, SHUFFLED), (1, range(4, 8))],
    ],
    ids=["cells", "left-tall", "right-tall"],
)
def test_table_of_wide_single_line_cells_reads_row_by_row(writes):
    """Table rows read across, whether every cell is a block of its own (rows written
    out of order) or one column comes as tall blocks (rows written in order)."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    cells = ("Left cell text number {} goes here", "Right cell value number {} is written here")
    for side, rows in writes:
        for n in rows:
            page.insert_text((60 + 240 * side, 100 + 14 * n), cells[side].format(n), fontsize=10)
    texts = [line.text for line in extract_page(page).lines]
    assert texts == [" ".join(cell.format(n) for cell in cells) for n in range(8)]


def test_labels_block_beside_values_reads_label_value_pairs():
    """A narrow block of labels is no column: each label stays with its value."""
    doc = pymupdf.open()
    page = doc.new_page(width=595, height=842)
    fields = {"Invoice date:": "2024-01-02", "Customer number:": "C-1234", "Terms:": "30 days"}
    for n, label in enumerate(fields):  # written first, so MuPDF makes the labels one block
        page.insert_text((60, 100 + 14 * n), label, fontsize=11)
    for n, value in enumerate(fields.values()):
        page.insert_text((170, 100 + 14 * n), value, fontsize=11)
    texts = [line.text for line in extract_page(page).lines]
    assert texts == [f"{label} {value}" for label, value in fields.items()]


def test_page_text_joins_lines_and_empty_page_is_empty():
    doc = pymupdf.open()
    page = doc.new_page()
    assert extract_page(page).lines == []
    assert page_text(extract_page(page)) == ""
    page.insert_text((72, 72), "one", fontsize=11)
    page.insert_text((72, 100), "two words", fontsize=11)
    assert page_text(extract_page(page)) == "one\ntwo words"


# --- real documents ------------------------------------------------------------------

needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason="no /work/shared/realdata")


def column_of(box, gutters) -> int | None:
    """The column a box lies in between the gutters' x, or None when it crosses one."""
    edges = [float("-inf"), *gutters, float("inf")]
    for i in range(len(edges) - 1):
        if box[0] >= edges[i] - 2 and box[2] <= edges[i + 1] + 2:
            return i
    return None


COLUMN_PAPERS = [
    # file, gutter x positions, body region (y0, y1) without running heads and feet
    ("sci-paper_tracemonkey_2col.pdf", [305], (60, 740)),
    ("gov_federal-register-2020-17221_3col.pdf", [217, 394], (55, 745)),
    ("table_icdar2013_us-023_mmwr.pdf", [301], (60, 740)),
]


@needs_realdata
@pytest.mark.parametrize("name,gutters,body", COLUMN_PAPERS)
def test_real_columns_are_read_one_after_another(name, gutters, body):
    """Prose lines of the body visit the columns left to right, never going back."""
    for page in pymupdf.open(REALDATA / "digital" / name):
        columns = [
            column_of(line.box, gutters)
            for line in extract_page(page).lines
            if len(line.words) >= 5
            and body[0] <= line.box[1]
            and line.box[3] <= body[1]
            and line.box[2] - line.box[0] > line.box[3] - line.box[1]
        ]
        columns = [c for c in columns if c is not None]
        back = [(a, b) for a, b in zip(columns, columns[1:], strict=False) if b < a]
        assert not back, f"{name} page {page.number + 1}"


@needs_realdata
@pytest.mark.parametrize("name,gutters,body", COLUMN_PAPERS)
def test_real_hyphenated_words_continue_in_their_column(name, gutters, body):
    """After a line ending in 'pro-', the next line is below it in the same column,
    or at the top of the next column."""
    checked = 0
    for page in pymupdf.open(REALDATA / "digital" / name):
        lines = extract_page(page).lines
        for line, after in zip(lines, lines[1:], strict=False):
            if not (line.text.endswith("-") and len(line.words) >= 4):
                continue
            here, there = column_of(line.box, gutters), column_of(after.box, gutters)
            if here is None or there is None or not body[0] <= after.box[1] <= body[1]:
                continue
            below = there == here and after.box[1] > line.box[1]
            next_top = there == here + 1 and after.box[1] < line.box[1]
            assert below or next_top, f"{name} p{page.number + 1}: {line.text!r} -> {after.text!r}"
            checked += 1
    assert checked >= 5


REAL_PDFS = sorted(REALDATA.glob("digital/*.pdf")) + [
    REALDATA / "scanned" / "vicksburg_book-scan-with-ocr-layer.pdf"
]


@needs_realdata
@pytest.mark.parametrize("path", REAL_PDFS, ids=lambda p: p.name)
def test_real_pdfs_give_text_and_every_word(path):
    doc = pymupdf.open(path)
    for page in doc:
        text = extract_page(page)
        assert extracted_words(text) == pdf_words(page)
        for box in [w.box for line in text.lines for w in line.words] + text.images:
            assert 0 <= box[0] <= box[2] <= text.width and 0 <= box[1] <= box[3] <= text.height
    assert sum(len(page_text(extract_page(page))) for page in doc) > 0


@needs_realdata
def test_real_rotated_page_reads_upright():
    page = pymupdf.open(REALDATA / "bad" / "corrupted-xref_zen-of-python.pdf")[0]
    assert page.rotation == 90
    lines = [line.text for line in extract_page(page).lines]
    assert "Beautiful is better than ugly." in lines
    assert lines.index("Beautiful is better than ugly.") + 1 == lines.index(
        "Explicit is better than implicit."
    )


@needs_realdata
def test_real_scans_without_text_have_their_image():
    for page in pymupdf.open(REALDATA / "scanned" / "ocrmypdf_cardinal-rotations.pdf"):
        text = extract_page(page)
        assert text.lines == []
        assert text.images == [pytest.approx((0, 0, page.rect.width, page.rect.height), abs=1)]
