"""File names as text that can always be written.

A file name on Linux is bytes; Python decodes the bytes that are not UTF-8 as
lone surrogates ("caf\\udce9.pdf"), which open the file but cannot be encoded
into JSON lines, Parquet or Beam's string coder. `printable` writes such a
byte as `\\xNN` (as `ls -b` does) wherever a name is recorded; `to_bytes` and
`from_bytes` carry the exact name where it must be opened again.
"""


def printable(name: str) -> str:
    """The name with each undecodable byte written as \\xNN (any other lone surrogate as
    \\uNNNN): valid UTF-8 text."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    out = []
    for char in name:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def to_bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def from_bytes(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")
