"""The demo corpus as a whole: reproducible byte for byte, and fully indexed."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_build_in_another_process_gives_identical_bytes(demo_corpus, tmp_path):
    _, index = demo_corpus
    out = tmp_path / "again"
    subprocess.run(
        [sys.executable, "-m", "demo_corpus", "--output", str(out), "--seed", "0"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    again = json.loads((out / "corpus.json").read_text())
    first = {e["path"]: e["sha256"] for e in index["files"]}
    second = {e["path"]: e["sha256"] for e in again["files"]}
    assert first.keys() == second.keys()
    assert [path for path in first if first[path] != second[path]] == []


def test_index_lists_every_file_with_its_hash(demo_corpus):
    root, index = demo_corpus
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk - {"corpus.json"} == {e["path"] for e in index["files"]}
    assert all(
        len(e["sha256"]) == 64 and e["bytes"] == (root / e["path"]).stat().st_size
        for e in index["files"]
    )
