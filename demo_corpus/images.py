"""Deterministic synthetic images for the demo corpus.

Every picture is a pure function of an integer seed, so two builds with the
same seed write the same bytes. Photos are built from a random low-frequency
field, a gradient and a few shapes: the low-frequency part is what perceptual
hashes look at, so independent seeds give hashes far apart, while re-encoding,
resizing or a light crop of one picture keeps its hash close.
"""

import hashlib
import io
import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

PALETTE = {
    "red": (200, 40, 40),
    "orange": (235, 140, 30),
    "yellow": (240, 210, 60),
    "green": (60, 150, 70),
    "teal": (40, 150, 150),
    "blue": (40, 80, 200),
    "purple": (120, 60, 170),
    "pink": (230, 120, 170),
    "brown": (120, 80, 40),
    "gray": (128, 128, 128),
    "white": (245, 245, 240),
    "black": (25, 25, 30),
}

SIGN_WORDS = ("CAFE", "OPEN", "EXIT", "BAKERY", "PARK", "42", "SALE", "HOTEL", "BUS 7", "MARKET")

FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}
MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}


def derive_seed(seed: int, *labels) -> int:
    """A 63-bit seed from a base seed and labels; stable across processes (unlike hash())."""
    text = "/".join([str(seed), *map(str, labels)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font, so rendering needs no system fonts."""
    return ImageFont.load_default(size=size)


@dataclass
class Shape:
    """One drawn element, in words a caption or a question can use."""

    kind: str
    color: str
    region: str
    size: str
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)

    def phrase(self) -> str:
        return f"a {self.size} {self.color} {self.kind} in the {self.region}"


@dataclass
class Photo:
    """A synthetic picture and what is in it."""

    image: Image.Image
    background: tuple[str, str]
    shapes: list[Shape] = field(default_factory=list)
    sign: str | None = None

    def caption(self) -> str:
        """A one-sentence description that matches the pixels."""
        parts = [s.phrase() for s in self.shapes]
        listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        text = f"The picture shows {listed}, over a background that fades from "
        text += f"{self.background[0]} to {self.background[1]}."
        if self.sign:
            text += f' A small sign reads "{self.sign}".'
        return text


def _region(x: float, y: float) -> str:
    rows = ("upper", "middle", "lower")
    cols = ("left", "center", "right")
    row, col = rows[min(int(y * 3), 2)], cols[min(int(x * 3), 2)]
    if row == "middle" and col == "center":
        return "center"
    return f"{row} {col}" if row != "middle" else f"middle {col}"


def _pick_color(rng: np.random.Generator, exclude: tuple[str, ...] = ()) -> str:
    names = [n for n in PALETTE if n not in exclude]
    return names[int(rng.integers(len(names)))]


def _jitter(rgb: tuple[int, int, int], rng: np.random.Generator, amount: int = 20) -> tuple:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)


def _background(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, tuple]:
    """Gradient plus a coarse random field: the part perceptual hashes see."""
    first = _pick_color(rng)
    second = _pick_color(rng, exclude=(first,))
    c0 = np.array(_jitter(PALETTE[first], rng), dtype=np.float64)
    c1 = np.array(_jitter(PALETTE[second], rng), dtype=np.float64)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    t = xs / width * math.cos(angle) + ys / height * math.sin(angle)
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    pixels = c0 * (1 - t[..., None]) + c1 * t[..., None]
    coarse = rng.integers(0, 256, size=(5, 5, 3), dtype=np.uint8)
    field_img = Image.fromarray(coarse, "RGB").resize((width, height), Image.Resampling.BICUBIC)
    field_arr = np.asarray(field_img, dtype=np.float64) - 128.0
    pixels = pixels + 0.45 * field_arr
    return pixels, (first, second)


def _draw_shape(draw: ImageDraw.ImageDraw, rng: np.random.Generator, width: int, height: int):
    """One filled shape, described in the words a caption would use."""
    kind = ("ellipse", "rectangle", "triangle", "stripe")[int(rng.integers(4))]
    color = _pick_color(rng)
    fill = _jitter(PALETTE[color], rng)
    scale = rng.uniform(0.12, 0.4)
    w, h = scale * width, scale * height * rng.uniform(0.6, 1.4)
    cx, cy = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
    box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    if kind == "stripe":
        band = max(4, int(h / 6))
        box, cx = [0, cy - band, width, cy + band], width / 2
    if kind == "ellipse":
        draw.ellipse(box, fill=fill)
    elif kind == "triangle":
        draw.polygon([(cx, box[1]), (box[2], box[3]), (box[0], box[3])], fill=fill)
    else:
        draw.rectangle(box, fill=fill)
    size = "large" if scale > 0.3 else "medium" if scale > 0.2 else "small"
    unit = tuple(float(np.clip(v / d, 0, 1)) for v, d in zip(box, (width, height) * 2, strict=True))
    return Shape(kind, color, _region(cx / width, cy / height), size, unit)


def _draw_sign(draw: ImageDraw.ImageDraw, rng: np.random.Generator, width: int, height: int):
    """A short word on a light panel, so OCR-minded captions have something to read."""
    word = SIGN_WORDS[int(rng.integers(len(SIGN_WORDS)))]
    face = font(max(12, int(min(width, height) * rng.uniform(0.06, 0.1))))
    left, top, right, bottom = face.getbbox(word)
    x = rng.uniform(0.05, 0.6) * width
    y = rng.uniform(0.05, 0.8) * height
    pad = 4
    draw.rectangle([x - pad, y - pad, x + right + pad, y + bottom + pad], fill=(250, 250, 245))
    draw.text((x, y), word, fill=(20, 20, 20), font=face)
    return word


def photo(
    seed: int, width: int = 480, height: int = 360, sign: bool | None = None, grain: float = 3.0
) -> Photo:
    """A photo-like picture: gradient, coarse structure, shapes, grain, maybe a sign."""
    rng = np.random.default_rng(seed)
    pixels, background = _background(rng, width, height)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    shapes = [_draw_shape(draw, rng, width, height) for _ in range(int(rng.integers(2, 5)))]
    with_sign = bool(rng.integers(2)) if sign is None else sign
    word = _draw_sign(draw, rng, width, height) if with_sign else None
    image = image.filter(ImageFilter.GaussianBlur(radius=0.8))
    noise = rng.normal(0, 1, size=(height, width, 1)) * grain
    noisy = np.asarray(image, dtype=np.float64) + noise
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    return Photo(image=image, background=background, shapes=shapes, sign=word)


def encode(image: Image.Image, fmt: str, quality: int = 85) -> bytes:
    """Image bytes in `fmt` (jpeg/png/webp/gif) with fixed settings and no metadata."""
    buffer = io.BytesIO()
    kind = FORMATS[fmt]
    if kind == "JPEG":
        image.convert("RGB").save(buffer, "JPEG", quality=quality, optimize=False)
    elif kind == "WEBP":
        image.convert("RGB").save(buffer, "WEBP", quality=quality, method=4)
    elif kind == "PNG":
        image.save(buffer, "PNG", optimize=False, compress_level=6)
    else:
        image.save(buffer, "GIF")
    return buffer.getvalue()


def graphic(seed: int, width: int, height: int) -> Image.Image:
    """A flat, few-colour picture of the kind sites publish as PNG."""
    picture = photo(seed, width, height, grain=0.0).image
    return picture.quantize(colors=48, dither=Image.Dither.NONE).convert("RGB")


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    return encode(image, "jpeg", quality)


def png_bytes(image: Image.Image) -> bytes:
    return encode(image, "png")


def webp_bytes(image: Image.Image, quality: int = 80) -> bytes:
    return encode(image, "webp", quality)


def pixel_gif() -> bytes:
    """The 1x1 transparent placeholder lazy-loading pages put in `src`."""
    image = Image.new("P", (1, 1), 0)
    image.putpalette([255, 255, 255] * 2)
    buffer = io.BytesIO()
    image.save(buffer, "GIF", transparency=0)
    return buffer.getvalue()


def logo(seed: int, text: str = "N", size: int = 64) -> Image.Image:
    """A small flat site logo: the kind of image OBELICS drops by URL and size."""
    rng = np.random.default_rng(seed)
    color = _jitter(PALETTE[_pick_color(rng, exclude=("white",))], rng)
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.ellipse([2, 2, size - 3, size - 3], fill=color)
    face = font(int(size * 0.5))
    left, top, right, bottom = face.getbbox(text)
    draw.text(((size - right) / 2, (size - bottom) / 2), text, fill=(255, 255, 255), font=face)
    return image


def banner(seed: int, width: int = 900, height: int = 120, text: str = "") -> Image.Image:
    """A wide strip (aspect ratio far outside 1/2..2), like a page-top ad banner."""
    image = photo(seed, width, height, sign=False).image
    if text:
        draw = ImageDraw.Draw(image)
        draw.text((20, height // 3), text, fill=(255, 255, 255), font=font(height // 3))
    return image


# --- geometry diagrams -----------------------------------------------------


@dataclass
class Diagram:
    """A textbook-style geometry figure and the facts a question can ask about."""

    image: Image.Image
    kind: str
    facts: dict


def _label(draw, xy, text, size=18):
    draw.text(xy, text, fill=(0, 0, 0), font=font(size))


def _triangle_diagram(rng, width, height):
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    a = (rng.uniform(0.15, 0.35) * width, rng.uniform(0.7, 0.85) * height)
    b = (rng.uniform(0.65, 0.85) * width, rng.uniform(0.7, 0.85) * height)
    c = (rng.uniform(0.3, 0.7) * width, rng.uniform(0.12, 0.3) * height)
    shade = (225, 225, 225) if rng.random() < 0.5 else None
    draw.polygon([a, b, c], outline=(0, 0, 0), fill=shade, width=2)
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    draw.line([c, mid], fill=(0, 0, 0), width=1)
    for point, name, dx, dy in ((a, "A", -18, 4), (b, "B", 6, 4), (c, "C", -6, -24)):
        _label(draw, (point[0] + dx, point[1] + dy), name)
    _label(draw, (mid[0] - 6, mid[1] + 4), "D")
    angle = int(rng.integers(30, 80))
    return image, "triangle", {"angle_A": angle, "median": "CD"}


def _circle_diagram(rng, width, height):
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    cx, cy = width / 2 + rng.uniform(-30, 30), height / 2 + rng.uniform(-20, 20)
    r = min(width, height) * rng.uniform(0.3, 0.4)
    shade = (230, 230, 230) if rng.random() < 0.5 else None
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(0, 0, 0), fill=shade, width=2)
    angles = sorted(rng.uniform(0, 2 * math.pi, size=3))
    pts = [(cx + r * math.cos(t), cy + r * math.sin(t)) for t in angles]
    draw.line([pts[0], pts[1], pts[2], pts[0]], fill=(0, 0, 0), width=2)
    draw.line([(cx, cy), pts[0]], fill=(0, 0, 0), width=1)
    draw.line([(cx, cy), pts[1]], fill=(0, 0, 0), width=1)
    draw.ellipse([cx - 3, cy - 3, cx + 3, cy + 3], fill=(0, 0, 0))
    _label(draw, (cx + 6, cy - 4), "O")
    for (x, y), name in zip(pts, "ABC", strict=True):
        _label(draw, (x + (8 if x >= cx else -20), y + (4 if y >= cy else -22)), name)
    central = int(rng.integers(40, 140))
    return image, "circle", {"angle_AOB": central, "inscribed_ACB": central / 2}


def _parallel_diagram(rng, width, height):
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    y1, y2 = rng.uniform(0.25, 0.4) * height, rng.uniform(0.6, 0.75) * height
    draw.line([(20, y1), (width - 20, y1)], fill=(0, 0, 0), width=2)
    draw.line([(20, y2), (width - 20, y2)], fill=(0, 0, 0), width=2)
    x_top, x_bottom = rng.uniform(0.45, 0.7) * width, rng.uniform(0.2, 0.4) * width
    slope = (x_bottom - x_top) / (y2 - y1)
    top = (x_top - slope * (y1 - 10), 10)
    bottom = (x_bottom + slope * (height - 10 - y2), height - 10)
    draw.line([top, bottom], fill=(0, 0, 0), width=2)
    _label(draw, (width - 30, y1 - 24), "a")
    _label(draw, (width - 30, y2 - 24), "b")
    _label(draw, (x_top + 8, y1 - 24), "1")
    _label(draw, (x_bottom + 8, y2 + 2), "2")
    angle = int(rng.integers(35, 75))
    return image, "parallel_lines", {"angle_1": angle, "angle_2": 180 - angle}


DIAGRAM_MAKERS = {
    "triangle": _triangle_diagram,
    "circle": _circle_diagram,
    "parallel_lines": _parallel_diagram,
}


def diagram(seed: int, width: int = 320, height: int = 240, kind: str | None = None) -> Diagram:
    """A line drawing of a triangle, a circle or two parallel lines with labels."""
    rng = np.random.default_rng(seed)
    names = sorted(DIAGRAM_MAKERS)
    chosen = kind or names[int(rng.integers(len(names)))]
    inner_w = int(width * rng.uniform(0.6, 1.0))
    inner_h = int(height * rng.uniform(0.6, 1.0))
    figure, kind, facts = DIAGRAM_MAKERS[chosen](rng, inner_w, inner_h)
    image = Image.new("RGB", (width, height), (255, 255, 255))
    offset = (int(rng.integers(0, width - inner_w + 1)), int(rng.integers(0, height - inner_h + 1)))
    image.paste(figure, offset)
    return Diagram(image=image, kind=kind, facts=facts)


# --- receipts --------------------------------------------------------------


@dataclass
class Receipt:
    """A rendered receipt and where each text cell landed.

    `cells[i][j]` lists, for column j of line i, one (word, quad) per word,
    quad being the four corners (x1,y1 top-left, x2,y2 top-right, x3,y3
    bottom-right, x4,y4 bottom-left) in image pixels, as CORD annotates words.
    """

    image: Image.Image
    cells: list[list[list[tuple[str, dict]]]]
    roi: dict


def _rotate_point(x, y, cx, cy, degrees):
    """Where (x, y) goes when PIL rotates the image by `degrees` counter-clockwise."""
    t = math.radians(degrees)
    dx, dy = x - cx, y - cy
    return cx + dx * math.cos(t) + dy * math.sin(t), cy - dx * math.sin(t) + dy * math.cos(t)


def _quad(box, cx, cy, degrees):
    x0, y0, x1, y1 = box
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    quad = {}
    for i, (x, y) in enumerate(corners, start=1):
        rx, ry = _rotate_point(x, y, cx, cy, degrees)
        quad[f"x{i}"], quad[f"y{i}"] = int(round(rx)), int(round(ry))
    return quad


def _word_boxes(text: str, x: float, y: float, face) -> list[tuple[str, tuple]]:
    boxes, start = [], 0
    for word in text.split(" "):
        if word:
            offset = face.getlength(text[:start])
            left, top, right, bottom = face.getbbox(word)
            boxes.append((word, (x + offset + left, y + top, x + offset + right, y + bottom)))
        start += len(word) + 1
    return boxes


def receipt(seed: int, header: list[str], lines: list[list[str]], width: int = 360) -> Receipt:
    """Render receipt lines of up to three columns (name, count, price).

    A line is [left] or [left, right] or [left, middle, right]; the right
    column is right-aligned as on till slips. The paper is placed on a table
    and turned by a few degrees, and the word quads follow the turn.
    """
    rng = np.random.default_rng(seed)
    size = int(rng.integers(15, 19))
    face = font(size)
    line_h = int(size * 1.6)
    paper_h = line_h * (len(header) + len(lines) + 3)
    paper = Image.new("RGB", (width, paper_h), _jitter((246, 244, 236), rng, 6))
    draw = ImageDraw.Draw(paper)
    y = line_h
    for text in header:
        draw.text(((width - face.getlength(text)) / 2, y), text, fill=(30, 30, 30), font=face)
        y += line_h
    y += line_h // 2
    placed = []
    for cols in lines:
        positions = _column_positions(cols, width, face)
        row = []
        for text, x in zip(cols, positions, strict=True):
            draw.text((x, y), text, fill=(25, 25, 25), font=face)
            row.append(_word_boxes(text, x, y, face))
        placed.append(row)
        y += line_h
    left, top = int(rng.integers(20, 120)), int(rng.integers(20, 90))
    size = (width + left + int(rng.integers(20, 120)), paper_h + top + int(rng.integers(20, 90)))
    canvas = _table(int(rng.integers(2**31)), size)
    canvas.paste(paper, (left, top))
    degrees = float(rng.uniform(-3, 3))
    cx, cy = canvas.width / 2, canvas.height / 2
    fill = canvas.getpixel((0, 0))
    canvas = canvas.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=fill)

    def moved(box):
        return _quad((box[0] + left, box[1] + top, box[2] + left, box[3] + top), cx, cy, degrees)

    cells = [[[(word, moved(box)) for word, box in col] for col in row] for row in placed]
    roi = _quad((left, top, left + width, top + paper_h), cx, cy, degrees)
    return Receipt(image=canvas, cells=cells, roi=roi)


def _table(seed: int, size: tuple[int, int]) -> Image.Image:
    """A dark, blotchy surface for the receipt to lie on."""
    surface = photo(seed, size[0], size[1], sign=False, grain=2.0).image
    return Image.fromarray((np.asarray(surface, dtype=np.float64) * 0.5).astype(np.uint8), "RGB")


def _column_positions(cols: list[str], width: int, face) -> list[float]:
    left = 16.0
    if len(cols) == 1:
        return [left]
    right = width - 16 - face.getlength(cols[-1])
    if len(cols) == 2:
        return [left, right]
    return [left, width * 0.58, right]
