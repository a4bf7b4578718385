"""LLM backends shared by the stages that ask a model: QA generation and page transcription.

Interchangeable backends implement `llm.base.Backend` (ChatRequest in, Completion out):

- `openai`: any OpenAI-compatible server (`vllm serve`, others) over HTTP, with
  bounded concurrency, timeouts and retries; text and vision requests alike.
- `vllm`: in-process `vllm.LLM` batch generation on a local GPU.
Stages and pipelines add their own: the QA stage's model-free `offline`, and
`beam-vllm` (pipelines.beam_vllm: the vLLM server Beam starts on a GPU worker,
asked through the openai backend).
"""

from typing import Any

from llm.base import Backend

KINDS = ("openai", "vllm")


def make_backend(kind: str, **options: Any) -> Backend:
    """Build the backend named `kind` with its constructor `options`.

    Imports are lazy so that choosing one backend never needs another's dependencies.
    """
    if kind == "openai":
        from llm.openai_backend import OpenAIBackend

        return OpenAIBackend(**options)
    if kind == "vllm":
        from llm.vllm_backend import VLLMBackend

        return VLLMBackend(**options)
    raise ValueError(f"unknown LLM backend {kind!r}; choose one of {', '.join(KINDS)}")
