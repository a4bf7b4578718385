"""Check image bytes before they enter a shard: size limits first, then a full decode.

Shared by every pipeline that keeps images from outside (web pages, Cauldron sources).

Bytes from the web are untrusted. The pixel count is read from the header and checked before
any pixel is decoded, so a small file that claims a huge canvas (a decompression bomb) costs
nothing. Decoding runs to the end so a truncated download is caught here rather than by a
training job. Only common web raster formats are opened; Pillow's other plugins (EPS, which
shells out to Ghostscript, and many rarely-audited formats) are never tried.
"""

import io
from dataclasses import dataclass

from PIL import Image

DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
WEB_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "AVIF", "BMP", "TIFF")


@dataclass(frozen=True)
class ImageData:
    """Image bytes and what decoding them told us."""

    url: str
    data: bytes
    width: int
    height: int
    format: str  # lower-case PIL format name: jpeg, png, webp, gif ...


class ImageRejected(Exception):
    """Bytes that will not be kept, with a snake_case reason for the exclusion log."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def validate_image(
    url: str,
    data: bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ImageData:
    """Decode `data` fully and return it with its real size and format, or raise ImageRejected.

    Reasons: image_too_large_bytes, image_too_many_pixels, image_truncated, image_undecodable.
    Pillow's own bomb limit (Image.MAX_IMAGE_PIXELS) also applies on top of `max_pixels`.
    """
    if len(data) > max_bytes:
        raise ImageRejected("image_too_large_bytes", f"{len(data)} bytes > {max_bytes}")
    if not data:
        raise ImageRejected("image_undecodable", "empty body")
    try:
        return _decode(url, data, max_pixels)
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected("image_too_many_pixels", str(exc)) from exc
    except OSError as exc:
        reason = "image_truncated" if "truncated" in str(exc) else "image_undecodable"
        raise ImageRejected(reason, str(exc)) from exc
    except Exception as exc:  # Pillow plugins raise SyntaxError, ValueError, struct.error ...
        raise ImageRejected("image_undecodable", f"{type(exc).__name__}: {exc}") from exc


def _decode(url: str, data: bytes, max_pixels: int) -> ImageData:
    with Image.open(io.BytesIO(data), formats=WEB_FORMATS) as image:
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageRejected("image_undecodable", f"size {width}x{height}")
        if width * height > max_pixels:
            raise ImageRejected("image_too_many_pixels", f"{width}x{height} > {max_pixels} pixels")
        image.load()
        return ImageData(
            url=url, data=data, width=width, height=height, format=image.format.lower()
        )
