"""OpenAICompatibleLLM against a fake server; LocalLLM's translation onto its backend (no model loaded)."""

import asyncio
import threading

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.chat_engine import SimpleChatEngine

from tests.fake_openai_server import FakeOpenAIServer, Reply, Rule, has_response_format, prompt_contains
from vs_integrations import BackendUnreachable, ContextTooLong, InvalidSetting
from vs_integrations.backends.base import Backend
from vs_integrations.core.calls import GenerationSettings
from vs_integrations.core.calls import Reply as ModelReply
from vs_integrations.llama_index import LocalLLM, OpenAICompatibleLLM, VerbalizedLLM

from .scripted import vs_reply

CONVERSATION = [
    ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
    ChatMessage(role=MessageRole.USER, content="Hi"),
]


def test_chat_sends_per_call_settings_and_reports_usage_to_token_counting():
    counter = TokenCountingHandler()
    with FakeOpenAIServer(default=Reply.completion("hello", prompt_tokens=12, completion_tokens=3)) as server:
        llm = OpenAICompatibleLLM("fake", base_url=server.base_url, callback_manager=CallbackManager([counter]))
        response = llm.chat(CONVERSATION, max_tokens=8, temperature=0.0, stop=["END"])
    assert response.message.content == "hello"
    assert response.raw["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert response.raw["finish_reason"] == "stop"
    sent = server.requests[0]
    assert (sent["max_tokens"], sent["temperature"], sent["stop"]) == (8, 0.0, ["END"])
    assert (counter.prompt_llm_token_count, counter.completion_llm_token_count) == (12, 3)
    assert server.requests[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


async def test_async_and_streaming_calls():
    with FakeOpenAIServer(default=Reply.completion("one two three")) as server:
        llm = OpenAICompatibleLLM("fake", base_url=server.base_url)
        assert (await llm.acomplete("Count.")).text == "one two three"
        streamed = list(llm.stream_chat(CONVERSATION))
        assert streamed[-1].message.content == "one two three" and len(streamed) > 1
        astreamed = [chunk async for chunk in await llm.astream_complete("Count.")]
        assert astreamed[-1].text == "one two three"


def test_verbalized_llm_over_a_server_in_a_chat_engine():
    with FakeOpenAIServer(
        Rule(has_response_format(), Reply.completion(vs_reply("Ohio", "Utah"), prompt_tokens=40, completion_tokens=20)),
    ) as server:
        counter = TokenCountingHandler()
        llm = VerbalizedLLM(OpenAICompatibleLLM("fake", base_url=server.base_url), k=2)
        llm.callback_manager = CallbackManager([counter])
        answer = SimpleChatEngine.from_defaults(llm=llm).chat("Name a US state.")
    assert answer.response in {"Ohio", "Utah"}
    assert server.requests[0]["response_format"]["type"] == "json_schema"
    assert (counter.prompt_llm_token_count, counter.completion_llm_token_count) == (40, 20)


def test_server_errors_are_the_packages_typed_errors():
    with FakeOpenAIServer(
        Rule(prompt_contains("long"), Reply.error(400, "This model's maximum context length is 2048 tokens")),
    ) as server:
        llm = OpenAICompatibleLLM("fake", base_url=server.base_url, max_retries=0)
        with pytest.raises(ContextTooLong) as info:
            llm.complete("a long prompt")
        assert info.value.limit == 2048
        base_url = server.base_url
    with pytest.raises(BackendUnreachable):
        OpenAICompatibleLLM("fake", base_url=base_url, max_retries=0, timeout=5).complete("anyone there?")


def test_the_api_key_is_never_shown():
    llm = OpenAICompatibleLLM("fake", base_url="http://127.0.0.1:9/v1", api_key="sk-secret")
    assert "sk-secret" not in repr(llm) and "sk-secret" not in str(llm.to_dict())


class RecordingBackend(Backend):
    """A backend that records what LocalLLM asks of it (and where its async calls ran)."""

    name = "recording"
    n_ctx = 2048
    model_name = "recording.gguf"

    def __init__(self):
        super().__init__(GenerationSettings(max_tokens=1024))
        self.requests = []
        self.streamed = []
        self.threads = []

    def _complete(self, messages, schema):
        raise AssertionError("LocalLLM goes through generate(), not the settings-free complete()")

    def generate(self, request):
        self.requests.append(request)
        self.threads.append(threading.current_thread())
        return ModelReply("ok", prompt_tokens=7, completion_tokens=2, finish_reason="stop", model=self.name)

    def _stream(self, request):
        self.streamed.append((request.messages, request.schema, request.settings))
        yield from ["o", "k"]
        return ModelReply("ok", prompt_tokens=7, completion_tokens=2, finish_reason="length", model=self.name)


@pytest.fixture
def local():
    llm = LocalLLM(model_path="/models/none.gguf")
    backend = RecordingBackend()
    llm._model = backend
    return llm, backend


def test_local_llm_passes_per_call_settings_and_the_schema(local):
    llm, backend = local
    schema = {"type": "object"}
    response = llm.chat(
        CONVERSATION,
        max_tokens=8,
        temperature=0.0,
        seed=3,
        stop=["\n"],
        top_p=0.5,
        response_format={"type": "json_object", "schema": schema},
    )
    request = backend.requests[0]
    assert request.settings.as_kwargs() == {
        "temperature": 0.0,
        "top_p": 0.5,
        "max_tokens": 8,
        "seed": 3,
        "stop": ["\n"],
    }
    assert request.schema == schema and request.messages[0] == {"role": "system", "content": "Be brief."}
    assert response.raw == {
        "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9},
        "finish_reason": "stop",
        "model": "recording",
    }
    with pytest.raises(InvalidSetting) as info:
        llm.complete("x", max_tokens=0)
    assert info.value.field == "max_tokens"


async def test_local_llm_async_runs_off_the_event_loop(local):
    llm, backend = local
    assert (await llm.achat(CONVERSATION)).message.content == "ok"
    assert (await llm.acomplete("Hi")).text == "ok"
    assert threading.main_thread() not in backend.threads


def test_local_llm_streams_through_the_chat_template_with_per_call_settings(local):
    llm, backend = local
    pieces = list(llm.stream_chat(CONVERSATION, max_tokens=8))
    assert [p.delta for p in pieces] == ["o", "k"] and pieces[-1].message.content == "ok"
    # The whole reply's usage and finish reason ride on the last piece, where LlamaIndex reads them.
    assert pieces[-1].raw["usage"]["completion_tokens"] == 2 and pieces[-1].raw["finish_reason"] == "length"
    # The messages as messages (the template renders them), not "system: ...\nuser: ..." as one turn.
    messages, _, settings = backend.streamed[0]
    assert messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert settings.max_tokens == 8


async def test_local_llm_async_stream_keeps_the_loop_free(local):
    llm, _ = local
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    pieces = [chunk.delta async for chunk in await llm.astream_chat(CONVERSATION)]
    ticker.cancel()
    assert pieces == ["o", "k"] and ticks > 0


def test_local_llm_reads_its_defaults_from_the_backend():
    metadata = LocalLLM(model_path="/models/none.gguf").metadata
    assert (metadata.context_window, metadata.num_output) == (2048, 1024)
    assert LocalLLM("/models/none.gguf", context_window=512).metadata.context_window == 512
