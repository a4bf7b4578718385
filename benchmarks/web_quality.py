"""Main-text extraction quality on saved real pages: ours (as web_docs keeps a page) against
bare trafilatura, same pages, same run.

Pages and ground truth come from the folder BENCH_HTML_DIR names (`--html DIR`): an
article-extraction benchmark with the main text a person marked (`.gt.txt`: token recall
and precision, as bags of words) and trafilatura's evaluation pages (`.gt.json`: snippets
that must appear, and boilerplate that must not). Ours is the text web_docs would write
for the page: extraction, then the node filters (a paragraph the filters drop is not
text of ours), with the rules that only English passes (language, stopwords) switched
off, since half the pages are in other languages; a page the page gate or the document
filters would still exclude is listed with its reason.

    python -m benchmarks.web_quality --html DIR [--verbose]

The folder holds an INDEX.tsv (path, url, ground_truth_path; paths relative to the
folder's grandparent), the layout of the project's real test documents.
"""

import argparse
import csv
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import trafilatura

from benchmarks.common import best_seconds
from obelics_filter.config import load_config
from obelics_filter.documents import apply_node_filters, document_verdict, extract_page
from obelics_filter.records import TextNode, WebDocument, WebPage

_WORD = re.compile(r"\w+", re.UNICODE)
ANY_LANGUAGE = {
    "paragraph": {"stopwords": {"enabled": False}},
    "document": {"stopwords": {"enabled": False}, "language": {"enabled": False}},
}


@dataclass
class Page:
    url: str
    html: bytes
    truth: str | None  # main text, for recall and precision
    snippets: dict | None  # {"with": [...], "without": [...]}
    name: str


def pages(folder: str | Path | None = None) -> list[Page]:
    """The saved pages of `folder` (else BENCH_HTML_DIR); none when neither is there."""
    folder = folder or os.environ.get("BENCH_HTML_DIR")
    if not folder:
        return []
    folder = Path(folder)
    index = folder / "INDEX.tsv"
    if not index.exists():
        return []
    root = folder.parents[1]
    found = []
    with open(index, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            truth = root / row["ground_truth_path"] if row.get("ground_truth_path") else None
            text = snippets = None
            if truth and truth.suffix == ".txt":
                text = truth.read_text(encoding="utf-8")
            elif truth and truth.suffix == ".json":
                snippets = json.loads(truth.read_text(encoding="utf-8"))
            html = (root / row["path"]).read_bytes()
            found.append(Page(row["url"], html, text, snippets, Path(row["path"]).name))
    return found


def ours(page: Page, config) -> tuple[str, str | None]:
    """(the text web_docs keeps of the page, the reason it would exclude it or None)."""
    web = WebPage(page.url, page.html, {"content-type": "text/html"}, "bench.warc", 0, 0, "")
    extracted = extract_page(web, config)
    if not isinstance(extracted.result, WebDocument):
        return "", extracted.result.reason
    doc, _ = apply_node_filters(extracted.result, config, "none")
    text = "\n\n".join(n.text for n in doc.nodes if isinstance(n, TextNode))
    return text, extracted.gate or document_verdict(doc, config)


def bare(page: Page) -> str:
    return trafilatura.extract(page.html, url=page.url, include_images=True) or ""


def _bag(text: str) -> Counter:
    return Counter(word.lower() for word in _WORD.findall(text))


def _present(snippet: str, text: str) -> bool:
    return " ".join(snippet.split()).lower() in " ".join(text.split()).lower()


def measure(texts: dict[str, str], corpus: list[Page]) -> dict:
    """Token recall and precision (summed over pages), snippets present and absent."""
    hit = truth_total = kept_total = 0
    present = present_total = absent = absent_total = 0
    empty = []
    for page in corpus:
        text = texts[page.name]
        if not text.strip():
            empty.append(page.name)
        if page.truth is not None:
            truth, kept = _bag(page.truth), _bag(text)
            hit += sum((truth & kept).values())
            truth_total += sum(truth.values())
            kept_total += sum(kept.values())
        if page.snippets:
            for snippet in page.snippets.get("with", []):
                present_total += 1
                present += _present(snippet, text)
            for snippet in page.snippets.get("without", []):
                absent_total += 1
                absent += not _present(snippet, text)
    return {
        "recall": hit / truth_total if truth_total else None,
        "precision": hit / kept_total if kept_total else None,
        "present": (present, present_total),
        "absent": (absent, absent_total),
        "empty": empty,
    }


def run(verbose: bool = False, folder: str | Path | None = None) -> dict:
    corpus = pages(folder)
    if not corpus:
        return {}
    config = load_config(None, ANY_LANGUAGE)
    results = {page.name: ours(page, config) for page in corpus}
    theirs = {page.name: bare(page) for page in corpus}
    # Speed with every filter on, as web_docs runs by default (language id included).
    every_filter = load_config(None)
    ours_s = best_seconds(lambda: [ours(page, every_filter) for page in corpus], repeat=2)
    bare_s = best_seconds(lambda: [bare(page) for page in corpus], repeat=2)
    report = {
        "pages": len(corpus),
        "ours": measure({k: v[0] for k, v in results.items()}, corpus),
        "trafilatura": measure(theirs, corpus),
        "excluded": {k: v[1] for k, v in results.items() if v[1]},
        "speed_ratio": bare_s / ours_s,
    }
    for name in ("ours", "trafilatura"):
        m = report[name]
        print(
            f"{name:<12} recall {m['recall']:.3f}  precision {m['precision']:.3f}  "
            f"present {m['present'][0]}/{m['present'][1]}  absent {m['absent'][0]}/"
            f"{m['absent'][1]}  empty {len(m['empty'])}"
        )
    print(f"speed, extraction + every filter: {report['speed_ratio']:.2f}x trafilatura")
    if report["excluded"]:
        print(f"excluded by our filters: {report['excluded']}")
    if verbose:
        _details(corpus, results, theirs)
    return report


def _details(corpus, results, theirs) -> None:
    for page in corpus:
        text = results[page.name][0]
        if page.truth is not None:
            truth, kept, other = _bag(page.truth), _bag(text), _bag(theirs[page.name])
            hit = sum((truth & kept).values())
            print(
                f"{page.name[:40]:<40} recall {hit / max(sum(truth.values()), 1):.2f} "
                f"precision {hit / max(sum(kept.values()), 1):.2f} | trafilatura recall "
                f"{sum((truth & other).values()) / max(sum(truth.values()), 1):.2f} precision "
                f"{sum((truth & other).values()) / max(sum(other.values()), 1):.2f}"
            )
        if page.snippets:
            missing = [s for s in page.snippets.get("with", []) if not _present(s, text)]
            kept = [s for s in page.snippets.get("without", []) if _present(s, text)]
            print(f"{page.name[:40]:<40} missing {missing} kept {kept}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--html", help="folder of saved pages (default: BENCH_HTML_DIR)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    run(args.verbose, args.html)
