"""The demo's steps, run as `make demo` runs them, with every off-machine connection refused."""

import json
import sys

from tests.test_pipelines import _run_offline


def test_demo_corpus_and_pack_files_run_offline(tmp_path):
    corpus, out = tmp_path / "corpus", tmp_path / "packed"
    proc, attempts = _run_offline(
        [sys.executable, "-m", "demo_corpus", "--output", str(corpus), "--seed", "0"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    pdf_inputs = ["pdf/**/*.pdf", "pdf/**/*.tiff", "pdf/**/*.png"]
    args = [sys.executable, "-m", "pipelines.pack_files", "--output", str(out)]
    for pattern in pdf_inputs:
        args += ["--input", str(corpus / pattern)]
    proc, more_attempts = _run_offline(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert attempts + more_attempts == ""
    assert "prism" not in (proc.stdout + proc.stderr).lower()

    index = json.loads((corpus / "corpus.json").read_text())
    inputs = [
        f for f in index["files"] if f["path"].startswith("pdf/") and f["kind"] != "ground-truth"
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["balanced"]
    assert manifest["stages"]["read"]["in"] == len(inputs)
    empty = [f["path"] for f in inputs if f.get("expect") == "empty"]
    assert manifest["stages"]["pack"]["rejected_by_reason"] == {"empty_file": len(empty)}
    assert manifest["stages"]["shards"]["out"] == len(inputs) - len(empty)
