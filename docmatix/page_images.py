"""Page images as Docmatix stored them: 150 dpi, longest side at most 2940 px (Lanczos), PNG."""

import io

import pymupdf
from PIL import Image

DOCMATIX_DPI = 150
MAX_SIDE = 2940


def cap_longest_side(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    longest = max(image.size)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def render_for_docmatix(page: pymupdf.Page) -> Image.Image:
    """The page as displayed (its /Rotate applied), RGB at 150 dpi."""
    pixmap = page.get_pixmap(dpi=DOCMATIX_DPI, colorspace=pymupdf.csRGB, alpha=False)
    return Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)


def docmatix_png(image: Image.Image) -> bytes:
    """RGB, longest side capped, PNG bytes; an input page image is not resampled otherwise."""
    buffer = io.BytesIO()
    cap_longest_side(image.convert("RGB")).save(buffer, format="PNG")
    return buffer.getvalue()
