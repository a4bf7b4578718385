"""QA text work per core: prompt building, parsing and filtering, against bare `re` code.

The bare side is the original Docmatix recipe written directly with `re`: one
findall over `Qn:`/`An:` blocks, strip, drop the prefix, nine searches per
side. Ours is docmatix.qa_parsing + docmatix.qa_filters doing the same
(faithful parser, docmatix mode), then the robust parser and strict mode.
"""

import random
import re

from benchmarks.common import best_seconds, row
from docmatix.prompts import build_request
from docmatix.qa_filters import FilterConfig, filter_pairs
from docmatix.qa_parsing import parse_pairs
from docmatix.qa_records import Chunk

REPLIES = 400
PAIRS_PER_REPLY = 8
_WORDS = (
    "report budget office district survey figure table revenue policy quarter staff "
    "program review schedule meeting result growth county school water energy"
).split()

_BARE_PAIR = re.compile(r"(Q\d+:\s*.*?)(A\d+:\s*.*?)(?=(Q\d+:)|$)", re.DOTALL)
_BARE_RULES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\{.*?\}",
        r"\[.*?\]",
        r"<.*?>",
        r"\b\d{1,3}(\.\d{1,3}){3}\b",
        r"\w+\.\w+",
        r"\n\s*\n",
        r"unanswerable",
        r"Q\d+: ",
        r"A\d+: ",
    )
]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n)).capitalize()


def _replies(seed: int = 0) -> tuple[list[str], str]:
    rng = random.Random(seed)
    page = ". ".join(_sentence(rng, 12) for _ in range(40)) + "."
    replies = []
    for _ in range(REPLIES):
        pairs = []
        for i in range(1, PAIRS_PER_REPLY + 1):
            answer = _sentence(rng, rng.randint(3, 15)) + "."
            if rng.random() < 0.1:
                answer = rng.choice(["Unanswerable.", "It rose to 3.5 percent.", "See [1]."])
            pairs.append(f"Q{i}: {_sentence(rng, 8)}?\nA{i}: {answer}")
        replies.append("\n\n".join(pairs))
    return replies, page


def _bare(replies: list[str]) -> int:
    kept = 0
    for reply in replies:
        for question, answer, _ in _BARE_PAIR.findall(reply):
            q = re.sub(r"^Q\d+: ", "", question.strip())
            a = re.sub(r"^A\d+: ", "", answer.strip())
            if q and a and not any(r.search(q) or r.search(a) for r in _BARE_RULES):
                kept += 1
    return kept


def _ours(replies: list[str], page: str, faithful: bool, mode: str) -> int:
    config = FilterConfig.for_mode(mode)
    kept = 0
    for reply in replies:
        pairs = parse_pairs(reply, faithful=faithful).pairs
        kept += len(filter_pairs(pairs, page, config, seen_questions=[]).kept)
    return kept


def _prompts(chunks: list[Chunk]) -> None:
    for chunk in chunks:
        build_request(chunk)


def run() -> list[dict]:
    replies, page = _replies()
    pairs = REPLIES * PAIRS_PER_REPLY
    assert _ours(replies, page, True, "docmatix") == _bare(replies), "same work, same result"
    bare = best_seconds(lambda: _bare(replies))
    rows = []
    for label, faithful, mode in (
        ("faithful parse, docmatix filter", True, "docmatix"),
        ("robust parse, strict filter", False, "strict"),
    ):
        ours = best_seconds(lambda f=faithful, m=mode: _ours(replies, page, f, m))
        rows.append(row(f"QA {label}, 1 core", pairs, ours, bare, "re: original recipe"))
    chunks = [Chunk(f"doc{i}", 0, (0,), page, 1000, i % 5) for i in range(2000)]
    ours = best_seconds(lambda: _prompts(chunks))
    rows.append(row("prompt building (requests), 1 core", len(chunks), ours, None))
    return rows
