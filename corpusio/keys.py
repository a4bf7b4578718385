"""Stable sample keys and tar member names that are safe to write.

WebDataset splits a member name at the first dot of its basename into key and
extension, so keys may not contain dots; names taken from input data must not
escape the tar with path separators or "..".
"""

import hashlib
import re

KEY_HEX_CHARS = 24  # 96 bits: no collision expected below ~10^13 documents
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_-]")
_SAFE_EXT = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
MAX_KEY_CHARS = 80


def content_key(data: bytes) -> str:
    """A key that depends only on the bytes: the same file gets the same key on every run."""
    return hashlib.sha256(data).hexdigest()[:KEY_HEX_CHARS]


def text_key(text: str) -> str:
    """A key for an identifier (URL, path, id) rather than for content."""
    return content_key(text.encode("utf-8"))


def safe_key(raw: str) -> str:
    """Turn an arbitrary id into a WebDataset key: [A-Za-z0-9_-], at most 80 chars.

    An id that had to be changed gets a short hash of the original appended, so
    two ids that clean to the same string still get distinct keys.
    """
    cleaned = _UNSAFE_KEY.sub("_", raw).strip("_")
    if cleaned == raw and 0 < len(raw) <= MAX_KEY_CHARS:
        return raw
    suffix = text_key(raw)[:12]
    return f"{cleaned[: MAX_KEY_CHARS - 13]}_{suffix}" if cleaned else suffix


def check_extension(ext: str) -> str:
    """Return `ext` if it is a safe member extension ("json", "0.png"), else raise ValueError."""
    if not _SAFE_EXT.match(ext):
        raise ValueError(
            f"unsafe member extension {ext!r}: use lower-case [a-z0-9_] parts joined by dots"
        )
    return ext


def stable_bucket(key: str, buckets: int) -> int:
    """A bucket in [0, buckets) that depends only on the key (not on Python's salted hash)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets
