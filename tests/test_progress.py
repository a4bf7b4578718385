"""Progress lines: each stage's counts reach stderr while a run is going."""

import os
import subprocess
import sys
from pathlib import Path

from pipelines.stage import _Progress

ROOT = Path(__file__).resolve().parents[1]


def test_progress_prints_counts_at_its_interval(capsys):
    progress = _Progress("transcribe", every_s=1e-9)
    for name in ("in", "out", "in", "rejected"):
        progress.add(name)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4
    assert lines[-1].startswith("progress transcribe: 2 in, 1 out, 1 rejected")


def test_progress_off_prints_nothing(capsys):
    progress = _Progress("transcribe", every_s=0)
    progress.add("in")
    assert capsys.readouterr().err == ""


def test_pipeline_workers_print_progress(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text(f"file {i}")
    run = subprocess.run(
        [sys.executable, "-m", "pipelines.pack_files", "--output", str(tmp_path / "out")]
        + ["--input", str(tmp_path / "*.txt")],
        cwd=ROOT,
        env={**os.environ, "VLM_CORPUS_PROGRESS_S": "0.000001"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "progress pack: " in run.stderr
    assert "semi_persistent_directory" not in run.stderr  # worker noise is filtered out
