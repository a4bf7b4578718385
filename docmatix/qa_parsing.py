"""Turn an LLM reply into question-answer pairs.

Two parsers share one result type:

- faithful: the original Docmatix parse, kept bit-for-bit so its pair counts and texts can be
  reproduced. One DOTALL regex finds `Qn:` ... `An:` blocks, an answer running until the next
  `Qn:` or the end of the reply; each side is whitespace-stripped, then a leading `Qn: ` /
  `An: ` (with exactly one space) is removed. Anything else in the answer block (a closing
  "I hope this helps", a second paragraph) stays in the answer, and the regex filters later
  drop many of those pairs.
- robust (default): a line-based state machine for what models really write: `Q:`/`A:`
  without numbers, `Question 1:`/`Answer:`, markdown bold, headers and list numbering, a
  preamble or a closing note, blank lines, mismatched numbering, CRLF. Text that belongs to
  no pair is returned, not silently lost, so bad replies can be counted.
"""

import re
from dataclasses import dataclass, field

from docmatix.qa_records import QAPair

_FAITHFUL_BLOCK = re.compile(r"(Q\d+:\s*.*?)(A\d+:\s*.*?)(?=(Q\d+:)|$)", re.DOTALL)
_FAITHFUL_Q_PREFIX = re.compile(r"^Q\d+: ")
_FAITHFUL_A_PREFIX = re.compile(r"^A\d+: ")
_FAITHFUL_Q_MARK = re.compile(r"Q\d+:")


@dataclass
class ParseResult:
    """Pairs found in one reply, and what could not be used.

    `unanswered` holds questions that got no (or an empty) answer; `leftover` holds other
    non-blank text outside any pair: preambles, closing notes, orphan answers, garbage.
    """

    pairs: list[QAPair] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    leftover: list[str] = field(default_factory=list)

    @property
    def unused(self) -> int:
        return len(self.unanswered) + len(self.leftover)


def parse_pairs(text: str, *, faithful: bool = False) -> ParseResult:
    """Parse `text` (an LLM reply) into pairs; `faithful=True` reproduces the original."""
    return _parse_faithful(text) if faithful else _parse_robust(text)


# --- faithful -------------------------------------------------------------------------------


def _parse_faithful(text: str) -> ParseResult:
    """The original's parse; the text between matched blocks is reported, not used."""
    result = ParseResult()
    end = 0
    for match in _FAITHFUL_BLOCK.finditer(text):
        _faithful_gap(text[end : match.start()], result)
        question = _FAITHFUL_Q_PREFIX.sub("", match.group(1).strip())
        answer = _FAITHFUL_A_PREFIX.sub("", match.group(2).strip())
        result.pairs.append(QAPair(question, answer))
        end = match.end()
    _faithful_gap(text[end:], result)
    return result


def _faithful_gap(gap: str, result: ParseResult) -> None:
    """A gap is a preamble, or a trailing `Qn:` that never got an `An:`."""
    gap = gap.strip()
    if not gap:
        return
    if _FAITHFUL_Q_MARK.match(gap):
        result.unanswered.append(gap)
    else:
        result.leftover.append(gap)


# --- robust ---------------------------------------------------------------------------------

# Leading markdown and list decoration, removed one token at a time: a header `###`, a quote
# `>`, a bullet, bold/underline openers, a list number `1.` / `1)`.
_DECORATION = re.compile(r"#+\s*|>\s*|\*\*|__|[-*+\u2022]\s+|(?P<number>\d+[.)])\s+")

# A question or answer marker at the start of a (decoration-free) line: `Q1:`, `Q:`,
# `Question 2 -`, `**A1:**`, `Answer`, `A3)`. A bare letter needs a number or a colon,
# so "A. Smith" or "A" alone is text, not a marker.
_MARKER = re.compile(
    r"(?P<kind>question|answer|q|a)(?:\s*(?P<num>\d+))?[*_]*\s*"
    r"(?:(?P<colon>:)|[.)\-\u2013\u2014](?=\s)|$)[*_]*\s*",
    re.IGNORECASE,
)

# An answer marker later on a question line ("Q: Who signed? A: J. Doe"). Case-sensitive and
# after sentence punctuation, so "grade A: pass" inside a question does not split it.
_INLINE_ANSWER = re.compile(r"(?<=[?.!*)])\s+[*_]*(?:A\d*|Answer(?:\s*\d+)?)[*_]*\s*:[*_]*\s*")

# Meta text a model adds after (or between) its answers; it ends the current answer.
_CLOSING = re.compile(
    r"(?:please\s+)?note\b|notes?:|i\s+hope\b|hope\s+this\b|let\s+me\s+know\b|feel\s+free\b"
    r"|(?:these|the\s+above)\s+(?:questions|q\s*&\s*a|pairs)\b|disclaimer\b",
    re.IGNORECASE,
)

# Lines that only separate: a horizontal rule or a code fence.
_SEPARATOR = re.compile(r"(?:-{3,}|\*{3,}|_{3,}|`{3,}\w*)")


@dataclass
class _Line:
    kind: str  # "question", "answer", "text", "blank", "closing", "separator"
    text: str
    numbered: bool = False
    bare: str = ""  # the text without list/markdown decoration


def _strip_decoration(line: str) -> tuple[str, bool]:
    """Remove leading markdown/list tokens; also say whether a list number was among them."""
    numbered = False
    while True:
        match = _DECORATION.match(line)
        if not match or not match.end():
            return line, numbered
        numbered = numbered or match.group("number") is not None
        line = line[match.end() :]


def _classify(raw: str) -> _Line:
    line = raw.strip()
    if not line:
        return _Line("blank", "")
    if _SEPARATOR.fullmatch(line):
        return _Line("separator", "")
    bare, numbered = _strip_decoration(line)
    marker = _MARKER.match(bare)
    if marker and (marker.group("num") or marker.group("colon") or len(marker["kind"]) > 1):
        kind = "question" if marker["kind"][0] in "qQ" else "answer"
        return _Line(kind, bare[marker.end() :], numbered)
    if _CLOSING.match(bare):
        return _Line("closing", line)
    return _Line("text", line, numbered, bare)


def _promote_numbered_questions(lines: list[_Line]) -> None:
    """A numbered item ending in "?" and followed by an answer marker is a question."""
    following = None
    for line in reversed(lines):
        if line.kind == "text" and line.numbered and line.bare.rstrip("*_ ").endswith("?"):
            if following == "answer":
                line.kind, line.text = "question", line.bare
        if line.kind != "blank":
            following = line.kind


def _clean(text: str) -> str:
    """Strip whitespace and emphasis left over from a marker such as `**Q1: ...?**`."""
    text = text.strip()
    if text.count("**") % 2:
        text = text.removeprefix("**") if text.startswith("**") else text.removesuffix("**")
    if text.startswith("**") and text.endswith("**") and text.count("**") == 2 and len(text) > 4:
        text = text[2:-2]
    return text.strip()


class _PairBuilder:
    """Feeds classified lines through the states: outside a pair, in a question, in an answer.

    An answer ends at the next question, a closing note, a separator, or at a blank line
    (unless the answer so far ends with ":" and so introduces a list after the blank line).
    """

    def __init__(self) -> None:
        self.result = ParseResult()
        self.question: list[str] | None = None
        self.answer: list[str] | None = None
        self.after_blank = False

    def feed(self, line: _Line) -> None:
        handler = getattr(self, f"_on_{line.kind}")
        handler(line)

    def finish(self) -> ParseResult:
        self._close()
        return self.result

    def _on_question(self, line: _Line) -> None:
        self._close()
        question, answer = line.text, None
        inline = _INLINE_ANSWER.search(question)
        if inline:
            question, answer = question[: inline.start()], [question[inline.end() :]]
        self.question, self.answer = [question], answer

    def _on_answer(self, line: _Line) -> None:
        if self.question is not None and self.answer is None:
            self.answer = [line.text]
            self.after_blank = False
            return
        self._close()
        self.result.leftover.append(line.text.strip() or "<empty answer marker>")

    def _on_text(self, line: _Line) -> None:
        if self.answer is not None and self._answer_has_text():
            if self.after_blank and not self._answer_text().endswith(":"):
                self._close()
                self.result.leftover.append(line.text)
                return
            self.answer.append(line.text)
        elif self.answer is not None:
            self.answer.append(line.text)
        elif self.question is not None:
            self.question.append(line.text)
        else:
            self.result.leftover.append(line.text)
        self.after_blank = False

    def _on_blank(self, line: _Line) -> None:
        if self.answer is not None and self._answer_has_text():
            self.after_blank = True

    def _on_separator(self, line: _Line) -> None:
        if self.answer is not None:
            self._close()

    def _on_closing(self, line: _Line) -> None:
        self._close()
        self.result.leftover.append(line.text)

    def _answer_text(self) -> str:
        return "\n".join(self.answer or ()).strip()

    def _answer_has_text(self) -> bool:
        return any(part.strip() for part in self.answer or ())

    def _close(self) -> None:
        """End the current pair: keep it when both sides have text, else count the question."""
        if self.question is not None:
            question = _clean("\n".join(self.question))
            answer = _clean(self._answer_text())
            if question and answer:
                self.result.pairs.append(QAPair(question, answer))
            elif question:
                self.result.unanswered.append(question)
            elif answer:
                self.result.leftover.append(answer)
        self.question = self.answer = None
        self.after_blank = False


def _parse_robust(text: str) -> ParseResult:
    lines = [_classify(raw) for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    _promote_numbered_questions(lines)
    builder = _PairBuilder()
    for line in lines:
        builder.feed(line)
    return builder.finish()
