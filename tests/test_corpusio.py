"""Keys, shards and accounting: the plain-Python base every pipeline writes through."""

import io
import json
import tarfile

import pytest
import webdataset as wds

from corpusio.accounting import (
    Reject,
    StageCounts,
    UnbalancedRunError,
    build_manifest,
    check_manifest,
    stage_counts,
)
from corpusio.keys import check_extension, content_key, safe_key, stable_bucket
from corpusio.packing import file_sample, member_ext
from corpusio.report import render_markdown
from corpusio.shards import Sample, plan_parts, write_shards, write_tar


def _samples(n, size=100):
    return [
        Sample(f"k{i:04d}", {"txt": bytes([65 + i % 26]) * size, "json": b"{}"}) for i in range(n)
    ]


def test_content_key_is_stable_and_content_addressed():
    assert content_key(b"abc") == content_key(b"abc")
    assert content_key(b"abc") != content_key(b"abd")
    assert len(content_key(b"")) == 24 and safe_key(content_key(b"x")) == content_key(b"x")


@pytest.mark.parametrize(
    "raw", ["../../etc/passwd", "a/b.c", "doc.pdf", "x" * 200, "日本語", "..", ""]
)
def test_safe_key_never_escapes_and_keeps_ids_apart(raw):
    key = safe_key(raw)
    assert key and "/" not in key and "." not in key and len(key) <= 80
    assert safe_key(key) == key


def test_safe_key_keeps_distinct_ids_distinct():
    assert safe_key("a/b") != safe_key("a_b") != safe_key("a.b")
    assert safe_key("plain-id_1") == "plain-id_1"


@pytest.mark.parametrize("ext", ["../x", "a/b", "PDF", "", "json."])
def test_unsafe_extensions_are_refused(ext):
    with pytest.raises(ValueError):
        check_extension(ext)


def test_sample_refuses_unsafe_keys():
    with pytest.raises(ValueError):
        Sample("../evil", {"txt": b"x"})
    with pytest.raises(ValueError):
        Sample("ok", {"../txt": b"x"})


def test_stable_bucket_spreads_and_repeats():
    buckets = [stable_bucket(f"key{i}", 8) for i in range(800)]
    assert buckets == [stable_bucket(f"key{i}", 8) for i in range(800)]
    assert set(buckets) == set(range(8))
    assert min(buckets.count(b) for b in range(8)) > 60


def test_plan_parts_respects_both_caps():
    assert [list(p) for p in plan_parts([10] * 5, max_samples=2, max_bytes=10**9)] == [
        [0, 1],
        [2, 3],
        [4],
    ]
    parts = plan_parts([4096] * 10, max_samples=100, max_bytes=3 * 10240)
    assert sum(len(p) for p in parts) == 10 and len(parts) > 1
    # an oversized sample still gets written, alone
    assert [list(p) for p in plan_parts([10, 10**6, 10], 100, 20480)] == [[0], [1], [2]]


def test_write_tar_is_deterministic_with_fixed_metadata():
    a, b = io.BytesIO(), io.BytesIO()
    write_tar(a, _samples(3))
    write_tar(b, _samples(3))
    assert a.getvalue() == b.getvalue()
    with tarfile.open(fileobj=io.BytesIO(a.getvalue())) as tar:
        members = tar.getmembers()
    assert [m.name for m in members][:2] == ["k0000.json", "k0000.txt"]
    assert {m.mtime for m in members} == {0} and {m.uname for m in members} == {""}


def test_write_shards_caps_info_and_webdataset_reads_back(tmp_path):
    samples = _samples(25, size=3000)
    infos = write_shards(
        tmp_path, reversed(samples), prefix="demo", max_samples=10, max_bytes=10**9
    )
    assert [i.num_samples for i in infos] == [10, 10, 5]
    info = json.loads((tmp_path / "_info.json").read_text())
    split = info["splits"]["train"]
    assert split["filenames"] == ["demo-000000.tar", "demo-000001.tar", "demo-000002.tar"]
    assert split["shard_lengths"] == [10, 10, 5] and split["num_samples"] == 25
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))
    urls = [str(tmp_path / name) for name in split["filenames"]]
    read = list(wds.WebDataset(urls, shardshuffle=False))
    assert [r["__key__"] for r in read] == [s.key for s in samples]
    assert read[7]["txt"] == samples[7].members["txt"]


def test_write_shards_byte_cap(tmp_path):
    infos = write_shards(tmp_path, _samples(20, size=5000), max_samples=1000, max_bytes=40 * 1024)
    assert len(infos) > 1
    assert all(i.bytes <= 40 * 1024 for i in infos)
    assert sum(i.num_samples for i in infos) == 20


def test_write_shards_refuses_duplicate_keys(tmp_path):
    with pytest.raises(ValueError, match="duplicate"):
        write_shards(tmp_path, _samples(2) + _samples(1))


def test_reject_reasons_are_codes():
    with pytest.raises(ValueError):
        Reject("x", "Not A Code")
    assert (
        json.loads(Reject("id1", "empty_file", "0 bytes", "pack").to_json())["reason"]
        == "empty_file"
    )


def test_stage_counts_and_balance_check():
    counters = {
        ("stage:read", "in"): 5,
        ("stage:read", "out"): 4,
        ("stage:read", "rejected"): 1,
        ("stage:read", "rejected:unreadable"): 1,
        ("stage:read", "stat:bytes"): 99,
        ("stage:pack", "in"): 4,
        ("stage:pack", "out"): 4,
        ("other", "in"): 7,
    }
    stages = stage_counts(counters)
    assert set(stages) == {"read", "pack"}
    assert stages["read"].rejected_by_reason == {"unreadable": 1} and stages["read"].stats == {
        "bytes": 99
    }
    manifest = build_manifest("p", [], stages, links=[("read", "pack")])
    assert manifest["balanced"]
    check_manifest(manifest)
    assert "| read | 5 | 4 | 1 | unreadable: 1 |" in render_markdown(manifest)


def test_unbalanced_stage_or_broken_link_fails_loudly():
    lost = {"read": StageCounts(inputs=5, outputs=3, rejected=1, rejected_by_reason={"x": 1})}
    manifest = build_manifest("p", [], lost)
    assert not manifest["balanced"]
    with pytest.raises(UnbalancedRunError, match="in \\(5\\) != out \\(3\\)"):
        check_manifest(manifest)
    stages = {"a": StageCounts(3, 3, 0), "b": StageCounts(2, 2, 0)}
    with pytest.raises(UnbalancedRunError, match="received 2 items but 'a' emitted 3"):
        check_manifest(build_manifest("p", [], stages, links=[("a", "b")]))


def test_file_sample():
    assert isinstance(file_sample("/x/empty.pdf", b""), Reject)
    sample = file_sample("/x/Doc.PDF", b"%PDF-1.7 ...")
    assert set(sample.members) == {"pdf", "json"}
    assert json.loads(sample.members["json"])["source"] == "/x/Doc.PDF"
    assert member_ext("a/b.tar.gz") == "gz" and member_ext("noext") == "bin"
    assert member_ext("x.json") == "bin" and member_ext("x.../..") == "bin"


def test_iter_tar_samples_groups_members_and_stops_at_a_torn_tail(tmp_path):
    from corpusio.shards import iter_tar_samples

    buffer = io.BytesIO()
    write_tar(buffer, _samples(3, size=2000))
    samples = list(iter_tar_samples(io.BytesIO(buffer.getvalue())))
    assert [s["__key__"] for s in samples] == ["k0000", "k0001", "k0002"]
    assert samples[1]["txt"] == _samples(3, size=2000)[1].members["txt"]
    torn = io.BytesIO(buffer.getvalue()[:5000])
    read = []
    with pytest.raises(tarfile.TarError):
        for sample in iter_tar_samples(torn):
            read.append(sample["__key__"])
    assert read == ["k0000"]


def test_stat_links_compare_a_fan_out_with_the_next_stage():
    stages = {"select": StageCounts(2, 2, 0, stats={"chunks": 5}), "resume": StageCounts(5, 5, 0)}
    assert build_manifest("p", [], stages, links=[("select/chunks", "resume")])["balanced"]
    stages["resume"] = StageCounts(4, 4, 0)
    assert not build_manifest("p", [], stages, links=[("select/chunks", "resume")])["balanced"]


def test_shard_index_gives_byte_offsets_for_random_access(tmp_path):
    from corpusio.shards import index_name, read_member

    samples = _samples(7, size=1500)
    (info,) = write_shards(tmp_path, samples, prefix="ix")
    index = json.loads((tmp_path / index_name(info.name)).read_text())
    assert index["shard"] == info.name and len(index["samples"]) == 7
    by_key = {s.key: s for s in samples}
    with open(tmp_path / info.name, "rb") as f:
        for entry in reversed(index["samples"]):
            for ext in ("txt", "json"):
                assert read_member(f, entry, ext) == by_key[entry["key"]].members[ext]
    listed = json.loads((tmp_path / "_info.json").read_text())["shards"][0]
    assert listed["index"] == index_name(info.name)
