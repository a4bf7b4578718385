"""A VLM's Markdown gets word boxes: its words aligned to the words of a text layer or OCR read.

VLM transcribers return text without positions, while the PDFA layout is words and
lines with boxes. The Markdown is reduced to its words (markup, HTML tags and LaTeX
commands out), both word sequences are normalised (case, accents kept, punctuation at
the edges dropped), and a sequence alignment pairs them: equal runs pair word for
word, and a replaced run of the same length pairs too (the model corrected an OCR
misread). Paired words keep the VLM's spelling and the read word's box and score;
lines regroup the paired words by the line their box came from, in the VLM's order.
Words the VLM added (no read word to pair with) are counted, never given an
invented box.
"""

import difflib
import re
import unicodedata
from dataclasses import dataclass

from transcription.records import Line, PageText, Word

_TAG = re.compile(r"<[^>]*>")
_LATEX_COMMAND = re.compile(r"\\[a-zA-Z]+\*?|\\[()\[\]]")
_MARKUP = re.compile(r"[#*_`|>~]+|\$+|^\s*[-+]\s+|^\s*\d+[.)]\s+", re.M)
_EDGES = re.compile(r"^\W+|\W+$")


@dataclass
class Aligned:
    page: PageText  # the VLM's words with boxes, grouped into lines
    paired: int  # VLM words that got a box
    unboxed: int  # VLM words with no read word to pair with


def markdown_words(markdown: str) -> list[str]:
    """The words a reader sees in the Markdown, without markup, tags or LaTeX commands."""
    text = _TAG.sub(" ", markdown)
    text = _LATEX_COMMAND.sub(" ", text)
    text = _MARKUP.sub(" ", text)
    return [w for w in text.replace("{", " ").replace("}", " ").split() if normalise_word(w)]


def normalise_word(word: str) -> str:
    return _EDGES.sub("", unicodedata.normalize("NFKC", word).casefold())


def align(markdown: str, read: PageText) -> Aligned:
    """The VLM's words with the boxes of the read words they pair with."""
    vlm = markdown_words(markdown)
    source = [(i, word) for i, line in enumerate(read.lines) for word in line.words]
    matcher = difflib.SequenceMatcher(
        None,
        [normalise_word(w.text) for _, w in source],
        [normalise_word(w) for w in vlm],
        autojunk=False,
    )
    pairs: list[tuple[int, int]] = []  # (read index, vlm index)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and a1 - a0 == b1 - b0):
            pairs.extend(zip(range(a0, a1), range(b0, b1), strict=True))
    lines: dict[int, list[Word]] = {}
    for a, b in pairs:
        line_index, word = source[a]
        lines.setdefault(line_index, []).append(Word(vlm[b], word.box, word.score))
    page = PageText(
        lines=[Line(tuple(words)) for words in lines.values()],
        width=read.width,
        height=read.height,
        images=list(read.images),
        markdown=markdown,
    )
    return Aligned(page, len(pairs), len(vlm) - len(pairs))
