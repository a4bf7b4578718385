"""The OpenAI-compatible backend against a loopback server with a given reply latency.

With N requests in flight and L seconds mean reply time, no client can exceed
N / L completions per second; the ratio says how close the backend comes.
Replies take L +-50% (generation times vary; lockstep replies would measure
burst handling instead). The server runs in this process, sharing the GIL.

The openai 3.57 client (httpx2 underneath) costs about 2 ms of CPU per
request, 3 ms with 200 connections, so one backend stays near its bound
(>= 0.9) up to roughly 150 completions/s and falls behind above that: the
50 ms row (bound 640/s) and the original's 200 in flight per server measure
the client, not the server. A real Docmatix reply takes seconds, so one vLLM
server yields tens of replies per second, well inside the first row's regime.
"""

from benchmarks.common import best_seconds, row
from llm.openai_backend import OpenAIBackend
from llm.records import ChatRequest
from tests.llm_server import LlmServer

# (requests, in flight, mean reply latency in seconds)
SETTINGS = ((640, 32, 0.2), (960, 32, 0.05), (600, 200, 1.0))
JITTER = 0.5


def _requests(n: int) -> list[ChatRequest]:
    system = {"role": "system", "content": "You read text extracted from a PDF. " * 20}
    return [
        ChatRequest(
            id=f"bench{i}:0",
            messages=(system, {"role": "user", "content": f"Page text {i}. " * 200}),
            max_tokens=2000,
        )
        for i in range(n)
    ]


def _measure(n: int, concurrency: int, latency: float) -> dict:
    requests = _requests(n)
    with LlmServer(latency=latency, jitter=JITTER) as server:
        with OpenAIBackend(server.base_url, server.model, concurrency=concurrency) as llm:
            llm.generate(requests[:concurrency])
            ours = best_seconds(lambda: llm.generate(requests), repeat=2)
    bound = n * latency / concurrency
    name = f"llm_client ({concurrency} in flight, {latency * 1000:g} ms replies)"
    return row(name, n, ours, bound, f"bound {concurrency}/{latency:g}s")


def run() -> list[dict]:
    return [_measure(*setting) for setting in SETTINGS]
