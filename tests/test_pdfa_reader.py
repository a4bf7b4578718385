"""Reading PDFA-layout samples (ours and the pixparse release) as documents for QA."""

import json

from corpusio.accounting import Reject
from docmatix.pdfa_reader import read_sample


def _sample(pages, **members):
    return {"__key__": "doc1", "json": json.dumps({"pages": pages}).encode(), **members}


def test_page_text_is_lines_joined_as_the_original_fed_them():
    pages = [{"lines": {"text": ["Title", "First line"]}}, {"lines": {"text": []}}]
    doc = read_sample(_sample(pages, pdf=b"%PDF-1.4"))
    assert doc.page_texts == ("Title \n First line", "")
    assert doc.pdf == b"%PDF-1.4" and doc.page_images is None


def test_rendered_pages_are_used_only_when_every_page_has_one():
    pages = [{"lines": {"text": ["a"]}}, {"lines": {"text": ["b"]}}]
    doc = read_sample(_sample(pages, **{"0001.png": b"p1", "0000.png": b"p0"}))
    assert doc.page_images == (b"p0", b"p1")
    assert read_sample(_sample(pages, **{"0000.png": b"p0"})).page_images is None


def test_bad_samples_become_rejects():
    assert read_sample({"__key__": "x", "pdf": b"%PDF"}).reason == "no_transcription"
    bad = read_sample({"__key__": "x", "json": b"{not json"})
    assert isinstance(bad, Reject) and bad.reason == "bad_transcription"
    assert read_sample({"__key__": "x", "json": b'{"pages": 3}'}).reason == "bad_transcription"
