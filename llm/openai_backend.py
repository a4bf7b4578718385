"""Chat completions (text or vision) through any OpenAI-compatible server (`vllm serve`, others).

The original sent 200 parallel chat requests to each vLLM server; this backend
does the same with the `openai` package's AsyncOpenAI client: at most
`concurrency` requests in flight, each bounded by `timeout` seconds, retried
on 429, 5xx, timeouts and connection errors with exponential backoff and
jitter (or the server's Retry-After, capped), up to `max_attempts` attempts.
The client's own retries are switched off so that every attempt is counted
here. A request that still fails becomes an error Completion.

`generate()` is synchronous. All requests of a backend run on one event loop
in a private thread, so a Beam DoFn can call it from any worker thread, any
number of times, while the concurrency bound and the connection pool stay
shared by the whole backend.
"""

import asyncio
import email.utils
import random
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from llm.base import (
    LLM_BAD_REQUEST,
    LLM_BAD_RESPONSE,
    LLM_CONNECTION_ERROR,
    LLM_RATE_LIMITED,
    LLM_SERVER_ERROR,
    LLM_TIMEOUT,
    answered,
    failed,
)
from llm.records import ChatRequest, Completion


@dataclass
class Metrics:
    """What the backend did, for logs, counters and tests: HTTP attempts, not requests."""

    requests_sent: int = 0
    completions: int = 0
    errors: Counter = field(default_factory=Counter)
    retries: Counter = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0

    def as_dict(self) -> dict:
        return {
            "requests_sent": self.requests_sent,
            "completions": self.completions,
            "errors": dict(self.errors),
            "retries": dict(self.retries),
            "max_in_flight": self.max_in_flight,
        }


@dataclass(frozen=True)
class Failure:
    """One failed attempt, classified."""

    reason: str
    retryable: bool
    detail: str
    retry_after: float | None = None


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with equal jitter: half fixed, half random, so that
    clients that failed together do not all come back at the same instant."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` or `Retry-After` (seconds or an HTTP date), if any."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            pass
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
    return None


def classify(exc: BaseException) -> Failure:
    """Map an exception of one attempt to a reason code and whether to try again."""
    import openai

    detail = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return Failure(LLM_TIMEOUT, True, detail)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retry_after = parse_retry_after(exc.response.headers)
        if status == 429:
            return Failure(LLM_RATE_LIMITED, True, detail, retry_after)
        if status >= 500:
            return Failure(LLM_SERVER_ERROR, True, detail, retry_after)
        if status == 408:
            return Failure(LLM_TIMEOUT, True, detail, retry_after)
        return Failure(LLM_BAD_REQUEST, False, detail)
    if isinstance(exc, openai.APIConnectionError):
        return Failure(LLM_CONNECTION_ERROR, True, detail)
    return Failure(LLM_BAD_RESPONSE, False, detail)


def reply_text(completion: Any) -> tuple[str | None, str | None]:
    """(text, finish_reason) of the first choice; raises ValueError when the reply has none."""
    choices = getattr(completion, "choices", None)
    if not choices:
        raise ValueError("the reply has no choices")
    return choices[0].message.content, getattr(choices[0], "finish_reason", None)


class _LoopThread:
    """An event loop running forever in a daemon thread; coroutines are submitted from others."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, name="openai-backend", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def run(self, coro: Coroutine) -> Any:
        if threading.current_thread() is self.thread:
            raise RuntimeError("generate() cannot be called from the backend's own event loop")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server.

    base_url: the server's API root, e.g. "http://localhost:8000/v1".
    model: the served model name (what `vllm serve` was given).
    api_key: "EMPTY" suits vLLM without `--api-key`.
    concurrency: most requests in flight at once (200 per server in the original).
    timeout: seconds one attempt may take, connection included.
    max_attempts: attempts per request, the first included.
    backoff_base, backoff_max: seconds of the first retry delay and of the longest.
    retry_after_cap: the longest server-requested Retry-After that is honoured as is.
    temperature, top_p: sampling; None leaves the server's default, as the original did.
    extra_body: extra request fields for the server (vLLM's `top_k`, `seed`, ...).
    seed: seeds the backoff jitter, for reproducible tests.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "EMPTY",
        concurrency: int = 200,
        timeout: float = 300.0,
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        retry_after_cap: float = 60.0,
        temperature: float | None = None,
        top_p: float | None = None,
        extra_body: dict | None = None,
        seed: int | None = None,
    ) -> None:
        if concurrency < 1 or max_attempts < 1 or timeout <= 0:
            raise ValueError("concurrency and max_attempts must be >= 1 and timeout > 0")
        self.base_url = base_url
        self.model = model
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_cap = retry_after_cap
        self.temperature = temperature
        self.top_p = top_p
        self.extra_body = extra_body
        self.seed = seed
        self.name = f"openai:{model}"
        self.metrics = Metrics()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._runner: _LoopThread | None = None
        self._client = None
        self._slots: asyncio.Semaphore | None = None

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        if not requests:
            return []
        return self._loop().run(self._generate(list(requests)))

    def close(self) -> None:
        with self._lock:
            runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._client is not None:
            runner.run(self._client.close())
            self._client = None
        runner.stop()
        self._slots = None

    def __enter__(self) -> "OpenAIBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_lock=None, _runner=None, _client=None, _slots=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _loop(self) -> _LoopThread:
        with self._lock:
            if self._runner is None:
                self._runner = _LoopThread()
            return self._runner

    async def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        if self._client is None:
            self._client = self._new_client()
            self._slots = asyncio.Semaphore(self.concurrency)
        return list(await asyncio.gather(*(self._complete(r) for r in requests)))

    def _new_client(self):
        import httpx2
        import openai

        limits = httpx2.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key,
            max_retries=0,
            timeout=self.timeout,
            http_client=openai.DefaultAsyncHttpxClient(limits=limits, timeout=self.timeout),
        )

    async def _complete(self, request: ChatRequest) -> Completion:
        for attempt in range(1, self.max_attempts + 1):
            try:
                text, finish_reason = await self._attempt(request)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a Completion
                failure = classify(exc)
            else:
                self.metrics.completions += 1
                return answered(request, self.name, text, finish_reason)
            if not failure.retryable or attempt == self.max_attempts:
                self.metrics.errors[failure.reason] += 1
                detail = f"after {attempt} attempt(s): {failure.detail}"
                return failed(request, self.name, failure.reason, detail)
            self.metrics.retries[failure.reason] += 1
            await asyncio.sleep(self._delay(attempt, failure.retry_after))
        raise AssertionError("unreachable")

    async def _attempt(self, request: ChatRequest) -> tuple[str | None, str | None]:
        async with self._slots:
            self.metrics.requests_sent += 1
            self.metrics.in_flight += 1
            self.metrics.max_in_flight = max(self.metrics.max_in_flight, self.metrics.in_flight)
            try:
                async with asyncio.timeout(self.timeout):
                    completion = await self._client.chat.completions.create(**self._body(request))
            finally:
                self.metrics.in_flight -= 1
        return reply_text(completion)

    def _body(self, request: ChatRequest) -> dict:
        body = {
            "model": self.model,
            "messages": [dict(m) for m in request.messages],
            "max_tokens": request.max_tokens,
        }
        temperature = request.temperature if request.temperature is not None else self.temperature
        if temperature is not None:
            body["temperature"] = temperature
        if self.top_p is not None:
            body["top_p"] = self.top_p
        if self.extra_body:
            body["extra_body"] = self.extra_body
        return body

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        return backoff_delay(attempt, self.backoff_base, self.backoff_max, self._rng)
