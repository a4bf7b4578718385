"""pipelines.web_docs on the demo WARC: extraction, filters, dedup, OBELICS rows, accounting."""

import json
from pathlib import Path

import datasets
import pytest
import webdataset as wds

from obelics_filter.schema import check_row
from pipelines import web_docs

DEMO_WARC = "web/warc/demo.warc.gz"


@pytest.fixture(scope="module")
def web_run(demo_corpus, tmp_path_factory):
    root, index = demo_corpus
    out = tmp_path_factory.mktemp("web")
    warcs = root / "web" / "warc"
    manifest = web_docs.run(
        [
            "--input",
            str(warcs / "*.warc.gz"),
            "--input",
            str(warcs / "bad" / "*.warc.gz"),
            "--output",
            str(out),
        ]
    )
    (warc,) = [e for e in index["files"] if e["path"] == DEMO_WARC]
    return out, manifest, warc["records"]


def _rejects(out: Path) -> list[dict]:
    return [
        json.loads(x) for f in out.glob("rejects-*.jsonl") for x in f.read_text().split("\n") if x
    ]


def _pages(records, expect_prefix):
    return [r for r in records if str(r.get("expect", "")).startswith(expect_prefix)]


def test_every_record_is_accounted_for(web_run):
    out, manifest, records = web_run
    assert manifest["balanced"], manifest["problems"]
    responses = [r for r in records if r["type"] == "response"]
    read = manifest["stages"]["read_warc"]
    # the demo WARC's responses, plus what the two truncated copies hold
    assert read["in"] >= len(responses)
    assert read["rejected_by_reason"].get("corrupt_warc") == 1
    assert read["rejected_by_reason"].get("truncated_record") == 1


def test_kept_and_dropped_pages_with_their_reasons(web_run):
    out, manifest, records = web_run
    rows = datasets.load_dataset("parquet", data_dir=str(out / "data"))["train"]
    kept_urls = {json.loads(r["general_metadata"])["url"] for r in rows}
    assert kept_urls == {r["url"] for r in _pages(records, "keep")}
    reasons = {r["id"].split("@")[0]: r["reason"] for r in _rejects(out)}
    for page in _pages(records, "drop:"):
        want = page["expect"].split(":", 1)[1]
        got = reasons.get(page["url"])
        if want == "url_dedup":
            assert any(r["reason"] == "duplicate_url" for r in _rejects(out))
        elif want == "opt_out":
            assert got == "opted_out"
        elif want == "language":
            assert got == "doc_language", got
        else:
            assert got is not None and got.startswith("doc_"), (page["url"], got)


def test_rows_follow_the_obelics_layout_with_images(web_run):
    out, manifest, records = web_run
    rows = datasets.load_dataset("parquet", data_dir=str(out / "data"))["train"]
    article = _pages(records, "keep")[0]
    by_url = {json.loads(r["general_metadata"])["url"]: r for r in rows}
    row = by_url[article["url"]]
    assert check_row({**row, "images": [None if i is None else 1 for i in row["images"]]}) == []
    text = " ".join(t for t in row["texts"] if t)
    for snippet in article["boilerplate_text"]:
        assert snippet not in text
    metadata = [m for m in json.loads(row["metadata"]) if m]
    kept = [i["url"] for i in article["images"] if i["expect"] == "keep"]
    assert [m["src"] for m in metadata] == kept
    assert all(m["alt_text"] for m in metadata)
    images = [i for i in row["images"] if i is not None]
    assert len(images) == len(kept) and all(min(i.size) >= 150 for i in images)
    general = json.loads(row["general_metadata"])
    assert general["warc_filename"].endswith("demo.warc.gz") and general["warc_record_length"] > 0


def test_lazy_images_are_resolved(web_run):
    out, manifest, records = web_run
    (lazy,) = [r for r in records if r.get("role") == "lazy_images"]
    rows = datasets.load_dataset("parquet", data_dir=str(out / "data"))["train"]
    row = next(r for r in rows if json.loads(r["general_metadata"])["url"] == lazy["url"])
    srcs = [m["src"] for m in json.loads(row["metadata"]) if m]
    assert srcs == [i["url"] for i in lazy["images"] if i["expect"] == "keep"]


def test_shards_and_exclusions(web_run):
    out, manifest, records = web_run
    info = json.loads((out / "shards" / "_info.json").read_text())
    urls = [str(out / "shards" / n) for n in info["splits"]["train"]["filenames"]]
    samples = list(wds.WebDataset(urls, shardshuffle=False))
    assert len(samples) == manifest["stages"]["near_dedup"]["out"]
    assert all(any(k.endswith((".jpg", ".png", ".webp")) for k in s) for s in samples)
    excluded = [
        json.loads(x)
        for f in (out / "excluded").glob("*.jsonl")
        for x in f.read_text().split("\n")
        if x
    ]
    assert {e["reason"] for e in excluded} >= {"doc_language"}


REALDATA_WARC = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "web" / "warc"


@pytest.mark.skipif(not REALDATA_WARC.exists(), reason="../shared/realdata is not here")
def test_real_warcs_are_accounted_for(tmp_path):
    manifest = web_docs.run(
        [
            "--input",
            str(REALDATA_WARC / "*.warc*"),
            "--input",
            str(REALDATA_WARC / "bad" / "*"),
            "--images",
            "none",
            "--output",
            str(tmp_path),
        ]
    )
    assert manifest["balanced"], manifest["problems"]
    read = manifest["stages"]["read_warc"]
    assert read["stats"]["page_records"] >= 17
    assert manifest["stages"]["extract"]["rejected_by_reason"].get("error", 0) == 0


def test_dedup_keys():
    from obelics_filter.dedup import image_set_key, minhash_bands, url_key
    from obelics_filter.records import ImageNode, TextNode, WebDocument, WebPage

    assert url_key("HTTPS://Example.org:443/a?x=1#top") == url_key("https://example.org/a?x=1")
    assert url_key("http://example.org/a") != url_key("http://example.org/b")
    text = " ".join(f"word{i % 97} item{i % 13} thing{i % 7}" for i in range(400))
    near = text.replace("word5 ", "wordfive ", 1)
    other = " ".join(f"other{i % 89} stuff{i % 11}" for i in range(400))
    assert set(minhash_bands(text)) & set(minhash_bands(near))
    assert not set(minhash_bands(text)) & set(minhash_bands(other))
    page = WebPage("http://x.example/", b"", {}, "f.warc", 0, 1, "2023-01-01T00:00:00Z")
    a = WebDocument(page, [TextNode("t"), ImageNode("http://i/1.jpg"), ImageNode("http://i/2.jpg")])
    b = WebDocument(page, [ImageNode("http://i/2.jpg"), TextNode("u"), ImageNode("http://i/1.jpg")])
    assert image_set_key(a) == image_set_key(b) and image_set_key(WebDocument(page, [])) is None
