"""OBELICS node- and document-level filters: each check returns a snake_case reason or None.

Node level: images (format, size, aspect ratio, banned URL words) and
paragraphs (length, repetition, special characters, stopwords, flagged
words, punctuation). Document level: image and word counts, the same text
statistics over the whole text, and the language. Thresholds and switches
come from a FilterConfig (obelics_filter.config).

Text checks run in a fixed order, language-independent ones first, so that a
page of keyword spam is named for its repetition rather than for the
language model's doubt, and a foreign page for its language rather than for
its lack of English stopwords.
"""

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import regex
from datatrove.pipeline.filters.gopher_repetition_filter import get_n_grams
from datatrove.utils.text import TERMINAL_PUNCTUATION

from corpusio.images import ImageData
from obelics_filter import langid
from obelics_filter.config import FilterConfig, Rule
from obelics_filter.records import ImageNode, Node, TextNode

# Punctuation, symbols (emoji included), digits, separators and control characters.
_SPECIAL = regex.compile(r"[\p{P}\p{S}\p{N}\p{Z}\p{C}]")
_WORD_EDGES = regex.compile(r"^[\p{P}\p{S}\p{N}\p{Z}\p{C}]+|[\p{P}\p{S}\p{N}\p{Z}\p{C}]+$")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_IMAGE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "jpe", "jfif", "png", "webp", "gif", "svg", "bmp", "ico", "tif", "tiff"}
    | {"avif", "heic", "heif", "apng"}
)
_PARAGRAPH_SEPARATOR = "\n\n"


# --- text statistics -----------------------------------------------------------


def words_of(text: str) -> list[str]:
    """Whitespace tokens, lower-cased, with punctuation, symbols and digits cut from both ends."""
    words = []
    for token in text.lower().split():
        if not token.isalpha():
            token = _WORD_EDGES.sub("", token).replace("\u2019", "'")
        if token:
            words.append(token)
    return words


def char_repetition_ratio(text: str, n: int) -> float:
    """Share of character n-gram occurrences held by the most frequent repeated n-grams.

    Only the sqrt(#distinct n-grams) most frequent ones count, so a long text
    is not penalised for the few phrases any prose repeats.
    """
    counts = Counter(text[i : i + n] for i in range(len(text) - n + 1))
    if not counts:
        return 0.0
    frequencies = sorted(counts.values(), reverse=True)
    repeated = sum(1 for f in frequencies if f > 1)
    top = min(math.isqrt(len(frequencies)), repeated)
    return sum(frequencies[:top]) / sum(frequencies)


def word_repetition_ratio(words: Sequence[str], n: int) -> float:
    """Share of word n-gram occurrences whose n-gram occurs more than once."""
    counts = Counter(get_n_grams(list(words), n))
    if not counts:
        return 0.0
    return sum(c for c in counts.values() if c > 1) / sum(counts.values())


def special_characters_ratio(text: str) -> float:
    if not text:
        return 0.0
    return len(_SPECIAL.findall(text)) / len(text)


def word_share(words: Sequence[str], vocabulary: frozenset[str]) -> float:
    if not words:
        return 0.0
    return sum(1 for w in words if w in vocabulary) / len(words)


def punctuation_ratio(text: str, n_words: int) -> float:
    """Sentence-ending marks per word."""
    if not n_words:
        return 0.0
    return sum(1 for c in text if c in TERMINAL_PUNCTUATION) / n_words


# --- text rules ------------------------------------------------------------------


@dataclass(frozen=True)
class _Text:
    text: str
    words: list[str]


def _over(value: float, rule: Rule) -> bool:
    return rule.max is not None and value > rule.max


def _under(value: float, rule: Rule) -> bool:
    return rule.min is not None and value < rule.min


def _length(t: _Text, rule: Rule) -> str | None:
    if _under(len(t.words), rule):
        return "too_short"
    if _over(len(t.words), rule):
        return "too_long"
    return None


def _char_repetition(t: _Text, rule: Rule) -> str | None:
    return "char_repetition" if _over(char_repetition_ratio(t.text, rule.n), rule) else None


def _word_repetition(t: _Text, rule: Rule) -> str | None:
    return "word_repetition" if _over(word_repetition_ratio(t.words, rule.n), rule) else None


def _special_characters(t: _Text, rule: Rule) -> str | None:
    return "special_characters" if _over(special_characters_ratio(t.text), rule) else None


def _language(t: _Text, rule: Rule) -> str | None:
    lang, score = langid.detect(t.text)
    return "language" if lang not in rule.allowed or _under(score, rule) else None


def _word_list(name: str) -> Callable[[_Text, Rule], str | None]:
    def check(t: _Text, rule: Rule) -> str | None:
        share = word_share(t.words, rule.words)
        return name if _under(share, rule) or _over(share, rule) else None

    return check


def _punctuation(t: _Text, rule: Rule) -> str | None:
    if len(t.words) < (rule.min_words or 0):
        return None
    return "punctuation" if _under(punctuation_ratio(t.text, len(t.words)), rule) else None


# In the order they run; a section uses the rules it configures.
_TEXT_RULES: tuple[tuple[str, Callable[[_Text, Rule], str | None]], ...] = (
    ("words", _length),
    ("char_repetition", _char_repetition),
    ("word_repetition", _word_repetition),
    ("special_characters", _special_characters),
    ("language", _language),
    ("stopwords", _word_list("stopwords")),
    ("flagged_words", _word_list("flagged_words")),
    ("punctuation", _punctuation),
    ("common_words", _word_list("common_words")),
)
_DOC_LENGTH_NAMES = {"too_short": "too_few_words", "too_long": "too_many_words"}


def _text_reason(text: str, rules: Mapping[str, Rule]) -> str | None:
    t = _Text(text, words_of(text))
    for name, check in _TEXT_RULES:
        rule = rules.get(name)
        if rule is not None and rule.enabled:
            reason = check(t, rule)
            if reason:
                return reason
    return None


# --- public checks ---------------------------------------------------------------


def check_paragraph(text: str, config: FilterConfig) -> str | None:
    reason = _text_reason(text, config.paragraph)
    return f"paragraph_{reason}" if reason else None


def check_document(texts: Sequence[str], n_images: int, config: FilterConfig) -> str | None:
    """The first document rule the remaining texts and image count fail, or None."""
    images = config.document.get("images")
    if images is not None and images.enabled:
        if _under(n_images, images):
            return "doc_too_few_images"
        if _over(n_images, images):
            return "doc_too_many_images"
    reason = _text_reason(_PARAGRAPH_SEPARATOR.join(texts), config.document)
    return f"doc_{_DOC_LENGTH_NAMES.get(reason, reason)}" if reason else None


def check_language(texts: Sequence[str], config: FilterConfig) -> str | None:
    """The document language rule alone, for a page-level gate before node filtering.

    Run on the unfiltered text it names a foreign page for what it is; after
    node filtering the English-stopword rule has usually emptied it already.
    """
    rule = config.document.get("language")
    if rule is None or not rule.enabled:
        return None
    text = _PARAGRAPH_SEPARATOR.join(texts)
    return "doc_language" if _language(_Text(text, []), rule) else None


def check_image(node: ImageNode, data: ImageData | None, config: FilterConfig) -> str | None:
    """The first image rule the node fails, judged on decoded data when there is some.

    Shape comes before size: a 900x120 banner is named a banner, not a small image.
    """
    rules = config.image
    if _enabled(rules, "url_ban_words") and _url_banned(node.src, rules["url_ban_words"]):
        return "image_url_banned"
    if _enabled(rules, "format"):
        fmt = _image_format(node.src, data)
        if fmt is not None and fmt not in rules["format"].allowed:
            return "image_format"
    width, height = _image_size(node, data)
    if _enabled(rules, "aspect_ratio") and width and height:
        ratio = width / height
        if _under(ratio, rules["aspect_ratio"]) or _over(ratio, rules["aspect_ratio"]):
            return "image_aspect_ratio"
    if _enabled(rules, "size"):
        sides = [s for s in (width, height) if s is not None]
        if any(_under(s, rules["size"]) for s in sides):
            return "image_too_small"
        if any(_over(s, rules["size"]) for s in sides):
            return "image_too_large"
    return None


def _enabled(rules: Mapping[str, Rule], name: str) -> bool:
    rule = rules.get(name)
    return rule is not None and rule.enabled


def _url_banned(src: str, rule: Rule) -> bool:
    """Ban words anywhere in the URL, except in a data URI's payload (base64 spells anything)."""
    url = src.lower()
    if url.startswith("data:"):
        url = url.split(",", 1)[0]
    return any(word in url for word in rule.words)


def _image_format(src: str, data: ImageData | None) -> str | None:
    """The decoded format, else a data URI's media type, else a known file extension."""
    if data is not None and data.format:
        return data.format.lower()
    if src.startswith("data:"):
        media_type = src[5:].split(",", 1)[0].split(";", 1)[0]
        subtype = media_type.rpartition("/")[2].split("+", 1)[0].lower()
        return subtype or None
    extension = urlsplit(src).path.rpartition(".")[2].lower()
    return extension if extension in _IMAGE_EXTENSIONS else None


def _image_size(node: ImageNode, data: ImageData | None) -> tuple[int | None, int | None]:
    if data is not None and data.width > 0 and data.height > 0:
        return data.width, data.height
    return _positive(node.rendered_width), _positive(node.rendered_height)


def _positive(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None


# --- nodes and documents ---------------------------------------------------------


def paragraphs_of(text: str) -> list[str]:
    """Blank-line separated paragraphs, the unit OBELICS filters texts by."""
    return [p.strip() for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def filter_nodes(
    nodes: Sequence[Node], images: Mapping[str, ImageData] | None, config: FilterConfig
) -> tuple[list[Node], list[tuple[Node, str]]]:
    """Nodes that pass, and each dropped image or paragraph with its reason.

    A text node is judged paragraph by paragraph: the failing paragraphs leave
    (each reported as its own TextNode) and the rest stay joined as one node.
    """
    images = images or {}
    kept: list[Node] = []
    dropped: list[tuple[Node, str]] = []
    for node in nodes:
        if isinstance(node, ImageNode):
            reason = check_image(node, images.get(node.src), config)
            if reason:
                dropped.append((node, reason))
            else:
                kept.append(node)
        else:
            survivor, rejects = _filter_text_node(node, config)
            dropped.extend(rejects)
            if survivor is not None:
                kept.append(survivor)
    return kept, dropped


def _filter_text_node(
    node: TextNode, config: FilterConfig
) -> tuple[TextNode | None, list[tuple[Node, str]]]:
    passed, rejects = [], []
    for paragraph in paragraphs_of(node.text):
        reason = check_paragraph(paragraph, config)
        if reason:
            rejects.append((node if paragraph == node.text else TextNode(paragraph), reason))
        else:
            passed.append(paragraph)
    if not passed:
        return None, rejects
    if not rejects:
        return node, rejects
    return TextNode(_PARAGRAPH_SEPARATOR.join(passed)), rejects


_LANGUAGE_INDEPENDENT = ("char_repetition", "word_repetition", "special_characters")


def check_page(texts: Sequence[str], config: FilterConfig) -> str | None:
    """The page-level gate: a reason when the unfiltered text fails the language rule.

    The reason is the first language-independent document rule the page also
    fails, if any: keyword spam confuses the language model, and its
    repetition is the better explanation.
    """
    if check_language(texts, config) is None:
        return None
    rules = {k: r for k, r in config.document.items() if k in _LANGUAGE_INDEPENDENT}
    reason = _text_reason(_PARAGRAPH_SEPARATOR.join(texts), rules)
    return f"doc_{reason}" if reason else "doc_language"


@dataclass(frozen=True)
class FilteredDocument:
    nodes: list[Node]
    dropped: list[tuple[Node, str]]
    reason: str | None  # why the whole document goes, None when it stays


def filter_document(
    nodes: Sequence[Node], images: Mapping[str, ImageData] | None, config: FilterConfig
) -> FilteredDocument:
    """Language gate on the whole page, then node filters, then document filters.

    Gating first keeps a foreign page's reason: node filtering alone would
    strip its paragraphs for lacking English stopwords and report it as short.
    """
    reason = check_page([n.text for n in nodes if isinstance(n, TextNode)], config)
    if reason:
        return FilteredDocument(list(nodes), [], reason)
    kept, dropped = filter_nodes(nodes, images, config)
    kept_texts = [n.text for n in kept if isinstance(n, TextNode)]
    n_images = sum(1 for n in kept if isinstance(n, ImageNode))
    return FilteredDocument(kept, dropped, check_document(kept_texts, n_images, config))
