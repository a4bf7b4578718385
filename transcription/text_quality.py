"""Should a page's text layer be used, or the page OCRed?

A text layer is used when it has enough characters and they look like text.
It is rejected when it is missing (a scan, or text drawn as outlines), when
it is mostly unmapped glyphs (U+FFFD, private-use or control characters: a
font without a usable ToUnicode map), or when few of its characters are
letters or digits (symbol soup). An invisible OCR layer on a scan is a text
layer like any other and passes or fails on the same tests.
"""

import unicodedata
from dataclasses import dataclass

from transcription.records import PageText

MIN_CHARS = 20
MAX_BAD_GLYPH_RATIO = 0.10
MIN_ALNUM_RATIO = 0.50


@dataclass(frozen=True)
class Verdict:
    use_text_layer: bool
    reason: str


def _is_bad_glyph(char: str) -> bool:
    return char == "\ufffd" or unicodedata.category(char) in ("Co", "Cc", "Cn", "Cs")


def judge_text_layer(page: PageText) -> Verdict:
    chars = "".join(w.text for line in page.lines for w in line.words)
    if not chars:
        return Verdict(False, "no_text_layer")
    if len(chars) < MIN_CHARS:
        return Verdict(False, "too_little_text")
    if sum(map(_is_bad_glyph, chars)) / len(chars) > MAX_BAD_GLYPH_RATIO:
        return Verdict(False, "unmapped_glyphs")
    if sum(c.isalnum() for c in chars) / len(chars) < MIN_ALNUM_RATIO:
        return Verdict(False, "garbage_text_layer")
    return Verdict(True, "good_text_layer")
