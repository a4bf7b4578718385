"""One input file -> its transcription (PDFA-layout json, page rows, optional page images).

For each page of a PDF the text layer is read; `--ocr auto` keeps it when it
is good (transcription.text_quality) and OCRs the page otherwise; `always` and
`never` force either way. Page images (TIFF frames, PNG, JPEG) have no text
layer and are OCRed. Every page records which source was used and why. Input
that cannot be transcribed comes back as a `Reject` with its reason.
"""

import json
from collections import Counter
from dataclasses import dataclass, field

import pymupdf
from PIL import Image

from corpusio.accounting import Reject
from corpusio.keys import content_key
from corpusio.names import printable
from corpusio.shards import Sample
from transcription.documents import MUPDF_LOCK, InputError, mupdf_reason, open_pdf, sniff
from transcription.layout import (
    LAYOUTS,
    blocks_from_regions,
    fast_blocks,
    lines_markdown,
    mark_furniture,
    model_layouts,
    with_picture_text,
    without_furniture,
)
from transcription.ocr import (
    BadImage,
    DecompressionBomb,
    OcrTimeout,
    PageTooLarge,
    TooManyFrames,
    is_blank,
    load_image_frames,
    ocr_image,
    page_has_no_marks,
    render_page,
)
from transcription.page_images import docmatix_png, render_for_docmatix
from transcription.pdfa import page_json, page_row
from transcription.records import Box, PageText, rotate_box
from transcription.regions import (
    INVISIBLE_SHARE,
    MIN_AGREEMENT,
    image_text_regions,
    invisible_share,
    ocr_layer_agreement,
    read_regions,
    with_lines,
)
from transcription.text_quality import judge_text_layer
from transcription.textlayer import extract_page
from transcription.vlm import SOURCE as VLM_SOURCE
from transcription.vlm import PageQuestion, VlmTranscriber, vlm_page
from transcription.vlm_requests import image_png, page_png

OCR_MODES = ("auto", "always", "never")
LOW_CONFIDENCE = 0.6  # mean word confidence of an OCR page below which its reason says so
LOW_CONFIDENCE_OCR = "low_confidence_ocr"
POOR_OCR_LAYER = "poor_ocr_layer"  # an invisible OCR layer Tesseract disagrees with
IMAGE_TEXT = "text_layer_and_image_text"  # good layer, plus words read from pictures
BLANK = "blank"  # the source_reason of a page without ink: not sent to Tesseract
POINTS_PER_INCH = 72
VLM_BATCH_PAGES = 32  # pages of one document asked about together (their PNGs in memory)


@dataclass(frozen=True)
class TranscribeOptions:
    dpi: int = 200
    ocr: str = "auto"
    lang: str = "eng"
    max_pages: int | None = 1000
    max_page_pixels: int = 60_000_000
    ocr_timeout_s: float = 120.0
    render_pages: bool = False
    layout: str = "model"
    accept_truncated: bool = False  # read what survives of a PDF cut short, and say so

    def __post_init__(self):
        if self.ocr not in OCR_MODES:
            raise ValueError(f"ocr must be one of {OCR_MODES}, got {self.ocr!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")


@dataclass
class Transcript:
    """A transcribed input: the original bytes, its pages as PDFA json, optional page PNGs."""

    key: str
    path: str
    input_type: str
    data: bytes
    pages: list[dict]
    page_images: list[bytes] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # where it came from, beyond its path (a WARC)
    counts: dict = field(default_factory=dict)  # more counts for the manifest (VLM pages)

    def document(self) -> dict:
        return {
            "pages": self.pages,
            "meta": {
                "source": printable(self.path),
                "input_type": self.input_type,
                "page_count": len(self.pages),
            }
            | self.meta,
        }

    def sample(self) -> Sample:
        members = {
            self.input_type: self.data,
            "json": json.dumps(self.document(), ensure_ascii=False, separators=(",", ":")).encode(),
        }
        for number, png in enumerate(self.page_images):
            members[f"{number:04d}.png"] = png
        return Sample(self.key, members)

    def page_rows(self) -> list[dict]:
        return [page_row(self.key, number, page) for number, page in enumerate(self.pages)]

    def stats(self) -> dict[str, int]:
        sources = [p["source"] for p in self.pages]
        return {
            "pages": len(self.pages),
            "pages_text_layer": sources.count("text_layer"),
            "pages_ocr": sources.count("ocr"),
            "pages_vlm": sources.count(VLM_SOURCE),
            "pages_rotated": sum(1 for p in self.pages if p["rotation"]),
            "pages_blank": sum(1 for p in self.pages if p["source_reason"] == BLANK),
            "words": sum(len(p["words"]["text"]) for p in self.pages),
        } | self.counts


def _upright(image: Image.Image, rotation: int) -> Image.Image:
    return image.rotate(-rotation, expand=True) if rotation else image


@dataclass
class _Page:
    """One page before its json: its text, where the text came from and why."""

    text: PageText
    source: str
    reason: str
    rotation: int = 0
    dpi: int | None = None
    size: tuple[float, float] | None = None  # width, height to record, when not the text's
    image_text: list = field(default_factory=list)  # (region, text) read from pictures

    def json(self) -> dict:
        page = page_json(self.text, self.source, self.reason, rotation=self.rotation, dpi=self.dpi)
        if self.size is not None:
            page["width"], page["height"] = (round(v, 3) for v in self.size)
        return page


def _ocr_page(
    image: Image.Image, options, reason: str, images: list[Box], scale: float, dpi: int | None
) -> _Page:
    """OCR an image; image boxes (in page units) follow the page into the upright pixel frame."""
    result = ocr_image(image, lang=options.lang, timeout_s=options.ocr_timeout_s, dpi=dpi)
    w, h = image.size
    scaled = [tuple(v * scale for v in box) for box in images]
    page = PageText(
        lines=result.page.lines,
        width=result.page.width,
        height=result.page.height,
        images=[rotate_box(b, w, h, result.rotation) for b in scaled],
    )
    if page.lines and result.mean_confidence < LOW_CONFIDENCE:
        reason = LOW_CONFIDENCE_OCR  # handwriting, a poor scan: Tesseract doubts its words
    return _Page(page, "ocr", reason, rotation=result.rotation, dpi=dpi)


def _check_text_layer(page, layer: PageText, options) -> tuple[PageText, bool, str, list]:
    """A second look at a good text layer (--ocr auto): is it a poor invisible OCR layer,
    or does the page draw text as pictures? Returns (layer, use it?, reason, image text)."""
    if invisible_share(page) > INVISIBLE_SHARE:
        agreement = ocr_layer_agreement(
            page, layer, options.lang, options.dpi, options.ocr_timeout_s
        )
        if agreement is not None and agreement < MIN_AGREEMENT:
            return layer, False, POOR_OCR_LAYER, []
        return layer, True, "good_text_layer", []
    regions = image_text_regions(layer)
    if not regions:
        return layer, True, "good_text_layer", []
    lines = read_regions(page, regions, options.lang, options.dpi, options.ocr_timeout_s)
    if not lines:
        return layer, True, "good_text_layer", []
    found = [
        (region, "\n".join(ln.text for ln in lines if _inside_box(ln.box, region)))
        for region in regions
    ]
    return with_lines(layer, lines), True, IMAGE_TEXT, [f for f in found if f[1]]


def _inside_box(box: Box, region: Box) -> bool:
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return region[0] <= x <= region[2] and region[1] <= y <= region[3]


def _pdf_pages(data: bytes, options: TranscribeOptions, asker=None):
    """(pages, page images); pages for the VLM go to `asker` as they are read."""
    doc = open_pdf(data, options.max_pages, allow_truncated=options.accept_truncated)
    pages, images = [], []
    for number in range(doc.page_count):
        with MUPDF_LOCK:
            page = doc[number]
            layer = extract_page(page)
            if options.ocr == "never":
                use_layer, reason = True, "ocr_disabled"
            elif options.ocr == "always":
                use_layer, reason = False, "ocr_forced"
            else:
                verdict = judge_text_layer(layer)
                use_layer, reason = verdict.use_text_layer, verdict.reason
        image_text = []
        if use_layer and options.ocr == "auto" and options.layout == "model":
            # outside the lock: it may run Tesseract
            layer, use_layer, reason, image_text = _check_text_layer(page, layer, options)
        with MUPDF_LOCK:
            blank = not use_layer and page_has_no_marks(page)
            if not use_layer and not blank:
                image = render_page(page, options.dpi, max_pixels=options.max_page_pixels)
                blank = is_blank(image)
            shown = render_for_docmatix(page) if options.render_pages else None
            question = None
            if asker is not None and asker.wants("text_layer" if use_layer else "ocr", blank):
                png = page_png(page, asker.vlm.options.longest_side)
                question = PageQuestion(number, png, blank, use_layer and not blank)
        if blank:  # nothing for Tesseract to read: its text layer, if any, is not shown
            empty = PageText([], layer.width, layer.height, layer.images)
            pages.append(_Page(empty, "text_layer", BLANK))
        elif use_layer:
            pages.append(_Page(layer, "text_layer", reason, image_text=image_text))
        else:
            scale = options.dpi / POINTS_PER_INCH
            ocred = _ocr_page(image, options, reason, layer.images, scale, options.dpi)
            # sizes stay in PDF points, turned with the page
            sideways = ocred.rotation in (90, 270)
            ocred.size = (layer.height, layer.width) if sideways else (layer.width, layer.height)
            pages.append(ocred)
        if shown is not None:
            images.append(docmatix_png(_upright(shown, pages[-1].rotation)))
        if question is not None:
            asker.add(question, pages)
    return pages, images


def _image_pages(data: bytes, options: TranscribeOptions, asker=None):
    """(pages, page images); pages for the VLM go to `asker` as they are read."""
    frames = load_image_frames(
        data, max_pixels=options.max_page_pixels, max_frames=options.max_pages
    )
    pages, images = [], []
    for number, frame in enumerate(frames):
        blank = is_blank(frame)
        question = None
        if asker is not None and asker.wants("ocr", blank):
            png = image_png(frame, asker.vlm.options.longest_side)
            question = PageQuestion(number, png, blank, False)
        if options.ocr == "never" or blank:
            empty = PageText(lines=[], width=frame.width, height=frame.height)
            reason = "ocr_disabled" if options.ocr == "never" else BLANK
            pages.append(_Page(empty, "ocr", reason))
        else:
            pages.append(_ocr_page(frame, options, "image_input", [], 1.0, None))
        if options.render_pages:
            images.append(docmatix_png(_upright(frame, pages[-1].rotation)))
        if question is not None:
            asker.add(question, pages)
    return pages, images


class _VlmAsker:
    """Collects a document's pages for the VLM and asks about them `batch` at a time, so a
    long document never holds more than `batch` page PNGs. Pages the VLM answered well
    become `vlm` pages; the others keep their read, with the reason. Keeps the counts
    for the manifest."""

    def __init__(self, key: str, vlm: VlmTranscriber):
        self.key, self.vlm = key, vlm
        self.pending: list[PageQuestion] = []
        self.counts = Counter()

    def wants(self, source: str, blank: bool) -> bool:
        return self.vlm.options.wants(source, blank)

    def add(self, question: PageQuestion, pages: list[_Page]) -> None:
        self.pending.append(question)
        if len(self.pending) >= VLM_BATCH_PAGES:
            self.flush(pages)

    def flush(self, pages: list[_Page]) -> None:
        replies = self.vlm.ask(self.key, self.pending) if self.pending else {}
        for question in self.pending:
            page = pages[question.number]
            reply = replies.get(question.number, "llm_bad_response")
            if not isinstance(reply, str):
                reply = vlm_page(reply, page.text, question)
            if isinstance(reply, str):
                page.reason = reply
                self.counts[f"vlm_fallback_{reply}"] += 1
            else:
                pages[question.number] = _Page(
                    reply.page, VLM_SOURCE, VLM_SOURCE, page.rotation, page.dpi, page.size
                )
                self.counts["vlm_words_unboxed"] += reply.unboxed
        self.pending = []


def _lay_out(pages: list[_Page], data: bytes, layout: str) -> None:
    """Blocks and Markdown for every page: the layout model for text-layer pages (with
    --layout model), heuristics for the others; page headers and footers across pages."""
    numbers = [i for i, p in enumerate(pages) if p.source == "text_layer" and p.text.lines]
    models = model_layouts(data, numbers) if layout == "model" and numbers else {}
    for number, page in enumerate(pages):
        if number in models:
            regions, page.text.markdown = models[number]
            page.text.blocks = blocks_from_regions(page.text, regions)
            for region, text in page.image_text:
                page.text.markdown = with_picture_text(page.text.markdown, regions, region, text)
        else:
            page.text.blocks = fast_blocks(page.text)
    for page, marked in zip(pages, mark_furniture([p.text for p in pages]), strict=True):
        if page.source == VLM_SOURCE:
            pass  # the VLM's Markdown already leaves page furniture out
        elif page.text.markdown:  # the model's: take out what the heuristics found besides
            page.text.markdown = without_furniture(page.text.markdown, marked, page.text)
        page.text.blocks = marked.blocks
        if not page.text.markdown:
            page.text.markdown = lines_markdown(page.text)


def transcribe(
    path: str,
    data: bytes,
    options: TranscribeOptions = TranscribeOptions(),
    meta=None,
    vlm: VlmTranscriber | None = None,
):
    """Transcribe one input file: a Transcript, or a Reject saying why not.

    `meta` (a WARC record's URL and offsets ...) goes into the transcript's meta.
    With `vlm`, the pages it selects are transcribed by the model (transcription.vlm).
    """
    key, counts = content_key(data), Counter()
    try:
        if not data:
            raise InputError("empty_file", "0 bytes")
        kind = sniff(data)
        if kind is None:
            raise InputError(
                "not_a_pdf", f"neither a PDF nor a page image: starts with {data[:16]!r}"
            )
        asker = _VlmAsker(key, vlm) if vlm is not None else None
        if kind == "pdf":
            pages, images = _pdf_pages(data, options, asker)
        else:
            pages, images = _image_pages(data, options, asker)
        if asker is not None:
            asker.flush(pages)
            counts = asker.counts
        _lay_out(pages, data if kind == "pdf" else b"", options.layout)
        pages = [page.json() for page in pages]
    except InputError as exc:
        return Reject(path, exc.reason, exc.detail)
    except pymupdf.mupdf.FzErrorBase as exc:
        return Reject(path, mupdf_reason(exc), str(exc)[:500])
    except OcrTimeout as exc:
        return Reject(path, "ocr_timeout", str(exc))
    except PageTooLarge as exc:
        return Reject(path, "page_too_large", str(exc))
    except TooManyFrames as exc:
        return Reject(path, "too_many_pages", str(exc))
    except DecompressionBomb as exc:
        return Reject(path, "decompression_bomb", str(exc))
    except BadImage as exc:
        return Reject(path, "bad_image", str(exc))
    return Transcript(key, path, kind, data, pages, images, dict(meta or {}), dict(counts))
