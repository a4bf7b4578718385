"""The OpenAI-compatible backend against a scripted loopback server, through the real client."""

import pickle
import random
import threading

import pytest

from llm import make_backend
from llm.base import REASONS, Backend
from llm.openai_backend import OpenAIBackend, backoff_delay, parse_retry_after
from llm.records import ChatRequest
from tests.llm_server import (
    Drop,
    EmptyChoices,
    LlmServer,
    Malformed,
    Ok,
    Slow,
    Status,
    fail_first,
    qa_text,
)

FAST = {"timeout": 2.0, "backoff_base": 0.01, "backoff_max": 0.05, "retry_after_cap": 0.2}


def requests(n: int, prefix: str = "doc") -> list[ChatRequest]:
    return [
        ChatRequest(
            id=f"{prefix}{i}:0",
            messages=(
                {"role": "system", "content": "You write questions."},
                {"role": "user", "content": f"Text of document {prefix}{i}."},
            ),
            max_tokens=64,
        )
        for i in range(n)
    ]


def backend(server: LlmServer, **options) -> OpenAIBackend:
    settings = {"concurrency": 8, "max_attempts": 3, "seed": 0, **FAST, **options}
    return OpenAIBackend(server.base_url, server.model, **settings)


def test_replies_come_back_in_order_with_the_request_fields():
    reqs = requests(20)
    with LlmServer() as server, backend(server) as llm:
        out = llm.generate(reqs)
        sent = list(server.requests)
    assert isinstance(llm, Backend)
    assert [c.id for c in out] == [r.id for r in reqs]
    assert [c.text for c in out] == [qa_text(r.messages[-1]["content"]) for r in reqs]
    assert all(c.error is None and c.source == "openai:test-model" for c in out)
    assert all(b["max_tokens"] == 64 and b["model"] == "test-model" for b in sent)
    assert all("temperature" not in b and "top_p" not in b for b in sent)
    assert llm.metrics.requests_sent == 20 and not llm.metrics.retries


def test_sampling_params_and_extra_body_reach_the_server():
    with LlmServer() as server:
        with backend(server, temperature=0.2, top_p=0.9, extra_body={"top_k": 5}) as llm:
            llm.generate(requests(1))
        body = server.requests[0]
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.2, 0.9, 5)


@pytest.mark.parametrize(
    ("action", "reason"),
    [(Status(500), "llm_server_error"), (Status(429, retry_after=0.05), "llm_rate_limited")],
)
def test_transient_errors_are_retried_and_counted(action, reason):
    with LlmServer(fail_first(2, action)) as server, backend(server) as llm:
        out = llm.generate(requests(5))
        attempts = len(server.requests)
    assert all(c.error is None and c.text for c in out)
    assert attempts == 15 == llm.metrics.requests_sent
    assert dict(llm.metrics.retries) == {reason: 10}


def test_transient_errors_past_the_attempt_budget_become_error_completions():
    with LlmServer(fail_first(5, Status(503))) as server, backend(server) as llm:
        out = llm.generate(requests(3))
        attempts = len(server.requests)
    assert attempts == 9
    assert {c.error for c in out} == {"llm_server_error"}
    assert all(c.text is None and "after 3 attempt(s)" in c.detail for c in out)
    assert llm.metrics.errors == {"llm_server_error": 3}


def recording_delays(llm: OpenAIBackend, waits: list) -> None:
    chosen = llm._delay
    llm._delay = lambda attempt, hint: waits.append(chosen(attempt, hint)) or waits[-1]


def test_retry_after_is_honoured_up_to_the_cap():
    waits = []
    for retry_after in (0.15, 30):
        with LlmServer(fail_first(1, Status(429, retry_after=retry_after))) as server:
            with backend(server) as llm:
                recording_delays(llm, waits)
                [out] = llm.generate(requests(1))
        assert out.text
    assert waits == [0.15, FAST["retry_after_cap"]]


def test_slow_replies_time_out_after_every_attempt():
    with LlmServer(lambda seen: Slow(5)) as server:
        with backend(server, timeout=0.2, max_attempts=2) as llm:
            out = llm.generate(requests(2))
        attempts = len(server.requests)
    assert attempts == 4
    assert [c.error for c in out] == ["llm_timeout"] * 2
    assert llm.metrics.retries == {"llm_timeout": 2}


def test_one_slow_reply_is_retried_and_succeeds():
    with LlmServer(fail_first(1, Slow(5))) as server:
        with backend(server, timeout=0.2) as llm:
            out = llm.generate(requests(3))
    assert all(c.text for c in out)
    assert llm.metrics.retries == {"llm_timeout": 3}


def test_dropped_connections_are_retried():
    with LlmServer(fail_first(1, Drop())) as server, backend(server) as llm:
        out = llm.generate(requests(4))
    assert all(c.text for c in out)
    assert llm.metrics.retries == {"llm_connection_error": 4}


def test_nobody_listening_is_a_connection_error():
    with LlmServer() as server:
        url = server.base_url
    with OpenAIBackend(url, "m", max_attempts=2, seed=0, **FAST) as llm:
        [out] = llm.generate(requests(1))
    assert out.error == "llm_connection_error"
    assert llm.metrics.retries == {"llm_connection_error": 1}


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (Malformed(), "llm_bad_response"),
        (EmptyChoices(), "llm_bad_response"),
        (Ok(text="  \n"), "llm_empty"),
        (Status(400), "llm_bad_request"),
    ],
)
def test_bad_replies_fail_without_retry(action, reason):
    with LlmServer(lambda seen: action) as server, backend(server) as llm:
        out = llm.generate(requests(3))
        attempts = len(server.requests)
    assert attempts == 3 and not llm.metrics.retries
    assert [c.error for c in out] == [reason] * 3
    assert all(c.text is None and c.detail for c in out)
    assert reason in REASONS


def test_mixed_outcomes_each_get_their_own_completion():
    plan = {0: Malformed(), 1: Status(404), 2: Ok(text="Q1: a\nA1: b")}

    def by_document(seen):
        return plan.get(int(seen.prompt.split()[-1][3:-1]))

    with LlmServer(by_document) as server, backend(server) as llm:
        out = llm.generate(requests(4))
    assert [c.error for c in out] == ["llm_bad_response", "llm_bad_request", None, None]
    assert out[2].text == "Q1: a\nA1: b"


def test_concurrency_is_bounded_and_reached():
    with LlmServer(latency=0.05) as server, backend(server, concurrency=6) as llm:
        out = llm.generate(requests(60))
        seen_by_server = server.max_in_flight
    assert all(c.text for c in out)
    assert seen_by_server == 6 == llm.metrics.max_in_flight


def test_the_bound_holds_across_calls_from_several_threads():
    with LlmServer(latency=0.03) as server, backend(server, concurrency=5) as llm:
        results = {}

        def work(name):
            results[name] = llm.generate(requests(20, prefix=name))

        threads = [threading.Thread(target=work, args=(f"t{i}-",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seen_by_server = server.max_in_flight
    assert seen_by_server == 5
    assert all(len(v) == 20 and all(c.text for c in v) for v in results.values())


def test_generate_can_be_called_again_and_after_close():
    with LlmServer() as server:
        llm = backend(server)
        first = llm.generate(requests(3))
        second = llm.generate(requests(3))
        client = llm._client
        assert llm.generate(requests(1)) and llm._client is client
        llm.close()
        third = llm.generate(requests(3))
        llm.close()
        llm.close()
    assert first == second == third
    assert llm.generate([]) == []


def test_a_pickled_backend_works_in_its_new_home():
    with LlmServer() as server, backend(server) as llm:
        llm.generate(requests(1))
        copy = pickle.loads(pickle.dumps(llm))
        assert copy.generate(requests(2))[1].text
        copy.close()


def test_factory_builds_the_openai_backend_and_refuses_unknown_kinds():
    llm = make_backend("openai", base_url="http://127.0.0.1:9/v1", model="m")
    assert isinstance(llm, OpenAIBackend) and llm.name == "openai:m"
    llm.close()
    with pytest.raises(ValueError, match="openai, vllm"):
        make_backend("tgi")


def test_backoff_grows_with_jitter_and_stays_under_the_cap():
    rng = random.Random(1)
    delays = [backoff_delay(a, 1.0, 8.0, rng) for a in range(1, 7)]
    assert [0.5 <= d <= 1 for d in delays[:1]] == [True]
    assert 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4
    assert all(4 <= d <= 8 for d in delays[3:])


def test_retry_after_headers_are_read_in_their_three_forms():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
