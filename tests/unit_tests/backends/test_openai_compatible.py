"""OpenAICompatibleModel against a scripted server: typed errors that keep what the server sent."""

import json

import pytest

from tests.fake_openai_server import FakeOpenAIServer, Reply, Rule, has_response_format, prompt_contains
from vs_integrations import (
    BackendUnreachable,
    ContextTooLong,
    MalformedResponse,
    RequestRefused,
    VSConfig,
    VSEngine,
)
from vs_integrations.backends.local import LocalModelError
from vs_integrations.backends.openai_compatible import OpenAICompatibleModel

SCHEMA = {"type": "object"}
USER = [{"role": "user", "content": "hi"}]
REFUSAL = "Unsupported response_format type: json_schema"


def model(server, **options):
    return OpenAICompatibleModel("fake", base_url=server.base_url, max_retries=0, **options)


def forms(server):
    return [(r.get("response_format") or {}).get("type") for r in server.requests]


def test_a_refused_format_falls_back_and_is_remembered_per_endpoint():
    with FakeOpenAIServer(
        Rule(has_response_format("json_schema"), Reply.error(400, REFUSAL)), default=Reply.completion("ok")
    ) as server:
        first = model(server)
        assert first.complete(USER, SCHEMA).text == "ok"
        assert forms(server) == ["json_schema", "json_object"]
        assert first.schema_style == "json_object"
        # A new model object on the same endpoint and model name starts from what was learnt.
        assert model(server)(USER, SCHEMA) == "ok"
        assert forms(server)[2:] == ["json_object"]


def test_a_learnt_form_refused_later_falls_back_to_the_forms_not_refused():
    with FakeOpenAIServer(default=Reply.completion("ok")) as server:
        backend = model(server)
        backend(USER, SCHEMA)
        server.rules.append(Rule(has_response_format(), Reply.error(400, "response_format is disabled now")))
        assert backend(USER, SCHEMA) == "ok"
        assert forms(server)[1:] == ["json_schema", "json_object", None] and backend.schema_style == "none"


def test_context_length_400_is_not_a_format_refusal():
    message = "This model's maximum context length is 2048 tokens. However, you requested 9000 tokens."
    with FakeOpenAIServer(default=Reply.error(400, message)) as server:
        with pytest.raises(ContextTooLong) as info:
            model(server, max_tokens=1024)(USER, SCHEMA)
        assert len(server.requests) == 1  # not retried in the other forms
        error = info.value
        # The prompt alone: the 9000 requested count the 1024 reserved for the reply.
        assert (error.limit, error.prompt_tokens, error.status) == (2048, 9000 - 1024, 400)
        assert json.loads(error.body)["error"]["message"] == message
        assert "2048 tokens" in str(error)


def test_context_length_error_naming_the_prompts_share():
    message = (
        "This model's maximum context length is 2048 tokens. However, you requested 7433 tokens "
        "(6409 in the messages, 1024 in the completion). Please reduce the length of the messages or completion."
    )
    with FakeOpenAIServer(default=Reply.error(400, message)) as server:
        with pytest.raises(ContextTooLong) as info:
            model(server)(USER, None)
        assert (info.value.limit, info.value.prompt_tokens) == (2048, 6409)


def test_llama_cpp_server_wording_of_the_context_error():
    body = {"error": {"code": 400, "message": "the request exceeds the available context size, try increasing it",
                      "type": "exceed_context_size_error", "n_prompt_tokens": 4100, "n_ctx": 4096}}  # fmt: skip
    with FakeOpenAIServer(default=Reply.json(body, status=400)) as server:
        with pytest.raises(ContextTooLong) as info:
            model(server)(USER, None)
        assert (info.value.limit, info.value.prompt_tokens) == (4096, 4100)


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        (Reply.html(), "not JSON"),
        (Reply.json({"object": "chat.completion"}), "no choices[0].message"),
        (Reply.json({"error": {"message": "quota exhausted"}}), "quota exhausted"),
        (Reply.json({"choices": []}), "no choices[0].message"),
    ],
)
def test_a_200_that_is_not_a_completion_is_malformed_and_keeps_the_body(reply, needle):
    with FakeOpenAIServer(default=reply) as server:
        with pytest.raises(MalformedResponse) as info:
            model(server)(USER, None)
        assert info.value.status == 200 and info.value.body == reply.body
        assert needle in str(info.value)


def test_an_error_status_is_refused_once_with_the_body():
    with FakeOpenAIServer(default=Reply.error(500, "the server is overloaded", kind="server_error")) as server:
        with pytest.raises(RequestRefused) as info:
            model(server)(USER, SCHEMA)
        assert type(info.value) is RequestRefused and info.value.status == 500
        assert "overloaded" in str(info.value) and "overloaded" in info.value.body
        assert len(server.requests) == 1


def test_unreachable_and_timeout():
    with pytest.raises(BackendUnreachable, match="could not reach"):
        OpenAICompatibleModel("m", base_url="http://127.0.0.1:9/v1", max_retries=0)(USER, None)
    with FakeOpenAIServer(default=Reply.completion("late", delay=5)) as server:
        with pytest.raises(BackendUnreachable, match=r"did not answer within 0\.3 s"):
            model(server, timeout=0.3)(USER, None)


def test_usage_and_engine_run():
    reply = json.dumps({"responses": [{"text": "a", "probability": 0.7}, {"text": "b", "probability": 0.3}]})
    with FakeOpenAIServer(Rule(prompt_contains("letter"), Reply.completion(reply, completion_tokens=7))) as server:
        backend = model(server)
        dist = VSEngine(VSConfig(k=2)).run(backend, "Say a letter.")
        assert dist.texts == ["a", "b"]
        assert (backend.usage.calls, backend.usage.prompt_tokens, backend.usage.completion_tokens) == (1, 10, 7)


def test_stream_and_a_stream_that_is_not_an_event_stream():
    with FakeOpenAIServer(default=Reply.completion("one two three")) as server:
        assert "".join(model(server).stream(USER)) == "one two three"
    with FakeOpenAIServer(default=Reply.html()) as server:
        with pytest.raises(MalformedResponse, match="not an event stream") as info:
            list(model(server).stream(USER))
        assert "It works!" in info.value.body


def test_local_model_error_is_an_unreachable_backend():
    assert issubclass(LocalModelError, BackendUnreachable)
