"""LLM backends for Docmatix-style QA generation.

Three interchangeable backends implement `docmatix.llm.base.Backend`:

- `openai`: any OpenAI-compatible server (`vllm serve`, others) over HTTP, with
  bounded concurrency, timeouts and retries. This is how the original was run
  (Phi-3-small behind vLLM servers) and the only way to use Phi-3-small with a
  current install: serve it from a vLLM 0.9.x image and point `base_url` at it.
- `vllm`: in-process `vllm.LLM` batch generation on a local GPU; the fastest
  path for a dense model that current vLLM serves.
- `offline`: no model at all (docmatix.offline_qa), for tests and demos.
"""

from typing import Any

from docmatix.llm.base import Backend

KINDS = ("openai", "vllm", "offline")


def make_backend(kind: str, **options: Any) -> Backend:
    """Build the backend named `kind` with its constructor `options`.

    Imports are lazy so that choosing one backend never needs another's dependencies.
    """
    if kind == "openai":
        from docmatix.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(**options)
    if kind == "vllm":
        from docmatix.llm.vllm_backend import VLLMBackend

        return VLLMBackend(**options)
    if kind == "offline":
        from docmatix.offline_qa import OfflineBackend

        return OfflineBackend(**options)
    raise ValueError(f"unknown LLM backend {kind!r}; choose one of {', '.join(KINDS)}")
