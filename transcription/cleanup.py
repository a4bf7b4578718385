"""Cleanup of derived text (Markdown, joined lines); the PDFA words keep what the PDF says.

PDFs made by TeX and older typesetters spell some letters as a spacing accent
next to a base letter ("J´an Min´aˇc"), keep typographic ligatures as single
glyphs ("ﬁ"), write quotes as pairs of single quotes (‘‘…’’ or ``…''), and
break words with a hyphen at the end of a line. A reader of the text (an LLM
asked for QA, a test looking for a phrase) wants "Ján Mináč", "fi", “…”
and whole words.
"""

import re
import unicodedata

# Spacing accents and the combining marks they stand for.
_SPACING_ACCENTS = {
    "\u00b4": "\u0301",  # ´ acute
    "\u02cb": "\u0300",  # ˋ grave
    "\u00a8": "\u0308",  # ¨ diaeresis
    "\u02c6": "\u0302",  # ˆ circumflex
    "\u02dc": "\u0303",  # ˜ tilde
    "\u00b8": "\u0327",  # ¸ cedilla
    "\u02c7": "\u030c",  # ˇ caron
    "\u02d8": "\u0306",  # ˘ breve
    "\u02d9": "\u0307",  # ˙ dot above
    "\u02da": "\u030a",  # ˚ ring above
    "\u02db": "\u0328",  # ˛ ogonek
    "\u02dd": "\u030b",  # ˝ double acute
    "\u00af": "\u0304",  # ¯ macron
}
_ACCENT_THEN_LETTER = re.compile("([" + "".join(_SPACING_ACCENTS) + r"])\s?([^\W\d_])")
_LIGATURES = re.compile("[\ufb00-\ufb06]")
_DOUBLE_OPEN = re.compile("\u2018\u2018|``")
_DOUBLE_CLOSE = re.compile("\u2019\u2019|''(?=\\W|$)")
_SOFT_HYPHEN = "\u00ad"
_LINE_END_HYPHEN = re.compile(r"(?<=[^\W\d_])[-\u2010]$")


def _compose(match: re.Match) -> str:
    accent, letter = match.group(1), match.group(2)
    base = "i" if letter == "\u0131" else "j" if letter == "\u0237" else letter  # dotless i, j
    composed = unicodedata.normalize("NFC", base + _SPACING_ACCENTS[accent])
    return composed if len(composed) == 1 else match.group(0)


def compose_accents(text: str) -> str:
    """A spacing accent before a letter, as one accented letter where Unicode has one."""
    return _ACCENT_THEN_LETTER.sub(_compose, text)


def expand_ligatures(text: str) -> str:
    return _LIGATURES.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)


def pair_quotes(text: str) -> str:
    """‘‘…’’ and ``…'' as “…”."""
    return _DOUBLE_CLOSE.sub("\u201d", _DOUBLE_OPEN.sub("\u201c", text))


def clean_text(text: str) -> str:
    """All the cleanups above, then Unicode NFC; soft hyphens go."""
    text = text.replace(_SOFT_HYPHEN, "")
    text = pair_quotes(expand_ligatures(compose_accents(text)))
    return unicodedata.normalize("NFC", text)


def join_lines(lines: list[str]) -> str:
    """Lines of one paragraph as running text. A word broken by a hyphen at a line end is
    made whole again when the next line goes on in lower case; before a capital or a
    digit the hyphen is part of the word ("Self-Driving", "pre-1990") and stays."""
    out = ""
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if out and out[-1] in "-\u2010" and _LINE_END_HYPHEN.search(out):
            out = (out[:-1] if line[0].islower() else out) + line
        else:
            out = f"{out} {line}" if out else line
    return out
