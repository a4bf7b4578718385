"""`python -m demo_corpus --output DIR --seed N`: write the demo corpus."""

import argparse
import sys
from pathlib import Path

from demo_corpus.build import build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo_corpus",
        description="Write the deterministic demo corpus (PDFs, scans, WARC, Cauldron sources).",
    )
    parser.add_argument("--output", required=True, type=Path, help="folder to write into")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    args = parser.parse_args(argv)
    index = build(args.output, args.seed)
    print(
        f"wrote {len(index['files'])} files to {args.output} (index: {args.output / 'corpus.json'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
