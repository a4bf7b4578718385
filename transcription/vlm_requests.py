"""What a vision-language transcriber is sent and how its answer is read.

A page goes as one PNG rendered so that its longest side is `longest_side` pixels
(1288 by default, what olmOCR 2 was trained at), in a data URL, after a prompt
asking for the page's content as Markdown with tables in HTML and equations in
LaTeX, preceded by a short front matter: the primary language, whether the page
reads upright (and if not, the clockwise turn that would make it), and whether
it is mostly a table or a diagram. The front matter is olmOCR's; an answer
without one is read as Markdown only.
"""

import base64
import io
import re
from dataclasses import dataclass, field

import pymupdf
from PIL import Image

from llm.records import ChatRequest

LONGEST_SIDE = 1288
MAX_TOKENS = 8000
# Sampling temperature of each attempt at a page whose answer did not finish.
TEMPERATURES = (0.1, 0.1, 0.2, 0.3, 0.5, 0.8, 0.9, 1.0)
ROTATIONS = (0, 90, 180, 270)

PROMPT = (
    "Transcribe this document page. Start with a front matter block between two '---' "
    "lines giving: primary_language (an ISO code, or null when the page has no text), "
    "is_rotation_valid (true when the page reads upright), rotation_correction (0, 90, "
    "180 or 270: the clockwise turn that would make it upright), is_table and "
    "is_diagram (true when the page is mostly a table, or mostly a drawing). Then write "
    "the page's content in natural reading order as Markdown: headings with #, tables "
    "as HTML, equations as LaTeX between \\( \\) or \\[ \\]. Leave out running headers, "
    "footers and page numbers. Write nothing that is not on the page; for a page "
    "without text, write the front matter only."
)

_FRONT = re.compile(r"\A\s*---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.S)
_FIELD = re.compile(r"^\s*([a-z_]+)\s*:\s*(.*?)\s*$")


@dataclass
class VlmReply:
    """A parsed answer: the page's Markdown and what the front matter says about it."""

    markdown: str
    front: dict = field(default_factory=dict)

    @property
    def rotation(self) -> int:
        """Clockwise degrees that would make the page upright (0 when it already is)."""
        if self.front.get("is_rotation_valid", True) is not False:
            return 0
        turn = self.front.get("rotation_correction")
        return turn if turn in ROTATIONS else 0


def page_png(page: pymupdf.Page, longest_side: int = LONGEST_SIDE) -> bytes:
    """The page as displayed, its longest side `longest_side` pixels, as PNG bytes."""
    zoom = longest_side / max(page.rect.width, page.rect.height)
    pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    return pix.tobytes("png")


def image_png(image: Image.Image, longest_side: int = LONGEST_SIDE, turn: int = 0) -> bytes:
    """A page image scaled so its longest side is `longest_side`, turned `turn` degrees
    clockwise, as PNG bytes."""
    if turn:
        image = image.rotate(-turn, expand=True)
    scale = longest_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def turned_png(png: bytes, turn: int) -> bytes:
    """The same PNG turned `turn` degrees clockwise (a page the model found sideways)."""
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        return image_png(image, max(image.size), turn)


def page_request(
    request_id: str, png: bytes, max_tokens: int = MAX_TOKENS, temperature: float | None = None
) -> ChatRequest:
    """One chat request: the prompt and the page as a PNG data URL."""
    url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    content = (
        {"type": "text", "text": PROMPT},
        {"type": "image_url", "image_url": {"url": url}},
    )
    message = {"role": "user", "content": list(content)}
    return ChatRequest(request_id, (message,), max_tokens, temperature=temperature)


def parse_reply(text: str) -> VlmReply:
    """Front matter (when there is one) and Markdown of an answer."""
    match = _FRONT.match(text)
    if not match:
        return VlmReply(text.strip())
    front = {}
    for line in match.group(1).splitlines():
        found = _FIELD.match(line)
        if found:
            front[found.group(1)] = _value(found.group(2))
    return VlmReply(text[match.end() :].strip(), front)


def _value(raw: str):
    lowered = raw.strip().strip("'\"").lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    if lowered in ("null", "none", "~", ""):
        return None
    try:
        return int(lowered)
    except ValueError:
        return raw.strip().strip("'\"")
