"""Where a text layer is not the whole story: text drawn as an image, and poor OCR layers.

- A page with a good text layer may still draw some of its text as a picture
  (a heading, a logo with words, a scanned insert). Picture regions large
  enough to hold text and holding no text-layer word are read with Tesseract,
  and the words it is confident of join the page's lines.
- A scan whose text is an invisible OCR layer (text render mode 3) carries
  whatever some earlier OCR made of it. A band of the page is read again with
  Tesseract; when Tesseract's confident words are mostly missing from the
  layer, the layer is poor and the page is OCRed afresh.
"""

import re
from dataclasses import replace

import pymupdf

from transcription.documents import MUPDF_LOCK
from transcription.ocr import ocr_image, render_page
from transcription.records import Box, Line, PageText, Word

MIN_REGION_POINTS = (60.0, 12.0)  # width, height of a picture that may hold words
MIN_REGION_SHARE = 0.01  # of the page area
MAX_REGIONS = 6  # picture regions read per page, at most
MIN_WORD_SCORE = 0.6  # OCR words kept from a picture region
MIN_REGION_WORDS = 1
THIN_LAYER_WORDS = 100  # a page with fewer text-layer words has every picture region read
BANNER_ASPECT = 3.0  # on other pages only banner-like pictures are (a heading, a title)
INVISIBLE_SHARE = 0.5  # share of a page's characters drawn invisibly: an OCR layer
SAMPLE_BAND = (0.3, 0.7)  # the part of the layer's text (top to bottom) read to judge it
MIN_SAMPLE_WORDS = 8
MIN_AGREEMENT = 0.6  # share of Tesseract's confident words the layer must hold
INVISIBLE = 3  # texttrace span type of invisible text
_WORD = re.compile(r"[^\W\d_]{3,}")


def invisible_share(page: pymupdf.Page) -> float:
    """Share of the page's characters drawn in text render mode 3 (invisible)."""
    counts = [0, 0]
    for span in page.get_texttrace():
        counts[span["type"] == INVISIBLE] += len(span["chars"])
    total = counts[0] + counts[1]
    return counts[1] / total if total else 0.0


def _inside(word_box: Box, region: Box) -> bool:
    x = (word_box[0] + word_box[2]) / 2
    y = (word_box[1] + word_box[3]) / 2
    return region[0] <= x <= region[2] and region[1] <= y <= region[3]


def image_text_regions(layer: PageText) -> list[Box]:
    """Picture regions that may hold text the layer does not have."""
    area = layer.width * layer.height
    regions = []
    words = [w.box for line in layer.lines for w in line.words]
    for box in layer.images:
        w, h = box[2] - box[0], box[3] - box[1]
        if w < MIN_REGION_POINTS[0] or h < MIN_REGION_POINTS[1] or w * h < MIN_REGION_SHARE * area:
            continue
        if any(_inside(word, box) for word in words):
            continue
        if len(words) >= THIN_LAYER_WORDS and w < BANNER_ASPECT * h:
            continue  # a figure on a page of text: its labels are not the page's text
        regions.append(box)
    return sorted(regions, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)[:MAX_REGIONS]


def _words_on_page(result, clip: Box, zoom: float) -> list[Line]:
    lines = []
    for line in result.page.lines:
        words = tuple(
            Word(
                w.text,
                (
                    clip[0] + w.box[0] / zoom,
                    clip[1] + w.box[1] / zoom,
                    clip[0] + w.box[2] / zoom,
                    clip[1] + w.box[3] / zoom,
                ),
                w.score,
            )
            for w in line.words
            if w.score >= MIN_WORD_SCORE and w.text.strip()
        )
        if len(words) >= MIN_REGION_WORDS and any(_WORD.search(w.text) for w in words):
            lines.append(Line(words))
    return lines


def read_regions(page: pymupdf.Page, regions: list[Box], lang: str, dpi: int, timeout_s) -> list:
    """The confident OCR lines of picture regions, in page coordinates."""
    zoom = dpi / 72
    found = []
    for region in regions:
        with MUPDF_LOCK:
            pix = page.get_pixmap(
                matrix=pymupdf.Matrix(zoom, zoom),
                clip=pymupdf.Rect(region),
                colorspace=pymupdf.csGRAY,
                alpha=False,
            )
        from PIL import Image

        image = Image.frombytes("L", (pix.width, pix.height), pix.samples)
        result = ocr_image(image, lang=lang, timeout_s=timeout_s, dpi=dpi, orientation="none")
        found += _words_on_page(result, region, zoom)
    return found


def with_lines(layer: PageText, extra: list[Line]) -> PageText:
    """The page with lines added where they sit: before the first line that starts below."""
    lines = list(layer.lines)
    for line in sorted(extra, key=lambda ln: ln.box[1]):
        top = line.box[1]
        at = next((i for i, old in enumerate(lines) if old.box[1] > top), len(lines))
        lines.insert(at, line)
    return replace(layer, lines=lines)


def _tokens(texts) -> set[str]:
    return {m.group(0).lower() for text in texts for m in _WORD.finditer(text)}


def ocr_layer_agreement(page: pymupdf.Page, layer: PageText, lang: str, dpi: int, timeout_s):
    """Share of Tesseract's confident words in a band of the page that the layer also has,
    or None when the band holds too little text to judge. The band is the middle of the
    part of the page where the layer has its text."""
    boxes = [w.box for line in layer.lines for w in line.words]
    if len(boxes) < MIN_SAMPLE_WORDS:
        return None
    first, last = min(b[1] for b in boxes), max(b[3] for b in boxes)
    top, bottom = (first + (last - first) * f for f in SAMPLE_BAND)
    band = (0.0, top, layer.width, bottom)
    layer_words = [w.text for line in layer.lines for w in line.words if _inside(w.box, band)]
    if len(layer_words) < MIN_SAMPLE_WORDS:
        return None
    with MUPDF_LOCK:
        image = render_page(page, dpi, max_pixels=None)
    zoom = dpi / 72
    crop = image.crop((0, round(top * zoom), image.width, round(bottom * zoom)))
    result = ocr_image(crop, lang=lang, timeout_s=timeout_s, dpi=dpi, orientation="none")
    ocr_words = _tokens(w.text for ln in result.page.lines for w in ln.words if w.score >= 0.7)
    if len(ocr_words) < MIN_SAMPLE_WORDS:
        return None
    return len(ocr_words & _tokens(layer_words)) / len(ocr_words)
