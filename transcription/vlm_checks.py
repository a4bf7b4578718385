"""When a VLM's answer for a page is not kept: each check names the reason the page falls back.

- `vlm_repetition`: generation stuck in a loop, a line or a run of words repeated far
  beyond what a page holds, or an answer many times longer than the page's read text;
- `vlm_blank_page`: words for a page that has no ink (the known hallucination);
- `vlm_disagrees_with_text_layer`: a good text layer and an answer that shares too few
  of its words (a different page, a summary, an invention);
- `vlm_missed_text`: no words at all for a page where the classic read found many.

The page then keeps its text-layer or Tesseract transcription, with the reason.
"""

from collections import Counter

from transcription.vlm_align import markdown_words, normalise_word

REPEATED_LINE = 6  # the same non-trivial line this many times is a loop
LOOP_NGRAM = 8  # word n-grams counted for loops
LOOP_SHARE = 0.4  # share of n-grams that recur 3+ times, in a long answer, that is a loop
LOOP_MIN_WORDS = 80
RUNAWAY_FACTOR = 4  # an answer this many times the read words (plus slack) ran away
RUNAWAY_SLACK = 200
BLANK_MAX_WORDS = 3
MIN_LAYER_WORDS = 20  # a text layer this long is worth checking against
MIN_SHARED = 0.5  # share of the layer's words the answer must contain


def repetition(markdown: str, words: list[str], read_words: int) -> bool:
    """A loop: a line repeated many times, a runaway length, or recurring word n-grams."""
    lines = Counter(line.strip() for line in markdown.splitlines() if len(line.strip()) > 3)
    if lines and lines.most_common(1)[0][1] >= REPEATED_LINE:
        return True
    if read_words and len(words) > RUNAWAY_FACTOR * read_words + RUNAWAY_SLACK:
        return True
    if len(words) < LOOP_MIN_WORDS:
        return False
    grams = Counter(tuple(words[i : i + LOOP_NGRAM]) for i in range(len(words) - LOOP_NGRAM + 1))
    looping = sum(n for n in grams.values() if n >= 3)
    return looping / max(1, sum(grams.values())) >= LOOP_SHARE


def shared_share(words: list[str], layer_words: list[str]) -> float:
    """Share of the layer's words (as a multiset) the answer's words also have."""
    layer = Counter(w for w in map(normalise_word, layer_words) if w)
    return sum((layer & Counter(words)).values()) / max(1, sum(layer.values()))


def rejection(markdown: str, read_words: list[str], blank: bool, good_layer: bool) -> str | None:
    """Why the answer is not kept for this page, or None."""
    words = [normalise_word(w) for w in markdown_words(markdown)]
    if blank:
        return "vlm_blank_page" if len(words) > BLANK_MAX_WORDS else None
    if repetition(markdown, words, len(read_words)):
        return "vlm_repetition"
    checked = len(read_words) >= MIN_LAYER_WORDS
    if checked and not words:
        return "vlm_missed_text"
    if good_layer and checked and shared_share(words, read_words) < MIN_SHARED:
        return "vlm_disagrees_with_text_layer"
    return None
