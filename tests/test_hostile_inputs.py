"""Broken and hostile inputs: no crashed run, no memory blow-up, nothing lost.

Every folder here also holds a valid control file. Each run must finish with a
balanced manifest, the bad item a reject with a specific reason, and every
valid item (the control, the records or rows after a bad one) in the output.
The inputs are generated small on disk; the ones that would inflate (a zip
member, TIFF frames, a PDF of thousands of pages) run as the CLI does, and the
peak memory of all its processes is checked against a budget.
"""

import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pymupdf
import pytest
from PIL import Image

from benchmarks.scale import measure
from corpusio.names import from_bytes
from pipelines import cauldron_subset, pack_files, pdf_transcribe, web_docs

ROOT = Path(__file__).resolve().parents[1]
MEMORY_BUDGET = 3 << 30  # peak RSS of a run and all its workers, in bytes
E_ACUTE = b"\xe9"  # a file name byte that is not UTF-8


def _pdf(text: str, pages: int = 1) -> bytes:
    doc = pymupdf.open()
    for number in range(pages):
        doc.new_page().insert_text((72, 72), f"{text} page {number + 1}", fontsize=14)
    return doc.tobytes(garbage=3, no_new_id=True)


def _name(folder: Path, raw: bytes) -> Path:
    return folder / from_bytes(raw)


def _rejects(out: Path) -> list[dict]:
    return [
        json.loads(line) for f in out.glob("rejects-*.jsonl") for line in f.read_text().splitlines()
    ]


def _reasons(manifest: dict, stage: str) -> dict:
    return manifest["stages"][stage]["rejected_by_reason"]


def _cli(pipeline: str, *args: str, log: Path) -> dict:
    """Run a pipeline as a user does; its exit code, peak memory and manifest."""
    result = measure([sys.executable, "-m", f"pipelines.{pipeline}", *args], log)
    output = Path(args[args.index("--output") + 1])
    if pipeline == "cauldron_subset":
        output = output / args[args.index("--subset") + 1]
    manifest = json.loads((output / "manifest.json").read_text())
    assert result["rc"] == 0, log.read_text()[-3000:]
    assert manifest["balanced"], manifest["problems"]
    assert result["peak_rss"] < MEMORY_BUDGET, result
    return manifest


# --- file names and links --------------------------------------------------------------


@pytest.fixture
def odd_folder(tmp_path):
    """A PDF whose name is not UTF-8, a control, a circle of links and a dangling link."""
    folder = tmp_path / "in"
    folder.mkdir()
    _name(folder, b"caf" + E_ACUTE + b".pdf").write_bytes(_pdf("odd name"))
    (folder / "control.pdf").write_bytes(_pdf("control"))
    os.symlink("a.pdf", folder / "b.pdf")
    os.symlink("b.pdf", folder / "a.pdf")
    os.symlink("nowhere.pdf", folder / "gone.pdf")
    return folder


def test_odd_names_and_links_are_transcribed_or_rejected(odd_folder, tmp_path):
    out = tmp_path / "out"
    manifest = pdf_transcribe.run(
        ["--input", f"{odd_folder}/*.pdf", "--output", str(out), "--ocr", "never"]
    )
    assert manifest["balanced"]
    assert _reasons(manifest, "read") == {"broken_link": 1, "symlink_loop": 2}
    assert manifest["stages"]["shards"]["out"] == 2
    sources = {row["key"]: row for row in pq.read_table(out / "pages").to_pylist()}
    assert len(sources) == 2
    rejects = _rejects(out)
    assert {r["reason"] for r in rejects} == {"broken_link", "symlink_loop"}


def test_odd_names_and_links_are_packed_or_rejected(odd_folder, tmp_path):
    manifest = pack_files.run(["--input", f"{odd_folder}/*.pdf", "--output", str(tmp_path / "o")])
    assert manifest["balanced"] and manifest["stages"]["shards"]["out"] == 2
    sources = set()
    for tar in (tmp_path / "o" / "shards").glob("*.tar"):
        with tarfile.open(tar) as archive:
            for member in archive:
                if member.name.endswith(".json"):
                    sources.add(json.loads(archive.extractfile(member).read())["source"])
    assert {Path(s).name for s in sources} == {"caf\\xe9.pdf", "control.pdf"}


def test_a_warc_with_an_odd_name_is_read(demo_corpus, tmp_path):
    root, _ = demo_corpus
    folder = tmp_path / "warcs"
    folder.mkdir()
    data = (root / "web" / "warc" / "demo.warc.gz").read_bytes()
    _name(folder, b"crawl-" + E_ACUTE + b".warc.gz").write_bytes(data)
    manifest = web_docs.run(["--input", f"{folder}/*.warc.gz", "--output", str(tmp_path / "o")])
    assert manifest["balanced"] and manifest["stages"]["shards"]["out"] >= 1
    rows = pq.read_table(tmp_path / "o" / "data").to_pylist()
    assert json.loads(rows[0]["general_metadata"])["warc_filename"].endswith("crawl-\\xe9.warc.gz")


# --- shards we did not write --------------------------------------------------------------


def _tar(path: Path, samples: list[tuple[str, dict[str, bytes]]]) -> None:
    with tarfile.open(path, "w") as archive:
        for key, members in samples:
            for ext, data in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def _transcript(text: str, pages: int = 1) -> bytes:
    lines = [f"Invoice number: INV-{text}", "Customer name: Clara Jensen", "Due date: 1 May 2024"]
    return json.dumps({"pages": [{"lines": {"text": lines}}] * pages}).encode()


def test_foreign_shards_with_bad_keys_and_page_counts(tmp_path):
    """An unsafe key, a key in two tars, a pdf of 2,000 pages behind a 1-page transcript."""
    folder = tmp_path / "shards"
    folder.mkdir()
    control = ("control", {"json": _transcript("control"), "pdf": _pdf("control")})
    bomb_pdf = _pdf("many", pages=2000)
    _tar(
        folder / "a.tar",
        [
            control,
            ("a b \u00fc", {"json": _transcript("unsafe")}),
            ("twice", {"json": _transcript("first"), "pdf": _pdf("first")}),
            ("bomb", {"json": _transcript("bomb"), "pdf": bomb_pdf}),
        ],
    )
    _tar(_name(folder, b"b-" + E_ACUTE + b".tar"), [("twice", {"json": _transcript("again")})])
    manifest = _cli(
        "docmatix_qa",
        "--input",
        f"{folder}/*.tar",
        "--output",
        str(tmp_path / "qa"),
        log=tmp_path / "qa.log",
    )
    assert _reasons(manifest, "read_documents") == {"unsafe_key": 1}
    assert _reasons(manifest, "unique_keys") == {"duplicate_key": 1}
    assert _reasons(manifest, "assemble") == {"pdf_json_mismatch": 1}
    assert manifest["stages"]["shards"]["out"] == 2  # the control and one "twice"


# --- archives and images that inflate ---------------------------------------------------


def _geo_source(folder: Path, members: dict[str, bytes]) -> None:
    folder.mkdir(parents=True)
    records = [
        {
            "image": name.removeprefix("images/"),
            "conversations": [
                {"from": "human", "value": "<image>\nWhat is shown?"},
                {"from": "gpt", "value": f"The figure {name}."},
            ],
        }
        for name in members
    ]
    (folder / "qa_tuning.json").write_text(json.dumps(records))
    (folder / "alignment.json").write_text("[]")
    with zipfile.ZipFile(folder / "images.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _png(seed: int, side: int = 256) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def test_a_zip_member_that_inflates_to_gigabytes_is_refused(tmp_path):
    source = tmp_path / "geo170k"
    bomb = b"\0" * (200 << 20)  # 200 MiB of zeros: 200 KB deflated
    _geo_source(source, {"images/control.png": _png(1), "images/bomb.png": bomb})
    assert (source / "images.zip").stat().st_size < 1 << 20
    manifest = _cli(
        "cauldron_subset",
        "--subset",
        "geo170k",
        "--input",
        str(source),
        "--output",
        str(tmp_path / "out"),
        log=tmp_path / "geo.log",
    )
    assert _reasons(manifest, "convert") == {"decompression_bomb": 1}
    assert manifest["stages"]["shards"]["out"] == 1


def test_a_tiff_whose_frames_inflate_is_refused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    frame = Image.new("L", (7000, 7000), 255)
    buffer = io.BytesIO()
    frame.save(
        buffer, "TIFF", save_all=True, append_images=[frame] * 15, compression="tiff_deflate"
    )
    (folder / "frames.tif").write_bytes(buffer.getvalue())
    (folder / "control.pdf").write_bytes(_pdf("control"))
    manifest = _cli(
        "pdf_transcribe",
        "--input",
        f"{folder}/*",
        "--output",
        str(tmp_path / "out"),
        log=tmp_path / "tif.log",
    )
    assert _reasons(manifest, "transcribe") == {"decompression_bomb": 1}
    assert manifest["stages"]["shards"]["out"] == 1


def test_blank_pages_skip_tesseract(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    doc = pymupdf.open()
    for _ in range(3000):
        doc.new_page()
    (folder / "blank.pdf").write_bytes(doc.tobytes(garbage=3))
    frame = Image.new("1", (1700, 2200), 1)
    buffer = io.BytesIO()
    frame.save(buffer, "TIFF", save_all=True, append_images=[frame] * 199, compression="group4")
    (folder / "blank.tif").write_bytes(buffer.getvalue())
    (folder / "control.pdf").write_bytes(_pdf("control"))
    manifest = _cli(
        "pdf_transcribe",
        "--input",
        f"{folder}/*",
        "--output",
        str(tmp_path / "out"),
        "--max-pages",
        "5000",
        log=tmp_path / "blank.log",
    )
    stats = manifest["stages"]["transcribe"]["stats"]
    assert stats["pages_blank"] == 3200 and stats["pages"] == 3201
    assert manifest["stages"]["shards"]["out"] == 3


# --- records and rows after a bad one ---------------------------------------------------------


def test_rows_after_a_broken_json_line_are_converted(demo_corpus, tmp_path):
    root, _ = demo_corpus
    source = tmp_path / "iiw400"
    (source / "images_aar").mkdir(parents=True)
    demo = root / "cauldron" / "iiw400"
    lines = (demo / "data.jsonl").read_text().splitlines()
    broken = lines[0][: len(lines[0]) // 2]
    (source / "data.jsonl").write_text("\n".join([lines[0], broken, *lines[1:]]) + "\n")
    for image in (demo / "images_aar").iterdir():
        (source / "images_aar" / image.name).write_bytes(image.read_bytes())
    manifest = cauldron_subset.run(
        ["--subset", "iiw400", "--input", str(source), "--output", str(tmp_path / "out")]
    )
    assert manifest["balanced"]
    assert _reasons(manifest, "read_source") == {"bad_json_line": 1}
    assert manifest["stages"]["shards"]["out"] == len(lines)


def test_an_image_link_that_leaves_the_folder_is_refused(tmp_path):
    source = tmp_path / "sharegpt4o"
    (source / "images").mkdir(parents=True)
    (source / "image_conversations").mkdir()
    (source / "images" / "inside.png").write_bytes(_png(2))
    secret = tmp_path / "secret.png"
    secret.write_bytes(_png(3))
    os.symlink(secret, source / "images" / "outside.png")
    records = [
        {
            "image": name,
            "conversations": [
                {"from": "human", "value": "<image>\nDescribe it."},
                {"from": "gpt", "value": f"Noise in {name}."},
            ],
        }
        for name in ("inside.png", "outside.png")
    ]
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (source / "image_conversations" / "gpt-4o.jsonl").write_text(lines)
    manifest = cauldron_subset.run(
        ["--subset", "sharegpt4o", "--input", str(source), "--output", str(tmp_path / "out")]
    )
    assert manifest["balanced"]
    assert _reasons(manifest, "convert") == {"unsafe_image_path": 1}
    assert manifest["stages"]["shards"]["out"] == 1


def _response(url: str, body: bytes, declared: int | None = None) -> bytes:
    http = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    block = http + body
    head = (
        b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: %s\r\n"
        b"WARC-Date: 2024-01-01T00:00:00Z\r\nContent-Length: %d\r\n\r\n"
        % (url.encode(), len(block) if declared is None else declared)
    )
    return head + block + b"\r\n\r\n"


def test_web_records_after_a_lying_length_are_read_and_huge_bodies_named(tmp_path, monkeypatch):
    html = (
        b'<html lang="en"><body><article><h1>Orchard news</h1><p>'
        + b"The community orchard opened on Saturday with a crowd of neighbours. " * 30
        + b'</p><img src="https://img.example/a.jpg" width="640" height="480"></article>'
        b"</body></html>"
    )
    warc = tmp_path / "crawl.warc"
    warc.write_bytes(
        _response("https://a.example/", html)
        + _response("https://liar.example/", html, declared=10 << 30)
        + _response("https://after.example/", html.replace(b"Saturday", b"Sunday"))
        + _response("https://huge.example/", b"<html>" + b"x" * (11 << 20) + b"</html>")
        + _response("https://last.example/", html.replace(b"Saturday", b"Monday"))
    )
    manifest = web_docs.run(
        ["--input", str(warc), "--output", str(tmp_path / "out"), "--images", "none"]
    )
    assert manifest["balanced"]
    assert _reasons(manifest, "read_warc") == {"body_too_large": 1}
    assert manifest["stages"]["url_dedup"]["in"] == 4  # a, the liar, after, last


def test_a_page_tree_cycle_is_named(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "cycle.pdf").write_bytes(
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )
    (folder / "control.pdf").write_bytes(_pdf("control"))
    manifest = pdf_transcribe.run(
        ["--input", f"{folder}/*.pdf", "--output", str(tmp_path / "out"), "--ocr", "never"]
    )
    assert manifest["balanced"]
    assert _reasons(manifest, "transcribe") == {"page_tree_cycle": 1}


# --- temporary files ---------------------------------------------------------------------


def test_a_run_leaves_no_temporary_files_outside_its_output(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "scan.pdf").write_bytes(_pdf("a page to read"))
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(system_tmp))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.pdf_transcribe",
            "--input",
            f"{folder}/*.pdf",
            "--output",
            str(tmp_path / "out"),
            "--ocr",
            "always",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list(system_tmp.iterdir()) == []
    assert not (tmp_path / "out" / "_work").exists()


def _huge_image_pdf(side: int = 70_000) -> bytes:
    """A page whose image claims side x side gray pixels, stored in a few hundred bytes."""
    data = zlib.compress(b"\0" * side * 2, 9)
    content = b"q 200 0 0 200 0 0 cm /Im0 Do Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] "
        b"/Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
        % (side, side, len(data), data),
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def test_mupdf_limits_and_page_tree_cycles_have_reasons_of_their_own():
    from transcription.documents import mupdf_reason

    doc = pymupdf.open(stream=_huge_image_pdf(), filetype="pdf")
    with pytest.raises(pymupdf.mupdf.FzErrorBase) as limit:
        pymupdf.Pixmap(doc, 5)  # decoding the image whole passes MuPDF's limit
    assert mupdf_reason(limit.value) == "render_limit"
    # transcription itself never decodes it whole: the page is read and rendered
    result = pdf_transcribe_page(_huge_image_pdf())
    assert result.pages[0]["source_reason"] == "blank"


def pdf_transcribe_page(data: bytes):
    from transcription.transcribe import TranscribeOptions, transcribe

    return transcribe("huge-image.pdf", data, TranscribeOptions())


def test_a_zip_member_whose_header_lies_about_its_size_is_a_reject_of_its_own(tmp_path):
    import struct

    from cauldron.subsets.files import ImageStore

    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as writer:
        writer.writestr("images/liar.png", b"\0" * (8 << 20))
        writer.writestr("images/fine.png", _png(4))
    raw = bytearray(archive.read_bytes())
    for signature, field in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # inflated size: 1000
        struct.pack_into("<I", raw, raw.find(signature) + field, 1000)
    archive.write_bytes(bytes(raw))
    with ImageStore(archive) as store:
        liar = store.image("liar.png")
        fine = store.image("fine.png")
    assert liar.data is None and liar.reason == "corrupt_archive_member"
    assert fine.data == _png(4)
