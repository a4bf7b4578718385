"""Write every part of the demo corpus and an index (corpus.json) describing it.

Each part is a module with `write(root, seed) -> list[dict]`: it writes its
files under `root` and returns one entry per file, `{"path": <relative posix
path>, "kind": ..., **facts}`. The facts (ground truth, expected reject
reason, page orientation ...) are what tests and the demo check outputs
against. The index adds each file's size and sha256 so that two builds with
the same seed can be compared byte for byte.
"""

import hashlib
import json
import shutil
from pathlib import Path

from demo_corpus import bad_pdfs, cauldron_sources, digital_pdfs, scans, web

PARTS = (digital_pdfs, scans, bad_pdfs, web, cauldron_sources)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(root: Path, seed: int = 0) -> dict:
    """Write the corpus under `root` (emptied first) and return its index."""
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    entries = []
    for part in PARTS:
        for entry in part.write(root, seed):
            path = root / entry["path"]
            entries.append({**entry, "bytes": path.stat().st_size, "sha256": _sha256(path)})
    entries.sort(key=lambda e: e["path"])
    index = {"seed": seed, "files": entries}
    (root / "corpus.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return index
