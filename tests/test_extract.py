"""HTML decoding and extraction: demo pages (boilerplate, order, lazy images) and real pages."""

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from obelics_filter.extract import extract_nodes, largest_srcset_candidate
from obelics_filter.html_text import decode_html
from obelics_filter.records import ImageNode, TextNode

WARC = "web/warc/demo.warc.gz"
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
REAL_HTML = REALDATA / "web" / "html"
WORD = re.compile(r"\w+")


@pytest.fixture(scope="module")
def demo_pages(demo_corpus):
    """Every HTML response of the demo WARC: (index entry, extracted nodes), in record order."""
    root, index = demo_corpus
    facts = next(f for f in index["files"] if f["path"] == WARC)["records"]
    by_offset = {r["offset"]: r for r in facts}
    pages = []
    with open(root / WARC, "rb") as stream:
        records = ArchiveIterator(stream)
        for record in records:
            body = record.content_stream().read()
            entry = by_offset.get(records.get_record_offset())
            if not entry or "html" not in entry.get("content_type", ""):
                continue
            headers = {k.lower(): v for k, v in record.http_headers.headers}
            pages.append((entry, extract_nodes(decode_html(body, headers), entry["url"])))
    return pages


def _page(demo_pages, role):
    return next((entry, nodes) for entry, nodes in demo_pages if entry["role"] == role)


def _text(nodes) -> str:
    return "\n\n".join(n.text for n in nodes if isinstance(n, TextNode))


def _srcs(nodes) -> list[str]:
    return [n.src for n in nodes if isinstance(n, ImageNode)]


def test_every_html_page_alternates_text_and_images(demo_pages):
    assert len(demo_pages) >= 6
    for _, nodes in demo_pages:
        assert nodes
        for first, second in zip(nodes, nodes[1:], strict=False):
            assert not (isinstance(first, TextNode) and isinstance(second, TextNode))
        assert all(n.text.strip() for n in nodes if isinstance(n, TextNode))


@pytest.mark.parametrize("role", ["article", "listing"])
def test_boilerplate_is_gone_and_content_kept(demo_pages, role):
    entry, nodes = _page(demo_pages, role)
    text = _text(nodes)
    for snippet in entry["content_text"]:
        assert snippet in text
    for snippet in entry["boilerplate_text"]:
        assert snippet not in text, snippet
    srcs = _srcs(nodes)
    for image in entry["images"]:
        if image["expect"] == "keep":
            assert image["url"] in srcs
        if "boilerplate" in image.get("reasons", []):
            assert image["url"] not in srcs


def test_article_text_and_images_in_reading_order(demo_pages):
    entry, nodes = _page(demo_pages, "article")
    kept = [i["url"] for i in entry["images"] if i["expect"] == "keep"]
    srcs = _srcs(nodes)
    assert [s for s in srcs if s in kept] == kept
    assert isinstance(nodes[0], TextNode)
    assert nodes[0].text.startswith("Volunteers turn the old rail yard")
    first_image = next(n for n in nodes if isinstance(n, ImageNode))
    assert first_image.alt == "Volunteers planting young apple trees beside the rail yard"
    assert nodes[-1].text.endswith("two benches and a water tap.")
    assert "Saturday 6 May 2023" not in _text(nodes)


def test_separators_follow_the_dom(demo_pages):
    _, nodes = _page(demo_pages, "article")
    heading_then_paragraph = nodes[0].text.split("\n\n")
    assert heading_then_paragraph[0] == "Volunteers turn the old rail yard into a community orchard"
    assert heading_then_paragraph[1].startswith("More than sixty volunteers")
    assert "  " not in _text(nodes)


def test_lazy_images_resolve_to_real_urls(demo_pages):
    entry, nodes = _page(demo_pages, "lazy_images")
    srcs = _srcs(nodes)
    kept = [i["url"] for i in entry["images"] if i["expect"] == "keep"]
    assert srcs == kept
    for image in entry["images"]:
        if image["expect"] in ("placeholder", "alternate"):
            assert image["url"] not in srcs
    assert all(not s.startswith("data:") for s in srcs)
    first = next(n for n in nodes if isinstance(n, ImageNode))
    assert (first.rendered_width, first.rendered_height) == (720, 480)
    assert first.alt == "The harbour wall in the morning mist"


def test_french_page_decoded_from_meta_charset(demo_pages):
    entry, nodes = _page(demo_pages, "non_english")
    text = _text(nodes)
    assert "\ufffd" not in text
    for snippet in entry["content_text"]:
        assert snippet in text
    assert "bénévoles" in text


def test_decode_html_sources_of_charset():
    body = "café – œuvre".encode("cp1252")
    assert decode_html(body, {"Content-Type": "text/html; charset=windows-1252"}) == "café – œuvre"
    assert decode_html(body, {"content-type": "text/html; charset=ISO-8859-1"}) == "café – œuvre"
    meta = b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">' + body
    assert decode_html(meta, {}).endswith("café – œuvre")
    assert decode_html(b"\xef\xbb\xbfcaf\xc3\xa9", {}) == "café"
    assert decode_html("caf\u00e9".encode(), {"content-type": "text/html; charset=bogus"}) == "café"
    assert decode_html(b"\xff\xfe\x00broken \x81", {"content-type": "charset=utf-8"})
    assert decode_html(b"", {}) == ""


def test_image_urls_srcset_base_and_validation():
    html = """<html><head><base href="https://cdn.example/a/"></head><body>
    <p>Some text here.</p>
    <img srcset="x-1.jpg?w=1,2 1x, x-2.jpg 2x">
    <img src="javascript:alert(1)"><img src="ftp://host/a.jpg"><img src="/spacer.gif">
    <img src="#" alt="a lazy image not loaded: the page itself">
    <picture><source srcset="p-400.webp 400w, p-800.webp 800w"><img></picture>
    <img src=" //other.example/b.png#frag " width="300px" height="50%">
    </body></html>"""
    nodes = extract_nodes(html, "https://page.example/dir/page.html")
    images = [n for n in nodes if isinstance(n, ImageNode)]
    assert [i.src for i in images] == [
        "https://cdn.example/a/x-2.jpg",
        "https://cdn.example/a/p-800.webp",
        "https://other.example/b.png",
    ]
    assert (images[-1].rendered_width, images[-1].rendered_height) == (300, None)
    assert largest_srcset_candidate("a.jpg 300w, b.jpg 600w, c.jpg 450w") == "b.jpg"


def test_shadow_is_not_an_ad_and_wrappers_survive():
    html = """<body><div class="shadow-box"><p>Kept paragraph of text.</p></div>
    <div class="ad-slot"><p>Buy things now.</p></div>
    <div class="layout has-sidebar"><article><p>Main story text.</p></article></div>
    <div class="main"><p>Line one<br>line two</p><ul><li>a</li><li>b</li></ul></div></body>"""
    text = _text(extract_nodes(html, "https://example.com/"))
    assert "Kept paragraph of text." in text
    assert "Buy things" not in text
    assert "Main story text." in text
    assert "Line one\nline two\n\na\nb" in text


@pytest.mark.parametrize(
    "html",
    ["", "just some plain text", '{"json": true}', "<html><body>", "<<<>>>\x00<p>x", "<p>" * 5000],
)
def test_broken_and_non_html_bodies_do_not_crash(html):
    nodes = extract_nodes(html, "https://example.com/")
    assert isinstance(nodes, list)


def test_huge_page_is_capped():
    html = "<html><body>" + "<p>word word word</p>" * 400_000 + "</body></html>"
    nodes = extract_nodes(html, "https://example.com/")
    assert 0 < len(nodes[0].text) < len(html)


def _tokens(text: str) -> Counter:
    return Counter(WORD.findall(text.lower()))


def _real_rows(kind: str) -> list[dict]:
    if not (REAL_HTML / "INDEX.tsv").exists():
        pytest.skip("no ../shared/realdata")
    with open(REAL_HTML / "INDEX.tsv", newline="", encoding="utf-8") as handle:
        return [r for r in csv.DictReader(handle, delimiter="\t") if r["set"] == kind]


def _real_text(row: dict) -> str:
    html = decode_html((REALDATA / row["path"]).read_bytes(), {})
    return _text(extract_nodes(html, row["url"]))


def test_real_pages_main_text_recall_and_precision():
    """Bag-of-words (multiset) recall and precision of lower-cased word tokens per page."""
    rows = _real_rows("scrapinghub")
    recalls, precisions = [], []
    for row in rows:
        truth = _tokens((REALDATA / row["ground_truth_path"]).read_text(encoding="utf-8"))
        ours = _tokens(_real_text(row))
        common = sum((truth & ours).values())
        recalls.append(common / max(1, sum(truth.values())))
        precisions.append(common / max(1, sum(ours.values())))
    recall, precision = sum(recalls) / len(rows), sum(precisions) / len(rows)
    print(f"\nscrapinghub pages={len(rows)} recall={recall:.3f} precision={precision:.3f}")
    assert len(rows) == 20
    assert recall >= 0.97
    assert precision >= 0.85


def test_real_pages_snippets():
    rows = _real_rows("trafilatura")
    with_total = with_found = without_total = without_found = 0
    for row in rows:
        truth = json.loads((REALDATA / row["ground_truth_path"]).read_text(encoding="utf-8"))
        text = _real_text(row)
        with_total += len(truth["with"])
        with_found += sum(s in text for s in truth["with"])
        without_total += len(truth["without"])
        without_found += sum(s in text for s in truth["without"])
    print(
        f"\ntrafilatura snippets: must appear {with_found}/{with_total}, "
        f"must not appear but do {without_found}/{without_total}"
    )
    assert with_found == with_total
    assert without_found <= without_total // 6
