"""Dedup keys for web documents: URL, set of image URLs, and MinHash of the text.

OBELICS dedups URLs across dumps keeping the newest capture, removes image
URLs shared by too many documents (logos, banners), drops documents with the
same set of images, and near-duplicate texts. These functions compute the
keys and choose what to keep; the pipeline does the grouping.
"""

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from obelics_filter.records import ImageNode, TextNode, WebDocument, WebPage

SHINGLE_WORDS = 5
NUM_BANDS = 14
ROWS_PER_BAND = 8  # 112 hashes; pages sharing any band are candidates (Jaccard ~0.75 and up)
_PRIME = (1 << 31) - 1  # 31-bit values keep a * x + b inside 64 bits
_rng = np.random.default_rng(20240601)
_A = _rng.integers(1, _PRIME, (NUM_BANDS * ROWS_PER_BAND, 1), dtype=np.uint64)
_B = _rng.integers(0, _PRIME, (NUM_BANDS * ROWS_PER_BAND, 1), dtype=np.uint64)
_WORD = re.compile(r"\w+", re.UNICODE)


def url_key(url: str) -> str:
    """The URL with case, default ports and fragment normalised: one key per page."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port out of range, bad IPv6 brackets: the URL as it is
        return url.strip()
    host = (parts.hostname or "").lower()
    if port and not (
        parts.scheme == "http" and port == 80 or parts.scheme == "https" and port == 443
    ):
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", parts.query, ""))


def newest_first(page: WebPage) -> tuple:
    """Sort key that puts the newest capture first, ties broken by WARC position."""
    return (_negated(page.warc_date), page.warc_filename, page.warc_record_offset)


def _negated(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)


_INVERTED_DIGITS = str.maketrans("0123456789", "9876543210")


def recency_key(page) -> str:
    """A short string that sorts like newest_first for ISO 8601 dates, to carry in bulk.

    The date's digits are inverted so that a later date sorts first; equal dates
    fall back to a hash of the file name, then the record offset.
    """
    file_hash = hashlib.blake2b(page.warc_filename.encode(), digest_size=4).hexdigest()
    date = page.warc_date.translate(_INVERTED_DIGITS)
    return f"{date} {file_hash} {page.warc_record_offset:012d}"


def image_set_key(doc: WebDocument) -> str | None:
    """A hash of the document's set of image URLs; None for a document without images."""
    urls = sorted({n.src for n in doc.nodes if isinstance(n, ImageNode)})
    if not urls:
        return None
    return hashlib.sha1("\n".join(urls).encode()).hexdigest()


def document_text(doc: WebDocument) -> str:
    return "\n\n".join(n.text for n in doc.nodes if isinstance(n, TextNode))


def minhash_bands(text: str) -> list[str]:
    """Band keys of the text's MinHash over word 5-gram shingles (empty for short texts)."""
    words = _WORD.findall(text.lower())
    if len(words) < SHINGLE_WORDS:
        return []
    shingles = {
        " ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)
    }
    values = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(s.encode(), digest_size=4).digest(), "little") % _PRIME
            for s in shingles
        ),
        dtype=np.uint64,
        count=len(shingles),
    )
    signature = ((_A * values[None, :] + _B) % _PRIME).min(axis=1)
    rows = signature.reshape(NUM_BANDS, ROWS_PER_BAND)
    return [
        f"{band}:{hashlib.sha1(rows[band].tobytes()).hexdigest()[:16]}" for band in range(NUM_BANDS)
    ]
