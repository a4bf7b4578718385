"""LLM backends shared by the stages that ask a model: QA generation and page transcription.

Interchangeable backends implement `llm.base.Backend` (ChatRequest in, Completion out):

- `openai`: any OpenAI-compatible server (`vllm serve`, others) over HTTP, with
  bounded concurrency, timeouts and retries; text and vision requests alike.
- `vllm`: in-process `vllm.LLM` batch generation on a local GPU.
- `beam-vllm`: on Beam workers with GPUs (Dataflow), the vLLM server Beam's
  inference module starts once per worker process, asked through the openai
  backend (so retries and concurrency stay ours).

Stages add their own model-free backends (the QA stage's `offline`).
"""

from typing import Any

from llm.base import Backend

KINDS = ("openai", "vllm", "beam-vllm")


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
    if kind == "beam-vllm":
        from llm.beam_vllm import BeamVllmBackend

        return BeamVllmBackend(**options)
    raise ValueError(f"unknown LLM backend {kind!r}; choose one of {', '.join(KINDS)}")
