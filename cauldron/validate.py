"""`python -m cauldron.validate DIR`: check Cauldron-layout parquet and print its stats.

Checks each subset folder's parquet files: the schema is the Cauldron's
(`images` list of Image, `texts` list of {user, assistant, source}), every
image decodes, no row lacks images or turns, no turn is empty. Exits 1 when
anything is wrong, so it can gate a release.
"""

import argparse
import io
import sys
from collections import Counter
from pathlib import Path

import datasets
import pyarrow.parquet as pq
from PIL import Image

from cauldron.schema import FEATURES


def _decodes(data: bytes | None) -> bool:
    if not data:
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
        return True
    except Exception:  # noqa: BLE001 - any decoder failure means a broken image
        return False


def check_file(path: Path) -> tuple[Counter, list[str]]:
    """Stats and problems of one parquet file."""
    problems, stats = [], Counter()
    schema = pq.read_schema(path)
    try:
        features = datasets.Features.from_arrow_schema(schema)
    except Exception as exc:  # noqa: BLE001
        return stats, [f"{path}: unreadable features: {exc}"]
    if features != FEATURES:
        problems.append(f"{path}: features {features} differ from the Cauldron's")
    table = pq.read_table(path)
    for number, row in enumerate(table.to_pylist()):
        where = f"{path.name} row {number}"
        images, texts = row.get("images") or [], row.get("texts") or []
        stats["rows"] += 1
        stats["images"] += len(images)
        stats["turns"] += len(texts)
        stats["user_chars"] += sum(len(t.get("user") or "") for t in texts)
        stats["assistant_chars"] += sum(len(t.get("assistant") or "") for t in texts)
        if not images:
            problems.append(f"{where}: no images")
        if not texts:
            problems.append(f"{where}: no turns")
        for i, image in enumerate(images):
            if not _decodes((image or {}).get("bytes")):
                problems.append(f"{where}: image {i} does not decode")
        for i, text in enumerate(texts):
            if not (text.get("user") or "").strip() or not (text.get("assistant") or "").strip():
                problems.append(f"{where}: turn {i} is empty")
    return stats, problems


def validate(root: Path) -> tuple[dict[str, Counter], list[str]]:
    files = sorted(root.rglob("*.parquet"))
    if not files:
        return {}, [f"{root}: no parquet files"]
    by_subset: dict[str, Counter] = {}
    problems: list[str] = []
    for path in files:
        stats, found = check_file(path)
        by_subset.setdefault(path.parent.name, Counter()).update(stats)
        problems += found
    return by_subset, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cauldron.validate", description=__doc__)
    parser.add_argument("root", type=Path, help="a folder of subset folders (or one subset)")
    args = parser.parse_args(argv)
    by_subset, problems = validate(args.root)
    for subset, stats in sorted(by_subset.items()):
        rows = stats["rows"] or 1
        print(
            f"{subset}: {stats['rows']} rows, {stats['images']} images, {stats['turns']} turns "
            f"({stats['turns'] / rows:.2f} per row), mean answer "
            f"{stats['assistant_chars'] / max(stats['turns'], 1):.0f} chars"
        )
    for problem in problems[:50]:
        print(f"problem: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
