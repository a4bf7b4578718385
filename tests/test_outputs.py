"""A user's mistake stops a run before any work: patterns, flags, and the output folder."""

import subprocess
import sys
from pathlib import Path

import pytest
from apache_beam.io.filesystems import FileSystems

from pipelines import pack_files, pdf_transcribe
from pipelines.options import parse_pipeline_args, pipeline_parser
from pipelines.outputs import OutputNotEmpty, prepare_output, shard_files
from pipelines.sources import NoInputError, check_patterns, pattern_variants

ROOT = Path(__file__).resolve().parents[1]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def nested(tmp_path):
    """Files at the top of a folder and below it."""
    top = tmp_path / "in"
    for name in ("a.pdf", "b.pdf", "sub/c.pdf", "sub/deeper/d.pdf", "sub/notes.txt"):
        path = top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"%PDF-1.4 {name}".encode())
    return top


def _matched(patterns: list[str]) -> set[str]:
    return {m.path for r in FileSystems.match(patterns) for m in r.metadata_list}


def test_double_star_spans_zero_or_more_folders(nested):
    matched = _matched(check_patterns([f"{nested}/**/*.pdf"]))
    assert {Path(p).relative_to(nested).as_posix() for p in matched} == {
        "a.pdf",
        "b.pdf",
        "sub/c.pdf",
        "sub/deeper/d.pdf",
    }
    assert pattern_variants("gs://bucket/x/**/*.pdf") == [
        "gs://bucket/x/**/*.pdf",
        "gs://bucket/x/*.pdf",
    ]
    assert pattern_variants("x/*.pdf") == ["x/*.pdf"]


def test_a_pattern_that_matches_nothing_is_an_error(nested):
    with pytest.raises(NoInputError, match="matches no file"):
        check_patterns([f"{nested}/**/*.tiff"])


def test_every_file_under_a_double_star_pattern_is_packed(nested, tmp_path):
    manifest = pack_files.run(["--input", f"{nested}/**/*.pdf", "--output", str(tmp_path / "out")])
    assert manifest["stages"]["read"]["in"] == 4
    assert manifest["stages"]["shards"]["out"] == 4


def test_a_folder_of_other_files_is_refused_and_left_alone(nested, tmp_path):
    out = tmp_path / "out"
    (out / "shards").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    (out / "shards" / "files-000000.tar").write_text("also mine")
    before = _tree(out)
    with pytest.raises(OutputNotEmpty, match="--overwrite"):
        pack_files.run(["--input", f"{nested}/*.pdf", "--output", str(out)])
    assert _tree(out) == before

    pack_files.run(["--input", f"{nested}/*.pdf", "--output", str(out), "--overwrite"])
    assert (out / "notes.txt").read_text() == "mine"  # not ours: never deleted
    assert (out / "shards" / "_info.json").exists()


def test_a_rerun_deletes_only_the_files_its_pipeline_writes(nested, tmp_path):
    out = tmp_path / "out"
    argv = ["--input", f"{nested}/*.pdf", "--output", str(out)]
    pack_files.run(argv)
    (out / "shards" / "keep.txt").write_text("a user's file")
    (out / "shards" / "files-000007.tar").write_bytes(b"a stale shard of ours")
    (out / "rejects-00003-of-00004.jsonl").write_text("{}\n")
    pack_files.run(argv)
    assert (out / "shards" / "keep.txt").read_text() == "a user's file"
    assert not (out / "shards" / "files-000007.tar").exists()
    assert not (out / "rejects-00003-of-00004.jsonl").exists()
    assert not (out / "_work").exists()


def test_the_output_of_another_pipeline_is_refused(nested, tmp_path):
    out = tmp_path / "out"
    pack_files.run(["--input", f"{nested}/*.pdf", "--output", str(out)])
    with pytest.raises(OutputNotEmpty, match="a pack_files run"):
        pdf_transcribe.run(["--input", f"{nested}/*.pdf", "--output", str(out), "--ocr", "never"])


def test_an_interrupted_run_is_recognised_by_its_work_folder(tmp_path):
    out = tmp_path / "out"
    prepare_output(str(out), "pack_files", shard_files("shards", "files"))
    (out / "_work" / "spill").mkdir(parents=True)
    (out / "_work" / "spill" / "x.part").write_bytes(b"half written")
    (out / "shards").mkdir()
    (out / "shards" / ("files-000000.tar.tmp-" + "0" * 32)).write_bytes(b"cut short")
    removed = prepare_output(str(out), "pack_files", shard_files("shards", "files"))
    assert removed == 3  # the spill part, the temporary shard, the old run marker
    assert _tree(out) == {"_work/run.json"}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.pdf_transcribe", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_mistyped_flag_stops_the_run_and_names_the_right_one(nested, tmp_path):
    out = tmp_path / "out"
    proc = _cli("--input", f"{nested}/*.pdf", "--output", str(out), "--dip", "300")
    assert proc.returncode == 2
    assert "unknown flag --dip" in proc.stderr and "--dpi" in proc.stderr
    assert not out.exists()


def test_values_the_shell_expanded_are_refused(nested, tmp_path):
    out = tmp_path / "out"
    proc = _cli("--input", str(nested / "a.pdf"), str(nested / "b.pdf"), "--output", str(out))
    assert proc.returncode == 2
    assert "unexpected argument" in proc.stderr and "quote" in proc.stderr
    assert not out.exists()


def test_beam_flags_still_reach_beam():
    parser = pipeline_parser("pipelines.x", "", "file", "files")
    args, beam_args = parse_pipeline_args(
        parser,
        [
            "--input",
            "a",
            "--output",
            "b",
            "--runner",
            "DataflowRunner",
            "--project",
            "p",
            "--experiments=use_runner_v2",
            "--max_num_workers",
            "5",
        ],
    )
    assert args.input == ["a"]
    assert beam_args == [
        "--runner",
        "DataflowRunner",
        "--project",
        "p",
        "--experiments=use_runner_v2",
        "--max_num_workers",
        "5",
    ]


def test_shards_of_an_earlier_prefix_are_replaced_too(nested, tmp_path):
    out = tmp_path / "out"
    pack_files.run(["--input", f"{nested}/*.pdf", "--output", str(out), "--shard-prefix", "old"])
    assert (out / "shards" / "old-000000.tar").exists()
    pack_files.run(["--input", f"{nested}/*.pdf", "--output", str(out), "--shard-prefix", "new"])
    assert sorted(p.name for p in (out / "shards").iterdir()) == [
        "_info.json",
        "new-000000.tar",
        "new-000000.tar.index.json",
    ]
