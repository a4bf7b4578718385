"""A model-free QA backend: simple extractive questions read straight off the chunk text.

It keeps the pipeline running end to end where no LLM is available, and is
labelled as such (`source = "offline-extractive"`). Its reply uses the same
`Q1:` / `A1:` text an LLM returns, so the same parser and filters apply.

What it asks, in document order, taking the kinds in turn:

- `Label: value` lines, and a `Label:` line followed by its value on the next
  line (forms): "What is the invoice number?" -> "INV-1".
- numbered section headings followed by prose: "What is the section titled X
  about?" -> the first usable sentence of that section.
- "About N percent of the X did Y." -> "What percentage of the X did Y?".
- "In <date>, X did Y." -> "According to the document, when was it that X did
  Y?", and other dates -> "Which date follows "<preceding words>" ...?".
- whole money amounts -> "Which amount follows "<preceding words>" ...?".

Choices:

- Every answer is a substring of the chunk text once runs of whitespace are
  collapsed to one space (section sentences may span wrapped lines); most
  are substrings of the raw text too.
- A pair that the Docmatix regex filter (docmatix.qa_filters) would drop is
  never produced: amounts with decimals ("$3.50", a `word.word` token), e-mail
  addresses, URLs and the like are skipped rather than generated and then
  rejected, so the rejects record shows the filter acting on model output,
  not on this stand-in.
- About four pairs per page, at most 12 per chunk, questions not repeated.
- Text with nothing to extract gives an empty reply (text "", no error), not
  `llm_empty`: no model failed, the chunk simply yields no pairs, and is
  counted downstream like a reply that parses to nothing.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import regex

from docmatix.qa_filters import docmatix_rule
from docmatix.qa_records import NEW_PAGE, QAPair
from llm.records import ChatRequest, Completion

PAIRS_PER_PAGE = 4
MAX_PAIRS = 12

_LABEL = r"(?P<label>[A-Z][\w()/%#&' -]{0,40}?)"
_KV_LINE = regex.compile(_LABEL + r"\s*:\s+(?P<value>\S.*)")
_LABEL_LINE = regex.compile(_LABEL + r"\s*:")
_HEADING = regex.compile(r"(?:\d{1,2}(?:\.\d{1,2})*\.?)\s+(?P<title>[A-Z][A-Za-z&,' -]{2,60})")
_NAMED_HEADINGS = {
    "abstract",
    "introduction",
    "background",
    "summary",
    "overview",
    "methods",
    "results",
    "discussion",
    "conclusion",
    "conclusions",
}
_CAPTION = regex.compile(r"(?i)(figure|fig|table|chart|image|photo)\b")
_SENTENCE_BREAK = regex.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
)
_FULL_DATE = (
    rf"(?:\d{{1,2}} {_MONTH} \d{{4}}|{_MONTH} \d{{1,2}}, \d{{4}}|{_MONTH} \d{{4}}"
    r"|\d{4}-\d{2}-\d{2})"
)
_DATE = rf"(?:{_FULL_DATE}|(?:19|20)\d{{2}})"
_DATE_FIRST = regex.compile(
    rf"(?:In|On|By|Since|Until|During) (?P<date>{_DATE}), (?P<rest>[A-Za-z].*[^.!?])[.!?]"
)
_DATE_ANY = regex.compile(rf"(?<![\w/-]){_FULL_DATE}(?![\w/-])")
_PLAIN_WORDS = regex.compile(r"[A-Za-z][A-Za-z'’-]*,?(?: [A-Za-z][A-Za-z'’-]*,?)*")
_DANGLING = {"a", "an", "the", "to", "of", "and", "or", "for", "in", "on", "at", "with", "by"}
_PERCENT = regex.compile(
    r"(?:(?:About|Around|Nearly|Almost|Over|Roughly|Some|Only|Just) )?"
    r"(?P<share>\d{1,3}(?: percent|%)) of (?P<rest>[a-z].*[^.!?])[.!?]"
)
_AMOUNT = regex.compile(r"(?<![\w.])[$€£]\d+(?:,\d{3})*(?:\.\d+)?(?![\d.])")


@dataclass(frozen=True)
class _Candidate:
    kind: str
    question: str
    answer: str


def passes_docmatix_filter(text: str) -> bool:
    """True when the original's regex filter would keep this question or answer."""
    return docmatix_rule(text) is None


def _words(text: str) -> int:
    return len(text.split())


def _label_phrase(label: str) -> str:
    """Lower-case a label for use inside a question, keeping acronyms and codes."""
    return " ".join(
        w if (w.isupper() and 1 < len(w) <= 4) or any(c.isdigit() for c in w) else w.lower()
        for w in label.split()
    )


def _good_label(label: str) -> bool:
    return _words(label) <= 5 and ". " not in label and not _CAPTION.match(label)


def _looks_cut(phrase: str) -> bool:
    """A phrase ending where a wrapped line would: on a comma or a small word."""
    last = phrase.split()[-1].lower() if phrase.split() else ""
    return phrase.endswith((",", ";", ":", "-")) or last in _DANGLING


def _good_value(value: str) -> bool:
    return (
        len(value) >= 2 and 0 < _words(value) <= 8 and ". " not in value and not _looks_cut(value)
    )


def _title_case(title: str) -> bool:
    return all(w[0].isupper() for w in title.split() if len(w) >= 4) and not _looks_cut(title)


def _heading_title(line: str) -> str | None:
    match = _HEADING.fullmatch(line)
    if match:
        title = match["title"].strip()
        if _words(title) <= 8 and _title_case(title) and not _CAPTION.match(title):
            return title
    if line.lower().rstrip(":") in _NAMED_HEADINGS:
        return line.rstrip(":")
    return None


def _sentences(block: list[str]) -> list[str]:
    return [s.strip() for s in _SENTENCE_BREAK.split(" ".join(block)) if s.strip()]


def _is_prose(sentence: str) -> bool:
    return 5 <= _words(sentence) <= 40 and sentence[-1] in ".!?" and sentence[0].isupper()


def _parse_lines(text: str) -> Iterator[tuple]:
    """The text as items: ("kv", label, value), ("heading", title) or ("block", sentences)."""
    lines = [line.strip() for line in text.split("\n")]
    block: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        item = None
        if line == NEW_PAGE:
            item = ("break",)
        elif (title := _heading_title(line)) is not None:
            item = ("heading", title)
        elif (kv := _KV_LINE.fullmatch(line)) and _good_label(kv["label"]):
            item = ("kv", kv["label"].strip(), kv["value"].strip())
        elif (lab := _LABEL_LINE.fullmatch(line)) and _good_label(lab["label"]):
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if _good_value(nxt) and not _LABEL_LINE.match(nxt) and nxt != NEW_PAGE:
                item = ("kv", lab["label"].strip(), nxt)
                i += 1
        if item is None:
            if line:
                block.append(line)
        else:
            if block:
                yield ("block", _sentences(block))
                block = []
            yield item
        i += 1
    if block:
        yield ("block", _sentences(block))


def _kv_candidate(label: str, value: str) -> _Candidate | None:
    if not _good_value(value):
        return None
    return _Candidate("field", f"What is the {_label_phrase(label)}?", value)


def _heading_candidate(title: str, sentences: list[str]) -> _Candidate | None:
    question = f"What is the section titled {title} about?"
    for sentence in sentences[:3]:
        if _is_prose(sentence) and passes_docmatix_filter(sentence):
            return _Candidate("section", question, sentence)
    return None


def _preceding_words(sentence: str, start: int, limit: int = 8) -> str | None:
    """The plain words just before a match, to point at it in a question."""
    words = sentence[:start].rstrip(" ,;:(").split()[-limit:]
    phrase = " ".join(words)
    if len(words) < 3 or not _PLAIN_WORDS.fullmatch(phrase):
        return None
    return phrase


def _sentence_candidates(sentence: str) -> Iterator[_Candidate]:
    if match := _PERCENT.fullmatch(sentence):
        yield _Candidate("percent", f"What percentage of {match['rest']}?", match["share"])
    if (match := _DATE_FIRST.fullmatch(sentence)) and _words(match["rest"]) <= 20:
        yield _Candidate(
            "date",
            f"According to the document, when was it that {match['rest']}?",
            match["date"],
        )
    else:
        for match in _DATE_ANY.finditer(sentence):
            if prefix := _preceding_words(sentence, match.start()):
                yield _Candidate(
                    "date", f'Which date follows "{prefix}" in the document?', match[0]
                )
    for match in _AMOUNT.finditer(sentence):
        if "." in match[0]:
            continue
        if prefix := _preceding_words(sentence, match.start()):
            yield _Candidate(
                "amount", f'Which amount follows "{prefix}" in the document?', match[0]
            )


def _candidates(text: str) -> Iterator[_Candidate]:
    items = list(_parse_lines(text))
    for n, item in enumerate(items):
        if item[0] == "kv":
            candidate = _kv_candidate(item[1], item[2])
            if candidate:
                yield candidate
        elif item[0] == "heading":
            following = items[n + 1] if n + 1 < len(items) else None
            if following and following[0] == "block":
                candidate = _heading_candidate(item[1], following[1])
                if candidate:
                    yield candidate
        elif item[0] == "block":
            for sentence in item[1]:
                yield from _sentence_candidates(sentence)


def _interleave(candidates: Iterable[_Candidate]) -> list[_Candidate]:
    """Take the kinds in turn (each in document order) so a chunk gets a mix."""
    by_kind: dict[str, list[_Candidate]] = {}
    for candidate in candidates:
        by_kind.setdefault(candidate.kind, []).append(candidate)
    queues = list(by_kind.values())
    mixed = []
    for rank in range(max((len(q) for q in queues), default=0)):
        mixed += [q[rank] for q in queues if rank < len(q)]
    return mixed


def extract_pairs(text: str, max_pairs: int | None = None) -> list[QAPair]:
    """Grounded, filter-safe QA pairs for a chunk text, deterministic."""
    if max_pairs is None:
        pages = text.count(f"\n{NEW_PAGE}\n") + 1
        max_pairs = min(PAIRS_PER_PAGE * pages, MAX_PAIRS)
    flat = " ".join(text.split())
    pairs, seen = [], set()
    for candidate in _interleave(_candidates(text)):
        question, answer = candidate.question, candidate.answer
        if question.lower() in seen or answer not in flat:
            continue
        if not (passes_docmatix_filter(question) and passes_docmatix_filter(answer)):
            continue
        seen.add(question.lower())
        pairs.append(QAPair(question, answer))
        if len(pairs) >= max_pairs:
            break
    return pairs


def format_pairs(pairs: list[QAPair]) -> str:
    """The pairs in the numbered text format a model is asked for."""
    return "\n\n".join(
        f"Q{n}: {p.question}\nA{n}: {p.answer}" for n, p in enumerate(pairs, start=1)
    )


class OfflineBackend:
    """The model-free backend: extractive QA from each request's `chunk_text`."""

    name = "offline-extractive"

    def __init__(self, max_pairs: int | None = None) -> None:
        """`max_pairs` per chunk; None means about four per page, at most MAX_PAIRS."""
        self.max_pairs = max_pairs

    def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        return [self._one(request) for request in requests]

    def _one(self, request: ChatRequest) -> Completion:
        pairs = extract_pairs(request.chunk_text or "", self.max_pairs)
        detail = f"{len(pairs)} pairs" if pairs else "nothing extractable"
        return Completion(id=request.id, text=format_pairs(pairs), source=self.name, detail=detail)

    def close(self) -> None:
        """Nothing to release."""
