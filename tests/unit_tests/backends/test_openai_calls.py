"""OpenAICompatibleModel's call contract: settings sent, the reply's record, retries, async, checked arguments."""

import asyncio
import email.utils
import math
import threading
import time

import pytest

from tests.fake_openai_server import FakeOpenAIServer, Reply, Rule, has_response_format
from vs_integrations import BackendUnreachable, InvalidSetting, RequestRefused, ResponseFormatRefused
from vs_integrations.backends import openai_compatible
from vs_integrations.backends.openai_compatible import OpenAICompatibleModel
from vs_integrations.backends.response_format import forget_learnt_styles
from vs_integrations.backends.retry import RetryPolicy
from vs_integrations.core.calls import GenerationSettings, ModelRequest

SCHEMA = {"type": "object"}
USER = [{"role": "user", "content": "hi"}]
# llama_cpp.server answers OpenAI's json_schema form with a 500 whose body names it.
LLAMA_SERVER_REFUSAL = "'json_schema' is not a supported response_format type in this server"


@pytest.fixture(autouse=True)
def fresh_styles():
    forget_learnt_styles()
    yield
    forget_learnt_styles()


@pytest.fixture
def waits(monkeypatch):
    """The retry waits, recorded instead of slept."""
    recorded = []
    monkeypatch.setattr(openai_compatible, "_sleep", recorded.append)

    async def record(seconds):
        recorded.append(seconds)

    monkeypatch.setattr(openai_compatible, "_async_sleep", record)
    return recorded


def model(server, **options):
    return OpenAICompatibleModel("fake", base_url=server.base_url, **options)


def test_request_settings_are_sent_and_override_the_models():
    with FakeOpenAIServer(default=Reply.completion("ok")) as server:
        backend = model(server, temperature=0.9, max_tokens=100, seed=5)
        settings = GenerationSettings(temperature=0.1, top_p=0.5, max_tokens=8, seed=11, stop=["END", "###"])
        backend.generate(ModelRequest(USER, None, settings))
        backend.generate(ModelRequest(USER, None))
        first, second = server.requests
        assert {k: first[k] for k in ("temperature", "top_p", "max_tokens", "seed", "stop")} == {
            "temperature": 0.1, "top_p": 0.5, "max_tokens": 8, "seed": 11, "stop": ["END", "###"]
        }  # fmt: skip
        assert (second["temperature"], second["top_p"], second["max_tokens"], second["seed"]) == (0.9, 1.0, 100, 5)
        assert "stop" not in second


def test_a_length_reply_and_what_the_reply_records():
    with FakeOpenAIServer(default=Reply.completion("cut", completion_tokens=8, finish_reason="length")) as server:
        reply = model(server).generate(ModelRequest(USER, SCHEMA, GenerationSettings(max_tokens=8)))
    assert reply.finish_reason == "length" and reply.cut_at_token_limit
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens, reply.model) == ("cut", 10, 8, "fake")
    assert reply.schema_form == "json_schema" and reply.attempts == 1 and reply.seconds is not None


def test_usage_is_counted_once_per_call_whatever_the_attempts(waits):
    with FakeOpenAIServer(
        Rule(has_response_format("json_schema"), Reply.error(400, "Unsupported response_format: json_schema")),
        Rule(lambda request: True, Reply.error(502, "bad gateway", kind="server_error"), times=1),
        default=Reply.completion("ok", prompt_tokens=12, completion_tokens=3),
    ) as server:
        backend = model(server)
        reply = backend.generate(ModelRequest(USER, SCHEMA))
        assert len(server.requests) == 3 and reply.attempts == 3 and reply.schema_form == "json_object"
        assert (backend.usage.calls, backend.usage.prompt_tokens, backend.usage.completion_tokens) == (1, 12, 3)
        assert len(waits) == 1  # the 502 was retried; the format refusal was not


@pytest.mark.parametrize("header", ["3", "date"])
def test_a_429_is_retried_after_the_servers_retry_after(waits, header):
    value = email.utils.formatdate(time.time() + 5, usegmt=True) if header == "date" else header
    with FakeOpenAIServer(
        Rule(lambda request: True, Reply.error(429, "rate limited", headers={"Retry-After": value}), times=1),
        default=Reply.completion("ok"),
    ) as server:
        reply = model(server, retry=RetryPolicy(attempts=3, base=0.5, cap=30.0)).generate(ModelRequest(USER, None))
    assert reply.text == "ok" and reply.attempts == 2
    (wait,) = waits
    assert wait == 3.0 if header == "3" else 3.0 < wait <= 5.0  # not the policy's 0.25-0.5 s backoff


def test_the_last_429_keeps_the_retry_after_for_the_caller(waits):
    with FakeOpenAIServer(default=Reply.error(429, "slow down", headers={"Retry-After": "6"})) as server:
        with pytest.raises(RequestRefused) as info:
            model(server, retry=RetryPolicy(attempts=2, base=0.5)).generate(ModelRequest(USER, None))
    assert (info.value.status, info.value.retry_after) == (429, 6.0) and waits == [6.0]
    assert len(server.requests) == 2 and "retry after 6 s" in str(info.value)


def test_a_policy_that_would_wait_too_long_stops(waits):
    with FakeOpenAIServer(default=Reply.error(503, "down", headers={"Retry-After": "50"})) as server:
        with pytest.raises(RequestRefused) as info:
            model(server, retry=RetryPolicy(attempts=5, cap=60.0, max_total=10.0)).generate(ModelRequest(USER, None))
    assert info.value.retry_after == 50.0 and waits == [] and len(server.requests) == 1


def test_a_500_naming_the_format_is_one_request_and_remembered(waits):
    with FakeOpenAIServer(
        Rule(has_response_format("json_schema"), Reply.error(500, LLAMA_SERVER_REFUSAL, kind="server_error")),
        Rule(has_response_format("json_object"), Reply.error(503, "loading model", kind="server_error"), times=1),
        default=Reply.completion("ok"),
    ) as server:
        with pytest.raises(RequestRefused) as info:  # the next form then fails for another reason
            model(server, max_retries=0).generate(ModelRequest(USER, SCHEMA))
        assert info.value.status == 503 and not isinstance(info.value, ResponseFormatRefused)
        forms = [request["response_format"]["type"] for request in server.requests]
        assert forms == ["json_schema", "json_object"] and waits == []  # the 500 refusal was not retried
        # Remembered for the endpoint though no call has succeeded: a new model object skips the form.
        reply = model(server).generate(ModelRequest(USER, SCHEMA))
        assert reply.schema_form == "json_object" and server.requests[-1]["response_format"]["type"] == "json_object"
        assert len(server.requests) == 3


def test_a_reset_connection_is_retried(waits):
    with FakeOpenAIServer(
        Rule(lambda request: True, Reply.reset_connection(), times=1), default=Reply.completion("ok")
    ) as server:
        reply = model(server).generate(ModelRequest(USER, None))
    assert reply.text == "ok" and reply.attempts == 2 and len(waits) == 1


def test_a_client_error_and_a_timeout_are_not_retried(waits):
    with FakeOpenAIServer(default=Reply.error(401, "bad key")) as server:
        with pytest.raises(RequestRefused):
            model(server).generate(ModelRequest(USER, None))
        assert len(server.requests) == 1
    with FakeOpenAIServer(default=Reply.completion("late", delay=5)) as server:
        with pytest.raises(BackendUnreachable, match="did not answer"):
            model(server, timeout=0.2).generate(ModelRequest(USER, None))
        assert len(server.requests) == 1 and waits == []


def test_async_calls_run_concurrently_on_the_async_client():
    # Twelve requests must be in the server at once to pass the barrier: more than the six worker
    # threads the old to_thread path had on two cores.
    barrier = threading.Barrier(12, timeout=30)

    def answer(request):
        barrier.wait()
        return Reply.completion("ok", completion_tokens=2)

    async def main(backend):
        request = ModelRequest(USER, None, GenerationSettings(max_tokens=4))
        return await asyncio.gather(*(backend.agenerate(request) for _ in range(12)))

    with FakeOpenAIServer(Rule(lambda request: True, answer, times=12), default=Reply.completion("ok")) as server:
        backend = model(server)
        replies = asyncio.run(main(backend))
        assert [r.text for r in replies] == ["ok"] * 12 and server.max_in_flight == 12
        assert all(r.attempts == 1 and r.seconds is not None for r in replies)
        assert (backend.usage.calls, backend.usage.completion_tokens) == (12, 24)
        assert {request["max_tokens"] for request in server.requests} == {4}
        # A second event loop gets a client of its own (the first one's pool belongs to a closed loop).
        assert asyncio.run(backend.acall(USER)) == "ok"


def test_context_managers_close_the_clients():
    with FakeOpenAIServer(default=Reply.completion("ok")) as server:
        with model(server) as backend:
            assert backend(USER) == "ok"
        assert backend._client.is_closed()

        async def main():
            async with model(server) as backend:
                assert await backend.acall(USER) == "ok"
                client = await backend._async_clients.get()
            return backend, client

        backend, client = asyncio.run(main())
        assert backend._client.is_closed() and client.is_closed()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"base_url": "localhost:8000/v1"}, "base_url"),
        ({"base_url": "ftp://host/v1"}, "base_url"),
        ({"retry": 3}, "retry"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1, "retry": RetryPolicy()}, "max_retries"),
    ],
)
def test_arguments_are_checked_at_construction(options, field):
    options = {"base_url": "http://127.0.0.1:9/v1", **options}
    with pytest.raises(InvalidSetting) as info:
        OpenAICompatibleModel("m", **options)
    assert info.value.field == field and field in str(info.value)


def test_max_retries_is_a_shorthand_for_the_policy():
    assert OpenAICompatibleModel("m", base_url="http://127.0.0.1:9/v1", max_retries=0).retry == RetryPolicy(attempts=1)


def test_async_calls_use_the_same_retry_policy_and_negotiation(waits):
    with FakeOpenAIServer(
        Rule(has_response_format("json_schema"), Reply.error(500, LLAMA_SERVER_REFUSAL, kind="server_error")),
        Rule(lambda request: True, Reply.error(429, "busy", headers={"Retry-After": "2"}), times=1),
        default=Reply.completion("ok"),
    ) as server:
        reply = asyncio.run(model(server).agenerate(ModelRequest(USER, SCHEMA)))
        assert (reply.text, reply.attempts, reply.schema_form) == ("ok", 3, "json_object") and waits == [2.0]
        assert [request["response_format"]["type"] for request in server.requests] == [
            "json_schema", "json_object", "json_object"
        ]  # fmt: skip
