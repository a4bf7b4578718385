"""VLM page transcription, the parts that run without a model: the client against its
concurrency bound, and the CPU cost per page of rendering and of aligning words.

The loopback server answers every page after L +-50% seconds, so with N pages in
flight no client exceeds N / L pages per second; each request carries a 1288 px page
PNG (a few hundred KB as base64), which is what separates this from the QA client
bench. Rendering and alignment are timed per page on text pages of about 400 words
(the alignment pairs the answer's words with the text layer's).
"""

import pymupdf

from benchmarks.common import best_seconds, row
from llm.openai_backend import OpenAIBackend
from tests.llm_server import LlmServer, Ok
from transcription.textlayer import extract_page
from transcription.vlm import PageQuestion, VlmTranscriber
from transcription.vlm_align import align
from transcription.vlm_requests import page_png

PAGES = 160
IN_FLIGHT, LATENCY = 16, 0.2
WORDS = "river flood council bridge water town market engineers valley farmers".split()


def _document(pages: int) -> pymupdf.Document:
    doc = pymupdf.open()
    for number in range(pages):
        text = " ".join(WORDS[(number + i * 7) % len(WORDS)] for i in range(400))
        doc.new_page().insert_textbox(pymupdf.Rect(40, 40, 560, 800), text, fontsize=9)
    return doc


def run() -> list[dict]:
    doc = _document(PAGES)
    pngs = [page_png(page) for page in doc]
    render = best_seconds(lambda: [page_png(page) for page in doc], repeat=1)
    reads = [extract_page(page) for page in doc]
    answers = [" ".join(w.text for line in r.lines for w in line.words) for r in reads]
    aligning = best_seconds(
        lambda: [align(a, r) for a, r in zip(answers, reads, strict=True)], repeat=1
    )
    questions = [PageQuestion(n, png, False, True) for n, png in enumerate(pngs)]
    with LlmServer(lambda seen: Ok("page text"), latency=LATENCY, jitter=0.5) as server:
        with OpenAIBackend(server.base_url, server.model, concurrency=IN_FLIGHT) as backend:
            vlm = VlmTranscriber(backend)
            vlm.ask("warm", questions[:IN_FLIGHT])
            asking = best_seconds(lambda: vlm.ask("bench", questions), repeat=1)
    bound = PAGES * LATENCY / IN_FLIGHT
    return [
        row(
            f"vlm client ({IN_FLIGHT} pages in flight, {LATENCY * 1000:g} ms replies)",
            PAGES,
            asking,
            bound,
            f"bound {IN_FLIGHT}/{LATENCY:g}s",
        ),
        row("vlm page render 1288 px (pages)", PAGES, render, None),
        row("vlm word alignment (pages, 400 words)", PAGES, aligning, None),
    ]
