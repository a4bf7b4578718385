"""Raw files as WebDataset samples: the file's bytes under its extension plus a small json.

The key is a hash of the bytes, as in PDFA, so a file keeps its key wherever
it is stored and identical files collapse to one sample.
"""

import hashlib
import json
import posixpath
import re

from corpusio.accounting import Reject
from corpusio.keys import content_key
from corpusio.names import printable
from corpusio.shards import Sample

_EXT = re.compile(r"^[a-z0-9]{1,8}$")
FALLBACK_EXT = "bin"


def member_ext(path: str) -> str:
    """The file's own extension when it is a safe member name ("pdf", "tif"), else "bin"."""
    ext = posixpath.splitext(path)[1].lstrip(".").lower()
    return ext if _EXT.match(ext) and ext != "json" else FALLBACK_EXT


def file_sample(path: str, data: bytes) -> Sample | Reject:
    if not data:
        return Reject(path, "empty_file", "0 bytes")
    meta = {
        "source": printable(path),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return Sample(
        content_key(data),
        {member_ext(path): data, "json": json.dumps(meta, sort_keys=True).encode()},
    )
