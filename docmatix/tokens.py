"""Token counting for chunk limits: the generating model's tokenizer when it is on disk,
else a conservative approximation.

Docmatix sized chunks with the generating model's tokenizer (Phi-3-small, a
cl100k-style byte BPE). That tokenizer is only used when it is already local
(a folder, or the Hugging Face cache): nothing here ever reaches the network.

The approximation mimics a cl100k-style pre-tokenizer and then prices each
piece pessimistically, so that a chunk that fits by the estimate also fits by
the real count (an over-estimate only closes chunks a little early):

- an ASCII letter run costs one token for its first 6 letters and one more per
  further 4 letters ("the", "report" -> 1; "information" -> 3; common English
  words are a single BPE token, rare long ones split into pieces of ~3-5 letters);
- a digit run costs one token per 3 digits (cl100k splits digits that way);
- every punctuation or symbol character costs one token;
- every run of line breaks costs one token; other whitespace is free (BPE
  merges a leading space into the next word);
- CJK / kana / hangul characters cost 1.5 tokens each, other non-ASCII letters
  one token per 2 characters (byte-level BPE is poor at these scripts).

No real tokenizer was at hand to calibrate against. On English prose it gives
1.4-1.7 tokens per word (about 1.0-1.1 x the "4 characters per token" rule),
where cl100k-style tokenizers give about 1.3; tables and forms, rich in digits
and punctuation, come out 1.4-2.4 x the rule. Record `TokenCounter.name` with
results so that runs with either counter can be told apart.
"""

import math
import os
from contextlib import contextmanager

import regex

APPROX_NAME = "approx-wordpiece"

_PIECES = regex.compile(
    r"(?P<cjk>[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]+)"
    r"|(?P<ascii>[A-Za-z]+)"
    r"|(?P<letters>\p{L}[\p{L}\p{M}]*)"
    r"|(?P<digits>\p{N}+)"
    r"|(?P<breaks>[\r\n]+)"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    regex.DOTALL,
)


def _letter_run_cost(length: int) -> int:
    return 1 + math.ceil(max(0, length - 6) / 4)


def approximate_count(text: str) -> int:
    """Estimated BPE tokens of `text`, meant to err on the high side for English."""
    total = 0.0
    for match in _PIECES.finditer(text):
        kind = match.lastgroup
        length = match.end() - match.start()
        if kind == "ascii":
            total += _letter_run_cost(length)
        elif kind == "digits":
            total += math.ceil(length / 3)
        elif kind == "cjk":
            total += 1.5 * length
        elif kind == "letters":
            total += math.ceil(length / 2)
        elif kind in ("breaks", "other"):
            total += 1
    return math.ceil(total)


_TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "tokenizer.model")


def _is_local(name: str, cache_dir: str | None) -> bool:
    """A folder, or a repo id with tokenizer files in the Hugging Face cache (disk only)."""
    if os.path.isdir(name):
        return True
    try:
        from huggingface_hub import try_to_load_from_cache

        return any(
            isinstance(try_to_load_from_cache(name, f, cache_dir=cache_dir), str)
            for f in _TOKENIZER_FILES
        )
    except Exception:  # not a valid repo id
        return False


@contextmanager
def _hub_offline():
    """Hold huggingface_hub offline: even with local_files_only it may otherwise make a
    side request (its user-agent detection fetches a registry from the Hub)."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def _load_local_tokenizer(name: str, trust_remote_code: bool, cache_dir: str | None):
    """The tokenizer if it is on disk, else None; never downloads."""
    if not _is_local(name, cache_dir):
        return None
    try:
        from transformers import AutoTokenizer

        with _hub_offline():
            return AutoTokenizer.from_pretrained(
                name,
                local_files_only=True,
                trust_remote_code=trust_remote_code,
                cache_dir=cache_dir,
            )
    except Exception:  # a partial folder or cache entry, remote code refused
        return None


class TokenCounter:
    """Counts tokens with a local tokenizer when `name` resolves to one, else approximately.

    `name` is a folder or a Hub repo id looked up in the local cache (`cache_dir`,
    default the Hugging Face cache); `trust_remote_code` is needed for tokenizers
    that ship code, Phi-3-small's among them.

    `exact` says which is in use; `name` is what a report should record next to
    the counts (the tokenizer's name, or APPROX_NAME).
    """

    def __init__(
        self,
        name: str | None = None,
        trust_remote_code: bool = False,
        cache_dir: str | None = None,
    ) -> None:
        self._tokenizer = (
            _load_local_tokenizer(name, trust_remote_code, cache_dir) if name else None
        )
        self.exact = self._tokenizer is not None
        self.name = name if self.exact else APPROX_NAME

    @classmethod
    def from_tokenizer(cls, tokenizer, name: str = "tokenizer") -> "TokenCounter":
        """Wrap a tokenizer object already in memory."""
        counter = cls(None)
        counter._tokenizer = tokenizer
        counter.exact = True
        counter.name = name
        return counter

    def count(self, text: str) -> int:
        if not text:
            return 0
        if self._tokenizer is None:
            return approximate_count(text)
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def __repr__(self) -> str:
        return f"TokenCounter(name={self.name!r}, exact={self.exact})"
