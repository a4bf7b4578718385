"""PDF transcription: our pipeline against bare PyMuPDF and bare Tesseract, same files, same run.

Text layer (`--layout fast`, like for like): pages/s of (a) transcription.transcribe in
one process and (b) the whole Beam pipeline on the local runner, against a bare
loop that extracts the same words with PyMuPDF and writes the same kind of json.
Layout (`--layout model`): transcribe() against pymupdf4llm's to_markdown, the
bare library doing the layout work. OCR: pages/s of the Beam
pipeline against bare `tesseract` at the same dpi, one process per core,
OMP_THREAD_LIMIT=1 on both sides.
"""

import json
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pymupdf

from benchmarks.common import best_seconds, row
from demo_corpus import digital_pdfs, scans
from pipelines import pdf_transcribe
from transcription.transcribe import TranscribeOptions, transcribe

TEXT_COPIES = 400  # copies of the four digital PDFs (7 pages): 2,800 pages
OCR_COPIES = 30  # copies of two scanned PDFs (4 pages): 120 pages
DPI = 200


def _copies(sources: list[Path], copies: int, out: Path) -> list[Path]:
    """Distinct PDFs with equal pages: a trailing comment changes the bytes, so keys differ."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(copies):
        for src in sources:
            path = out / f"{src.stem}-{i:04d}{src.suffix}"
            path.write_bytes(src.read_bytes() + f"\n%copy {i}\n".encode())
            paths.append(path)
    return paths


def _page_count(paths: list[Path]) -> int:
    return sum(pymupdf.open(p).page_count for p in paths)


def _box(x0, y0, x1, y1, w, h):
    return [round(x0 / w, 5), round(y0 / h, 5), round((x1 - x0) / w, 5), round((y1 - y0) / h, 5)]


def _bare_page(page) -> dict:
    """The same json fields, from PyMuPDF's own words, lines (block, line) and image info."""
    w, h = page.rect.width, page.rect.height
    grouped: dict[tuple[int, int], list] = {}
    for x0, y0, x1, y1, text, block, line, _ in page.get_text("words"):
        grouped.setdefault((block, line), []).append((text, (x0, y0, x1, y1)))
    lines = {"text": [], "bbox": [], "score": [], "word_slice": []}
    words = {"text": [], "bbox": [], "score": [], "line_pos": []}
    for number, key in enumerate(sorted(grouped)):
        start = len(words["text"])
        for position, (text, box) in enumerate(grouped[key]):
            words["text"].append(text)
            words["bbox"].append(_box(*box, w, h))
            words["score"].append(1.0)
            words["line_pos"].append([number, position])
        boxes = [box for _, box in grouped[key]]
        lines["text"].append(" ".join(t for t, _ in grouped[key]))
        lines["bbox"].append(
            _box(
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
                w,
                h,
            )
        )
        lines["score"].append(1.0)
        lines["word_slice"].append([start, len(words["text"])])
    images = [_box(*info["bbox"], w, h) for info in page.get_image_info()]
    return {"lines": lines, "words": words, "images_bbox": images}


def _bare_text_loop(paths: list[Path], out: Path) -> None:
    """What a person would write with PyMuPDF alone, producing the same json."""
    out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        pages = [_bare_page(page) for page in pymupdf.open(path)]
        (out / f"{path.stem}.json").write_text(json.dumps({"pages": pages}))


def _words_only_loop(paths: list[Path]) -> None:
    """The floor: PyMuPDF's words and nothing else."""
    for path in paths:
        for page in pymupdf.open(path):
            page.get_text("words")


def _ours_text_loop(paths: list[Path], out: Path, layout: str = "fast") -> None:
    out.mkdir(parents=True, exist_ok=True)
    options = TranscribeOptions(ocr="never", layout=layout)
    for path in paths:
        transcript = transcribe(str(path), path.read_bytes(), options)
        (out / f"{path.stem}.json").write_text(json.dumps(transcript.document()))


def _bare_markdown_loop(paths: list[Path]) -> None:
    import pymupdf4llm

    for path in paths:
        pymupdf4llm.to_markdown(str(path), header=False, footer=False, page_chunks=True)


def _ours_render_loop(paths: list[Path]) -> None:
    options = TranscribeOptions(ocr="never", render_pages=True, layout="fast")
    for path in paths:
        transcribe(str(path), path.read_bytes(), options).sample()


def _bare_render_loop(paths: list[Path]) -> None:
    """What --render-pages adds, done bare: each page at 150 dpi as a PNG."""
    for path in paths:
        for page in pymupdf.open(path):
            page.get_pixmap(dpi=150).tobytes("png")


def _pipeline(paths_glob: str, out: Path, *extra: str) -> float:
    start = time.perf_counter()
    pdf_transcribe.run(["--input", paths_glob, "--output", str(out), *extra])
    return time.perf_counter() - start


def _bare_tesseract(images: list[Path], workers: int) -> None:
    env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def one(path: Path) -> None:
        subprocess.run(
            ["tesseract", str(path), "-", "tsv"], env=env, check=True, capture_output=True
        )

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, images))


def _rendered(paths: list[Path], out: Path) -> list[Path]:
    """Every page as the image bare Tesseract gets: PDFs rendered at DPI, images as they are."""
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for path in paths:
        if path.suffix != ".pdf":
            images.append(path)
            continue
        for number, page in enumerate(pymupdf.open(path)):
            image = out / f"{path.stem}-{number}.png"
            page.get_pixmap(dpi=DPI, colorspace=pymupdf.csGRAY).save(image)
            images.append(image)
    return images


def run() -> list[dict]:
    rows = []
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        digital_pdfs.write(tmp / "src", 0)
        sources = sorted((tmp / "src" / "pdf" / "digital").glob("*.pdf"))
        few = _copies(sources, 30, tmp / "few")
        pages = _page_count(few)
        layout_set = few[:8]
        layout_pages = _page_count(layout_set)
        ours = best_seconds(lambda: _ours_text_loop(layout_set, tmp / "model", "model"), repeat=1)
        bare = best_seconds(lambda: _bare_markdown_loop(layout_set), repeat=1)
        rows.append(
            row(
                "text layer + layout model: transcribe(), 1 process",
                layout_pages,
                ours,
                bare,
                "pymupdf4llm to_markdown",
            )
        )
        ours = best_seconds(lambda: _ours_text_loop(few, tmp / "ours"))
        bare = best_seconds(lambda: _bare_text_loop(few, tmp / "bare"))
        words_only = best_seconds(lambda: _words_only_loop(few))
        rows.append(
            row("text layer: transcribe(), 1 process", pages, ours, bare, "PyMuPDF loop, same json")
        )
        rows.append(
            row(
                "text layer: transcribe(), 1 process",
                pages,
                ours,
                words_only,
                "PyMuPDF get_text('words') only",
            )
        )

        few_rendered = few[: max(1, len(few) // 3)]
        pages_rendered = _page_count(few_rendered)
        ours = best_seconds(lambda: _ours_render_loop(few_rendered), repeat=1)
        bare = best_seconds(lambda: _bare_render_loop(few_rendered), repeat=1)
        rows.append(
            row(
                "text layer + page PNGs (--render-pages), 1 process",
                pages_rendered,
                ours,
                bare,
                "PyMuPDF 150 dpi pixmap -> PNG only",
            )
        )

        many = _copies(sources, TEXT_COPIES, tmp / "many")
        pages = _page_count(many)
        bare = best_seconds(lambda: _bare_text_loop(many, tmp / "bare_many"), repeat=1)
        ours = _pipeline(str(tmp / "many" / "*.pdf"), tmp / "out_text", "--layout", "fast")
        rows.append(
            row(
                f"text layer (--layout fast): Beam pipeline, {workers} workers",
                pages,
                ours,
                bare,
                "PyMuPDF loop, 1 process",
            )
        )

        scans.write(tmp / "scan_src", 0)
        scan_dir = tmp / "scan_src" / "pdf" / "scanned"
        scan_sources = [
            scan_dir / n
            for n in ("scan_mixed_dpi.pdf", "scan_garbage_layer.pdf", "scan_png_page.png")
        ]
        scan_files = _copies(scan_sources, OCR_COPIES, tmp / "scans")
        images = _rendered(scan_files, tmp / "rendered")
        bare = best_seconds(lambda: _bare_tesseract(images, workers), repeat=1)
        ours = _pipeline(
            str(tmp / "scans" / "*"), tmp / "out_ocr", "--dpi", str(DPI), "--layout", "fast"
        )
        rows.append(
            row(
                f"OCR {DPI} dpi: Beam pipeline, {workers} workers",
                len(images),
                ours,
                bare,
                f"tesseract CLI, {workers} processes",
            )
        )
    return rows
