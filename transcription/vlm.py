"""Page transcription by a vision-language model, on top of the text layer / Tesseract path.

The classic path runs first on every page: it is the fallback, and its words carry the
boxes the VLM's answer is aligned to (transcription.vlm_align). Pages chosen by
`pages` ("all", or "ocr": only those the classic path OCRed, the cheap mix FinePDFs
used) are then sent to the model, all of a document's pages in one batch (the
backend keeps its own bound on requests in flight). A reply that did not finish
(finish_reason other than "stop") is asked again at the next, higher temperature; a
page the model says is turned is sent again turned upright. A page whose answer fails,
or fails a check (transcription.vlm_checks), keeps its classic transcription with
the reason in `source_reason`.
"""

from collections import Counter
from dataclasses import dataclass

from llm.records import Completion
from transcription.vlm_align import Aligned, align
from transcription.vlm_checks import rejection
from transcription.vlm_requests import (
    LONGEST_SIDE,
    MAX_TOKENS,
    TEMPERATURES,
    VlmReply,
    page_request,
    parse_reply,
    turned_png,
)

VLM_PAGES = ("all", "ocr")
SOURCE = "vlm"
TRUNCATED = "vlm_truncated"


@dataclass(frozen=True)
class VlmOptions:
    pages: str = "ocr"
    longest_side: int = LONGEST_SIDE
    max_tokens: int = MAX_TOKENS
    attempts: int = 4  # tries at a page whose answer does not finish

    def __post_init__(self):
        if self.pages not in VLM_PAGES:
            raise ValueError(f"pages must be one of {VLM_PAGES}, got {self.pages!r}")
        if not 1 <= self.attempts <= len(TEMPERATURES):
            raise ValueError(f"--vlm-attempts must be 1 to {len(TEMPERATURES)}")
        if self.longest_side < 64 or self.max_tokens < 1:
            raise ValueError("--vlm-longest-side must be at least 64, --vlm-max-tokens positive")

    def wants(self, source: str, blank: bool) -> bool:
        """Whether a page the classic path read from `source` goes to the model."""
        return self.pages == "all" or (source == "ocr" and not blank)


@dataclass
class PageQuestion:
    """A page to ask about: its PNG and what the classic path found."""

    number: int
    png: bytes
    blank: bool
    good_layer: bool


class VlmTranscriber:
    """Asks `backend` (an llm.base.Backend) about pages and judges the answers."""

    def __init__(self, backend, options: VlmOptions = VlmOptions()):
        self.backend, self.options = backend, options

    def ask(self, key: str, questions: list[PageQuestion]) -> dict[int, VlmReply | str]:
        """Each page's reply, or the reason it has none (an llm_* code, vlm_truncated)."""
        pngs = {q.number: q.png for q in questions}
        tries = Counter()
        turned: set[int] = set()
        out: dict[int, VlmReply | str] = {}
        pending = {n: self._request(key, n, png, 0) for n, png in pngs.items()}
        while pending:
            again = {}
            for completion in self.backend.generate(list(pending.values())):
                n = int(completion.id.rsplit(":", 1)[1])
                verdict = self._judge(completion, tries, n)
                if verdict is None:  # not finished: the next temperature
                    again[n] = self._request(key, n, pngs[n], tries[n])
                elif not isinstance(verdict, str) and verdict.rotation and n not in turned:
                    turned.add(n)
                    pngs[n] = turned_png(pngs[n], verdict.rotation)
                    again[n] = self._request(key, n, pngs[n], 0)
                else:
                    out[n] = verdict
            pending = again
        return out

    def _judge(self, completion: Completion, tries: Counter, n: int) -> VlmReply | str | None:
        """A reply, a reason for none, or None to ask again."""
        if completion.error:
            return completion.error
        if completion.finish_reason not in (None, "stop"):
            tries[n] += 1
            return None if tries[n] < self.options.attempts else TRUNCATED
        return parse_reply(completion.text)

    def _request(self, key: str, n: int, png: bytes, attempt: int):
        return page_request(f"{key}:{n}", png, self.options.max_tokens, TEMPERATURES[attempt])


def vlm_page(reply: VlmReply, read, question: PageQuestion) -> Aligned | str:
    """The answer's words with the read's boxes, or the reason the answer is not kept."""
    read_words = [w.text for line in read.lines for w in line.words]
    reason = rejection(reply.markdown, read_words, question.blank, question.good_layer)
    return reason or align(reply.markdown, read)


@dataclass(frozen=True)
class VlmSettings:
    """Which backend serves the model, and how pages are asked: all a worker needs to
    build its VlmTranscriber (hashable: it names the resume checkpoint too)."""

    llm: str
    model: str
    base_url: str | None = None
    api_key: str = "EMPTY"
    concurrency: int = 64
    timeout_s: float = 300.0
    options: VlmOptions = VlmOptions()

    def backend_options(self) -> dict:
        if self.llm == "vllm":
            return {"model": self.model}
        client = {
            "concurrency": self.concurrency,
            "timeout": self.timeout_s,
            "api_key": self.api_key,
        }
        if self.llm == "beam-vllm":
            return {"model": self.model, **client}
        return {"base_url": self.base_url, "model": self.model, **client}


_TRANSCRIBERS: dict[VlmSettings, VlmTranscriber] = {}


def transcriber_for(settings: VlmSettings | None, make_backend=None) -> VlmTranscriber | None:
    """One VlmTranscriber per worker process and settings (a backend holds connections,
    or a model on the GPU). `make_backend(kind, **options)` defaults to llm.make_backend."""
    if settings is None:
        return None
    found = _TRANSCRIBERS.get(settings)
    if found is None:
        if make_backend is None:
            from llm import make_backend
        backend = make_backend(settings.llm, **settings.backend_options())
        found = _TRANSCRIBERS[settings] = VlmTranscriber(backend, settings.options)
    return found
