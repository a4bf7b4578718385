"""OCR of page images with Tesseract: words, lines and boxes of the upright page.

One `image_to_data` call per recognition pass gives words, boxes and
confidences together. Orientation is settled without Tesseract's OSD, which
costs about as much as a recognition pass (its own layout analysis):

- a pixel check (about 10 ms a page) spots upside-down horizontal text from
  the ascender/descender balance of its lines, so such pages are read once;
- Tesseract reads a page turned a quarter clockwise (lines running top to
  bottom) as vertical lines with full confidence, so its boxes are turned;
- when a read still looks wrong (low confidence), the page is read again in
  the orientation its word shapes point to and the better read is kept.

Callers turn the exceptions into rejects: `OcrTimeout`, `PageTooLarge`,
`TooManyFrames`; `TesseractUnavailable` means the machine is not set up.
"""

import functools
import io
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pymupdf
import pytesseract
from PIL import Image, ImageOps, UnidentifiedImageError

from transcription.records import Line, PageText, Word, rotate_box

MAX_PAGE_PIXELS = 100_000_000  # about A0 at 300 dpi
LOW_CONFIDENCE = 60.0  # char-weighted mean confidence below which a read looks wrong
BETTER_BY = 10.0  # a second read must beat the first by this much to replace it
MIN_WORDS = 3  # fewer words than this are too little text to judge orientation
VERTICAL_SHARE = 0.6  # share of tall words that marks text read as vertical lines
MIN_CREDIBLE_DPI = 70  # Tesseract's own lower bound for a resolution it trusts
VERTICAL_SCRIPTS = ("chi_", "jpn", "kor", "_vert")

# How the rotation of a page was decided (OcrPage.orientation).
UPRIGHT = "upright"
FLIPPED = "upside-down check"
VERTICAL_READ = "vertical lines"
SECOND_READ = "second read"
FIRST_READ_KEPT = "first read kept"
TOO_LITTLE_TEXT = "too little text"
NOT_CHECKED = "not checked"


class OcrError(Exception):
    """Any failure of this module that a caller may turn into a reject."""


class OcrTimeout(OcrError):
    """Tesseract ran past the page's time limit."""


class DecompressionBomb(OcrError):
    """A small file whose frames would decode to far more bytes than any scan does."""


class PageTooLarge(OcrError):
    """A page image has more pixels than allowed; raised before decoding it."""


class TooManyFrames(OcrError):
    """An image file holds more frames (pages) than allowed."""


class BadImage(OcrError):
    """Bytes that no image decoder understands."""


class TesseractUnavailable(OcrError):
    """The tesseract binary cannot be run: a setup problem, not a bad page."""


class LanguageUnavailable(TesseractUnavailable):
    """Tesseract runs but lacks the traineddata for a requested language."""


@dataclass(frozen=True)
class OcrPage:
    """A page read by Tesseract, in the frame of the upright image."""

    page: PageText
    rotation: int  # degrees clockwise the input had to be turned to be upright
    mean_confidence: float  # mean word score, 0..1
    orientation: str  # how the rotation was decided, one of the constants above
    reads: int  # recognition passes spent on the page


@dataclass
class _Read:
    """One recognition pass over the input turned clockwise by `rotation`."""

    rotation: int
    width: int
    height: int
    lines: list[list[Word]]

    @property
    def words(self) -> list[Word]:
        return [word for line in self.lines for word in line]

    @property
    def quality(self) -> float:
        """Confidence (0..100) weighted by characters, so junk fragments weigh little."""
        words = self.words
        chars = sum(len(w.text) for w in words)
        return 100.0 * sum(w.score * len(w.text) for w in words) / chars if chars else 0.0

    @property
    def judgeable(self) -> bool:
        return len(self.words) >= MIN_WORDS

    @property
    def looks_wrong(self) -> bool:
        return self.judgeable and self.quality < LOW_CONFIDENCE

    @property
    def vertical(self) -> bool:
        """Most longer words are taller than wide: Tesseract followed vertical lines."""
        shapes = [w.box for w in self.words if len(w.text) >= 3]
        if len(shapes) < MIN_WORDS:
            return False
        tall = sum(1 for x0, y0, x1, y1 in shapes if y1 - y0 > x1 - x0)
        return tall >= VERTICAL_SHARE * len(shapes)


# --- public entry points -------------------------------------------------------------------


def ocr_image(
    image: Image.Image,
    lang: str = "eng",
    timeout_s: float | None = 120,
    *,
    dpi: int | None = None,
    orientation: str = "auto",
) -> OcrPage:
    """Read one page image: words and lines in Tesseract's reading order, upright boxes.

    `timeout_s` bounds all passes of the page together. `dpi` defaults to the
    image's own resolution tag (render_page sets it); without one Tesseract
    estimates it. `orientation="none"` trusts the input to be upright.
    """
    if orientation not in ("auto", "none"):
        raise ValueError(f"orientation must be 'auto' or 'none', not {orientation!r}")
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    check_tesseract(lang)
    image = tesseract_ready(image)
    resolution = dpi or _image_dpi(image)
    config = f"--dpi {resolution}" if resolution else ""
    deadline = time.monotonic() + timeout_s if timeout_s else None

    def read(rotation: int) -> _Read:
        return _recognise(image, rotation, lang, config, deadline, timeout_s)

    if orientation == "none":
        return _finish(read(0), 0, NOT_CHECKED, 1)
    start = 180 if looks_upside_down(image) else 0
    first = read(start)
    if not first.judgeable:
        return _finish(first, 0, TOO_LITTLE_TEXT, 1)
    if not first.looks_wrong:
        if first.vertical and not _reads_vertical_scripts(lang):
            return _finish(first, 270, VERTICAL_READ, 1)
        return _finish(first, 0, FLIPPED if start else UPRIGHT, 1)
    second = read((start + (90 if first.vertical else 180)) % 360)
    if second.quality < first.quality + BETTER_BY:
        return _finish(first, 0, FIRST_READ_KEPT, 2)
    turn = 270 if second.vertical and not _reads_vertical_scripts(lang) else 0
    return _finish(second, turn, SECOND_READ, 2)


def render_page(
    page: pymupdf.Page, dpi: int, max_pixels: int | None = MAX_PAGE_PIXELS
) -> Image.Image:
    """The page as displayed (its /Rotate applied) as an 8-bit gray image tagged with `dpi`.

    Gray reads as well as colour here (Tesseract thresholds a gray image
    anyway) at a third of the bytes. The size is checked before rendering.
    """
    scale = dpi / 72.0
    width, height = round(page.rect.width * scale), round(page.rect.height * scale)
    _check_pixels(width, height, max_pixels, f"page {page.number + 1} at {dpi} dpi")
    pix = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
    image = Image.frombuffer("L", (pix.width, pix.height), pix.samples, "raw", "L", pix.stride, 1)
    image.info["dpi"] = (dpi, dpi)
    return image


def load_image_frames(
    data: bytes, max_pixels: int | None = MAX_PAGE_PIXELS, max_frames: int | None = None
) -> Iterator[Image.Image]:
    """The frames of a page-image file (.tif multi-frame, .png, .jpg), ready for Tesseract,
    decoded one at a time as they are taken.

    The headers are checked before any frame is decoded, when this is called: the
    frame count, each frame's size, and the decoded size of all frames against
    the file's (DecompressionBomb beyond BOMB_RATIO times the file and
    BOMB_FLOOR). EXIF orientation is applied so frames are as a viewer shows them.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            source = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            raise PageTooLarge(str(exc)) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise BadImage(f"not a readable image: {exc}") from exc
        count = getattr(source, "n_frames", 1)
        if max_frames is not None and count > max_frames:
            raise TooManyFrames(f"{count} frames, more than the {max_frames} allowed")
        decoded = 0
        for index in range(count):
            _seek(source, index)
            _check_pixels(*source.size, max_pixels, f"frame {index + 1}")
            decoded += source.width * source.height * _BYTES_PER_PIXEL.get(source.mode, 4)
        if decoded > max(BOMB_FLOOR, BOMB_RATIO * len(data)):
            raise DecompressionBomb(
                f"{count} frames decode to {decoded >> 20} MiB from {len(data)} bytes"
            )
    return _frames(source, count)


_BYTES_PER_PIXEL = {"1": 0.125, "L": 1, "P": 1, "LA": 2, "I;16": 2, "RGB": 3, "YCbCr": 3}
BOMB_RATIO = 250  # decoded bytes per byte of file; a scanned text page is under 40
BOMB_FLOOR = 512 << 20  # smaller decoded sizes are never a bomb, whatever the ratio


def _seek(source: Image.Image, index: int) -> None:
    try:
        source.seek(index)
    except Image.DecompressionBombError as exc:
        raise PageTooLarge(str(exc)) from exc
    except (OSError, EOFError, ValueError) as exc:
        raise BadImage(f"frame {index + 1} cannot be read: {exc}") from exc


def _frames(source: Image.Image, count: int) -> Iterator[Image.Image]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        for index in range(count):
            _seek(source, index)
            try:
                frame = ImageOps.exif_transpose(source)  # a decoded copy, turned as shown
            except Image.DecompressionBombError as exc:
                raise PageTooLarge(str(exc)) from exc
            except (OSError, SyntaxError, ValueError) as exc:
                raise BadImage(f"frame {index + 1} cannot be decoded: {exc}") from exc
            yield tesseract_ready(frame)


BLANK_LEVELS = 16  # gray levels a page without ink spans, once reduced 8 times


def is_blank(image: Image.Image) -> bool:
    """No ink on the page: averaged over 8x8 blocks, its gray levels hardly vary.

    Specks of scanner noise average away; a line of text does not. A few
    milliseconds a page, against a second or more for Tesseract to find nothing.
    """
    gray = image.convert("L")
    if min(gray.size) >= 16:
        gray = gray.reduce(8)
    low, high = gray.getextrema()
    return high - low < BLANK_LEVELS


def page_has_no_marks(page: pymupdf.Page) -> bool:
    """A PDF page with nothing drawn on it at all: no text, no image, no vector path."""
    return not page.get_text("words") and not page.get_images() and not page.get_drawings()


def tesseract_ready(image: Image.Image) -> Image.Image:
    """The image in a mode Tesseract reads well: 1-bit, 8-bit gray or RGB, alpha on white.

    Palette, CMYK, alpha and 16-bit or float images are converted; the dpi tag is kept.
    """
    mode = image.mode
    if mode in ("1", "L", "RGB"):
        return image
    info_dpi = image.info.get("dpi")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "PA":
        image = image.convert("RGBA")
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        converted = _deep_to_gray(image)
    elif image.mode in ("LA", "La"):
        converted = _on_white(image.convert("LA"), "L")
    elif image.mode in ("RGBA", "RGBa"):
        converted = _on_white(image.convert("RGBA"), "RGB")
    elif image.mode in ("L", "RGB"):
        converted = image
    else:
        converted = image.convert("RGB")
    if info_dpi:
        converted.info["dpi"] = info_dpi
    return converted


def check_tesseract(lang: str = "eng") -> None:
    """Raise TesseractUnavailable or LanguageUnavailable unless `lang` ('eng+deu') can be read."""
    installed = _installed_languages(pytesseract.pytesseract.tesseract_cmd, _tessdata())
    missing = [part for part in lang.split("+") if part and part not in installed]
    if missing:
        raise LanguageUnavailable(
            f"Tesseract has no traineddata for {', '.join(missing)} "
            f"(installed: {', '.join(sorted(installed)) or 'none'})"
        )


def character_error_rate(hypothesis: str, reference: str) -> float:
    """Edit distance over the reference length, after collapsing all whitespace to one space.

    Line breaks and paragraph gaps then do not count, only the characters
    read. An empty reference gives 0.0 for an empty hypothesis, else 1.0.
    """
    hyp, ref = " ".join(hypothesis.split()), " ".join(reference.split())
    if not ref:
        return 0.0 if not hyp else 1.0
    return _levenshtein(hyp, ref) / len(ref)


def looks_upside_down(image: Image.Image) -> bool:
    """Whether the pixels show horizontal Latin-like text lines standing on their heads.

    Text lines carry far more ink above the x-height band (ascenders,
    capitals, digits) than below the baseline (descenders); upside down it is
    the reverse. Scored along rows and, to rule out sideways pages, along
    columns; only a clear horizontal verdict counts.
    """
    ink = _ink(image)
    if ink is None:
        return False
    rows, columns = _ascender_balance(ink), _ascender_balance(ink.T)
    return rows <= -0.25 and abs(rows) - abs(columns) >= 0.08


# --- recognition ---------------------------------------------------------------------------


def _recognise(
    image: Image.Image,
    rotation: int,
    lang: str,
    config: str,
    deadline: float | None,
    timeout_s: float | None,
) -> _Read:
    """One image_to_data pass over the image turned clockwise by `rotation`."""
    turned = _turn(image, rotation)
    if turned is image:
        turned = image.copy()
    turned.format = "PPM"  # an uncompressed temp file: PNG encoding alone costs ~0.2 s a page
    tsv = _run_tesseract(turned, lang, config, deadline, timeout_s)
    return _Read(rotation, turned.width, turned.height, _parse_tsv(tsv))


def _run_tesseract(
    image: Image.Image, lang: str, config: str, deadline: float | None, timeout_s: float | None
) -> str:
    left = 0.0
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise OcrTimeout(_timeout_message(image, timeout_s))
    try:
        return pytesseract.image_to_data(image, lang=lang, config=config, timeout=left)
    except pytesseract.TesseractNotFoundError as exc:
        raise TesseractUnavailable(str(exc)) from exc
    except pytesseract.TesseractError as exc:
        message = str(exc.message)
        if "Failed loading language" in message or "Error opening data file" in message:
            raise LanguageUnavailable(message) from exc
        raise OcrError(f"tesseract exited with {exc.status}: {message}") from exc
    except RuntimeError as exc:
        if "timeout" in str(exc).lower():
            raise OcrTimeout(_timeout_message(image, timeout_s)) from exc
        raise


def _timeout_message(image: Image.Image, timeout_s: float | None) -> str:
    return f"Tesseract ran past {timeout_s:g} s on a {image.width}x{image.height} page"


def _parse_tsv(tsv: str) -> list[list[Word]]:
    """Word rows of Tesseract's TSV grouped into lines by (block, paragraph, line)."""
    lines: dict[tuple[str, str, str], list[Word]] = {}
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5":
            continue
        text = cells[11].strip()
        if not text:
            continue
        left, top, width, height = (int(c) for c in cells[6:10])
        score = min(max(float(cells[10]) / 100.0, 0.0), 1.0)
        word = Word(text, (left, top, left + width, top + height), score)
        lines.setdefault((cells[2], cells[3], cells[4]), []).append(word)
    return list(lines.values())


def _finish(read: _Read, turn: int, how: str, reads: int) -> OcrPage:
    """The read as an upright page, its boxes turned a further `turn` degrees clockwise."""
    lines = [
        Line(tuple(_turn_word(w, turn, read.width, read.height) for w in words))
        for words in read.lines
    ]
    width, height = (read.height, read.width) if turn % 180 else (read.width, read.height)
    scores = [w.score for line in lines for w in line.words]
    return OcrPage(
        page=PageText(lines=lines, width=float(width), height=float(height)),
        rotation=(read.rotation + turn) % 360,
        mean_confidence=sum(scores) / len(scores) if scores else 0.0,
        orientation=how,
        reads=reads,
    )


def _reads_vertical_scripts(lang: str) -> bool:
    """Languages whose upright pages may really be set in vertical lines."""
    return any(tag in part for part in lang.split("+") for tag in VERTICAL_SCRIPTS)


# --- geometry ------------------------------------------------------------------------------

_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,  # PIL's names count counter-clockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def _turn(image: Image.Image, rotation: int) -> Image.Image:
    """The image turned clockwise by a multiple of 90 degrees."""
    rotation %= 360
    return image.transpose(_TRANSPOSE[rotation]) if rotation else image


def _turn_word(word: Word, rotation: int, width: float, height: float) -> Word:
    return Word(word.text, rotate_box(word.box, width, height, rotation % 360), word.score)


# --- pixel orientation check ---------------------------------------------------------------

STRIP = 48  # px; narrow enough that a skew of a degree or two barely blurs a line
MIN_RUN, MAX_RUN = 6, 200  # px; heights of a run of inked rows taken for a line piece
WORK_SIDE = 2400  # px; larger images are subsampled to about this long side


def _ink(image: Image.Image) -> np.ndarray | None:
    """Dark pixels (Otsu threshold) of the gray image, subsampled if it is large."""
    gray = np.asarray(image.convert("L") if image.mode != "L" else image)
    step = -(-max(gray.shape) // WORK_SIDE)
    if step > 1:
        gray = gray[::step, ::step]
    if gray.size == 0 or gray.min() == gray.max():
        return None
    return (gray <= _otsu(gray)).view(np.uint8)


def _otsu(gray: np.ndarray) -> int:
    """The gray level that best splits the histogram in two (pixels <= level are ink)."""
    hist = np.bincount(gray.ravel(), minlength=256).astype(np.float64)
    weight = np.cumsum(hist)
    mass = np.cumsum(hist * np.arange(256))
    total, total_mass = weight[-1], mass[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * weight / total - mass) ** 2 / (weight * (total - weight))
    return int(np.argmax(np.nan_to_num(between, nan=0.0, posinf=0.0)))


def _ascender_balance(ink: np.ndarray) -> float:
    """(ink above the densest band - ink below) / both, over text lines in vertical strips.

    Row profiles are taken in strips STRIP px wide; each run of inked rows of
    plausible height is a line piece whose rows at half its peak or denser are
    the x-height band. Positive for upright Latin text, negative upside down.
    """
    height, width = ink.shape
    strips = width // STRIP
    if strips == 0 or height < MIN_RUN:
        return 0.0
    profile = ink[:, : strips * STRIP].reshape(height, strips, STRIP).sum(axis=2, dtype=np.int32)
    # The strips end to end, each followed by a blank row so that no run spans two.
    flat = np.vstack([profile, np.zeros((1, strips), np.int32)]).T.ravel()
    edges = np.diff((flat > 0).view(np.int8), prepend=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = (ends - starts >= MIN_RUN) & (ends - starts <= MAX_RUN)
    starts, ends = starts[keep], ends[keep]
    if not len(starts):
        return 0.0
    lengths = ends - starts
    peaks = np.maximum.reduceat(flat, np.column_stack([starts, ends]).ravel())[::2]
    run_first = np.cumsum(lengths) - lengths  # where each run begins in `values`
    offset = np.arange(lengths.sum()) - np.repeat(run_first, lengths)  # row within its run
    values = flat[np.repeat(starts, lengths) + offset]
    dense = values * 2 >= np.repeat(peaks, lengths)
    band_top = np.minimum.reduceat(np.where(dense, offset, MAX_RUN), run_first)
    band_bottom = np.maximum.reduceat(np.where(dense, offset, -1), run_first)
    above = int(values[offset < np.repeat(band_top, lengths)].sum())
    below = int(values[offset > np.repeat(band_bottom, lengths)].sum())
    return (above - below) / (above + below) if above + below else 0.0


# --- image plumbing ------------------------------------------------------------------------


def _check_pixels(width: int, height: int, max_pixels: int | None, what: str) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise PageTooLarge(
            f"{what} is {width}x{height} = {width * height:,} pixels, over {max_pixels:,}"
        )


def _image_dpi(image: Image.Image) -> int | None:
    """The image's resolution tag when Tesseract would believe it, else None."""
    dpi = image.info.get("dpi")
    try:
        value = round(float(dpi[1] if isinstance(dpi, tuple | list) else dpi))
    except (TypeError, ValueError, IndexError):
        return None
    return value if MIN_CREDIBLE_DPI <= value <= 2400 else None


def _on_white(image: Image.Image, mode: str) -> Image.Image:
    """Composite an image with alpha onto white: transparent paper is paper, not black."""
    background = Image.new(image.mode, image.size, (255,) * len(image.getbands()))
    background.paste(image, mask=image.getchannel("A"))
    return background.convert(mode)


def _deep_to_gray(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit or float gray scaled into 8 bits (PIL's convert would clip it)."""
    values = np.asarray(image, dtype=np.float64)
    top = float(values.max()) if values.size else 0.0
    if image.mode == "F" and top <= 1.0:
        values = values * 255.0
    elif top > 255.0:
        values = values * (255.0 / (65535.0 if top <= 65535.0 else top))
    return Image.fromarray(np.clip(values, 0, 255).round().astype(np.uint8))


def _tessdata() -> str:
    return os.environ.get("TESSDATA_PREFIX", "")


@functools.lru_cache(maxsize=8)
def _installed_languages(command: str, tessdata: str) -> frozenset[str]:
    """Languages `tesseract --list-langs` reports, once per process and setting."""
    try:
        return frozenset(pytesseract.get_languages())
    except pytesseract.TesseractNotFoundError as exc:
        raise TesseractUnavailable(
            f"tesseract cannot be run ({command!r}); install tesseract-ocr"
        ) from exc


# --- character error rate ------------------------------------------------------------------


def _levenshtein(a: str, b: str) -> int:
    """Edit distance, one numpy row per character of `a`.

    Within a row, row[j] = min(up[j] + 1, diag[j - 1] + cost, row[j - 1] + 1);
    the last term unrolls to j + min over k <= j of (partial[k] - k), a running minimum.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    codes_b = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    offsets = np.arange(len(b) + 1)
    row = offsets.copy()
    for i, char in enumerate(a, start=1):
        cost = (codes_b != ord(char)).astype(np.int64)
        partial = np.empty_like(row)
        partial[0] = i
        np.minimum(row[1:] + 1, row[:-1] + cost, out=partial[1:])
        row = np.minimum.accumulate(partial - offsets) + offsets
    return int(row[-1])
