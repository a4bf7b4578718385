"""Chat generation (text or vision) with in-process `vllm.LLM` batch inference on a local GPU.

Offline batch generation beats an HTTP server for throughput, so this is the
fast path when the model is one current vLLM serves. It stays thin: one
`LLM(model=...)`, one `llm.chat(conversations, sampling_params)` per batch.

The default model is microsoft/Phi-4-mini-instruct. The original used
Phi-3-small (7B), which current vLLM no longer serves (its block-sparse
attention was removed after 0.9.x). Phi-4-mini is the same family and role: a
dense Phi instruct model with a tiktoken-style BPE vocabulary like
Phi-3-small's (so chunk token counts stay close), a long context, permissive
licence and native vLLM support without trust_remote_code; Phi-3.5-mini would
do too, but its 32k SentencePiece vocabulary counts tokens differently.

For Phi-3-small itself, serve it from a vLLM 0.9.x image and use the openai
backend (see PHI3_SMALL_WAY_OUT).
"""

from collections.abc import Sequence
from typing import Any

from llm.base import LLM_BAD_REQUEST, answered, failed
from llm.records import ChatRequest, Completion

DEFAULT_MODEL = "microsoft/Phi-4-mini-instruct"

PHI3_SMALL_WAY_OUT = (
    "current vLLM cannot load Phi-3-small (block-sparse attention was removed after 0.9.x). "
    "Serve it from a vLLM 0.9.x image with "
    "`vllm serve microsoft/Phi-3-small-8k-instruct --trust-remote-code` "
    "and use the openai backend with --base-url http://<host>:8000/v1"
)

MISSING_VLLM = "the vllm backend needs vLLM and a GPU: pip install -e '.[gpu]'"


def refuse_unservable(model: str) -> None:
    """Fail early, before loading anything, for models current vLLM cannot run."""
    if "phi-3-small" in model.lower():
        raise ValueError(f"{model}: {PHI3_SMALL_WAY_OUT}")


def to_conversation(request: ChatRequest) -> list[dict]:
    """The request's messages as the list of {role, content} dicts `LLM.chat` takes."""
    return [{"role": m["role"], "content": m["content"]} for m in request.messages]


class VLLMBackend:
    """Batch chat generation with `vllm.LLM`.

    model: a Hugging Face model id or local path (DEFAULT_MODEL when None).
    temperature, top_p: sampling; None keeps the model's generation defaults,
        as the original left sampling to the server.
    seed: the engine's seed, for reproducible sampling.
    llm_options: passed to `vllm.LLM` as is (max_model_len, gpu_memory_utilization,
        tensor_parallel_size, dtype, ...).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = 0,
        **llm_options: Any,
    ) -> None:
        self.model = model or DEFAULT_MODEL
        refuse_unservable(self.model)
        try:
            import vllm
        except ImportError as exc:
            raise ImportError(MISSING_VLLM) from exc
        self.name = f"vllm:{self.model}"
        self.temperature = temperature
        self.top_p = top_p
        self._vllm = vllm
        self._llm = vllm.LLM(model=self.model, seed=seed, **llm_options)

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        if not requests:
            return []
        try:
            outputs = self._chat(requests)
        except ValueError:
            return [self._generate_one(r) for r in requests]
        return [
            answered(r, self.name, _text(o), _finish(o))
            for r, o in zip(requests, outputs, strict=True)
        ]

    def close(self) -> None:
        self._llm = None

    def _generate_one(self, request: ChatRequest) -> Completion:
        """One request alone, so that a prompt vLLM rejects (too long) fails by itself."""
        try:
            [output] = self._chat([request])
        except ValueError as exc:
            return failed(request, self.name, LLM_BAD_REQUEST, f"{type(exc).__name__}: {exc}")
        return answered(request, self.name, _text(output), _finish(output))

    def _chat(self, requests: Sequence[ChatRequest]) -> list:
        conversations = [to_conversation(r) for r in requests]
        params = [self._sampling(r.max_tokens, r.temperature) for r in requests]
        return self._llm.chat(conversations, params, use_tqdm=False)

    def _sampling(self, max_tokens: int, temperature: float | None = None):
        params = self._llm.get_default_sampling_params()
        params.max_tokens = max_tokens
        temperature = temperature if temperature is not None else self.temperature
        if temperature is not None:
            params.temperature = temperature
        if self.top_p is not None:
            params.top_p = self.top_p
        return params


def _text(output: Any) -> str | None:
    return output.outputs[0].text if output.outputs else None


def _finish(output: Any) -> str | None:
    return getattr(output.outputs[0], "finish_reason", None) if output.outputs else None
