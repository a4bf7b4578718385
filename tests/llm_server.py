"""A scripted OpenAI-compatible HTTP server on loopback, for tests and benchmarks.

It answers `/v1/chat/completions` and `/v1/models` like `vllm serve` does, so the
real `openai` client can be exercised end to end. What each request gets is
decided by a `plan` function (see `Action`); by default every request gets a
deterministic Q/A text derived from its last message, after `latency`
seconds (spread by +-`jitter` of itself, as real generation times vary). The server records every
request body and the largest number of requests it was handling at once.

    with LlmServer(latency=0.05) as server:
        backend = OpenAIBackend(base_url=server.base_url, model=server.model)
"""

import base64
import hashlib
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Ok:
    """A normal reply; `text` None means the default Q/A text. `finish_reason` "length"
    stands for a reply cut at max_tokens."""

    text: str | None = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Status:
    """An HTTP error status, with a Retry-After header when `retry_after` is given."""

    code: int
    retry_after: float | None = None


@dataclass(frozen=True)
class Slow:
    """Wait `seconds` (past the client's timeout, typically) before answering with `then`."""

    seconds: float
    then: "Action" = field(default_factory=Ok)


@dataclass(frozen=True)
class Malformed:
    """HTTP 200 whose body is not JSON."""


@dataclass(frozen=True)
class EmptyChoices:
    """HTTP 200 with a well-formed completion that has no choices."""


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


Action = Ok | Status | Slow | Malformed | EmptyChoices | Drop


@dataclass(frozen=True)
class Seen:
    """A request as a plan sees it: `attempt` counts requests with the same messages (from 1)."""

    index: int
    attempt: int
    body: dict

    @property
    def prompt(self) -> str:
        return last_message(self.body)


Plan = Callable[[Seen], Action | None]


def page_images(body: dict) -> list[bytes]:
    """The bytes of every data-URL image in the request's messages (vision requests)."""
    found = []
    for message in body.get("messages") or []:
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            url = (part.get("image_url") or {}).get("url", "") if isinstance(part, dict) else ""
            if url.startswith("data:") and "," in url:
                found.append(base64.b64decode(url.split(",", 1)[1]))
    return found


def last_message(body: dict) -> str:
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content", "")
    return content if isinstance(content, str) else json.dumps(content)


def qa_text(prompt: str) -> str:
    """A deterministic two-pair answer naming a digest of the prompt."""
    digest = hashlib.sha1(prompt.encode()).hexdigest()[:8]
    return (
        f"Q1: What is the code of this document?\nA1: The code is {digest}.\n"
        f"Q2: How long is the text?\nA2: It has {len(prompt)} characters."
    )


def fail_first(times: int, action: Action) -> Plan:
    """A plan that answers each distinct prompt with `action` `times` times, then normally."""
    return lambda seen: action if seen.attempt <= times else None


class LlmServer:
    """The server, started in a background thread on 127.0.0.1 with an ephemeral port."""

    def __init__(
        self,
        plan: Plan | None = None,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        model: str = "test-model",
        seed: int = 0,
    ) -> None:
        self.plan = plan
        self.latency = latency
        self.jitter = jitter
        self._rng = random.Random(seed)
        self.model = model
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "LlmServer":
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.02,), name="llm-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> "LlmServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget recorded requests and attempt counts (between phases of one test)."""
        with self._lock:
            self.requests.clear()
            self._attempts.clear()
            self.max_in_flight = self.in_flight

    def sleep(self, seconds: float) -> None:
        """Sleep that `stop()` cuts short, so a stuck reply never delays shutdown."""
        self._stopping.wait(seconds)

    def _admit(self, body: dict) -> Seen:
        with self._lock:
            self.requests.append(body)
            key = json.dumps(body.get("messages"), sort_keys=True)
            self._attempts[key] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return Seen(len(self.requests) - 1, self._attempts[key], body)

    def _delay(self) -> float:
        """The fixed latency, spread uniformly by +-`jitter` of itself when asked."""
        with self._lock:
            spread = self._rng.uniform(-self.jitter, self.jitter)
        return self.latency * (1 + spread)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _action(self, seen: Seen) -> Action:
        action = self.plan(seen) if self.plan else None
        return action or Ok()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    owner: LlmServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            return self._send_json(404, {"error": {"message": "not found"}})
        owner = self.server.owner
        models = [{"id": owner.model, "object": "model", "created": 0, "owned_by": "test"}]
        self._send_json(200, {"object": "list", "data": models})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._send_json(404, {"error": {"message": "not found"}})
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return self._send_json(400, {"error": {"message": "body is not JSON"}})
        owner = self.server.owner
        seen = owner._admit(body)
        try:
            if owner.latency:
                owner.sleep(owner._delay())
            self._perform(owner._action(seen), seen)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            owner._leave()

    def _perform(self, action: Action, seen: Seen) -> None:
        owner = self.server.owner
        if isinstance(action, Slow):
            owner.sleep(action.seconds)
            return self._perform(action.then, seen)
        if isinstance(action, Ok):
            text = action.text if action.text is not None else qa_text(seen.prompt)
            choice = _choice(text, action.finish_reason)
            return self._send_json(200, _completion(seen, owner.model, [choice]))
        if isinstance(action, EmptyChoices):
            return self._send_json(200, _completion(seen, owner.model, []))
        if isinstance(action, Malformed):
            return self._send(200, b'{"id": "chatcmpl-x", "choices": [', "application/json")
        if isinstance(action, Status):
            headers = {}
            if action.retry_after is not None:
                headers["Retry-After"] = f"{action.retry_after:g}"
            error = {"error": {"message": f"scripted {action.code}", "code": action.code}}
            return self._send_json(action.code, error, headers)
        if isinstance(action, Drop):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        raise TypeError(f"unknown action {action!r}")

    def _send_json(self, code: int, payload: dict, headers: dict | None = None) -> None:
        self._send(code, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, code: int, data: bytes, kind: str, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _choice(text: str, finish_reason: str = "stop") -> dict:
    message = {"role": "assistant", "content": text}
    return {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}


def _completion(seen: Seen, model: str, choices: list[dict]) -> dict:
    return {
        "id": f"chatcmpl-{seen.index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": seen.body.get("model", model),
        "choices": choices,
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
