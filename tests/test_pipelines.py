"""The shared Beam plumbing, run on the real local runner: stages, sinks, manifest, offline."""

import json
import os
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pytest
import webdataset as wds

from corpusio.accounting import Reject, UnbalancedRunError
from corpusio.keys import content_key
from corpusio.shards import Sample, write_shards
from pipelines.job import run_job
from pipelines.options import LOCAL_RUNNER, local_defaults, pipeline_options
from pipelines.sinks import WriteRejects, WriteShards
from pipelines.stage import Stage

ROOT = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).resolve().parent / "netguard"


def _flag(args, name):
    return args[args.index(name) + 1]


def test_local_defaults_pick_the_multiprocess_fnapi_runner():
    args = local_defaults([])
    assert _flag(args, "--runner") == LOCAL_RUNNER
    assert _flag(args, "--direct_running_mode") == "multi_processing"
    assert int(_flag(args, "--direct_num_workers")) == (os.cpu_count() or 1)
    # the DirectRunner could hand the job to Prism, which downloads a binary
    assert _flag(local_defaults(["--runner=DirectRunner"]), "--runner") == LOCAL_RUNNER
    assert local_defaults(["--runner", "DataflowRunner", "--project", "p"]) == [
        "--runner",
        "DataflowRunner",
        "--project",
        "p",
    ]
    assert _flag(local_defaults(["--direct_num_workers", "1"]), "--direct_num_workers") == "1"


def _square_or_fail(x):
    if x % 5 == 0:
        raise ValueError(f"no multiples of five: {x}")
    if x % 7 == 0:
        return Reject(str(x), "multiple_of_seven")
    return (x, x * x, os.getpid())


def _explode(x):
    for i in range(x % 3):
        yield Reject(f"{x}/{i}", "odd_part") if i % 2 else (x, i)


def test_stage_counts_rejects_errors_and_runs_in_worker_processes(tmp_path):
    out = tmp_path / "run"
    pids = tmp_path / "pids"

    def build(p):
        nums = p | beam.Create(range(1, 41)) | beam.Reshuffle()
        squares, rejects1 = nums | "Square" >> Stage(
            "square", _square_or_fail, id_of=str, stats=lambda r: {"sum_of_squares": r[1]}
        )
        parts, rejects2 = nums | "Explode" >> Stage("explode", _explode, fanout=True, id_of=str)
        _ = squares | beam.Map(lambda r: r[2]) | beam.io.WriteToText(str(pids))
        _ = (rejects1, rejects2) | beam.Flatten() | WriteRejects(str(out))

    manifest = run_job("test", [], pipeline_options(["--direct_num_workers", "2"]), build, str(out))
    square = manifest["stages"]["square"]
    assert square["in"] == 40
    assert square["rejected_by_reason"] == {"error": 8, "multiple_of_seven": 4}
    assert square["out"] == 28
    assert square["stats"]["sum_of_squares"] == sum(x * x for x in range(1, 41) if x % 5 and x % 7)
    explode = manifest["stages"]["explode"]
    assert explode["sources"] == 40 and explode["in"] == sum(x % 3 for x in range(1, 41))
    assert explode["rejected_by_reason"] == {"odd_part": sum(1 for x in range(1, 41) if x % 3 == 2)}
    rejects = [json.loads(line) for f in out.glob("rejects-*.jsonl") for line in f.open()]
    errors = [r for r in rejects if r["reason"] == "error"]
    assert len(errors) == 8 and all(r["stage"] == "square" for r in errors)
    assert "ValueError: no multiples of five" in errors[0]["detail"]
    worker_pids = {int(line) for f in tmp_path.glob("pids*") for line in f.read_text().split()}
    assert worker_pids and os.getpid() not in worker_pids  # the work ran in worker processes
    assert (out / "manifest.json").exists() and "square" in (out / "report.md").read_text()


def test_a_run_that_loses_items_fails_loudly(tmp_path):
    def build(p):
        nums = p | beam.Create(range(10))
        kept, _ = nums | "A" >> Stage("a", lambda x: x)
        odd = kept | beam.Filter(lambda x: x % 2)  # drops items without a reject
        _ = odd | "B" >> Stage("b", lambda x: x)

    with pytest.raises(UnbalancedRunError, match="'b' received 5 items but 'a' emitted 10"):
        run_job(
            "lossy",
            [],
            pipeline_options(["--direct_num_workers", "1"]),
            build,
            str(tmp_path),
            links=[("a", "b")],
        )
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["balanced"] is False and manifest["problems"]


def _samples(n):
    return [Sample(content_key(str(i).encode()), {"txt": str(i).encode() * 50}) for i in range(n)]


def _shard_run(tmp_path, name, samples, max_samples):
    out = tmp_path / name

    def build(p):
        rejects = (
            p
            | beam.Create(samples)
            | beam.Reshuffle()
            | WriteShards(
                str(out / "shards"),
                "t",
                max_samples=max_samples,
                max_bytes=10**9,
                spill=str(out / "_work" / "spill" / "shards"),
            )
        )
        _ = rejects | WriteRejects(str(out))

    return run_job("shards", [], pipeline_options([]), build, str(out)), out


def test_shard_sink_is_deterministic_capped_and_readable(tmp_path):
    samples = _samples(30)
    m1, out1 = _shard_run(tmp_path, "one", samples, max_samples=4)
    m2, out2 = _shard_run(tmp_path, "two", list(reversed(samples)), max_samples=4)
    info = json.loads((out1 / "shards" / "_info.json").read_text())
    names = info["splits"]["train"]["filenames"]
    assert names == [f"t-{i:06d}.tar" for i in range(len(names))]
    assert max(info["splits"]["train"]["shard_lengths"]) <= 4
    assert info["splits"]["train"]["num_samples"] == 30 == m1["stages"]["shards"]["out"]
    for name in names:
        assert (out1 / "shards" / name).read_bytes() == (out2 / "shards" / name).read_bytes()
    keys = [
        s["__key__"]
        for s in wds.WebDataset([str(out1 / "shards" / n) for n in names], shardshuffle=False)
    ]
    assert sorted(keys) == sorted(s.key for s in samples)
    assert not [p for p in (out1 / "shards").iterdir() if ".tmp" in p.name]


def test_shard_sink_matches_the_plain_writer_and_rejects_duplicate_keys(tmp_path):
    samples = _samples(12)
    manifest, out = _shard_run(tmp_path, "dup", samples + samples[:3], max_samples=100)
    stage = manifest["stages"]["shards"]
    assert (stage["in"], stage["out"], stage["rejected_by_reason"]) == (
        15,
        12,
        {"duplicate_key": 3},
    )
    plain = tmp_path / "plain"
    write_shards(plain, samples, prefix="t", max_samples=100, max_bytes=10**9)
    assert (out / "shards" / "t-000000.tar").read_bytes() == (plain / "t-000000.tar").read_bytes()
    index = "t-000000.tar.index.json"
    assert (out / "shards" / index).read_bytes() == (plain / index).read_bytes()
    rejects = [
        json.loads(x) for f in out.glob("rejects-*.jsonl") for x in f.read_text().split("\n") if x
    ]
    assert sorted(r["id"] for r in rejects) == sorted(s.key for s in samples[:3])


def _run_offline(args, tmp_path):
    """Run a command with the network guard loaded; return (process, refused attempts)."""
    log = tmp_path / "netguard.log"
    env = dict(os.environ, PYTHONPATH=f"{NETGUARD}{os.pathsep}{ROOT}", NETGUARD_LOG=str(log))
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return proc, (log.read_text() if log.exists() else "")


def test_network_guard_catches_outside_connections(tmp_path):
    code = "import urllib.request; urllib.request.urlopen('http://example.com', timeout=2)"
    proc, attempts = _run_offline([sys.executable, "-c", code], tmp_path)
    assert proc.returncode != 0 and "example.com" in attempts


def test_pack_files_cli_end_to_end_offline(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "a.pdf").write_bytes(b"%PDF-1.4 first")
    (src / "sub" / "copy of a.PDF").write_bytes(b"%PDF-1.4 first")
    (src / "b.tif").write_bytes(b"II*\x00 tiff-ish")
    (src / "empty.pdf").write_bytes(b"")
    out = tmp_path / "out"
    proc, attempts = _run_offline(
        [
            sys.executable,
            "-m",
            "pipelines.pack_files",
            "--input",
            f"{src}/**",
            "--output",
            str(out),
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert attempts == ""
    assert "prism" not in (proc.stdout + proc.stderr).lower()
    assert f"manifest: {out / 'manifest.json'}" in proc.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["balanced"]
    stages = manifest["stages"]
    assert stages["read"]["in"] == 4
    assert stages["pack"]["rejected_by_reason"] == {"empty_file": 1}
    assert stages["shards"]["rejected_by_reason"] == {"duplicate_key": 1}
    samples = list(wds.WebDataset(str(out / "shards" / "files-000000.tar"), shardshuffle=False))
    assert sorted(s["__key__"] for s in samples) == sorted(
        [content_key(b"%PDF-1.4 first"), content_key(b"II*\x00 tiff-ish")]
    )
    by_key = {s["__key__"]: s for s in samples}
    assert by_key[content_key(b"II*\x00 tiff-ish")]["tif"] == b"II*\x00 tiff-ish"


def test_cli_reports_a_pattern_that_matches_nothing(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.pack_files",
            "--input",
            str(tmp_path / "none*.pdf"),
            "--output",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "matches no file" in proc.stderr


def _store_or_fail(value, put):
    if value == 3:
        raise ValueError("cannot describe 3")
    return (value, put(b"x" * value))


def _store_on_a_full_disk(value, put):
    from pipelines.parts import StorageError

    raise StorageError("no space left on device")


def _run_store(tmp_path, store):
    def build(p):
        outputs, rejects = (
            p
            | beam.Create(range(1, 6))
            | Stage(
                "store",
                lambda v: v,
                id_of=str,
                store=store,
                spill=str(tmp_path / "_work" / "spill" / "store"),
            )
        )
        _ = rejects | WriteRejects(str(tmp_path))

    options = ["--direct_num_workers", "1", "--direct_running_mode", "in_memory"]
    return run_job("store", [], pipeline_options(options), build, str(tmp_path))


def test_a_result_that_cannot_be_stored_is_a_reject_but_a_full_disk_stops_the_run(tmp_path):
    manifest = _run_store(tmp_path / "one", _store_or_fail)
    stage = manifest["stages"]["store"]
    assert (stage["in"], stage["out"], stage["rejected_by_reason"]) == (5, 4, {"error": 1})
    with pytest.raises(Exception, match="no space left"):
        _run_store(tmp_path / "two", _store_on_a_full_disk)
