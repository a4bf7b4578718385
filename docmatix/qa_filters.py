"""Decide which parsed QA pairs to keep, and say why each dropped pair was dropped.

Rules run in a fixed order and a pair is charged to the first rule it fails:

1. `empty`: the question or the answer is empty or whitespace.
2. The original Docmatix patterns, in the original's order (`DOCMATIX_PATTERNS`). Each is
   searched (anywhere, not matched at the start), case-insensitive, without dot-matches-newline,
   on the question and then the answer exactly as parsed.
3. Our additions, each off in "docmatix" mode and on in "strict" mode:
   `question_length` / `answer_length` (character bounds), `ungrounded_number` (a number in the
   answer that is not in the source text), `ungrounded` (too few of the answer's content words
   in the source text), `near_duplicate` (the question repeats an earlier kept one).

Because the original's rules come first, a pair charged to an addition passed every original
rule: the docmatix-mode result is always `kept` plus the pairs charged to additions, so the
regex-only build stays reproducible from a strict run.
"""

import re
from collections import Counter
from dataclasses import dataclass, field

from docmatix.qa_records import QAPair

# Source: `is_valid_question_or_answer` in huggingface/docmatix (clean_and_create/load_data.py,
# create_only_with_pdfs/load_data.py); each applied with re.search(pattern, text, re.IGNORECASE).
_DOCMATIX_SOURCES: dict[str, str] = {
    "braces": r"\{.*?\}",
    "brackets": r"\[.*?\]",
    "tags": r"<.*?>",
    "ipv4": r"\b\d{1,3}(\.\d{1,3}){3}\b",
    "dotted_token": r"\w+\.\w+",
    "blank_line": r"\n\s*\n",
    "unanswerable": r"unanswerable",
    "nested_question": r"Q\d+: ",
    "nested_answer": r"A\d+: ",
}
DOCMATIX_PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(source, re.IGNORECASE) for name, source in _DOCMATIX_SOURCES.items()
}

_DOCMATIX_ITEMS = tuple(DOCMATIX_PATTERNS.items())

DOCMATIX_RULES: tuple[str, ...] = ("empty", *DOCMATIX_PATTERNS)
ADDED_RULES: tuple[str, ...] = (
    "question_length",
    "answer_length",
    "ungrounded_number",
    "ungrounded",
    "near_duplicate",
)
RULES: tuple[str, ...] = DOCMATIX_RULES + ADDED_RULES

_WORD = re.compile(r"\w+")
# A number with optional thousands separators or decimals: "1,250", "3.5", "2024".
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")

# Function words: they say nothing about whether an answer is grounded or two questions differ.
# Question words and negations stay out of this list: "why" vs "how" are different questions.
_STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at by for with from as into onto about over
    under after before between during through per via is are was were be been being am do does
    did has have had having it its this that these those there here their they them he she his
    her him we our us you your i me my can could would should will shall may might must also
    such than very more most some any each other own same just only both all which whose whom
    according document text page mentioned stated given""".split()
)
# Words an answer may hold without the source holding them: a bare "Yes" is grounded.
_NOT_EVIDENCE = _STOPWORDS | {"yes", "no", "not", "true", "false", "none"}


@dataclass(frozen=True)
class FilterConfig:
    """Which additions run, and their thresholds. The empty check and the nine original
    patterns always run."""

    length_bounds: bool = False
    question_chars: tuple[int, int] = (10, 300)
    answer_chars: tuple[int, int] = (1, 1000)
    grounding: bool = False
    numbers_must_be_in_source: bool = True
    min_grounded_share: float = 0.5
    dedup: bool = False
    dedup_jaccard: float = 0.8

    @classmethod
    def for_mode(cls, mode: str) -> "FilterConfig":
        """Mode "docmatix" is the original filter only; "strict" adds every addition."""
        if mode == "docmatix":
            return cls()
        if mode == "strict":
            return cls(length_bounds=True, grounding=True, dedup=True)
        raise ValueError(f"unknown filter mode {mode!r} (expected 'docmatix' or 'strict')")


@dataclass(frozen=True)
class Dropped:
    pair: QAPair
    rule: str
    side: str  # "question" or "answer": the text that failed the rule


@dataclass
class FilterResult:
    """Kept pairs in input order, each dropped pair with its rule, and drops per rule
    (only rules that dropped something appear in `counts`)."""

    kept: list[QAPair] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def docmatix_dropped(self) -> int:
        return sum(self.counts.get(rule, 0) for rule in DOCMATIX_RULES)

    @property
    def added_dropped(self) -> int:
        return sum(self.counts.get(rule, 0) for rule in ADDED_RULES)


def docmatix_rule(text: str) -> str | None:
    """The first original rule that `text` fails, or None when it passes them all."""
    if not text or text.isspace():
        return "empty"
    for name, pattern in _DOCMATIX_ITEMS:
        if pattern.search(text):
            return name
    return None


def _first_docmatix_failure(pair: QAPair) -> tuple[str, str] | None:
    """Rule order first, then question before answer, as documented for `filter_pairs`."""
    q_rule, a_rule = docmatix_rule(pair.question), docmatix_rule(pair.answer)
    if q_rule is None and a_rule is None:
        return None
    if a_rule is None or (q_rule is not None and RULES.index(q_rule) <= RULES.index(a_rule)):
        return q_rule, "question"
    return a_rule, "answer"


def _length_failure(pair: QAPair, config: FilterConfig) -> tuple[str, str] | None:
    q_min, q_max = config.question_chars
    a_min, a_max = config.answer_chars
    if not q_min <= len(pair.question) <= q_max:
        return "question_length", "question"
    if not a_min <= len(pair.answer) <= a_max:
        return "answer_length", "answer"
    return None


def _normalise_token(token: str) -> str:
    """Fold a plural "s" of a lower-case token, so "revenues" supports "revenue"."""
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def _numbers(text: str) -> set[str]:
    return {_THOUSANDS_COMMA.sub("", n) for n in _NUMBER.findall(text)}


def _significant_tokens(text: str, ignored: frozenset[str], numbers: bool) -> set[str]:
    """Normalised tokens of `text` without the `ignored` words, and without bare numbers
    unless `numbers` (the grounding check judges numbers on their own)."""
    tokens = set(_WORD.findall(text.lower()))
    return {
        _normalise_token(t) for t in tokens if t not in ignored and (numbers or not t.isdigit())
    }


@dataclass(frozen=True)
class SourceIndex:
    """The page text's numbers and normalised words, built once per chunk."""

    numbers: frozenset[str]
    words: frozenset[str]

    @classmethod
    def build(cls, text: "str | SourceIndex") -> "SourceIndex":
        if isinstance(text, SourceIndex):
            return text
        words = frozenset(map(_normalise_token, set(_WORD.findall(text.lower()))))
        return cls(frozenset(_numbers(text)), words)


def grounded_share(answer: str, source: SourceIndex) -> float:
    """Share of the answer's content words found in the source; 1.0 when it has none
    (a bare "Yes" or a number is judged by the number check alone)."""
    words = _significant_tokens(answer, _NOT_EVIDENCE, numbers=False)
    if not words:
        return 1.0
    return len(words & source.words) / len(words)


def _grounding_failure(
    pair: QAPair, source: SourceIndex, config: FilterConfig
) -> tuple[str, str] | None:
    if config.numbers_must_be_in_source and not _numbers(pair.answer) <= source.numbers:
        return "ungrounded_number", "answer"
    if grounded_share(pair.answer, source) < config.min_grounded_share:
        return "ungrounded", "answer"
    return None


def question_key(question: str) -> frozenset[str]:
    """A question's normalised token set, the unit of near-duplicate comparison."""
    return frozenset(_significant_tokens(question, _STOPWORDS, numbers=True))


def _is_near_duplicate(key: frozenset[str], seen: list[frozenset[str]], threshold: float) -> bool:
    for other in seen:
        union = len(key | other)
        if union == 0 or len(key & other) / union >= threshold:
            return True
    return False


def filter_pairs(
    pairs: list[QAPair],
    source_text: str | SourceIndex,
    config: FilterConfig,
    seen_questions: list[frozenset[str]] | None = None,
) -> FilterResult:
    """Keep the pairs that pass every enabled rule, charging each drop to its first rule.

    Order: empty, the nine original patterns (question checked before answer within a rule),
    question_length, answer_length, ungrounded_number, ungrounded, near_duplicate.

    `source_text` is the chunk's page text (or a prebuilt `SourceIndex`); it is only read when
    grounding is on. For dedup across a whole document, pass the same `seen_questions` list
    for all its chunks: it holds the `question_key` of every kept question and is extended in
    place; a question is a near-duplicate when its token-set Jaccard similarity to one of them
    reaches `config.dedup_jaccard`, so the first occurrence is the one kept.
    """
    result = FilterResult()
    counts: Counter[str] = Counter()
    seen = [] if seen_questions is None else seen_questions
    source = None
    for pair in pairs:
        failure = _first_docmatix_failure(pair)
        if failure is None and config.length_bounds:
            failure = _length_failure(pair, config)
        if failure is None and config.grounding:
            source = source or SourceIndex.build(source_text)
            failure = _grounding_failure(pair, source, config)
        key = None
        if failure is None and config.dedup:
            key = question_key(pair.question)
            if _is_near_duplicate(key, seen, config.dedup_jaccard):
                failure = ("near_duplicate", "question")
        if failure is None:
            result.kept.append(pair)
            if key is not None:
                seen.append(key)
            continue
        rule, side = failure
        result.dropped.append(Dropped(pair, rule, side))
        counts[rule] += 1
    result.counts = dict(counts)
    return result
