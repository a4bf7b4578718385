"""The HTML run report: plots and samples from a run's outputs, self-contained, never fatal.

Outputs are built here with the project's own schemas and sample helpers, as
the pipelines write them; the page is then opened in headless Chromium.
"""

import ast
import base64
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

from cauldron.schema import cauldron_row, rows_table
from corpusio.accounting import StageCounts, build_manifest
from corpusio.images import ImageData
from corpusio.keys import content_key
from corpusio.packing import file_sample
from corpusio.shards import write_shards
from docmatix.qa_records import PdfaDocument
from docmatix.qa_rows import IMAGES_SCHEMA, images_row, qa_sample, text_entry
from obelics_filter.records import ImageNode, TextNode, WebDocument, WebPage
from obelics_filter.schema import SCHEMA as OBELICS_SCHEMA
from obelics_filter.schema import obelics_row
from runreport import local_files, write_html_report
from runreport.profiles import Categories, Distribution, Note, profile
from transcription.pdfa import PAGE_SCHEMA, page_json
from transcription.records import Line, PageText, Word
from transcription.transcribe import Transcript

ROOT = Path(__file__).resolve().parents[1]
STARTED, FINISHED = "2026-01-02T03:04:05+00:00", "2026-01-02T03:10:00+00:00"
MISSING_IMAGE_URL = "https://images.example.com/not-stored.jpg"


# ---------------------------------------------------------------- fixtures: a run's outputs


def _png(width: int, height: int, seed: int) -> bytes:
    """A small picture with shapes and colours, so thumbnails are not blank."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width - 20)), int(rng.integers(0, height - 20))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.rectangle((x0, y0, x0 + width // 4, y0 + height // 6), fill=color)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _manifest(pipeline, stages, links, outputs, extra=None) -> dict:
    """A manifest as run_job builds it: stages are {name: (in, out, {reason: n})}."""
    counts = {
        name: StageCounts(n_in, n_out, sum(reasons.values()), None, dict(reasons))
        for name, (n_in, n_out, reasons) in stages.items()
    }
    return build_manifest(
        pipeline,
        ["--input", "in/*", "--output", "out"],
        counts,
        links=links,
        outputs=outputs,
        started=STARTED,
        finished=FINISHED,
        extra=extra,
    )


def _write_parquet(path: Path, rows: list[dict], schema) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def _page(words: int, source: str, score: float) -> dict:
    lines = [Line(tuple(Word(f"word{i}", (10 + i, 10, 20 + i, 20), score) for i in range(words)))]
    reason = "no_text_layer" if source == "ocr" else "good_text_layer"
    return page_json(PageText(lines, 600.0, 800.0), source, reason)


# pages per document, words per page, source per page
PDF_DOCS = [
    [(120, "text_layer", 1.0)],
    [(40, "ocr", 0.91), (60, "ocr", 0.83)],
    [(200, "text_layer", 1.0), (10, "ocr", 0.55), (80, "text_layer", 1.0)],
]


def build_pdf_run(out: Path) -> dict:
    transcripts = []
    for n, pages in enumerate(PDF_DOCS):
        data = f"%PDF-1.4 document {n}".encode()
        transcripts.append(
            Transcript(
                content_key(data),
                f"in/doc{n}.pdf",
                "pdf",
                data,
                [_page(*spec) for spec in pages],
                [_png(300, 400, 10 * n + p) for p in range(len(pages))],
            )
        )
    rows = [row for t in transcripts for row in t.page_rows()]
    _write_parquet(out / "pages" / "pages-00000-of-00001.parquet", rows, PAGE_SCHEMA)
    write_shards(out / "shards", [t.sample() for t in transcripts], prefix="pdfa")
    return _manifest(
        "pdf_transcribe",
        {
            "read": (5, 5, {}),
            "transcribe": (5, 3, {"encrypted": 1, "not_a_pdf": 1}),
            "shards": (3, 3, {}),
        },
        [("read", "transcribe"), ("transcribe", "shards")],
        {
            "shards": str(out / "shards"),
            "pages": str(out / "pages" / "pages") + "-*.parquet",
            "rejects": str(out / "rejects-*.jsonl"),
        },
    )


# QA pairs and pages per document
QA_DOCS = [(3, 1), (4, 2), (1, 1)]


def build_qa_run(out: Path) -> dict:
    rows, samples = [], []
    for n, (pairs, pages) in enumerate(QA_DOCS):
        key = content_key(f"qa document {n}".encode())
        pngs = [_png(320, 420, 100 + 10 * n + p) for p in range(pages)]
        texts = [
            text_entry(key, f"What is item {i} of doc {n}?", " ".join(["answer"] * (i + 2)), "x", 0)
            for i in range(pairs)
        ]
        doc = PdfaDocument(key, tuple(f"page {p}" for p in range(pages)), None, tuple(pngs))
        rows.append(images_row(texts, pngs))
        samples.append(qa_sample(doc, texts, pngs))
    _write_parquet(out / "data" / "train-00000-of-00001.parquet", rows, IMAGES_SCHEMA)
    write_shards(out / "shards", samples, prefix="docmatix")
    return _manifest(
        "docmatix_qa",
        {
            "read_shards": (3, 3, {}),
            "read_documents": (3, 3, {}),
            "assemble": (3, 3, {}),
            "shards": (3, 3, {}),
        },
        [("read_shards", "read_documents"), ("read_documents", "assemble"), ("assemble", "shards")],
        {"data": str(out / "data"), "pdf": str(out / "pdf"), "shards": str(out / "shards")},
    )


def _web_doc(n: int, stored: int, missing: int) -> WebDocument:
    url = f"https://www.example.org/article-{n}.html"
    page = WebPage(url, b"<html></html>", {}, "crawl.warc.gz", 100 * n, 90, "2024-05-01T00:00:00Z")
    nodes, images = [TextNode(f"Article {n} opens with a few words about its subject.")], {}
    for i in range(stored):
        src = f"https://images.example.org/{n}-{i}.png"
        data = _png(200 + 100 * i, 150, 200 + 10 * n + i)
        nodes += [ImageNode(src, f"figure {i}"), TextNode(f"Caption and paragraph {i}.")]
        images[src] = ImageData(src, data, 200 + 100 * i, 150, "png")
    nodes += [ImageNode(MISSING_IMAGE_URL, "not stored")] * missing
    return WebDocument(page, nodes, images)


# (stored images, images not stored) per document
WEB_DOCS = [(2, 1), (0, 0), (1, 0)]


def build_web_run(out: Path) -> dict:
    from pipelines.web_docs import _sample  # the pipeline's own sample layout

    docs = [_web_doc(n, *spec) for n, spec in enumerate(WEB_DOCS)]
    rows = [obelics_row(d) for d in docs]
    _write_parquet(out / "data" / "obelics-00000-of-00001.parquet", rows, OBELICS_SCHEMA)
    write_shards(out / "shards", [_sample(d) for d in docs], prefix="obelics")
    return _manifest(
        "web_docs",
        {
            "read_warc": (10, 8, {"not_html": 2}),
            "extract": (8, 5, {"too_short": 2, "error": 1}),
            "near_dedup": (5, 3, {"near_duplicate": 2}),
            "shards": (3, 3, {}),
        },
        [("read_warc", "extract"), ("extract", "near_dedup"), ("near_dedup", "shards")],
        {"data": str(out / "data"), "shards": str(out / "shards"), "excluded": str(out / "x")},
    )


CAULDRON_TURNS = [1, 3, 2, 2]


def build_cauldron_run(out: Path) -> dict:
    from pipelines.cauldron_subset import _sample

    subset = out / "cord_v2"
    rows = [
        cauldron_row(
            [_png(240, 180, 300 + n)], [(f"Q{n}.{t}", f"A{n}.{t}") for t in range(turns)], "cord"
        )
        for n, turns in enumerate(CAULDRON_TURNS)
    ]
    subset.mkdir(parents=True)
    pq.write_table(rows_table(rows), subset / "train-00000-of-00001.parquet")
    write_shards(subset / "shards", [_sample((f"row-{n}", r)) for n, r in enumerate(rows)])
    return _manifest(
        "cauldron_subset",
        {"read_source": (4, 4, {}), "convert": (4, 4, {}), "shards": (4, 4, {})},
        [("read_source", "convert"), ("convert", "shards")],
        {"data": str(subset)},
        extra={"subset": "cord_v2"},
    )


PACKED_SIZES = [100, 2_000, 30_000, 400_000]


def build_pack_run(out: Path) -> dict:
    samples = [
        file_sample(f"in/f{n}.pdf", bytes([n + 1]) * size) for n, size in enumerate(PACKED_SIZES)
    ]
    write_shards(out / "shards", samples, prefix="files")
    return _manifest(
        "pack_files",
        {"read": (5, 5, {}), "pack": (5, 4, {"empty_file": 1}), "shards": (4, 4, {})},
        [("read", "pack"), ("pack", "shards")],
        {"shards": str(out / "shards")},
    )


RUNS = {
    "pdf_transcribe": (
        build_pdf_run,
        {"pages_per_document", "words_per_page", "ocr_confidence", "page_sources"},
    ),
    "docmatix_qa": (build_qa_run, {"qa_pairs_per_document", "qa_pairs_per_page", "answer_words"}),
    "web_docs": (build_web_run, {"images_per_document", "image_sizes", "words_per_document"}),
    "cauldron_subset": (build_cauldron_run, {"turns_per_row", "images_per_row"}),
    "pack_files": (build_pack_run, {"file_sizes", "file_types"}),
}


def _report(manifest: dict, output_dir: Path, **kw) -> dict[str, str]:
    files = local_files()
    return write_html_report(
        manifest,
        str(output_dir),
        read_bytes=files.read_bytes,
        match=files.match,
        write_bytes=files.write_bytes,
        **kw,
    )


# ---------------------------------------------------------------- checks on the page


_IMG_SRC = re.compile(r"<img\b[^>]*?\bsrc=\"([^\"]*)\"", re.IGNORECASE)


def _embedded_images(html: str) -> list[bytes]:
    sources = _IMG_SRC.findall(html)
    for src in sources:
        assert src.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")), src[:80]
    return [base64.b64decode(src.split(",", 1)[1]) for src in sources]


def _assert_self_contained(html: str) -> None:
    """No attribute or CSS rule loads anything from outside the file."""
    loads = re.findall(r"\b(?:src|srcset|poster|data)\s*=\s*[\"']?\s*(?:https?:)?//", html, re.I)
    assert loads == []
    assert re.findall(r"url\(\s*[\"']?\s*(?:https?:)?//", html, re.I) == []
    assert re.findall(r"<link\b[^>]*\bhref=", html, re.I) == []
    assert "<script" not in html.lower()


def _assert_picture(png: bytes, min_side: int = 100) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    assert min(image.size) >= min_side
    extrema = image.convert("L").getextrema()
    assert extrema[1] - extrema[0] > 64, "image is (nearly) uniform"
    return image


@pytest.mark.parametrize("pipeline", sorted(RUNS))
def test_report_has_plots_and_embeds_them(tmp_path, pipeline):
    build, expected = RUNS[pipeline]
    manifest = build(tmp_path / "run")
    written = _report(manifest, tmp_path / "run")

    assert set(written) == {"html", "funnel"} | expected
    html_path = Path(written["html"])
    assert html_path == tmp_path / "run" / "report.html"
    html = html_path.read_text()
    _assert_self_contained(html)
    embedded = _embedded_images(html)
    for name in {"funnel"} | expected:
        path = Path(written[name])
        assert path.parent == tmp_path / "run" / "report" and path.name == f"{name}.png"
        png = path.read_bytes()
        _assert_picture(png)
        assert png in embedded, f"{name}.png is not embedded in the page"
    for stage, counts in manifest["stages"].items():
        row = (
            f"<tr><td>{stage}</td><td class=n>{counts['in']:,}</td>"
            f"<td class=n>{counts['out']:,}</td><td class=n>{counts['rejected']:,}</td>"
        )
        assert row in html
    for counts in manifest["stages"].values():
        for reason in counts["rejected_by_reason"]:
            assert f"<td>{reason}</td>" in html
    assert STARTED in html and FINISHED in html and "--input &#x27;in/*&#x27;" in html
    assert 'class="note"' not in html, "a profile failed on well-formed outputs"


def test_samples_show_page_images_questions_and_documents_in_order(tmp_path):
    builders = {"p": build_pdf_run, "q": build_qa_run, "w": build_web_run, "c": build_cauldron_run}
    shown = {}
    for name, build in builders.items():
        out = tmp_path / name
        shown[name] = Path(_report(build(out), out)["html"]).read_text()

    # thumbnails (JPEG, at most 400 px) of the pages, figures and Cauldron images
    for name, html in shown.items():
        thumbs = [i for i in _embedded_images(html) if i.startswith(b"\xff\xd8")]
        assert thumbs, name
        for data in thumbs:
            assert max(_assert_picture(data, min_side=50).size) <= 400
    assert "word0 word1 word2" in shown["p"]
    assert "What is item 2 of doc 0?" in shown["q"] and "answer answer answer answer" in shown["q"]
    assert "Q0.0" in shown["c"] and "A1.2" in shown["c"]
    # the web document reads in order: text, its stored image, caption, then the URL not stored
    web_html = shown["w"]
    (card,) = [c for c in web_html.split('<div class="card">') if "Article 0 opens" in c]
    at = 0
    for piece in (
        "Article 0 opens",
        "<img",
        "Caption and paragraph 0.",
        "<img",
        "Caption and paragraph 1.",
        f"image not stored: {MISSING_IMAGE_URL}",
    ):
        found = card.find(piece, at)
        assert found >= at, f"{piece!r} missing or out of order"
        at = found + len(piece)
    assert MISSING_IMAGE_URL not in "".join(_IMG_SRC.findall(web_html))


def _items(manifest: dict, limit: int = 5000) -> dict[str, Distribution | Categories | Note]:
    return {getattr(i, "name", i.title): i for i in profile(manifest, local_files(), limit)}


def test_distributions_hold_the_outputs_values(tmp_path):
    pdf = _items(build_pdf_run(tmp_path / "pdf"))
    assert sorted(pdf["pages_per_document"].values) == sorted(len(d) for d in PDF_DOCS)
    assert sorted(pdf["words_per_page"].values) == sorted(w for d in PDF_DOCS for w, _, _ in d)
    ocr_scores = [s for d in PDF_DOCS for _, src, s in d if src == "ocr"]
    assert sorted(pdf["ocr_confidence"].values) == pytest.approx(sorted(ocr_scores))
    assert dict(pdf["page_sources"].counts) == {"ocr": 3, "text_layer": 3}

    qa = _items(build_qa_run(tmp_path / "qa"))
    assert sorted(qa["qa_pairs_per_document"].values) == sorted(p for p, _ in QA_DOCS)
    assert sorted(qa["qa_pairs_per_page"].values) == sorted(p / n for p, n in QA_DOCS)
    assert sorted(qa["answer_words"].values) == sorted(i + 2 for p, _ in QA_DOCS for i in range(p))

    web = _items(build_web_run(tmp_path / "web"))
    assert sorted(web["images_per_document"].values) == sorted(s + m for s, m in WEB_DOCS)
    stored_sides = [200 + 100 * i for s, _ in WEB_DOCS for i in range(s)]
    assert sorted(web["image_sizes"].values) == sorted(stored_sides)

    cauldron = _items(build_cauldron_run(tmp_path / "cauldron"))
    assert sorted(cauldron["turns_per_row"].values) == sorted(CAULDRON_TURNS)
    assert cauldron["images_per_row"].values == (1, 1, 1, 1)

    packed = _items(build_pack_run(tmp_path / "pack"))
    assert sorted(packed["file_sizes"].values) == PACKED_SIZES
    assert dict(packed["file_types"].counts) == {"pdf": len(PACKED_SIZES)}


def test_reading_stops_at_the_sample_limit(tmp_path):
    rows = [
        {"images": [], "texts": [text_entry("k", "q", "a", "x", 0)] * (n % 4 + 1)}
        for n in range(40)
    ]
    for part in range(3):
        name = f"train-{part:05d}-of-00003.parquet"
        _write_parquet(tmp_path / "data" / name, rows, IMAGES_SCHEMA)
    manifest = _manifest("docmatix_qa", {}, [], {"data": str(tmp_path / "data")})
    items = _items(manifest, limit=50)
    values = items["qa_pairs_per_document"].values
    assert len(values) == 50
    assert list(values) == [n % 4 + 1 for n in range(40)] + [n % 4 + 1 for n in range(10)]
    assert items["qa_pairs_per_document"].basis == "first 50 documents from 2 of 3 files"
    html = Path(_report(manifest, tmp_path, sample_limit=50)["html"]).read_text()
    assert "first 50 documents from 2 of 3 files" in html and "first 50 rows" in html


def test_a_truncated_output_gives_a_note_not_an_exception(tmp_path):
    manifest = build_pdf_run(tmp_path)
    pages = tmp_path / "pages" / "pages-00000-of-00001.parquet"
    pages.write_bytes(pages.read_bytes()[: pages.stat().st_size // 2])
    shard = tmp_path / "shards" / "pdfa-000000.tar"
    shard.write_bytes(shard.read_bytes()[:3000])

    written = _report(manifest, tmp_path)
    html = Path(written["html"]).read_text()
    assert set(written) == {"html", "funnel"}
    assert "pages: unreadable files skipped" in html and str(pages) in html
    assert "no rows could be read" in html
    assert "samples: unreadable shard skipped" in html
    _assert_picture(Path(written["funnel"]).read_bytes())


def test_one_bad_file_among_good_ones_still_gives_the_plots(tmp_path):
    manifest = build_pdf_run(tmp_path)
    bad = tmp_path / "pages" / "pages-00001-of-00001.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    written = _report(manifest, tmp_path)
    html = Path(written["html"]).read_text()
    assert "words_per_page" in written
    assert f"pages: unreadable files skipped</b>: {bad}" in html
    assert "computed from the 6 pages from 1 of 2 files" in html


def test_a_failing_profile_becomes_a_note(tmp_path):
    manifest = build_web_run(tmp_path)
    rows = pq.read_table(tmp_path / "data" / "obelics-00000-of-00001.parquet").to_pylist()
    rows[0]["metadata"] = "{not json"
    _write_parquet(tmp_path / "data" / "obelics-00000-of-00001.parquet", rows, OBELICS_SCHEMA)
    written = _report(manifest, tmp_path)
    html = Path(written["html"]).read_text()
    assert "images_per_document" not in written and "words_per_document" in written
    assert "<b>images per document</b>: could not be computed: JSONDecodeError" in html


def test_unknown_pipeline_gets_the_funnel_only(tmp_path):
    manifest = _manifest("something_new", {"a": (3, 2, {"odd": 1})}, [], {"x": "nowhere"})
    written = _report(manifest, tmp_path)
    assert set(written) == {"html", "funnel"}
    html = Path(written["html"]).read_text()
    assert "<h2>Distributions</h2>" not in html and "<h2>Samples</h2>" not in html
    assert "<td>odd</td>" in html


def test_missing_outputs_give_notes(tmp_path):
    manifest = _manifest("web_docs", {}, [], {"data": str(tmp_path / "d"), "shards": "none"})
    html = Path(_report(manifest, tmp_path)["html"]).read_text()
    assert "no files matched" in html and "no samples found" in html


def test_same_run_gives_the_same_bytes(tmp_path):
    manifest = build_web_run(tmp_path / "run")
    first = _report(manifest, tmp_path / "a")
    second = _report(manifest, tmp_path / "b")
    assert first.keys() == second.keys()
    for name in first:
        assert Path(first[name]).read_bytes() == Path(second[name]).read_bytes(), name


def test_runreport_stays_plain_python():
    files = sorted((ROOT / "runreport").rglob("*.py"))
    assert files
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] in ("apache_beam", "pipelines") for n in names), path
    code = "import sys, runreport; assert 'apache_beam' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---------------------------------------------------------------- in a browser

_CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-extensions",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--window-size=1280,2400",
]
# Where every image sits once laid out, and whether it decoded (run on a copy of the page).
_PROBE = """<script>
addEventListener("load", () => {
  const boxes = [...document.images].map(i => {
    const r = i.getBoundingClientRect();
    return [Math.round(r.x), Math.round(r.y), Math.round(r.width), Math.round(r.height),
            i.complete && i.naturalWidth > 0 ? 1 : 0];
  });
  document.body.setAttribute("data-images", JSON.stringify(boxes));
});
</script>"""


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "chromium is not installed; the report's browser test needs it: "
            "apt-get install -y chromium (CI installs it)"
        )
    return path


def _browse(tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess:
    profile_dir = tmp_path / f"chromium-profile-{page.stem}"
    return subprocess.run(
        [_chromium(), *_CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _screenshot(tmp_path: Path, page: Path) -> tuple[Image.Image, list[str]]:
    shot = tmp_path / f"{page.stem}.png"
    run = _browse(tmp_path, page, "--enable-logging=stderr", "--v=1", f"--screenshot={shot}")
    return Image.open(shot).convert("RGB"), _console_lines(run.stderr)


def test_report_renders_in_chromium(tmp_path):
    _chromium()
    manifest = build_web_run(tmp_path / "run")
    html_path = Path(_report(manifest, tmp_path / "run")["html"])
    html = html_path.read_text()
    count = len(_embedded_images(html))

    # the page as written: no console message (a blocked remote load would log one)
    shot, console = _screenshot(tmp_path, html_path)
    assert console == []
    assert shot.size == (1280, 2400)
    assert len(set(shot.getdata())) > 500, "the screenshot is (nearly) blank"

    # a copy with a probe script: every image decodes, and the funnel is drawn where it sits
    probe = tmp_path / "probe.html"
    probe.write_text(
        html.replace(
            "default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';"
        ).replace("</body>", _PROBE + "</body>")
    )
    dom = _browse(tmp_path, probe, "--dump-dom").stdout
    boxes = json.loads(re.search(r'data-images="([^"]*)"', dom).group(1).replace("&quot;", '"'))
    assert len(boxes) == count and count >= 5
    assert all(decoded for *_, decoded in boxes), boxes
    x, y, width, height, _ = boxes[0]  # the funnel, first on the page
    assert width > 600 and height > 150 and y + height <= shot.height
    funnel = np.asarray(shot.crop((x, y, x + width, y + height)))
    not_white = (funnel < 235).any(axis=2).mean()
    assert not_white > 0.05, f"the funnel region is {not_white:.1%} non-white"
    colours = {tuple(p) for p in funnel.reshape(-1, 3)[::7]}
    assert len(colours) > 20

    # the check above can fail: a remote image in the page is blocked and logged
    bad = tmp_path / "remote.html"
    bad.write_text(html.replace("<h1>", '<img src="https://example.invalid/x.png"><h1>', 1))
    _, console = _screenshot(tmp_path, bad)
    assert any("Content Security Policy" in line for line in console), console
