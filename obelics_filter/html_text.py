"""Bytes of an HTML response to text: the charset the server or page declares, else a guess.

Order: a byte-order mark (it cannot be wrong about the bytes that follow it), the HTTP
Content-Type charset, a <meta> charset in the first bytes, strict UTF-8, then detection.
Decoding never raises: undecodable bytes become U+FFFD.
"""

import codecs
import re

META_SCAN_BYTES = 8192

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([-\w.:]+)""", re.I)
_META = re.compile(rb"<meta\b[^>]*>", re.I)
_META_CHARSET = re.compile(rb"""charset\s*=\s*["']?\s*([-\w.:]+)""", re.I)
# Browsers read these labels as windows-1252 (WHATWG Encoding), and so do pages.
_ALIASES = {
    "iso-8859-1": "windows-1252",
    "iso8859-1": "windows-1252",
    "latin1": "windows-1252",
    "latin-1": "windows-1252",
    "us-ascii": "windows-1252",
    "ascii": "windows-1252",
    "x-user-defined": "windows-1252",
    "utf8": "utf-8",
    "unicode": "utf-8",
}


def decode_html(body: bytes, http_headers: dict) -> str:
    """The page as text, decoded with the first trustworthy charset found."""
    if not body:
        return ""
    bom = _bom_encoding(body)
    if bom:
        return body[len(_bom_for(bom)) :].decode(bom, errors="replace")
    declared = header_charset(http_headers) or meta_charset(body)
    if declared:
        try:
            return body.decode(declared)
        except UnicodeDecodeError:
            if declared != "utf-8":
                return body.decode(declared, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return body.decode(detect_charset(body), errors="replace")


def header_charset(http_headers: dict) -> str | None:
    """The charset parameter of Content-Type, whatever the header name's case."""
    for name, value in (http_headers or {}).items():
        if str(name).lower() == "content-type" and value:
            match = _CHARSET_PARAM.search(str(value))
            return normalise_charset(match.group(1)) if match else None
    return None


def meta_charset(body: bytes) -> str | None:
    """A charset from <meta charset> or <meta http-equiv content=...> near the top."""
    for tag in _META.finditer(body[:META_SCAN_BYTES]):
        match = _META_CHARSET.search(tag.group(0))
        if match:
            found = normalise_charset(match.group(1).decode("ascii", "replace"))
            if found:
                return found
    return None


def normalise_charset(label: str) -> str | None:
    """A codec name Python knows for this label, or None for an unknown one."""
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # A page cannot really be UTF-16 without a BOM; the label is a leftover.
    if name.startswith("utf-16") or name.startswith("utf-32"):
        return "utf-8"
    return name


def detect_charset(body: bytes) -> str:
    """A statistical guess, falling back to windows-1252 (decodes any byte)."""
    sample = body[:65536]
    guess = None
    try:
        import cchardet

        guess = cchardet.detect(sample).get("encoding")
    except ImportError:
        try:
            from charset_normalizer import from_bytes

            best = from_bytes(sample).best()
            guess = best.encoding if best else None
        except ImportError:
            guess = None
    return (guess and normalise_charset(guess)) or "windows-1252"


def _bom_encoding(body: bytes) -> str | None:
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name
    return None


def _bom_for(name: str) -> bytes:
    return next(bom for bom, encoding in _BOMS if encoding == name)
