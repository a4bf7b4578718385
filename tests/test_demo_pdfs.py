"""The demo corpus's PDFs, scans and broken files are what its index says they are.

Later stages are scored against these facts (ground truth, expected reject
reasons, page orientation), so each fact is checked here against the files
themselves, with PyMuPDF and PIL rather than with the code that wrote them.
"""

import io
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from demo_corpus import bad_pdfs, digital_pdfs, scans

ROOT = Path(__file__).resolve().parents[1]


def by_kind(index: dict, kind: str) -> list[dict]:
    return [entry for entry in index["files"] if entry["kind"] == kind]


def by_path(index: dict, path: str) -> dict:
    (entry,) = [entry for entry in index["files"] if entry["path"] == path]
    return entry


def flat(text: str) -> str:
    return " ".join(text.split())


def cents(amount: str) -> int:
    return int(amount.lstrip("$").replace(",", "").replace(".", ""))


def page_images(path: Path) -> list[Image.Image]:
    """The scan images as stored, one per page."""
    if path.suffix != ".pdf":
        return [Image.open(path)]
    doc = pymupdf.open(path)
    images = []
    for page in doc:
        (info,) = page.get_images()
        images.append(Image.open(io.BytesIO(doc.extract_image(info[0])["image"])))
    return images


def edge_raggedness(image: Image.Image, dpi: int) -> tuple[float, float]:
    """How ragged the left and right ink edges are, once the skew's straight-line trend is removed.

    The text is set flush left, so an upright page has a straight left edge and a
    ragged right one; turned 180 degrees it is the other way round.
    """
    ink = np.asarray(image.convert("L")) < 128
    strip = int(dpi * 16 / 72)
    tops, lefts, rights = [], [], []
    for top in range(0, ink.shape[0] - strip, strip):
        columns = np.flatnonzero(ink[top : top + strip].sum(axis=0) >= 3)
        if columns.size:
            tops.append(top)
            lefts.append(columns[0])
            rights.append(columns[-1])

    def spread(edges):
        trend = np.polyval(np.polyfit(tops, edges, 1), tops)
        return float(np.median(np.abs(np.array(edges) - trend)))

    return spread(lefts), spread(rights)


def test_index_covers_every_pdf_file(demo_corpus):
    root, index = demo_corpus
    listed = {entry["path"] for entry in index["files"]}
    on_disk = {p.relative_to(root).as_posix() for p in (root / "pdf").rglob("*") if p.is_file()}
    assert on_disk == {path for path in listed if path.startswith("pdf/")}
    assert len(by_kind(index, "pdf-digital")) == 4
    assert {e["expect"] for e in by_kind(index, "pdf-bad")} == {
        "empty",
        "truncated",
        "encrypted",
        "not_pdf",
    }


def test_digital_pdfs_have_text_on_every_page(demo_corpus):
    root, index = demo_corpus
    for entry in by_kind(index, "pdf-digital"):
        doc = pymupdf.open(root / entry["path"])
        assert entry["text_layer"] is True
        assert doc.page_count == entry["pages"]
        for page in doc:
            assert len(page.get_text("words")) > 20, (entry["path"], page.number)
        assert doc.metadata["creationDate"] == digital_pdfs.PDF_DATE


def test_report_has_headings_table_and_one_image(demo_corpus):
    root, index = demo_corpus
    entry = by_path(index, "pdf/digital/report.pdf")
    doc = pymupdf.open(root / entry["path"])
    assert entry["pages"] >= 3
    text = flat(" ".join(page.get_text() for page in doc))
    for heading in entry["headings"]:
        assert heading in text
    table_page = doc[entry["table"]["page"] - 1]
    lines = {}
    for _, _, _, y1, word, *_ in table_page.get_text("words", sort=True):
        lines.setdefault(round(y1), []).append(word)
    assert entry["table"]["header"] in lines.values()
    table_text = flat(table_page.get_text())
    for row in entry["table"]["rows"]:
        assert all(cell in table_text for cell in row)
    infos = [(page.number + 1, info) for page in doc for info in page.get_image_info()]
    assert len(infos) == len(entry["images"]) == 1
    assert infos[0][0] == entry["images"][0]["page"]
    assert infos[0][1]["bbox"] == pytest.approx(entry["images"][0]["bbox"], abs=0.5)


def test_paper_columns_are_separate_and_in_order(demo_corpus):
    root, index = demo_corpus
    entry = by_path(index, "pdf/digital/paper_two_column.pdf")
    doc = pymupdf.open(root / entry["path"])
    (_, left_x1), (right_x0, _) = entry["column_x"]
    assert entry["columns"] == 2 and right_x0 - left_x1 >= 20
    for page, columns in zip(doc, entry["column_text"], strict=True):
        for (x0, x1), column in zip(entry["column_x"], columns, strict=True):
            for line in column.splitlines():
                hits = page.search_for(line)
                assert hits, line
                assert any(x0 - 1 <= hit.x0 and hit.x1 <= x1 + 1 for hit in hits), line
        text = page.get_text()
        left, right = (column.splitlines() for column in columns)
        if left and right:
            assert text.index(left[-1]) < text.index(right[0])
    assert entry["title"] in flat(doc[0].get_text())


def test_invoice_fields_are_printed_and_add_up(demo_corpus):
    root, index = demo_corpus
    entry = by_path(index, "pdf/digital/invoice.pdf")
    text = flat(pymupdf.open(root / entry["path"])[0].get_text())
    for key in ("Invoice number", "Date", "Total"):
        assert key in entry["fields"]
    for key, value in entry["fields"].items():
        assert f"{key}: {value}" in text
    for item in entry["line_items"]:
        assert item["description"] in text and item["amount"] in text
        assert cents(item["amount"]) == item["qty"] * cents(item["unit_price"])
    fields = entry["fields"]
    assert cents(fields["Subtotal"]) == sum(cents(item["amount"]) for item in entry["line_items"])
    assert cents(fields["Total"]) == cents(fields["Subtotal"]) + cents(fields["Tax (8%)"])


def test_form_fields_and_widgets(demo_corpus):
    root, index = demo_corpus
    entry = by_path(index, "pdf/digital/form.pdf")
    doc = pymupdf.open(root / entry["path"])
    text = doc[0].get_text()
    for label, value in entry["fields"].items():
        assert f"{label}:\n{value}\n" in text
    widgets = {w.field_name: w.field_value for w in doc[0].widgets()}
    assert doc.is_form_pdf == 2
    assert widgets["reference_code"] == entry["widgets"]["reference_code"]
    assert widgets["newsletter"] == ("Yes" if entry["widgets"]["newsletter"] else "Off")


def test_scans_are_images_at_their_dpi(demo_corpus):
    root, index = demo_corpus
    scans_ = by_kind(index, "scan-pdf") + by_kind(index, "scan-image")
    assert len(scans_) == 5
    dpis = by_path(index, "pdf/scanned/scan_mixed_dpi.pdf")["dpi"]
    assert dpis == [150, 200, 300]
    for entry in scans_:
        images = page_images(root / entry["path"])
        assert len(images) == entry["pages"] == len(entry["dpi"]) == len(entry["rotation"])
        for image, dpi, size in zip(images, entry["dpi"], entry["pixel_size"], strict=True):
            assert list(image.size) == size
            assert image.width / dpi * 72 == pytest.approx(scans.A5.width, abs=72 / dpi)
            assert image.height / dpi * 72 == pytest.approx(scans.A5.height, abs=72 / dpi)
        if entry["kind"] == "scan-pdf":
            doc = pymupdf.open(root / entry["path"])
            for page, image, dpi in zip(doc, images, entry["dpi"], strict=True):
                assert page.rotation == 0
                assert page.rect.width * dpi / 72 == pytest.approx(image.width, abs=1)
        else:
            assert images[0].info["dpi"][0] == pytest.approx(entry["dpi"][0], abs=0.1)


def test_image_only_scans_have_no_text(demo_corpus):
    root, index = demo_corpus
    image_only = [e for e in by_kind(index, "scan-pdf") if e["text_layer"] is False]
    assert image_only
    for entry in image_only:
        for page in pymupdf.open(root / entry["path"]):
            assert page.get_text().strip() == ""


def test_tiff_is_a_standard_single_frame_scan(demo_corpus):
    root, index = demo_corpus
    entry = by_path(index, "pdf/scanned/scan_tiff_page.tiff")
    image = Image.open(root / entry["path"])
    assert image.format == "TIFF" and image.n_frames == 1
    assert image.info["compression"] == entry["compression"] == "group4"
    assert Image.open(root / "pdf/scanned/scan_png_page.png").format == "PNG"


def test_rotation_facts_match_the_pixels(demo_corpus):
    root, index = demo_corpus
    turned = 0
    for entry in by_kind(index, "scan-pdf") + by_kind(index, "scan-image"):
        images = page_images(root / entry["path"])
        for image, dpi, rotation in zip(images, entry["dpi"], entry["rotation"], strict=True):
            left, right = edge_raggedness(image, dpi)
            if rotation == 180:
                turned += 1
                assert right < left, entry["path"]
            else:
                assert left < right, entry["path"]
    assert turned == 1


def test_invisible_text_layers(demo_corpus):
    root, index = demo_corpus
    layered = {e["text_layer"]: e for e in by_kind(index, "scan-pdf") if e["text_layer"]}
    assert set(layered) == {"invisible-ocr", "garbage"}
    for entry in layered.values():
        page = pymupdf.open(root / entry["path"])[0]
        spans = page.get_texttrace()
        assert spans and all(span["type"] == 3 for span in spans)
    good = layered["invisible-ocr"]
    page_text = pymupdf.open(root / good["path"])[0].get_text()
    assert flat(page_text) == flat((root / good["ground_truth"]).read_text())
    bad = layered["garbage"]
    garbage = flat(pymupdf.open(root / bad["path"])[0].get_text())
    assert len(garbage) > 500
    assert sum(c.isalpha() and c.isascii() for c in garbage) < 0.05 * len(garbage)


def test_ground_truth_is_plain_english_per_page(demo_corpus):
    root, index = demo_corpus
    gt_entries = {e["path"]: e for e in by_kind(index, "ground-truth")}
    for entry in by_kind(index, "scan-pdf") + by_kind(index, "scan-image"):
        gt = gt_entries.pop(entry["ground_truth"])
        pages = (root / gt["path"]).read_text(encoding="ascii").rstrip("\n").split("\f")
        assert len(pages) == gt["pages"] == entry["pages"]
        for page in pages:
            assert 150 <= len(page.split()) <= 250
    assert gt_entries == {}


def test_bad_pdfs_fail_the_way_they_say(demo_corpus):
    root, index = demo_corpus
    bad = {entry["expect"]: root / entry["path"] for entry in by_kind(index, "pdf-bad")}

    assert bad["empty"].stat().st_size == 0
    with pytest.raises(pymupdf.EmptyFileError):
        pymupdf.open(bad["empty"])

    entry = next(e for e in by_kind(index, "pdf-bad") if e["expect"] == "truncated")
    data = bad["truncated"].read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" not in data
    doc = pymupdf.open(bad["truncated"])
    assert doc.is_repaired
    assert doc[doc.page_count - 1].get_text() == ""
    assert sum(bool(page.get_text()) for page in doc) < entry["pages_before_cut"]

    entry = next(e for e in by_kind(index, "pdf-bad") if e["expect"] == "encrypted")
    doc = pymupdf.open(bad["encrypted"])
    assert doc.needs_pass and doc.is_encrypted
    assert doc.authenticate("not the password") == 0
    assert doc.authenticate(entry["password"]) > 0
    assert len(doc[0].get_text("words")) > 50

    data = bad["not_pdf"].read_bytes()
    assert not data.startswith(b"%PDF")
    doc = pymupdf.open(bad["not_pdf"])
    assert not doc.is_pdf


def test_another_seed_gives_other_text(demo_corpus, tmp_path):
    root, index = demo_corpus
    entries = [e for part in (digital_pdfs, scans, bad_pdfs) for e in part.write(tmp_path, 1)]
    first = {e["path"]: e["sha256"] for e in index["files"]}
    for entry in entries:
        other = (tmp_path / entry["path"]).read_bytes()
        if entry["path"] != "pdf/bad/empty.pdf":
            assert (root / entry["path"]).read_bytes() != other, entry["path"]
        assert entry["path"] in first
    assert by_path(index, "pdf/digital/invoice.pdf")["fields"] != next(
        e["fields"] for e in entries if e["path"] == "pdf/digital/invoice.pdf"
    )
