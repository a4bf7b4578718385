"""The PDFA page layout, its schema check, and the text-layer-or-OCR decision."""

import pytest

from transcription.documents import InputError, open_pdf, sniff
from transcription.pdfa import check_document, normalise, page_json, page_row
from transcription.records import Line, PageText, Word, rotate_box
from transcription.text_quality import judge_text_layer


def _page(words_per_line, width=600.0, height=800.0, text="word"):
    lines = []
    for i, count in enumerate(words_per_line):
        y = 50 + 20 * i
        lines.append(
            Line(
                tuple(
                    Word(f"{text}{j}", (50 + 60 * j, y, 100 + 60 * j, y + 12), 0.9)
                    for j in range(count)
                )
            )
        )
    return PageText(lines, width, height, images=[(300, 400, 500, 600), (0, 40, 600, 80)])


def test_page_json_slices_positions_and_normalised_boxes():
    page = page_json(_page([2, 3]), "ocr", "image_input", rotation=180, dpi=200)
    assert page["lines"]["text"] == ["word0 word1", "word0 word1 word2"]
    assert page["lines"]["word_slice"] == [[0, 2], [2, 5]]
    assert page["words"]["line_pos"] == [[0, 0], [0, 1], [1, 0], [1, 1], [1, 2]]
    assert page["words"]["bbox"][0] == [
        round(50 / 600, 5),
        round(50 / 800, 5),
        round(50 / 600, 5),
        round(12 / 800, 5),
    ]
    assert page["images_bbox"] == [[0.5, 0.5, round(200 / 600, 5), 0.25], [0.0, 0.05, 1.0, 0.05]]
    # the second image overlaps the first line's words
    assert page["images_bbox_no_text_overlap"] == [[0.5, 0.5, round(200 / 600, 5), 0.25]]
    assert (page["source"], page["rotation"], page["dpi"]) == ("ocr", 180, 200)
    assert check_document({"pages": [page]}) == []
    row = page_row("k", 0, page)
    assert row["text"] == "word0 word1\nword0 word1 word2" and row["word_count"] == 5
    assert row["mean_confidence"] == pytest.approx(0.9)


def test_normalise_clips_to_the_page():
    assert normalise((-10, -10, 700, 900), 600, 800) == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "break_it, message",
    [
        (lambda p: p["lines"]["word_slice"].__setitem__(1, [3, 5]), "not contiguous"),
        (lambda p: p["words"]["line_pos"].__setitem__(0, [1, 0]), "inconsistent"),
        (lambda p: p["words"]["bbox"].__setitem__(0, [0.9, 0.1, 0.5, 0.1]), "not inside"),
        (lambda p: p["lines"]["text"].__setitem__(0, "other"), "differs from its words"),
        (lambda p: p["words"]["score"].__setitem__(0, 3.0), "0..1"),
        (lambda p: p["lines"].pop("score"), "expected keys"),
        (lambda p: p.__setitem__("source", "magic"), "source must be"),
    ],
)
def test_schema_check_finds_broken_pages(break_it, message):
    page = page_json(_page([2, 3]), "text_layer", "good_text_layer")
    break_it(page)
    problems = check_document({"pages": [page]})
    assert any(message in p for p in problems), problems


def test_text_layer_verdicts():
    assert judge_text_layer(_page([4, 4])).use_text_layer
    assert judge_text_layer(PageText([], 600, 800)).reason == "no_text_layer"
    assert judge_text_layer(_page([1], text="ab")).reason == "too_little_text"
    assert judge_text_layer(_page([5, 5], text="\ufffd\ufffd")).reason == "unmapped_glyphs"
    assert judge_text_layer(_page([5, 5], text="§¤¶")).reason == "garbage_text_layer"
    assert judge_text_layer(_page([5, 5], text="发票金额")).use_text_layer


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotate_box_keeps_boxes_inside_the_turned_frame(rotation):
    w, h = 200, 100
    x0, y0, x1, y1 = rotate_box((10, 20, 50, 30), w, h, rotation)
    new_w, new_h = (h, w) if rotation in (90, 270) else (w, h)
    assert 0 <= x0 < x1 <= new_w and 0 <= y0 < y1 <= new_h
    assert (x1 - x0) * (y1 - y0) == 40 * 10
    back = (360 - rotation) % 360
    assert rotate_box((x0, y0, x1, y1), new_w, new_h, back) == (10, 20, 50, 30)


def test_sniff_reads_content_not_names():
    assert sniff(b"%PDF-1.7\n") == "pdf"
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "png"
    assert sniff(b"II*\x00....") == "tif" and sniff(b"\xff\xd8\xff\xe0") == "jpg"
    assert sniff(b"<html>not a pdf</html>") is None


def test_open_pdf_reasons(demo_corpus):
    root, index = demo_corpus
    expected = {
        "empty": "empty_file",
        "truncated": "truncated_pdf",
        "encrypted": "encrypted",
        "not_pdf": "not_a_pdf",
    }
    bad = [e for e in index["files"] if e["kind"] == "pdf-bad"]
    assert {e["expect"] for e in bad} == set(expected)
    for entry in bad:
        with pytest.raises(InputError) as caught:
            open_pdf((root / entry["path"]).read_bytes())
        assert caught.value.reason == expected[entry["expect"]], entry["path"]
    report = (root / "pdf/digital/report.pdf").read_bytes()
    with pytest.raises(InputError, match="too_many_pages"):
        open_pdf(report, max_pages=1)
    assert open_pdf(report).page_count >= 3
