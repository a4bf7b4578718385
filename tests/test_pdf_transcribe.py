"""pipelines.pdf_transcribe on the demo corpus and on real documents, with real Tesseract."""

import io
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pymupdf
import pytest
import webdataset as wds
from PIL import Image

from pipelines import pdf_transcribe
from transcription.ocr import character_error_rate
from transcription.pdfa import PAGE_SCHEMA, check_document, page_text
from transcription.transcribe import TranscribeOptions, transcribe

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "pdf"
BAD_REASONS = {
    "empty": "empty_file",
    "truncated": "truncated_pdf",
    "encrypted": "encrypted",
    "not_pdf": "not_a_pdf",
}


def _run(inputs, out, *extra):
    argv = ["--output", str(out), *extra]
    for pattern in inputs:
        argv += ["--input", str(pattern)]
    return pdf_transcribe.run(argv)


def _documents(out: Path) -> dict[str, dict]:
    """Samples of the output shards by source path."""
    info = json.loads((out / "shards" / "_info.json").read_text())
    urls = [str(out / "shards" / name) for name in info["splits"]["train"]["filenames"]]
    docs = {}
    for sample in wds.WebDataset(urls, shardshuffle=False):
        doc = json.loads(sample["json"])
        docs[doc["meta"]["source"]] = {"sample": sample, "doc": doc}
    return docs


@pytest.fixture(scope="module")
def demo_run(demo_corpus, tmp_path_factory):
    root, index = demo_corpus
    out = tmp_path_factory.mktemp("transcribed")
    pdf = root / "pdf"
    manifest = _run([pdf / "**/*.pdf", pdf / "**/*.tiff", pdf / "**/*.png"], out, "--render-pages")
    return root, index, out, manifest, _documents(out)


def _entry(index, path):
    return next(e for e in index["files"] if e["path"] == path)


def _ground_truth(root, index, path):
    return (root / _entry(index, path)["ground_truth"]).read_text().split("\f")


def test_every_input_is_accounted_for(demo_run):
    root, index, out, manifest, docs = demo_run
    bad = [e for e in index["files"] if e["kind"] == "pdf-bad"]
    stage = manifest["stages"]["transcribe"]
    assert manifest["balanced"]
    assert stage["rejected_by_reason"] == dict(Counter(BAD_REASONS[e["expect"]] for e in bad))
    rejects = [
        json.loads(x) for f in out.glob("rejects-*.jsonl") for x in f.read_text().split("\n") if x
    ]
    assert sorted(Path(r["id"]).name for r in rejects) == sorted(Path(e["path"]).name for e in bad)
    inputs = [e for e in index["files"] if e["kind"] in ("pdf-digital", "scan-pdf", "scan-image")]
    assert stage["out"] == len(inputs) == len(docs)
    assert stage["stats"]["pages"] == sum(e["pages"] for e in inputs)
    assert (
        stage["stats"]["pages_ocr"] + stage["stats"]["pages_text_layer"] == stage["stats"]["pages"]
    )


def test_shards_read_back_and_pass_the_schema_check(demo_run):
    root, index, out, manifest, docs = demo_run
    for source, item in docs.items():
        assert check_document(item["doc"]) == [], source
        sample = item["sample"]
        original = (root / Path(source).relative_to(root)).read_bytes()
        ext = {"pdf": "pdf", "tiff": "tif", "png": "png"}[source.rsplit(".", 1)[1]]
        assert sample[ext] == original
        pngs = sorted(k for k in sample if k.endswith(".png") and k != ext)
        assert len(pngs) == len(item["doc"]["pages"])
        for name in pngs:
            assert max(Image.open(io.BytesIO(sample[name])).size) <= 2940


def test_digital_pages_use_the_text_layer_and_match_the_pdf(demo_run):
    root, index, out, manifest, docs = demo_run
    for entry in (e for e in index["files"] if e["kind"] == "pdf-digital"):
        doc = docs[str(root / entry["path"])]["doc"]
        pdf = pymupdf.open(root / entry["path"])
        for number, page in enumerate(doc["pages"]):
            assert page["source"] == "text_layer", (entry["path"], number)
            expected = Counter(w[4] for w in pdf[number].get_text("words"))
            assert Counter(page["words"]["text"]) == expected, (entry["path"], number)
        # Docmatix page images: 150 dpi renders of the page
        first = Image.open(io.BytesIO(docs[str(root / entry["path"])]["sample"]["0000.png"]))
        assert first.size == pdf[0].get_pixmap(dpi=150).irect[2:]


def test_scanned_pages_are_ocred_accurately_and_upright(demo_run):
    root, index, out, manifest, docs = demo_run
    path = "pdf/scanned/scan_mixed_dpi.pdf"
    entry = _entry(index, path)
    pages = docs[str(root / path)]["doc"]["pages"]
    truth = _ground_truth(root, index, path)
    for page, dpi, rotation, gt in zip(pages, entry["dpi"], entry["rotation"], truth, strict=True):
        assert page["source"] == "ocr" and page["source_reason"] == "no_text_layer"
        assert page["rotation"] == rotation
        cer = character_error_rate(page_text(page), gt)
        assert cer <= (0.03 if dpi == 200 else 0.05), (dpi, cer)
    for path in ("pdf/scanned/scan_tiff_page.tiff", "pdf/scanned/scan_png_page.png"):
        (page,) = docs[str(root / path)]["doc"]["pages"]
        assert page["source_reason"] == "image_input"
        assert character_error_rate(page_text(page), _ground_truth(root, index, path)[0]) <= 0.05


def test_invisible_layers_good_and_garbage(demo_run):
    root, index, out, manifest, docs = demo_run
    (good,) = docs[str(root / "pdf/scanned/scan_ocr_layer.pdf")]["doc"]["pages"]
    assert good["source"] == "text_layer"
    (garbage,) = docs[str(root / "pdf/scanned/scan_garbage_layer.pdf")]["doc"]["pages"]
    assert (garbage["source"], garbage["source_reason"]) == ("ocr", "garbage_text_layer")
    truth = _ground_truth(root, index, "pdf/scanned/scan_garbage_layer.pdf")[0]
    assert character_error_rate(page_text(garbage), truth) <= 0.03


def test_page_table(demo_run):
    root, index, out, manifest, docs = demo_run
    table = pq.read_table(sorted((out / "pages").glob("pages-*.parquet")))
    assert table.schema.equals(PAGE_SCHEMA, check_metadata=False)
    assert table.num_rows == manifest["stages"]["transcribe"]["stats"]["pages"]
    rows = table.to_pylist()
    assert {r["source"] for r in rows} == {"text_layer", "ocr"}
    assert all(r["word_count"] > 0 for r in rows)


def test_limits_become_rejects(demo_corpus):
    root, _ = demo_corpus
    scan = (root / "pdf/scanned/scan_png_page.png").read_bytes()
    reject = transcribe("s.png", scan, TranscribeOptions(ocr_timeout_s=0.001))
    assert reject.reason == "ocr_timeout"
    reject = transcribe("s.png", scan, TranscribeOptions(max_page_pixels=1000))
    assert reject.reason == "page_too_large"
    mixed = (root / "pdf/scanned/scan_mixed_dpi.pdf").read_bytes()
    assert (
        transcribe("m.pdf", mixed, TranscribeOptions(max_page_pixels=1000)).reason
        == "page_too_large"
    )
    assert transcribe("m.pdf", mixed, TranscribeOptions(max_pages=2)).reason == "too_many_pages"
    report = (root / "pdf/digital/report.pdf").read_bytes()
    forced = transcribe("r.pdf", report, TranscribeOptions(ocr="always"))
    assert {p["source_reason"] for p in forced.pages} == {"ocr_forced"}
    never = transcribe("m.pdf", mixed, TranscribeOptions(ocr="never"))
    assert {p["source"] for p in never.pages} == {"text_layer"}
    assert sum(len(p["words"]["text"]) for p in never.pages) == 0


@pytest.mark.skipif(not REALDATA.exists(), reason="../shared/realdata is not here")
def test_real_documents(tmp_path):
    inputs = [REALDATA / "**/*.pdf", REALDATA / "**/*.tif"]
    manifest = _run(inputs, tmp_path)
    files = [p for p in REALDATA.rglob("*") if p.suffix in (".pdf", ".tif")]
    stage = manifest["stages"]["transcribe"]
    assert manifest["balanced"] and stage["in"] == len(files)
    assert stage["rejected_by_reason"].get("error", 0) == 0
    docs = _documents(tmp_path)
    for name in ("tess_phototest", "tess_eurotext"):
        (page,) = docs[str(REALDATA / "scanned" / f"{name}.tif")]["doc"]["pages"]
        truth = (REALDATA / "scanned" / f"{name}.gt.txt").read_text()
        cer = character_error_rate(page_text(page), truth)
        print(f"{name}: CER {cer:.2%}")
        assert cer <= 0.10
    for item in docs.values():
        assert check_document(item["doc"]) == []


def _warc_with_pdfs(path: Path) -> None:
    import io as _io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from benchmarks.page_suite import running_heads, tex_text

    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)

        def response(url, body, content_type, headers=None):
            http = StatusAndHeaders(
                "200 OK",
                [("Content-Type", content_type), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            record = writer.create_warc_record(
                url,
                "response",
                payload=_io.BytesIO(body),
                length=len(body),
                http_headers=http,
                warc_headers_dict=headers or {},
            )
            writer.write_record(record)

        response("https://a.example/report.pdf", running_heads(), "application/pdf")
        response("https://a.example/", b"<html><body>index</body></html>", "text/html")
        response(
            "https://b.example/cut.pdf",
            tex_text()[:1024],
            "application/pdf",
            {"WARC-Truncated": "length"},
        )
        response("https://c.example/get?id=3", tex_text(), "application/octet-stream")


def test_pdfs_are_read_out_of_warc_files(tmp_path):
    warc = tmp_path / "crawl.warc.gz"
    _warc_with_pdfs(warc)
    argv = ["--input", str(warc), "--ocr", "never", "--layout", "fast"]
    manifest = pdf_transcribe.run([*argv, "--output", str(tmp_path / "out")])
    stages = manifest["stages"]
    assert manifest["balanced"]
    assert stages["read_warc"]["stats"]["pdf_records"] == 2  # the cut one is rejected first
    assert stages["read_warc"]["rejected_by_reason"] == {"truncated_pdf": 1}
    assert stages["read_warc"]["stats"]["skipped_html"] == 1
    assert stages["shards"]["out"] == 2
    metas = [d["doc"]["meta"] for d in _documents(tmp_path / "out").values()]
    assert {m["url"] for m in metas} == {
        "https://a.example/report.pdf",
        "https://c.example/get?id=3",
    }
    assert all(m["warc_filename"] == str(warc) and m["warc_record_offset"] >= 0 for m in metas)

    kept = pdf_transcribe.run([*argv, "--output", str(tmp_path / "kept"), "--accept-truncated"])
    assert kept["stages"]["shards"]["out"] == 3
    truncated = [d["doc"]["meta"] for d in _documents(tmp_path / "kept").values()]
    assert [m.get("truncated") for m in truncated].count("length") == 1
