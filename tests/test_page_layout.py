"""Page layout, Markdown and cleanup of transcriptions, and the page-level test suite."""

import io
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from benchmarks import page_suite
from benchmarks.page_suite import Check, normalise, tables_of
from docmatix.pdfa_reader import read_sample
from transcription.cleanup import clean_text, join_lines
from transcription.pdfa import check_document
from transcription.transcribe import TranscribeOptions, transcribe

REAL_PDFS = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "pdf" / "digital"


def test_cleanup_composes_accents_expands_ligatures_pairs_quotes():
    assert clean_text("J\u00b4an Min\u00b4a\u02c7c") == "J\u00e1n Min\u00e1\u010d"
    assert clean_text("a na\u00a8\u0131ve \ufb01rst \ufb02ight") == "a na\u00efve first flight"
    assert (
        clean_text("\u2018\u2018quoted\u2019\u2019 and ``tex''.")
        == "\u201cquoted\u201d and \u201ctex\u201d."
    )
    assert clean_text("don\u00b4t") == "don\u00b4t"  # no precomposed t with acute: left as is
    assert clean_text("co\u00adoperate") == "cooperate"


def test_joined_lines_mend_hyphenated_words_only():
    assert join_lines(["an exam-", "ple of it"]) == "an example of it"
    assert join_lines(["Self-", "Driving cars, pre-", "1990"]) == "Self-Driving cars, pre-1990"
    assert join_lines(["ends", "", "here"]) == "ends here"


def test_the_suite_checks_can_fail():
    text = "# Title\n\nFirst **bold** part.\n\n| A | B |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n"
    assert Check("present", "First bold part.").passes(text)
    assert not Check("present", "Second part").passes(text)
    assert Check("absent", "Page 3").passes(text) and not Check("absent", "Title").passes(text)
    assert Check("order", "Title", "First").passes(text)
    assert not Check("order", "First", "Title").passes(text)
    assert Check("right_of", "1", "2").passes(text) and not Check("right_of", "2", "1").passes(text)
    assert Check("below", "1", "3").passes(text) and not Check("below", "3", "1").passes(text)
    html = "<table><tr><th>A</th><th>B</th></tr><tr><td>x</td><td>y</td></tr></table>"
    assert tables_of(html) == [[["A", "B"], ["x", "y"]]]
    assert Check("below", "A", "x").passes(html)
    assert normalise("a\u2014b \u201cq\u201d <sup>1</sup>") == 'a-b "q" 1'


@pytest.fixture(scope="module")
def generated():
    return {case.name: case for case in page_suite.generated_cases()}


def _pages(case, layout: str) -> list[dict]:
    return transcribe("case.pdf", case.pdf(), TranscribeOptions(layout=layout)).pages


def test_running_heads_and_page_numbers_are_flagged_and_left_out(generated):
    case = generated["running heads and page numbers"]
    for layout in ("model", "fast"):
        page = _pages(case, layout)[1]
        flagged = [
            t
            for t, f in zip(page["lines"]["text"], page["lines"]["header_footer"], strict=True)
            if f
        ]
        assert page_suite.RUNNING_HEAD in flagged and "Page 2 of 3" in flagged, layout
        assert page_suite.RUNNING_HEAD in page["lines"]["text"]  # the PDFA lines keep them
        assert "Page 2 of 3" not in page["markdown"] and "Riverbend" not in page["markdown"]
        assert check_document({"pages": [page]}) == []


def test_the_model_reads_a_table_and_every_line_is_in_one_block(generated):
    page = _pages(generated["a table with a spanning header"], "model")[0]
    types = [block["type"] for block in page["blocks"]]
    assert "table" in types
    in_blocks = sorted(i for block in page["blocks"] for i in block["lines"])
    assert in_blocks == list(range(len(page["lines"]["text"])))
    (table,) = tables_of(page["markdown"])
    assert ["North", "12", "15", "18"] in table


def test_a_heading_drawn_as_an_image_is_read_into_the_page(generated):
    (page,) = _pages(generated["a heading drawn as an image"], "model")
    assert page["source"] == "text_layer"
    assert page["source_reason"] == "text_layer_and_image_text"
    assert page_suite.HEADING_IMAGE in " ".join(page["lines"]["text"])
    assert page["markdown"].index(page_suite.HEADING_IMAGE) < page["markdown"].index("All staff")


def _scan_with_layer(shown: str, layer: str) -> bytes:
    """A scanned page showing one text, with an invisible OCR layer holding another."""
    import matplotlib

    font = ImageFont.truetype(
        f"{matplotlib.get_data_path()}/fonts/ttf/DejaVuSans.ttf", 34
    )  # 200 dpi: 12 pt
    image = Image.new("L", (1700, 2200), 255)
    draw = ImageDraw.Draw(image)
    words, lines, line = shown.split(), [], ""
    for word in words:
        if len(line) + len(word) > 60:
            lines.append(line)
            line = ""
        line += word + " "
    lines.append(line)
    for number, text in enumerate(lines * 6):
        draw.text((150, 300 + number * 60), text, fill=0, font=font)
    png = io.BytesIO()
    image.save(png, "PNG")
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_image(page.rect, stream=png.getvalue())
    layer_lines = (layer + " ") * 3
    page.insert_textbox(pymupdf.Rect(54, 100, 558, 700), layer_lines, fontsize=12, render_mode=3)
    return doc.tobytes()


SHOWN = (
    "The river rose quickly after the storm and the council opened the flood gates "
    "before the old bridge was closed to traffic for the night"
)
OTHER = (
    "Quarterly revenue grew modestly while operating costs declined across every "
    "region thanks to improved logistics and better purchasing terms"
)


def test_a_poor_invisible_ocr_layer_is_read_again():
    (poor,) = transcribe("scan.pdf", _scan_with_layer(SHOWN, OTHER), TranscribeOptions()).pages
    assert (poor["source"], poor["source_reason"]) == ("ocr", "poor_ocr_layer")
    assert "flood gates" in " ".join(poor["lines"]["text"])
    (good,) = transcribe("scan.pdf", _scan_with_layer(SHOWN, SHOWN), TranscribeOptions()).pages
    assert (good["source"], good["source_reason"]) == ("text_layer", "good_text_layer")


def test_docmatix_reads_the_markdown_or_the_lines():
    page = {"lines": {"text": ["Page 1", "Total: 5"]}, "markdown": "| Item | Total |"}
    sample = {"__key__": "k", "json": __import__("json").dumps({"pages": [page]}).encode()}
    assert read_sample(sample).page_texts == ("| Item | Total |",)
    assert read_sample(sample, "lines").page_texts == ("Page 1 \n Total: 5",)


def test_our_model_layout_passes_the_generated_suite_better_than_the_bare_libraries():
    cases = page_suite.generated_cases()
    ours = page_suite.score(page_suite.ours("model"), cases)
    fast = page_suite.score(page_suite.ours("fast"), cases)
    bare = page_suite.score(page_suite.bare_get_text, cases)
    assert ours["passed"] >= ours["total"] - 1, ours["failed"]
    assert ours["passed"] > bare["passed"] and fast["passed"] > bare["passed"]


@pytest.mark.skipif(not REAL_PDFS.is_dir(), reason="../shared/realdata is not here")
def test_our_model_layout_on_real_pages():
    result = page_suite.score(page_suite.ours("model"), page_suite.real_cases(REAL_PDFS))
    assert result["passed"] / result["total"] >= 0.9, result["failed"]
