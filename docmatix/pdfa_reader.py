"""PDFA-layout samples (ours, or the pixparse/pdfa-eng-wds release) as documents for QA.

A page's text is its `lines.text` joined by " \\n ", the way the original
Docmatix build fed pages to the LLM. Page images are taken from the sample
when the transcription stage rendered them (`<key>.0000.png` ...); otherwise
rows render them from the `.pdf` member when they are built.
"""

import json
import re

from corpusio.accounting import Reject
from corpusio.keys import safe_key
from docmatix.qa_records import PdfaDocument

PAGE_IMAGE = re.compile(r"^(\d{4})\.png$")
LINE_JOIN = " \n "


PAGE_TEXTS = ("markdown", "lines")


def page_texts(doc_json: dict, source: str = "markdown") -> tuple[str, ...]:
    """Each page's text: its `markdown` when the transcription has one and `source` is
    "markdown" (tables and reading order reach the prompt), else its lines joined as the
    original Docmatix did; pages in the older layout with a plain `text` field too."""
    texts = []
    for page in doc_json.get("pages", []):
        lines = page.get("lines") or {}
        if source == "markdown" and isinstance(page.get("markdown"), str):
            texts.append(page["markdown"])
        elif isinstance(lines, dict) and "text" in lines:
            texts.append(LINE_JOIN.join(lines["text"]))
        else:
            texts.append(str(page.get("text", "")))
    return tuple(texts)


def read_sample(sample: dict, page_text: str = "markdown") -> PdfaDocument | Reject:
    """A webdataset sample dict ({"__key__", "json", "pdf", "0000.png" ...}) as a PdfaDocument."""
    key = sample.get("__key__", "?")
    if safe_key(key) != key:
        # a shard we did not write: its key must still be usable as ours is
        return Reject(key, "unsafe_key", "a sample key must be [A-Za-z0-9_-], 1 to 80 chars")
    if "json" not in sample:
        return Reject(
            key, "no_transcription", f"members: {sorted(k for k in sample if k[0] != '_')}"
        )
    try:
        doc_json = json.loads(sample["json"])
    except (ValueError, UnicodeDecodeError) as exc:
        return Reject(key, "bad_transcription", str(exc)[:300])
    if not isinstance(doc_json, dict) or not isinstance(doc_json.get("pages"), list):
        return Reject(key, "bad_transcription", "no 'pages' list")
    texts = page_texts(doc_json, page_text)
    images = sorted(
        (m.group(1), data) for name, data in sample.items() if (m := PAGE_IMAGE.match(name))
    )
    page_images = tuple(data for _, data in images) if len(images) == len(texts) else None
    source = f"{sample.get('__url__', '')}@{sample.get('__index__', '')}"
    return PdfaDocument(key, texts, sample.get("pdf"), page_images, source)
