"""The interface every LLM backend offers, and the reason codes of failed requests.

A backend turns a batch of `ChatRequest`s into one `Completion` each, in order.
A request that fails never raises: it comes back as a Completion whose `error`
is one of the codes below, so that a pipeline can route it to its rejects
instead of losing the rest of the batch.
"""

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from llm.records import ChatRequest, Completion

LLM_TIMEOUT = "llm_timeout"
LLM_RATE_LIMITED = "llm_rate_limited"
LLM_SERVER_ERROR = "llm_server_error"
LLM_CONNECTION_ERROR = "llm_connection_error"
LLM_BAD_REQUEST = "llm_bad_request"
LLM_BAD_RESPONSE = "llm_bad_response"
LLM_EMPTY = "llm_empty"

REASONS = frozenset(
    {
        LLM_TIMEOUT,
        LLM_RATE_LIMITED,
        LLM_SERVER_ERROR,
        LLM_CONNECTION_ERROR,
        LLM_BAD_REQUEST,
        LLM_BAD_RESPONSE,
        LLM_EMPTY,
    }
)


@runtime_checkable
class Backend(Protocol):
    """Generates completions for chat requests; `name` is what `Completion.source` records."""

    name: str

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        """One Completion per request, same order; per-request failures are error Completions."""
        ...

    def close(self) -> None:
        """Release connections, threads or GPU memory; the backend is not used afterwards."""
        ...


def failed(request: ChatRequest, source: str, error: str, detail: str = "") -> Completion:
    """The Completion standing for a request that produced no text."""
    return Completion(id=request.id, text=None, source=source, error=error, detail=detail)


def answered(
    request: ChatRequest, source: str, text: str | None, finish_reason: str | None = None
) -> Completion:
    """The Completion for a reply; blank text is an `llm_empty` failure, not a success."""
    if text is None or not text.strip():
        return failed(request, source, LLM_EMPTY, "the model returned no text")
    return Completion(id=request.id, text=text, source=source, finish_reason=finish_reason)
