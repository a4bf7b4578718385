"""No payload crosses a boundary between fused stages, in any pipeline.

Beam's local runner keeps every PCollection that passes between fused stages
in memory (GroupByKey and CoGroupByKey inputs, side inputs, Reshuffles) and
Dataflow shuffles them. Each pipeline runs here on inputs whose every payload
(page, image, PDF, row) is far larger than the small records that may cross,
and the run's manifest says how many bytes crossed each boundary: no
boundary may carry more than a few KiB per input item. A control pipeline
that does group payloads shows the measurement would catch it.
"""

import io
import json
import random

import apache_beam as beam
import numpy as np
import pymupdf
import pytest
from PIL import Image
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from demo_corpus.text import TextGen
from pipelines import cauldron_subset, docmatix_qa, pack_files, pdf_transcribe, web_docs
from pipelines.job import run_job
from pipelines.options import pipeline_options

PAYLOAD = 96 * 1024  # every payload of these inputs is at least this big
PER_ITEM = 6 * 1024  # what a boundary may carry per input item, at most


def noise_png(seed: int, side: int = 200) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    assert len(out.getvalue()) >= PAYLOAD
    return out.getvalue()


def _pdf(folder, index: int) -> None:
    gen = TextGen(7, f"boundary-pdf-{index}")
    doc = pymupdf.open()
    for number in range(2):
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(54, 54, 558, 400), gen.paragraph(12), fontsize=10)
        page.insert_image(pymupdf.Rect(54, 420, 354, 720), stream=noise_png(index * 10 + number))
    data = doc.tobytes(garbage=3, no_new_id=True)
    assert len(data) >= PAYLOAD
    (folder / f"doc-{index}.pdf").write_bytes(data)


def _page(index: int, images: list[str], words: int) -> bytes:
    gen = TextGen(11, f"boundary-page-{index}")
    text = []
    while sum(len(t.split()) for t in text) < words:
        text.append(f"<p>{gen.paragraph(5)}</p>")
    figures = "".join(
        f'<img src="{u}" width="200" height="200" alt="{gen.heading()}">' for u in images
    )
    padding = "".join(f"window.v{i}={i * 7919};" for i in range(9000))  # scripts, as real pages
    html = (
        f'<html lang="en"><head><title>{gen.title()}</title><script>{padding}</script></head>'
        f"<body><article><h1>{gen.title()}</h1>{text[0]}{figures}{''.join(text[1:])}"
        f"</article></body></html>"
    )
    assert len(html) >= PAYLOAD
    return html.encode()


def _warc(path) -> int:
    """Pages (kept, too long, duplicate URL) with image records of their own; returns items."""
    items = 0
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)

        def response(url, body, content_type, date="2024-01-01T00:00:00Z"):
            nonlocal items
            items += 1
            headers = StatusAndHeaders(
                "200 OK",
                [("Content-Type", content_type), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1",
            )
            writer.write_record(
                writer.create_warc_record(
                    url,
                    "response",
                    payload=io.BytesIO(body),
                    length=len(body),
                    http_headers=headers,
                    warc_headers_dict={"WARC-Date": date},
                )
            )

        for index in range(6):
            images = [f"https://img.example/{index}/{k}.png" for k in range(2)]
            words = 9000 if index == 5 else 700  # the last one is too long for the filters
            url = f"https://news.example/{index}.html"
            response(url, _page(index, images, words), "text/html; charset=utf-8")
            if index == 0:  # an older capture of the same URL
                response(url, _page(index, images, words), "text/html", "2023-01-01T00:00:00Z")
            for k, image in enumerate(images):
                response(image, noise_png(100 + index * 2 + k), "image/png")
    return items


def _sharegpt(root) -> int:
    folder = root / "sharegpt4o"
    (folder / "images").mkdir(parents=True)
    records = []
    for index in range(6):
        name = f"img{index}.png"
        (folder / "images" / name).write_bytes(noise_png(500 + index))
        records.append(
            {
                "id": f"row_{index}",
                "image": name,
                "conversations": [
                    {"from": "human", "value": "<image>\nDescribe the picture."},
                    {"from": "gpt", "value": f"A field of coloured noise, number {index}."},
                ],
            }
        )
    (folder / "image_conversations").mkdir()
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (folder / "image_conversations" / "gpt-4o.jsonl").write_text(lines)
    return len(records)


def _crossing(manifest: dict, items: int) -> list[dict]:
    """Boundaries that carried more than PER_ITEM bytes per input item."""
    assert manifest["boundaries"], "the run measured no boundary"
    assert any(b["elements"] for b in manifest["boundaries"])
    return [b for b in manifest["boundaries"] if b["total_bytes"] > PER_ITEM * items]


@pytest.fixture(scope="module")
def pdf_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdfs")
    for index in range(4):
        _pdf(folder, index)
    return folder


@pytest.fixture(scope="module")
def transcripts(pdf_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("transcripts")
    manifest = pdf_transcribe.run(
        ["--input", f"{pdf_folder}/*.pdf", "--output", str(out), "--ocr", "never", "--render-pages"]
    )
    return out, manifest


def test_transcription_moves_only_small_records(transcripts):
    _, manifest = transcripts
    assert manifest["stages"]["shards"]["out"] == 4
    assert _crossing(manifest, 4) == []


def test_packing_moves_only_small_records(pdf_folder, tmp_path):
    manifest = pack_files.run(["--input", f"{pdf_folder}/*.pdf", "--output", str(tmp_path)])
    assert manifest["stages"]["shards"]["out"] == 4
    assert _crossing(manifest, 4) == []


def test_document_qa_moves_only_small_records(transcripts, tmp_path):
    out, _ = transcripts
    manifest = docmatix_qa.run(
        ["--input", f"{out}/shards/*.tar", "--output", str(tmp_path), "--llm", "offline"]
    )
    assert manifest["stages"]["shards"]["out"] == 4
    assert _crossing(manifest, 4) == []


def test_web_documents_move_only_small_records(tmp_path):
    warc = tmp_path / "crawl.warc.gz"
    items = _warc(warc)
    manifest = web_docs.run(["--input", str(warc), "--output", str(tmp_path / "out")])
    stages = manifest["stages"]
    assert stages["url_dedup"]["rejected_by_reason"] == {"duplicate_url": 1}
    assert stages["filter_documents"]["rejected"] >= 1  # its document went to excluded/
    assert stages["shards"]["out"] >= 3
    assert _crossing(manifest, items) == []


def test_cauldron_subset_moves_only_small_records(tmp_path):
    rows = _sharegpt(tmp_path)
    manifest = cauldron_subset.run(
        [
            "--subset",
            "sharegpt4o",
            "--input",
            str(tmp_path / "sharegpt4o"),
            "--output",
            str(tmp_path / "out"),
            "--decontaminate-against",
            str(tmp_path / "sharegpt4o" / "images"),
        ]
    )
    assert manifest["stages"]["decontaminate"]["rejected"] == rows  # each matches itself
    manifest = cauldron_subset.run(
        [
            "--subset",
            "sharegpt4o",
            "--input",
            str(tmp_path / "sharegpt4o"),
            "--output",
            str(tmp_path / "kept"),
        ]
    )
    assert manifest["stages"]["shards"]["out"] == rows
    assert _crossing(manifest, rows) == []


def test_the_measurement_catches_payloads_that_are_grouped(tmp_path):
    payloads = [random.Random(i).randbytes(PAYLOAD) for i in range(4)]

    def build(p):
        _ = (
            p
            | beam.Create(payloads)
            | beam.Map(lambda data: (len(data) % 2, data))
            | beam.GroupByKey()
            | beam.Map(len)
        )

    manifest = run_job("control", [], pipeline_options([]), build, str(tmp_path))
    flagged = _crossing(manifest, len(payloads))
    assert flagged and max(b["max_bytes"] for b in flagged) >= PAYLOAD
