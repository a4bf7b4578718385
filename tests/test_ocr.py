"""OCR: Tesseract reads the demo scans and real test images upright and accurately.

Scans are scored against the ground truth kept beside them (character error
rate after whitespace normalisation). Tesseract is slow, so each page is read
once per test session where several tests need it.
"""

import io
import os
import random
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pymupdf
import pytesseract
import pytest
from PIL import Image

from transcription import ocr
from transcription.ocr import (
    LanguageUnavailable,
    OcrTimeout,
    PageTooLarge,
    TesseractUnavailable,
    TooManyFrames,
    character_error_rate,
    check_tesseract,
    load_image_frames,
    looks_upside_down,
    ocr_image,
    render_page,
)
from transcription.records import rotate_box

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "pdf" / "scanned"
needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is absent")
MAX_CER = 0.03


def text_of(result: ocr.OcrPage) -> str:
    return "\n".join(line.text for line in result.page.lines)


def entry(index: dict, path: str) -> dict:
    (found,) = [e for e in index["files"] if e["path"] == path]
    return found


def ground_truth(root: Path, scan: dict) -> list[str]:
    return (root / scan["ground_truth"]).read_text(encoding="utf-8").split("\f")


def assert_sane_boxes(result: ocr.OcrPage) -> None:
    page = result.page
    assert page.lines and page.images == []
    for line in page.lines:
        for word in line.words:
            x0, y0, x1, y1 = word.box
            assert 0 <= x0 < x1 <= page.width and 0 <= y0 < y1 <= page.height, word
            assert 0.0 <= word.score <= 1.0


def unique_word_boxes(result: ocr.OcrPage) -> dict[str, tuple]:
    words = [w for line in result.page.lines for w in line.words if len(w.text) >= 6]
    counts: dict[str, int] = {}
    for w in words:
        counts[w.text] = counts.get(w.text, 0) + 1
    return {w.text: w.box for w in words if counts[w.text] == 1}


@pytest.fixture(scope="module")
def mixed(demo_corpus):
    root, index = demo_corpus
    scan = entry(index, "pdf/scanned/scan_mixed_dpi.pdf")
    return pymupdf.open(root / scan["path"]), scan, ground_truth(root, scan)


@pytest.fixture(scope="module")
def png_scan(demo_corpus):
    root, index = demo_corpus
    scan = entry(index, "pdf/scanned/scan_png_page.png")
    (image,) = load_image_frames((root / scan["path"]).read_bytes())
    return image, ground_truth(root, scan)[0]


@pytest.fixture(scope="module")
def png_read(png_scan):
    return ocr_image(png_scan[0])


# --- demo corpus ---------------------------------------------------------------------------


def test_200_dpi_scan_page_reads_within_3_percent(mixed):
    doc, scan, truth = mixed
    number = scan["dpi"].index(200)
    image = render_page(doc[number], 200)
    result = ocr_image(image)
    cer = character_error_rate(text_of(result), truth[number])
    assert cer <= MAX_CER, f"CER {cer:.4f}"
    assert (result.rotation, result.orientation, result.reads) == (0, ocr.UPRIGHT, 1)
    assert (result.page.width, result.page.height) == image.size
    assert result.mean_confidence > 0.85
    assert_sane_boxes(result)


def test_upside_down_scan_comes_out_upright_in_one_read(mixed):
    doc, scan, truth = mixed
    number = scan["rotation"].index(180)
    result = ocr_image(render_page(doc[number], 200))
    cer = character_error_rate(text_of(result), truth[number])
    assert result.rotation == 180
    assert cer <= MAX_CER, f"CER {cer:.4f}"
    # The pixel check turned it before reading: a second Tesseract pass would double its cost.
    assert (result.orientation, result.reads) == (ocr.FLIPPED, 1)
    assert_sane_boxes(result)


def test_png_page_reads_accurately(png_scan, png_read):
    image, truth = png_scan
    cer = character_error_rate(text_of(png_read), truth)
    assert cer <= MAX_CER, f"CER {cer:.4f}"
    assert png_read.rotation == 0 and image.mode == "L"
    assert_sane_boxes(png_read)


def test_bilevel_tiff_page_reads_accurately(demo_corpus):
    root, index = demo_corpus
    scan = entry(index, "pdf/scanned/scan_tiff_page.tiff")
    (image,) = load_image_frames((root / scan["path"]).read_bytes())
    assert image.mode == "1" and list(image.size) == scan["pixel_size"][0]
    result = ocr_image(image)
    cer = character_error_rate(text_of(result), ground_truth(root, scan)[0])
    assert cer <= MAX_CER, f"CER {cer:.4f}"
    assert result.rotation == 0


@pytest.mark.parametrize(
    ("needed", "transpose", "how"),
    [
        # Text running top to bottom: Tesseract reads it as vertical lines, boxes are turned.
        (270, Image.Transpose.ROTATE_270, ocr.VERTICAL_READ),
        # Text running bottom to top reads as junk first, then right after a quarter turn.
        (90, Image.Transpose.ROTATE_90, ocr.SECOND_READ),
    ],
)
def test_sideways_copy_is_detected_and_turned_upright(png_scan, png_read, needed, transpose, how):
    image, truth = png_scan
    result = ocr_image(image.transpose(transpose))
    cer = character_error_rate(text_of(result), truth)
    assert (result.rotation, result.orientation) == (needed, how)
    assert cer <= MAX_CER, f"CER {cer:.4f}"
    assert (result.page.width, result.page.height) == image.size
    upright = unique_word_boxes(png_read)
    turned = unique_word_boxes(result)
    shared = upright.keys() & turned.keys()
    assert len(shared) > 20
    offsets = [max(abs(a - b) for a, b in zip(upright[t], turned[t], strict=True)) for t in shared]
    assert np.median(offsets) <= 3


def test_pixel_check_flags_only_upside_down_text(png_scan):
    image = png_scan[0]
    assert looks_upside_down(image.transpose(Image.Transpose.ROTATE_180))
    assert not looks_upside_down(image)
    assert not looks_upside_down(image.transpose(Image.Transpose.ROTATE_90))
    assert not looks_upside_down(image.transpose(Image.Transpose.ROTATE_270))
    assert not looks_upside_down(Image.new("L", (600, 800), 255))


def test_tiny_timeout_raises_ocr_timeout(png_scan):
    started = time.monotonic()
    with pytest.raises(OcrTimeout, match="ran past"):
        ocr_image(png_scan[0], timeout_s=0.005)
    assert time.monotonic() - started < 5


def test_blank_page_is_too_little_text_and_thread_limit_is_set(monkeypatch):
    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    result = ocr_image(Image.new("L", (400, 300), 255))
    assert os.environ["OMP_THREAD_LIMIT"] == "1"
    assert result.page.lines == [] and result.rotation == 0
    assert (result.orientation, result.reads, result.mean_confidence) == (ocr.TOO_LITTLE_TEXT, 1, 0)
    assert (result.page.width, result.page.height) == (400, 300)


# --- setup errors --------------------------------------------------------------------------


def test_missing_language_data_is_a_clear_error():
    check_tesseract("eng")
    with pytest.raises(LanguageUnavailable, match="xyz"):
        ocr_image(Image.new("L", (50, 50), 255), lang="eng+xyz")


def test_missing_tesseract_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(TesseractUnavailable):
        ocr_image(Image.new("L", (50, 50), 255))


# --- images and pages ----------------------------------------------------------------------


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR claiming a size, then an IDAT cut off after a few bytes."""
    body = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    header = struct.pack(">I", 13) + body + struct.pack(">I", zlib.crc32(body))
    return b"\x89PNG\r\n\x1a\n" + header + struct.pack(">I", 4096) + b"IDAT" + bytes(16)


def test_page_too_large_is_raised_from_the_header():
    # No pixel data: any attempt to decode would fail with a different error.
    with pytest.raises(PageTooLarge, match="3000x3000"):
        load_image_frames(png_header_only(3000, 3000), max_pixels=1_000_000)
    with pytest.raises(PageTooLarge):  # beyond PIL's own bomb limit too
        load_image_frames(png_header_only(60_000, 60_000))


def test_frames_and_modes_are_made_tesseract_ready():
    size = (120, 80)
    mark = (slice(20, 40), slice(30, 60))  # rows, columns of a dark square
    gray = np.full(size[::-1], 255, np.uint8)
    gray[mark] = 0
    base = Image.fromarray(gray)
    palette = base.convert("P")
    palette.info["transparency"] = 255  # white is transparent: must come back white, not black
    cmyk = base.convert("RGB").convert("CMYK")
    deep = Image.fromarray(gray.astype(np.uint16) * 257)
    bilevel = base.convert("1")
    assert deep.mode == "I;16"
    buffer = io.BytesIO()
    palette.save(buffer, format="TIFF", save_all=True, append_images=[cmyk, deep, bilevel])
    frames = list(load_image_frames(buffer.getvalue()))
    assert [f.mode for f in frames] == ["RGB", "RGB", "L", "1"]
    for frame in frames:
        pixels = np.asarray(frame.convert("L"))
        assert frame.size == size
        assert pixels[mark].max() < 60 and pixels[60:, :].min() > 200
    with pytest.raises(TooManyFrames):
        load_image_frames(buffer.getvalue(), max_frames=3)
    rgba = Image.new("RGBA", size, (0, 0, 0, 0))
    assert np.asarray(ocr.tesseract_ready(rgba)).min() == 255


def test_render_page_shows_the_page_as_displayed():
    doc = pymupdf.open()
    page = doc.new_page(width=300, height=200)
    page.insert_text((20, 40), "Hello", fontsize=20)
    page.set_rotation(90)
    image = render_page(page, 144)
    assert image.mode == "L" and image.size == (400, 600)
    assert image.info["dpi"] == (144, 144)
    with pytest.raises(PageTooLarge):
        render_page(page, 144, max_pixels=100_000)


def test_turning_boxes_matches_turning_the_image():
    pixels = np.zeros((50, 80), np.uint8)
    pixels[5:15, 10:30] = 255  # rows y0..y1, columns x0..x1
    image = Image.fromarray(pixels)
    for rotation in (0, 90, 180, 270):
        turned = np.asarray(ocr._turn(image, rotation))
        ys, xs = np.nonzero(turned)
        expected = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert rotate_box((10, 5, 30, 15), 80, 50, rotation) == expected, rotation


def slow_levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def test_character_error_rate():
    assert character_error_rate("sitting", "kitten") == pytest.approx(3 / 6)
    assert character_error_rate("a  b\n\nc ", " a b c") == 0.0
    assert character_error_rate("", "") == 0.0 and character_error_rate("x", "") == 1.0
    assert character_error_rate("", "abcd") == 1.0
    rng = random.Random(7)
    for _ in range(30):
        a = "".join(rng.choice("abc é") for _ in range(rng.randint(0, 40)))
        b = "".join(rng.choice("abc é") for _ in range(rng.randint(1, 40)))
        ref = " ".join(b.split()) or "x"
        hyp = " ".join(a.split())
        assert character_error_rate(hyp, ref) == slow_levenshtein(hyp, ref) / len(ref)
    long = "lorem ipsum dolor sit amet " * 150
    started = time.perf_counter()
    assert character_error_rate(long[::-1], long) > 0.5
    assert time.perf_counter() - started < 2


# --- real scans ----------------------------------------------------------------------------


@needs_realdata
@pytest.mark.parametrize(
    ("stem", "bound"),
    # The project requires <= 10%; eurotext mixes six languages and only eng is installed.
    [("tess_phototest", 0.03), ("tess_eurotext", 0.06)],
)
def test_tesseract_test_images(stem, bound):
    (image,) = load_image_frames((REALDATA / f"{stem}.tif").read_bytes())
    result = ocr_image(image)
    cer = character_error_rate(text_of(result), (REALDATA / f"{stem}.gt.txt").read_text())
    assert cer <= bound, f"{stem}: CER {cer:.4f}"
    assert result.rotation == 0


@needs_realdata
def test_cardinal_rotations_come_out_upright():
    doc = pymupdf.open(REALDATA / "ocrmypdf_cardinal-rotations.pdf")
    results = [ocr_image(render_page(page, 200)) for page in doc]
    assert [r.rotation for r in results] == [0, 270, 180, 90]
    reference = text_of(results[0])
    upright = unique_word_boxes(results[0])
    assert len(reference) > 3000 and "LinnSequencer" in reference
    for result in results[1:]:
        assert character_error_rate(text_of(result), reference) <= 0.01
        assert (result.page.width, result.page.height) == (results[0].page.width, 2200.0)
        boxes = unique_word_boxes(result)
        offsets = [
            max(abs(a - b) for a, b in zip(upright[t], boxes[t], strict=True))
            for t in upright.keys() & boxes.keys()
        ]
        assert len(offsets) > 100 and np.median(offsets) <= 3
