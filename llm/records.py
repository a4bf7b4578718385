"""What an LLM backend is asked and what it answers, whichever stage asks.

Messages follow the OpenAI chat format: `content` is text, or a list of parts
(`{"type": "text", ...}`, `{"type": "image_url", "image_url": {"url": ...}}`) for
vision requests.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatRequest:
    """Chat messages for the item `id` (a QA chunk, a page).

    `chunk_text` is carried for backends that need no prompt (the QA stage's offline
    one); `temperature`, when set, overrides the backend's sampling for this request.
    """

    id: str
    messages: tuple[dict, ...]
    max_tokens: int
    chunk_text: str = ""
    temperature: float | None = None


@dataclass(frozen=True)
class Completion:
    """A backend's answer to one request: `text`, or `error` (a reject reason code).

    `finish_reason` is the server's ("stop", or "length" for a reply cut at max_tokens);
    None when the backend does not say.
    """

    id: str
    text: str | None
    source: str  # which backend and model produced it, e.g. "openai:<model>"
    error: str | None = None
    detail: str = ""
    finish_reason: str | None = None
