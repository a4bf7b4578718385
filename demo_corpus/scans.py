"""Scanned pages: known text, rasterised and degraded, with no usable text layer.

They exercise the OCR path: the text is laid out with a Base-14 font,
rendered at a set dpi, then skewed, blurred and speckled the way a desk
scanner would, so Tesseract has real work to do and its output can be scored
against the exact source text kept beside each file (`<stem>.gt.txt`, pages
separated by a form feed). Two PDFs carry an invisible text layer: one that
matches the image (a good OCR layer to keep) and one of nonsense symbols (a
broken layer the PDF stage must detect and replace by OCR).
"""

import io
import zlib
from pathlib import Path

import numpy as np
import pymupdf
from PIL import Image, ImageFilter

from demo_corpus.digital_pdfs import BODY, BOLD, save_pdf, wrap, write_lines
from demo_corpus.text import TextGen

OUT_DIR = "pdf/scanned"
A5 = pymupdf.paper_rect("a5")
MARGIN = 45
BODY_SIZE = 12.0
LEADING = 16.0
JPEG_QUALITY = 60
SPECKS = 40


class Layout:
    """One page of text: the lines to draw, where they go, and the ground truth they make."""

    def __init__(self, gen: TextGen, words: int = 190) -> None:
        width = A5.width - 2 * MARGIN
        bottom = A5.height - MARGIN
        self.lines: list[tuple[str, str, float, float]] = []
        self.title = gen.title()
        y = MARGIN + 20
        for line in wrap(self.title, width, BOLD, 14):
            self.lines.append((line, BOLD, 14, y))
            y += 20
        self.blocks = [[line for line, *_ in self.lines]]
        count = 0
        while count < words:
            sentences = [gen.sentence() for _ in range(3)]
            while sentences:
                lines = wrap(" ".join(sentences), width, BODY, BODY_SIZE)
                if y + LEADING * (0.6 + len(lines) - 1) <= bottom:
                    break
                sentences.pop()
            if not sentences:
                break
            y += LEADING * 0.6
            for line in lines:
                self.lines.append((line, BODY, BODY_SIZE, y))
                y += LEADING
            self.blocks.append(lines)
            count += sum(len(line.split()) for line in lines)

    @property
    def text(self) -> str:
        """Lines joined by newlines, paragraphs by a blank line: what OCR should read."""
        return "\n\n".join("\n".join(block) for block in self.blocks)

    def draw(self, page, render_mode: int = 0) -> None:
        for line, font, size, y in self.lines:
            write_lines(page, [line], MARGIN, y, font, size, render_mode=render_mode)

    def draw_garbage(self, page, gen: TextGen) -> None:
        """Invisible nonsense placed where the real words are, like a broken font mapping."""
        for line, _font, size, y in self.lines:
            junk = " ".join(gen.nonsense(len(word)) for word in line.split())
            page.insert_text((MARGIN, y), junk, fontname="helv", fontsize=size, render_mode=3)


def render(layout: Layout, dpi: int) -> Image.Image:
    """The clean page as an 8-bit grayscale image at `dpi`."""
    doc = pymupdf.open()
    page = doc.new_page(width=A5.width, height=A5.height)
    layout.draw(page)
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
    return Image.frombytes("L", (pix.width, pix.height), pix.samples)


def degrade(image: Image.Image, rng: np.random.Generator, dpi: int) -> tuple[Image.Image, float]:
    """Skew, blur, grey paper, noise and specks; return the image and its skew in degrees."""
    skew = float(rng.uniform(0.5, 1.5) * rng.choice([-1, 1]))
    image = image.rotate(skew, resample=Image.Resampling.BICUBIC, fillcolor=255)
    image = image.filter(ImageFilter.GaussianBlur(radius=0.5 * dpi / 200))
    pixels = np.asarray(image, dtype=np.float32)
    pixels = 238.0 - (255.0 - pixels) * 0.85
    pixels += rng.normal(0.0, 4.0, pixels.shape)
    rows = rng.integers(0, pixels.shape[0] - 2, SPECKS)
    cols = rng.integers(0, pixels.shape[1] - 2, SPECKS)
    for dr in range(2):
        for dc in range(2):
            pixels[rows + dr, cols + dc] = 60.0
    degraded = Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8))
    return degraded, round(skew, 3)


def scan(layout: Layout, dpi: int, rotation: int, rng: np.random.Generator):
    """The page as a scanner would deliver it, turned by `rotation` (0 or 180) in the pixels."""
    image, skew = degrade(render(layout, dpi), rng, dpi)
    if rotation == 180:
        image = image.transpose(Image.Transpose.ROTATE_180)
    return image, skew


def encode(image: Image.Image, fmt: str, dpi: int, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, dpi=(dpi, dpi), **options)
    return buffer.getvalue()


def image_page(doc: pymupdf.Document, image: Image.Image, dpi: int):
    """Add a page exactly the size of the scan at `dpi`, covered by its JPEG."""
    width, height = image.width * 72 / dpi, image.height * 72 / dpi
    page = doc.new_page(width=width, height=height)
    data = encode(image, "JPEG", dpi, quality=JPEG_QUALITY)
    page.insert_image(page.rect, stream=data)
    return page


def rng_for(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def write_gt(root: Path, stem: str, texts: list[str]) -> dict:
    path = f"{OUT_DIR}/{stem}.gt.txt"
    (root / path).write_text("\f".join(texts) + "\n", encoding="utf-8")
    return {"path": path, "kind": "ground-truth", "pages": len(texts)}


def scan_entry(path: str, kind: str, gt: dict, text_layer, dpis, rotations, skews, sizes):
    return {
        "path": path,
        "kind": kind,
        "pages": len(dpis),
        "text_layer": text_layer,
        "dpi": list(dpis),
        "rotation": list(rotations),
        "skew_degrees": list(skews),
        "pixel_size": [list(size) for size in sizes],
        "ground_truth": gt["path"],
    }


def mixed_pdf(root: Path, seed: int) -> list[dict]:
    """Three image-only pages at 150, 200 and 300 dpi; the last one is upside down."""
    stem, dpis, rotations = "scan_mixed_dpi", [150, 200, 300], [0, 0, 180]
    gen, rng = TextGen(seed, stem), rng_for(seed, stem)
    layouts = [Layout(gen) for _ in dpis]
    doc, skews, sizes = pymupdf.open(), [], []
    for layout, dpi, rotation in zip(layouts, dpis, rotations, strict=True):
        image, skew = scan(layout, dpi, rotation, rng)
        image_page(doc, image, dpi)
        skews.append(skew)
        sizes.append(image.size)
    path = f"{OUT_DIR}/{stem}.pdf"
    save_pdf(doc, root / path, "Scanned pages", "demo_corpus")
    gt = write_gt(root, stem, [layout.text for layout in layouts])
    entry = scan_entry(path, "scan-pdf", gt, False, dpis, rotations, skews, sizes)
    return [entry, gt]


def layered_pdf(root: Path, seed: int, stem: str, layer: str) -> list[dict]:
    """One 200 dpi scan with an invisible text layer: the true text or nonsense."""
    dpi = 200
    gen, rng = TextGen(seed, stem), rng_for(seed, stem)
    layout = Layout(gen)
    image, skew = scan(layout, dpi, 0, rng)
    doc = pymupdf.open()
    page = image_page(doc, image, dpi)
    if layer == "invisible-ocr":
        layout.draw(page, render_mode=3)
    else:
        layout.draw_garbage(page, gen)
    path = f"{OUT_DIR}/{stem}.pdf"
    save_pdf(doc, root / path, "Scanned page", "demo_corpus")
    gt = write_gt(root, stem, [layout.text])
    return [scan_entry(path, "scan-pdf", gt, layer, [dpi], [0], [skew], [image.size]), gt]


def bilevel(image: Image.Image) -> Image.Image:
    """Black and white, as fax-style archive scans (and IDL's TIFFs) are stored."""
    return image.point(lambda v: 255 if v > 150 else 0).convert("1", dither=Image.Dither.NONE)


def eight_grays(image: Image.Image) -> Image.Image:
    """Three-bit gray, so a lossless PNG of a noisy page stays small."""
    return image.point(lambda v: (v // 32) * 32 + 16)


def image_file(root: Path, seed: int, stem: str, dpi: int, fmt: str, prepare, **options):
    """A single scanned page saved as an image file rather than a PDF."""
    gen, rng = TextGen(seed, stem), rng_for(seed, stem)
    layout = Layout(gen)
    image, skew = scan(layout, dpi, 0, rng)
    image = prepare(image)
    suffix = fmt.lower()
    path = f"{OUT_DIR}/{stem}.{suffix}"
    (root / path).write_bytes(encode(image, fmt, dpi, **options))
    gt = write_gt(root, stem, [layout.text])
    entry = scan_entry(path, "scan-image", gt, False, [dpi], [0], [skew], [image.size])
    entry.update({"format": suffix, "mode": image.mode, "compression": options.get("compression")})
    return [entry, gt]


def write(root: Path, seed: int) -> list[dict]:
    """Write the scans and their ground truth under root/pdf/scanned."""
    root = Path(root)
    (root / OUT_DIR).mkdir(parents=True, exist_ok=True)
    return [
        *mixed_pdf(root, seed),
        *layered_pdf(root, seed, "scan_ocr_layer", "invisible-ocr"),
        *layered_pdf(root, seed, "scan_garbage_layer", "garbage"),
        *image_file(root, seed, "scan_tiff_page", 300, "TIFF", bilevel, compression="group4"),
        *image_file(root, seed, "scan_png_page", 150, "PNG", eight_grays),
    ]
