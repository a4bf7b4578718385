"""VLM page transcription against a scripted vision server on loopback (real openai client)."""

import hashlib
import io
import json

import pymupdf
import pytest
from PIL import Image

from llm.openai_backend import OpenAIBackend
from tests.llm_server import LlmServer, Ok, Status, page_images
from transcription.transcribe import Transcript, transcribe
from transcription.vlm import VlmOptions, VlmTranscriber
from transcription.vlm_align import align, markdown_words
from transcription.vlm_checks import rejection
from transcription.vlm_requests import page_png, parse_reply, turned_png

TEXTS = [
    "The river rose by two metres overnight after three days of heavy rain in the hills, "
    "and the council opened the flood gates at the old mill before dawn on Tuesday morning.",
    "Residents of the lower town moved furniture upstairs while volunteers filled sandbags "
    "in the market square, where the water reached the steps of the town hall by noon.",
    "Engineers say the new embankment held as designed, and that the water is expected to "
    "fall slowly over the coming week if the forecast for dry weather proves to be right.",
    "The school on Mill Lane stays closed until Friday, and buses run on the upper road "
    "while the bridge is inspected by the county surveyor and her team of engineers.",
    "Farmers in the valley count the cost of flooded fields, with winter wheat under water "
    "for a third day and sheep moved to higher ground by neighbours with trailers.",
    "The last flood of this size was in nineteen sixty eight, when the old bridge was "
    "washed away and the town was cut in two for most of a month that spring.",
]
FRONT = "---\nprimary_language: en\nis_rotation_valid: true\nrotation_correction: 0\n"
FRONT += "is_table: false\nis_diagram: false\n---\n"
# What each page of the test PDF is, and what the scripted server answers for it.
TEXT, SCANNED, BLANK, LOOPING, TRUNCATED, ROTATED, UNRELATED, REFUSED = range(8)


def _text(number: int) -> str:
    """Page `number`'s text: no two pages look alike (the server tells them apart by image)."""
    return f"{TEXTS[number % len(TEXTS)]} Report {number} of the day."


def _pdf() -> bytes:
    doc = pymupdf.open()
    for number in range(8):
        page = doc.new_page(width=595, height=842)
        if number == BLANK:
            continue
        text = _text(number)
        if number == SCANNED:  # the text as a picture only: the classic path OCRs it
            scratch = pymupdf.open()
            drawn = scratch.new_page(width=595, height=842)
            drawn.insert_textbox(pymupdf.Rect(60, 80, 540, 400), text, fontsize=16)
            pix = drawn.get_pixmap(dpi=200)
            page.insert_image(page.rect, stream=pix.tobytes("png"))
        else:
            page.insert_textbox(pymupdf.Rect(60, 80, 540, 400), text, fontsize=12)
    return doc.tobytes()


PDF = _pdf()


def _digest(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()


def _pages_by_image() -> dict[str, int]:
    doc = pymupdf.open(stream=PDF, filetype="pdf")
    found = {_digest(page_png(page)): number for number, page in enumerate(doc)}
    rotated = page_png(doc[ROTATED])
    found[_digest(turned_png(rotated, 90))] = 100 + ROTATED
    return found


PAGES = _pages_by_image()


def _reply(number: int) -> Ok | Status:
    if number in (TEXT, SCANNED):
        text = _text(number).replace("metres", "meters") + " Photo: the mill."
        return Ok(FRONT + "# Flood report\n\n" + text)
    if number == BLANK:
        return Ok(FRONT + "Lorem ipsum dolor sit amet, consectetur adipiscing elit.")
    if number == LOOPING:
        return Ok(FRONT + "\n".join(["| the river rose | two metres |"] * 40))
    if number == TRUNCATED:
        return Ok(FRONT + _text(number)[:40], finish_reason="length")
    if number == ROTATED:
        return Ok(FRONT.replace("valid: true", "valid: false").replace("tion: 0", "tion: 90"))
    if number == 100 + ROTATED:
        return Ok(FRONT + _text(ROTATED))
    if number == UNRELATED:
        return Ok(FRONT + " ".join(["completely different words about a cooking recipe"] * 4))
    return Status(400)


def plan(seen):
    (png,) = page_images(seen.body)
    number = PAGES[_digest(png)]
    if number == TEXT and seen.attempt == 1:
        return Status(503)  # a fault: retried, then answered
    return _reply(number)


@pytest.fixture
def server():
    with LlmServer(plan, latency=0.02) as running:
        yield running


def _transcriber(server, concurrency=3, pages="all"):
    backend = OpenAIBackend(
        server.base_url, server.model, concurrency=concurrency, backoff_base=0.01, seed=0
    )
    return backend, VlmTranscriber(backend, VlmOptions(pages=pages))


def test_pages_become_vlm_pages_or_fall_back_with_their_reason(server):
    backend, vlm = _transcriber(server)
    try:
        result = transcribe("flood.pdf", PDF, vlm=vlm)
    finally:
        backend.close()
    assert isinstance(result, Transcript)
    pages = result.pages
    assert len(pages) == 8  # nothing lost: every page is a transcript page
    reasons = {n: (p["source"], p["source_reason"]) for n, p in enumerate(pages)}
    assert reasons[TEXT] == ("vlm", "vlm")
    assert reasons[SCANNED] == ("vlm", "vlm")
    assert reasons[ROTATED] == ("vlm", "vlm")
    assert reasons[BLANK] == ("text_layer", "vlm_blank_page")
    assert reasons[LOOPING] == ("text_layer", "vlm_repetition")
    assert reasons[TRUNCATED] == ("text_layer", "vlm_truncated")
    assert reasons[UNRELATED] == ("text_layer", "vlm_disagrees_with_text_layer")
    assert reasons[REFUSED] == ("text_layer", "llm_bad_request")
    # the server's Markdown is kept, its words carry the boxes of the words they align to
    page = pages[TEXT]
    assert page["markdown"].startswith("# Flood report")
    assert "meters" in page["words"]["text"] and "metres" not in page["words"]["text"]
    assert len(page["words"]["text"]) == len(page["words"]["bbox"]) >= 30
    assert all(0 <= v <= 1 for box in page["words"]["bbox"] for v in box)
    assert pages[LOOPING]["markdown"] and "| the river rose |" not in pages[LOOPING]["markdown"]
    stats = result.stats()
    assert stats["pages_vlm"] == 3
    assert stats["vlm_fallback_vlm_repetition"] == 1
    assert stats["vlm_fallback_llm_bad_request"] == 1
    assert stats["vlm_words_unboxed"] >= 2  # "Flood report", "Photo: the mill." have no box
    assert backend.metrics.retries["llm_server_error"] == 1


def test_requests_carry_one_page_png_and_rising_temperatures(server):
    backend, vlm = _transcriber(server)
    try:
        transcribe("flood.pdf", PDF, vlm=vlm)
    finally:
        backend.close()
    temperatures = {}
    for body in server.requests:
        images = page_images(body)
        assert len(images) == 1
        with Image.open(io.BytesIO(images[0])) as image:
            assert image.format == "PNG" and max(image.size) == 1288
        number = PAGES[_digest(images[0])]
        temperatures.setdefault(number, []).append(body["temperature"])
    assert temperatures[TRUNCATED] == [0.1, 0.1, 0.2, 0.3]  # four tries, then the fallback
    assert 100 + ROTATED in temperatures  # the page was sent again, turned upright
    assert server.max_in_flight <= 3


def test_concurrency_is_honoured_across_pages(server):
    backend, vlm = _transcriber(server, concurrency=2)
    try:
        doc = pymupdf.open()
        for text in TEXTS * 2:
            doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 550, 400), text, fontsize=12)
        many = doc.tobytes()
        server.plan = lambda seen: Ok(FRONT + "text")  # every page the same short answer
        server.latency = 0.1
        transcribe("many.pdf", many, vlm=vlm)
    finally:
        backend.close()
    assert len(server.requests) == 12
    assert server.max_in_flight == 2


def test_ocr_mode_asks_only_about_pages_the_classic_path_ocrs(server):
    backend, vlm = _transcriber(server, pages="ocr")
    try:
        result = transcribe("flood.pdf", PDF, vlm=vlm)
    finally:
        backend.close()
    asked = {PAGES[_digest(page_images(body)[0])] for body in server.requests}
    assert asked == {SCANNED}
    assert [p["source"] for p in result.pages].count("vlm") == 1


def test_reply_parsing_alignment_and_checks():
    reply = parse_reply(FRONT.replace("valid: true", "valid: false").replace(": 0", ": 270") + "x")
    assert reply.rotation == 270 and reply.front["primary_language"] == "en"
    assert parse_reply("no front matter").markdown == "no front matter"
    words = markdown_words("# Title\n\n<table><tr><td>a cell</td></tr></table> \\(x^2\\) **bold**")
    assert words == ["Title", "a", "cell", "x^2", "bold"]
    doc = pymupdf.open(stream=PDF, filetype="pdf")
    from transcription.textlayer import extract_page

    read = extract_page(doc[TEXT])
    aligned = align("Flood: " + _text(TEXT).replace("metres", "meters"), read)
    assert aligned.unboxed == 1 and aligned.paired == sum(len(ln.words) for ln in read.lines)
    assert rejection("words " * 5, [], blank=True, good_layer=False) == "vlm_blank_page"
    assert rejection("", [], blank=True, good_layer=False) is None
    assert rejection("", ["word"] * 40, blank=False, good_layer=False) == "vlm_missed_text"
    assert rejection("same line here\n" * 10, ["a"] * 10, False, False) == "vlm_repetition"
    runaway = " ".join(f"w{i}" for i in range(400))
    assert rejection(runaway, ["a"] * 30, False, False) == "vlm_repetition"
    layer = TEXTS[0].split()
    assert rejection(TEXTS[0], layer, False, True) is None
    assert rejection(TEXTS[1], layer, False, True) == "vlm_disagrees_with_text_layer"


def test_pipeline_with_a_vlm_server(server, tmp_path):
    from pipelines import pdf_transcribe

    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "flood.pdf").write_bytes(PDF)
    (inputs / "broken.pdf").write_bytes(b"%PDF-1.4 nothing else")
    out = tmp_path / "out"
    argv = [
        "--input",
        str(inputs / "*.pdf"),
        "--output",
        str(out),
        "--transcriber",
        "vlm",
        "--llm",
        "openai",
        "--base-url",
        server.base_url,
        "--model",
        server.model,
        "--vlm-pages",
        "all",
        "--concurrency",
        "4",
    ]
    pdf_transcribe.run(argv, save_main_session=False)
    manifest = json.loads((out / "manifest.json").read_text())
    counts = json.dumps(manifest)
    assert '"pages_vlm": 3' in counts
    assert '"vlm_fallback_vlm_blank_page": 1' in counts
    rejects = [json.loads(line) for f in out.glob("rejects-*.jsonl") for line in f.open()]
    assert [r["id"].endswith("broken.pdf") for r in rejects] == [True]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--vlm-pages", "all"], "only apply with --transcriber vlm"),
        (["--transcriber", "vlm"], "needs --model"),
        (["--transcriber", "vlm", "--model", "m"], "needs --base-url"),
        (["--transcriber", "vlm", "--llm", "vllm", "--model", "m", "--base-url", "x"], "not apply"),
    ],
)
def test_vlm_flags_refused_before_any_work(tmp_path, flags, message, capsys):
    from pipelines import pdf_transcribe

    argv = ["--input", str(tmp_path / "*.pdf"), "--output", str(tmp_path / "out"), *flags]
    with pytest.raises(SystemExit):
        pdf_transcribe.parse_args(argv)
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_transcription_and_llm_never_import_qa_code():
    import subprocess
    import sys

    code = (
        "import sys, llm, llm.openai_backend, pipelines.beam_vllm, transcription.transcribe, "
        "pipelines.pdf_transcribe; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'docmatix'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_long_document_is_asked_a_batch_of_pages_at_a_time(server, monkeypatch):
    import transcription.transcribe as module

    monkeypatch.setattr(module, "VLM_BATCH_PAGES", 2)
    backend, vlm = _transcriber(server, concurrency=8)
    server.plan = lambda seen: Ok(FRONT + "text")
    server.latency = 0.05
    try:
        doc = pymupdf.open()
        for text in TEXTS:
            doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 550, 400), text, fontsize=12)
        result = transcribe("long.pdf", doc.tobytes(), vlm=vlm)
    finally:
        backend.close()
    assert len(server.requests) == len(TEXTS) == len(result.pages)
    assert server.max_in_flight == 2  # never more than a batch's PNGs at once
