"""The vLLM server Beam's inference module runs on a GPU worker, asked with our openai client.

`apache_beam.ml.inference.vllm_inference` starts `vllm serve` in a subprocess on the
worker and hands back its port; we start it once per worker process (the first
request waits for it) and send requests through `OpenAIBackend`, which keeps the
concurrency bound, retries and per-request failures the other stages rely on.
Needs a worker image with vLLM and a GPU (docker/gpu.Dockerfile). It lives with the
pipelines because it is Beam's; `make_backend` adds it to the shared backends.
"""

import threading
from collections.abc import Sequence
from typing import Any

from llm.openai_backend import OpenAIBackend
from llm.records import ChatRequest, Completion

_SERVERS: dict[str, Any] = {}  # model -> Beam's server object, one per worker process
_LOCK = threading.Lock()


def make_backend(kind: str, **options: Any):
    """llm.make_backend, plus `beam-vllm`."""
    if kind == "beam-vllm":
        return BeamVllmBackend(**options)
    from llm import make_backend as make_plain

    return make_plain(kind, **options)


def _server_port(model: str, server_options: dict) -> int:
    with _LOCK:
        server = _SERVERS.get(model)
        if server is None:
            from apache_beam.ml.inference.vllm_inference import VLLMChatModelHandler

            handler = VLLMChatModelHandler(model_name=model, vllm_server_kwargs=server_options)
            server = _SERVERS[model] = handler.load_model()
        return server.get_server_port()


class BeamVllmBackend:
    """OpenAIBackend against the worker's own vLLM server, started on first use.

    server_options: `vllm serve` flags for Beam's handler ({"max-model-len": "16384"}).
    Every other option goes to OpenAIBackend (concurrency, timeout, max_attempts ...).
    """

    def __init__(self, model: str, *, server_options: dict | None = None, **client_options):
        self.model = model
        self.server_options = dict(server_options or {})
        self.client_options = client_options
        self.name = f"beam-vllm:{model}"
        self._client: OpenAIBackend | None = None

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        if self._client is None:
            port = _server_port(self.model, self.server_options)
            self._client = OpenAIBackend(
                f"http://localhost:{port}/v1", self.model, **self.client_options
            )
            self._client.name = self.name
        return self._client.generate(requests)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_client": None}
