"""One input file -> its transcription (PDFA-layout json, page rows, optional page images).

For each page of a PDF the text layer is read; `--ocr auto` keeps it when it
is good (docmatix.text_quality) and OCRs the page otherwise; `always` and
`never` force either way. Page images (TIFF frames, PNG, JPEG) have no text
layer and are OCRed. Every page records which source was used and why. Input
that cannot be transcribed comes back as a `Reject` with its reason.
"""

import json
from dataclasses import dataclass, field

import pymupdf
from PIL import Image

from corpusio.accounting import Reject
from corpusio.keys import content_key
from corpusio.names import printable
from corpusio.shards import Sample
from docmatix.documents import MUPDF_LOCK, InputError, mupdf_reason, open_pdf, sniff
from docmatix.ocr import (
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
from docmatix.page_images import docmatix_png, render_for_docmatix
from docmatix.pdfa import page_json, page_row
from docmatix.records import Box, PageText, rotate_box
from docmatix.text_quality import judge_text_layer
from docmatix.textlayer import extract_page

OCR_MODES = ("auto", "always", "never")
BLANK = "blank"  # the source_reason of a page without ink: not sent to Tesseract
POINTS_PER_INCH = 72


@dataclass(frozen=True)
class TranscribeOptions:
    dpi: int = 200
    ocr: str = "auto"
    lang: str = "eng"
    max_pages: int | None = 1000
    max_page_pixels: int = 60_000_000
    ocr_timeout_s: float = 120.0
    render_pages: bool = False

    def __post_init__(self):
        if self.ocr not in OCR_MODES:
            raise ValueError(f"ocr must be one of {OCR_MODES}, got {self.ocr!r}")


@dataclass
class Transcript:
    """A transcribed input: the original bytes, its pages as PDFA json, optional page PNGs."""

    key: str
    path: str
    input_type: str
    data: bytes
    pages: list[dict]
    page_images: list[bytes] = field(default_factory=list)

    def document(self) -> dict:
        return {
            "pages": self.pages,
            "meta": {
                "source": printable(self.path),
                "input_type": self.input_type,
                "page_count": len(self.pages),
            },
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
            "pages_rotated": sum(1 for p in self.pages if p["rotation"]),
            "pages_blank": sum(1 for p in self.pages if p["source_reason"] == BLANK),
            "words": sum(len(p["words"]["text"]) for p in self.pages),
        }


def _upright(image: Image.Image, rotation: int) -> Image.Image:
    return image.rotate(-rotation, expand=True) if rotation else image


def _ocr_page_json(
    image: Image.Image, options, reason: str, images: list[Box], scale: float, dpi: int | None
):
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
    return page_json(page, "ocr", reason, rotation=result.rotation, dpi=dpi), result.rotation


def _pdf_pages(data: bytes, options: TranscribeOptions) -> tuple[list[dict], list[bytes]]:
    doc = open_pdf(data, options.max_pages)
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
            blank = not use_layer and page_has_no_marks(page)
            if not use_layer and not blank:
                image = render_page(page, options.dpi, max_pixels=options.max_page_pixels)
                blank = is_blank(image)
            shown = render_for_docmatix(page) if options.render_pages else None
        if blank:  # nothing for Tesseract to read: its text layer, if any, is not shown
            empty = PageText([], layer.width, layer.height, layer.images)
            pages.append(page_json(empty, "text_layer", BLANK))
            rotation = 0
        elif use_layer:
            pages.append(page_json(layer, "text_layer", reason))
            rotation = 0
        else:
            scale = options.dpi / POINTS_PER_INCH
            page_dict, rotation = _ocr_page_json(
                image, options, reason, layer.images, scale, options.dpi
            )
            # sizes stay in PDF points, turned with the page
            sideways = rotation in (90, 270)
            page_dict["width"], page_dict["height"] = (
                round(layer.height if sideways else layer.width, 3),
                round(layer.width if sideways else layer.height, 3),
            )
            pages.append(page_dict)
        if shown is not None:
            images.append(docmatix_png(_upright(shown, rotation)))
    return pages, images


def _image_pages(data: bytes, options: TranscribeOptions) -> tuple[list[dict], list[bytes]]:
    frames = load_image_frames(
        data, max_pixels=options.max_page_pixels, max_frames=options.max_pages
    )
    pages, images = [], []
    for frame in frames:
        if options.ocr == "never" or is_blank(frame):
            empty = PageText(lines=[], width=frame.width, height=frame.height)
            reason = "ocr_disabled" if options.ocr == "never" else BLANK
            pages.append(page_json(empty, "ocr", reason))
            rotation = 0
        else:
            page_dict, rotation = _ocr_page_json(frame, options, "image_input", [], 1.0, None)
            pages.append(page_dict)
        if options.render_pages:
            images.append(docmatix_png(_upright(frame, rotation)))
    return pages, images


def transcribe(path: str, data: bytes, options: TranscribeOptions = TranscribeOptions()):
    """Transcribe one input file: a Transcript, or a Reject saying why not."""
    try:
        if not data:
            raise InputError("empty_file", "0 bytes")
        kind = sniff(data)
        if kind is None:
            raise InputError(
                "not_a_pdf", f"neither a PDF nor a page image: starts with {data[:16]!r}"
            )
        if kind == "pdf":
            pages, images = _pdf_pages(data, options)
        else:
            pages, images = _image_pages(data, options)
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
    return Transcript(content_key(data), path, kind, data, pages, images)
