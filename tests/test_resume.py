"""Resuming: a run killed part-way and rerun ends exactly like one uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest

from corpusio.accounting import Reject
from pipelines import pdf_transcribe, stage
from pipelines.job import run_job
from pipelines.options import pipeline_options
from pipelines.resume import ResumeOptions, fingerprint
from pipelines.stage import Stage

ROOT = Path(__file__).resolve().parents[1]


def _pdf_argv(root: Path, out: Path) -> list[str]:
    pdf = root / "pdf"
    argv = ["--output", str(out), "--ocr", "always", "--render-pages"]
    for pattern in ("**/*.pdf", "**/*.tiff", "**/*.png"):
        argv += ["--input", str(pdf / pattern)]
    return argv


def _checkpoints(out: Path) -> list[str]:
    """Ids of the elements whose results are saved (listed in a finished part's index)."""
    return [
        line for index in (out / "_work").glob("transcribe-*/*.index") for line in _lines(index)
    ]


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:  # renamed into place between listing and reading
        return []


def _outputs(out: Path) -> dict:
    """Everything a run leaves, in a form two runs can be compared by."""
    shards = {p.name: p.read_bytes() for p in sorted((out / "shards").iterdir())}
    tables = {p.name: p.read_bytes() for p in sorted((out / "pages").iterdir())}
    pages = pq.read_table(sorted((out / "pages").glob("*.parquet"))).to_pylist()
    rejects = sorted(
        line for p in out.glob("rejects-*.jsonl") for line in p.read_text().splitlines()
    )
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "shards": shards,
        "tables": tables,
        "pages": sorted(pages, key=lambda r: (r["key"], r["page"])),
        "rejects": rejects,
        "stages": manifest["stages"],
        "balanced": manifest["balanced"],
    }


def _kill_part_way(argv: list[str], out: Path, after: int) -> None:
    """Run the pipeline CLI and SIGKILL it (workers included) once `after` items are saved."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.pdf_transcribe", *argv],
        cwd=ROOT,
        env=dict(os.environ, VLM_CORPUS_CHECKPOINT_EVERY="1"),  # a part per document
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    try:
        while len(_checkpoints(out)) < after:
            assert proc.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline, "no progress to interrupt"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_killed_transcription_resumes_to_the_same_result(demo_corpus, tmp_path):
    root, _ = demo_corpus
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    pdf_transcribe.run(_pdf_argv(root, whole))

    _kill_part_way(_pdf_argv(root, resumed), resumed, after=3)
    assert not (resumed / "manifest.json").exists()
    saved = len(_checkpoints(resumed))
    (resumed / "shards").mkdir(exist_ok=True)
    (resumed / "shards" / "pdfa-999999.tar").write_bytes(b"left by an older run")

    manifest = pdf_transcribe.run(_pdf_argv(root, resumed))

    assert _outputs(resumed) == _outputs(whole)
    redo = manifest["resume"]["transcribe"]
    total = manifest["stages"]["transcribe"]["in"]
    assert redo["reused"] >= saved >= 3
    assert redo["reused"] + redo["computed"] == total
    assert redo["computed"] < total
    assert not (resumed / "_work").exists()  # removed once the run succeeded


# A small pipeline whose function must not run again for elements already saved.


def _square(n: int):
    if n % 5 == 0:
        return Reject(str(n), "multiple_of_five")
    if os.environ.get("RESUME_TEST_REFUSE") == str(n):
        raise AssertionError(f"{n} was computed again")
    return n * n


def _run_squares(out: Path, resume: ResumeOptions) -> dict:
    def build(p):
        squares, rejects = (
            p
            | beam.Create(range(1, 21))
            | Stage(
                "square",
                _square,
                id_of=str,
                stats=lambda v: {"sum": v},
                checkpoint=resume.checkpoint("square", "v1"),
            )
        )
        _ = squares | beam.Map(lambda v: None)

    return run_job(
        "squares",
        [],
        pipeline_options(["--direct_num_workers", "1", "--direct_running_mode", "in_memory"]),
        build,
        str(out),
        resume=resume,
    )


def test_saved_results_are_replayed_with_the_same_counts(tmp_path, monkeypatch):
    resume = ResumeOptions(str(tmp_path), keep_work=True)
    first = _run_squares(tmp_path, resume)
    assert first["resume"]["square"] == {"reused": 0, "computed": 20}

    monkeypatch.setenv("RESUME_TEST_REFUSE", "7")  # computing 7 again would be an error reject
    second = _run_squares(tmp_path, resume)
    assert second["stages"] == first["stages"]
    assert second["stages"]["square"]["rejected_by_reason"] == {"multiple_of_five": 4}
    assert second["stages"]["square"]["stats"]["sum"] == sum(n * n for n in range(1, 21) if n % 5)
    assert second["resume"]["square"] == {"reused": 20, "computed": 0}

    restarted = _run_squares(tmp_path, ResumeOptions(str(tmp_path), restart=True))
    assert restarted["resume"]["square"] == {"reused": 0, "computed": 20}
    assert restarted["stages"]["square"]["rejected_by_reason"] == {
        "error": 1,
        "multiple_of_five": 4,
    }
    assert not (tmp_path / "_work").exists()


def test_other_options_do_not_reuse_saved_results():
    resume = ResumeOptions("out")
    assert resume.checkpoint("transcribe", {"dpi": 200}) != resume.checkpoint(
        "transcribe", {"dpi": 300}
    )
    assert fingerprint("a", 1) == fingerprint("a", 1)


def test_saved_work_is_a_few_files_not_one_per_element(tmp_path):
    resume = ResumeOptions(str(tmp_path), keep_work=True)
    _run_squares(tmp_path, resume)
    saved = sorted((tmp_path / "_work").glob("square-*/*"))
    assert [p.suffix for p in saved] == [".index", ".part"]  # 20 elements, one part
    assert len(saved[0].read_text().splitlines()) == 20


@pytest.mark.parametrize("damage", [b"", b"not a pickle"])
def test_a_damaged_checkpoint_is_computed_again(tmp_path, damage, monkeypatch):
    monkeypatch.setattr(stage, "CHECKPOINT_EVERY", 1)  # a part per element
    resume = ResumeOptions(str(tmp_path), keep_work=True)
    _run_squares(tmp_path, resume)
    parts = sorted((tmp_path / "_work").glob("square-*/*.part"))
    assert len(parts) == 20
    parts[0].write_bytes(damage)
    again = _run_squares(tmp_path, resume)
    assert again["resume"]["square"] == {"reused": 19, "computed": 1}
    assert again["stages"]["square"]["out"] == 16


def _tree(folder: Path) -> dict:
    """An output folder's content: shards and tables byte for byte; JSON lines as sorted lines.

    Beam's text sink (rejects, exclusions) spreads lines over files in whatever order
    bundles finish, so two uninterrupted runs already differ there; the lines may not.
    """
    skip = {"manifest.json", "report.md", "report.html"}
    files = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in skip and not {"report", "_work"} & set(p.parts)
    ]
    tree: dict = {"jsonl": []}
    for p in files:
        if p.suffix == ".jsonl":
            tree["jsonl"] += p.read_text().splitlines()
        else:
            tree[str(p.relative_to(folder))] = p.read_bytes()
    tree["jsonl"].sort()
    return tree


def test_web_documents_rerun_reuses_every_range_read(demo_corpus, tmp_path):
    from pipelines import web_docs

    root, _ = demo_corpus
    argv = ["--input", str(root / "web" / "warc" / "*.warc.gz"), "--output", str(tmp_path)]
    first = web_docs.run([*argv, "--keep-work"])
    first_tree = _tree(tmp_path)
    (tmp_path / "data" / "obelics-99999-of-99999.parquet").write_bytes(b"stale")
    second = web_docs.run(argv)
    assert second["stages"] == first["stages"]
    ranges = first["stages"]["read_warc"]["sources"]  # ranges of WARC records
    assert first["resume"]["read_warc"] == {"reused": 0, "computed": ranges}
    assert second["resume"]["read_warc"] == {"reused": ranges, "computed": 0}
    assert _tree(tmp_path) == first_tree


def test_saved_work_grows_with_input_files_not_with_pages(tmp_path):
    from benchmarks.scale_inputs import write_warc
    from pipelines import web_docs

    saved = {}
    for pages in (30, 300):
        warc = tmp_path / f"crawl-{pages}.warc.gz"
        write_warc(warc, pages)
        out = tmp_path / f"out-{pages}"
        manifest = web_docs.run(
            ["--input", str(warc), "--output", str(out), "--images", "none", "--keep-work"]
        )
        assert manifest["stages"]["read_warc"]["in"] == pages
        saved[pages] = sorted(p.name.split(".")[-1] for p in (out / "_work").rglob("*.*"))
    assert saved[300] == saved[30] == ["index", "json", "part"]  # one part, its index, run.json


def test_saved_work_of_files_with_any_name_is_found_again(tmp_path):
    """Names with a carriage return, a tab or bytes that are not UTF-8 resume like others."""
    from corpusio.names import from_bytes

    folder = tmp_path / "in"
    folder.mkdir()
    names = [b"Icon\r", b"a\tb.pdf", b"a\\tb.pdf", b"caf\xe9.pdf", b"plain.pdf"]
    for number, raw in enumerate(names):
        (folder / from_bytes(raw)).write_bytes(b"not a pdf %d" % number)
    argv = ["--input", f"{folder}/*", "--output", str(tmp_path / "out"), "--ocr", "never"]
    first = pdf_transcribe.run([*argv, "--keep-work"])
    second = pdf_transcribe.run(argv)
    assert second["stages"] == first["stages"]
    assert second["resume"]["transcribe"] == {"reused": len(names), "computed": 0}
