"""Page images as Docmatix stored them: 150 dpi, longest side at most 2940 px (Lanczos), PNG."""

import io

import pymupdf
from PIL import Image

DOCMATIX_DPI = 150
MAX_SIDE = 2940
RENDER_SIDE_LIMIT = 2 * MAX_SIDE


def cap_longest_side(image: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    longest = max(image.size)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def render_dpi(page: pymupdf.Page) -> int:
    """150 dpi, or less for a page so large that its longest side would pass twice the cap:
    it is shrunk to the cap anyway, and a 200-inch page at 150 dpi is 2.7 GB of RGB."""
    longest_inches = max(page.rect.width, page.rect.height) / 72
    if longest_inches * DOCMATIX_DPI <= RENDER_SIDE_LIMIT:
        return DOCMATIX_DPI
    return max(1, int(RENDER_SIDE_LIMIT / longest_inches))


def render_for_docmatix(page: pymupdf.Page) -> Image.Image:
    """The page as displayed (its /Rotate applied), RGB at 150 dpi (see render_dpi)."""
    pixmap = page.get_pixmap(dpi=render_dpi(page), colorspace=pymupdf.csRGB, alpha=False)
    return Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)


def docmatix_png(image: Image.Image) -> bytes:
    """RGB, longest side capped, PNG bytes; an input page image is not resampled otherwise."""
    buffer = io.BytesIO()
    cap_longest_side(image.convert("RGB")).save(buffer, format="PNG")
    return buffer.getvalue()
