"""HTML extraction: decode_html + extract_nodes against bare trafilatura.extract, same pages."""

import csv
import io
import os
from pathlib import Path

import trafilatura
from warcio.archiveiterator import ArchiveIterator

from benchmarks.common import best_seconds, row
from demo_corpus.web import build_warc
from obelics_filter.config import load_config
from obelics_filter.extract import extract_nodes
from obelics_filter.filters import filter_document
from obelics_filter.html_text import decode_html
from obelics_filter.warc import read_records

# More pages: a folder of saved HTML pages with an INDEX.tsv (columns path, url)
EXTRA_PAGES = os.environ.get("BENCH_HTML_DIR")


def _demo_pages() -> list[tuple[str, bytes, dict]]:
    """The demo WARC's HTML responses (built in memory, seed 0)."""
    data, _ = build_warc(seed=0)
    pages = []
    for record in ArchiveIterator(io.BytesIO(data)):
        if record.rec_type != "response" or record.http_headers is None:
            continue
        headers = {k.lower(): v for k, v in record.http_headers.headers}
        if "html" in headers.get("content-type", ""):
            url = record.rec_headers.get_header("WARC-Target-URI")
            pages.append((url, record.content_stream().read(), headers))
    return pages


def _real_pages() -> list[tuple[str, bytes, dict]]:
    """Saved real pages from BENCH_HTML_DIR (paths in its INDEX.tsv are relative to its parent's
    parent, as in the layout the project's tests use), when it is set."""
    if not EXTRA_PAGES:
        return []
    folder = Path(EXTRA_PAGES)
    index = folder / "INDEX.tsv"
    if not index.exists():
        return []
    with open(index, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    root = folder.parents[1]
    return [(r["url"], (root / r["path"]).read_bytes(), {}) for r in rows]


def _ours(pages) -> None:
    for url, body, headers in pages:
        extract_nodes(decode_html(body, headers), url)


def _ours_filtered(pages, config) -> None:
    for url, body, headers in pages:
        filter_document(extract_nodes(decode_html(body, headers), url), None, config)


def _bare(pages) -> None:
    for url, body, _ in pages:
        trafilatura.extract(body, url=url, include_images=True)


def _warc_copies(copies: int = 100) -> bytes:
    """The demo WARC repeated: a gzip member per record, so concatenation is a valid WARC."""
    data, _ = build_warc(seed=0)
    return data * copies


def _read_ours(data: bytes) -> int:
    return sum(1 for _ in read_records(io.BytesIO(data), "bench.warc.gz"))


def _read_bare(data: bytes) -> int:
    count = 0
    for record in ArchiveIterator(io.BytesIO(data)):
        record.content_stream().read()
        count += 1
    return count


def run() -> list[dict]:
    warc = _warc_copies()
    records = _read_bare(warc)
    read_ours = best_seconds(lambda: _read_ours(warc))
    read_bare = best_seconds(lambda: _read_bare(warc))
    mb = len(warc) / 1e6
    rows = [
        row(f"read WARC records ({mb:.1f} MB gz)", records, read_ours, read_bare, "warcio"),
    ]
    pages = _demo_pages() + _real_pages()
    ours = best_seconds(lambda: _ours(pages))
    bare = best_seconds(lambda: _bare(pages))
    config = load_config()
    filtered = best_seconds(lambda: _ours_filtered(pages, config))
    name = f"web_extract ({len(pages)} pages)"
    return rows + [
        row(name, len(pages), ours, bare, "trafilatura.extract(include_images)"),
        row(
            f"{name} + all filters",
            len(pages),
            filtered,
            bare,
            "trafilatura.extract(include_images)",
        ),
    ]
