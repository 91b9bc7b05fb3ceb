"""The adapters in real applications: wrapped models, agent histories, errors both ways, per-call
settings, usage reported once (issue 23 items 1-3, 5, 8; issue 22's LangChain part)."""

import itertools
import json
from typing import Any, ClassVar

import httpx
import openai
import pytest
from langchain_core.callbacks import BaseCallbackHandler, get_usage_metadata_callback
from langchain_core.exceptions import ContextOverflowError, ModelConnectionError, OutputParserException
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import ConfigurableField
from langchain_openai.chat_models.base import OpenAIContextOverflowError

from vs_integrations import (
    BackendUnreachable,
    ContextTooLong,
    InvalidSetting,
    ParseError,
    SettingsError,
    VSConfig,
)
from vs_integrations.core.calls import GenerationSettings, ModelRequest, Reply
from vs_integrations.langchain import (
    ChatLocalModel,
    UnsupportedMessage,
    VerbalizedChatModel,
    VerbalizedOutputParser,
    VerbalizedSampler,
    VSOutputParserException,
)
from vs_integrations.langchain._common import endpoint_key

USAGE = {"input_tokens": 12, "output_tokens": 40, "total_tokens": 52}


def costed(reply: str) -> AIMessage:
    """An inner reply with usage and the model name LangChain's usage callback keys it by."""
    return AIMessage(reply, usage_metadata=USAGE, response_metadata={"model_name": "fake-model"})


def vs_reply(*texts: str) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 1 / len(texts)} for t in texts]})


def cycling(*replies: Any) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.cycle(replies))


class Recorder(BaseCallbackHandler):
    """What each chat-model run received: messages, invocation params, tags."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def on_chat_model_start(self, serialized, messages, *, tags=None, **kwargs):
        self.runs.append({"messages": messages[0], "params": kwargs.get("invocation_params", {}), "tags": tags or []})

    def inner(self) -> list[dict[str, Any]]:
        return [run for run in self.runs if run["params"].get("_type") != "verbalized-sampling"]


class SchemaPicky(GenericFakeChatModel):
    """Refuses OpenAI's json_schema form as llama.cpp's server does; records the forms it got."""

    formats: ClassVar[list[Any]] = []

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        type(self).formats.append(kwargs.get("response_format"))
        if (kwargs.get("response_format") or {}).get("type") == "json_schema":
            raise ValueError("Error code: 500 - response_format.type: Input should be 'text' or 'json_object'")
        return super()._generate(messages, stop, run_manager, **kwargs)


# --- 1. any chat-model runnable as llm --------------------------------------------------------
WRAPPERS = {
    "bind": lambda chat: chat.bind(stop=["\n\n\n"]),
    "with_retry": lambda chat: chat.with_retry(stop_after_attempt=2),
    # A fallback that handles every exception would take the schema refusal as a failure.
    "with_fallbacks": lambda chat: chat.with_fallbacks(
        [cycling(vs_reply("fallback"))], exceptions_to_handle=(ConnectionError,)
    ),
    "configurable_fields": lambda chat: chat.configurable_fields(
        messages=ConfigurableField(id="script", name="script")
    ),
}


@pytest.mark.parametrize("wrap", WRAPPERS.values(), ids=WRAPPERS.keys())
def test_wrapped_chat_models_work_and_negotiate_the_schema_through_the_wrapper(wrap):
    SchemaPicky.formats = []
    picky = SchemaPicky(messages=itertools.cycle([vs_reply("a", "b")]))
    llm = wrap(picky)
    assert not isinstance(llm, BaseChatModel)
    assert endpoint_key(llm) == endpoint_key(picky)  # the learnt form is the wrapped model's

    assert VerbalizedSampler(llm=llm, k=2).invoke("x").texts == ["a", "b"]
    assert VerbalizedChatModel(llm=llm, k=2).invoke("y").content in {"a", "b"}
    types = [form["type"] for form in SchemaPicky.formats]
    # json_schema refused once (with_retry retries the refusal as configured), then the learnt form.
    assert set(types[:-2]) == {"json_schema"} and types[-2:] == ["json_object", "json_object"]
    assert SchemaPicky.formats[-1]["schema"]["properties"]["responses"]["minItems"] == 2


def test_the_fallback_model_answers_when_the_primary_fails():
    class Down(GenericFakeChatModel):
        def _generate(self, *args, **kwargs):
            raise ConnectionError("primary down")

    llm = Down(messages=iter([])).with_fallbacks([cycling(vs_reply("backup"))])
    assert VerbalizedChatModel(llm=llm, k=1).invoke("x").content == "backup"


def test_stream_through_a_wrapped_model():
    llm = cycling(vs_reply("a", "b")).bind(stop=["\n\n\n"]).with_retry()
    chunks = list(VerbalizedSampler(llm=llm, k=2).stream("x"))
    assert chunks[-1].texts == ["a", "b"]


def test_llm_that_is_not_a_runnable_is_a_short_settings_error():
    with pytest.raises(InvalidSetting, match=r"VerbalizedChatModel: llm: llm must be a chat model") as info:
        VerbalizedChatModel(llm="gpt-4.1")
    assert info.value.field == "llm"


# --- 2. agent histories -----------------------------------------------------------------------
def test_agent_history_is_rendered_as_text_nothing_dropped():
    recorder = Recorder()
    history = [
        SystemMessage("You plan trips."),
        HumanMessage("Weather in Paris?"),
        AIMessage("Let me check.", tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call_1"}]),
        ToolMessage("18°C, sunny", tool_call_id="call_1", name="weather"),
        ChatMessage(role="critic", content="Be brief."),
        AIMessage(content=[{"type": "text", "text": "It is "}, {"type": "text", "text": "sunny."}]),
        HumanMessage("Suggest an activity."),
    ]
    chat = VerbalizedChatModel(llm=cycling(vs_reply("Louvre", "Seine walk")), k=2)
    chat.invoke(history, config={"callbacks": [recorder]})
    sent = recorder.inner()[0]["messages"]
    contents = [message.content for message in sent]
    assert [message.type for message in sent] == ["system", "human", "ai", "human", "human", "ai", "human"]
    assert 'Let me check.\n[tool call weather (id call_1): {"city": "Paris"}]' in contents
    assert "[tool result weather (id call_1)]\n18°C, sunny" in contents
    assert "[critic]\nBe brief." in contents
    assert "It is sunny." in contents


def test_a_non_text_block_is_refused_naming_the_message_and_block_type():
    image = {"type": "image", "url": "https://example.com/cat.png"}
    chat = VerbalizedChatModel(llm=cycling(vs_reply("a")), k=1)
    with pytest.raises(UnsupportedMessage, match=r"HumanMessage holds a 'image' content block") as info:
        chat.invoke([HumanMessage(content=[{"type": "text", "text": "What is this?"}, image])])
    assert (info.value.message_type, info.value.block_type) == ("HumanMessage", "image")
    assert isinstance(info.value, ValueError)


# --- 3. errors both ways ----------------------------------------------------------------------
def test_a_parse_failure_is_ours_and_langchains_with_the_raw_reply():
    sampler = VerbalizedSampler(llm=cycling("no list here"), k=2, max_retries=0, on_failure="raise")
    with pytest.raises(ParseError) as info:
        sampler.invoke("x")
    error = info.value
    assert isinstance(error, OutputParserException) and isinstance(error, VSOutputParserException)
    assert error.llm_output == error.raw == "no list here"
    with pytest.raises(OutputParserException):
        VerbalizedChatModel(llm=cycling("still nothing"), k=2, max_retries=0).invoke("x")
    with pytest.raises(OutputParserException):
        list(sampler.stream("x"))


def test_with_fallbacks_and_with_retry_written_for_langchain_catch_a_parse_failure():
    failing = VerbalizedChatModel(llm=cycling("garbage"), k=2, max_retries=0, on_failure="raise")
    backup = VerbalizedChatModel(llm=cycling(vs_reply("ok", "fine")), k=2)
    guarded = failing.with_fallbacks([backup], exceptions_to_handle=(OutputParserException,))
    assert guarded.invoke("x").content in {"ok", "fine"}

    script = GenericFakeChatModel(messages=iter(["garbage", vs_reply("a", "b")]))
    sampler = VerbalizedSampler(llm=script, k=2, max_retries=0, on_failure="raise")
    retried = sampler.with_retry(retry_if_exception_type=(OutputParserException,), stop_after_attempt=2)
    assert retried.invoke("x").texts == ["a", "b"]


def test_the_output_parser_raises_the_same_dual_error():
    with pytest.raises(ParseError) as info:
        VerbalizedOutputParser(k=3, on_failure="raise").parse("1. a (Prob: 0.5)")
    assert isinstance(info.value, OutputParserException) and info.value.llm_output == "1. a (Prob: 0.5)"
    assert info.value.distribution is not None and info.value.distribution.texts == ["a"]


def raising(error: BaseException) -> GenericFakeChatModel:
    class Failing(GenericFakeChatModel):
        def _generate(self, *args, **kwargs):
            raise error

    return Failing(messages=iter([]))


REQUEST = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
INNER_ERRORS = {
    "langchain ContextOverflowError": (ContextOverflowError("context window exceeded"), ContextTooLong),
    "langchain_openai OpenAIContextOverflowError": (
        OpenAIContextOverflowError(
            "maximum context length is 2048 tokens",
            response=httpx.Response(400, request=REQUEST, text="maximum context length is 2048 tokens"),
            body=None,
        ),
        ContextTooLong,
    ),
    "openai APIConnectionError": (openai.APIConnectionError(request=REQUEST), BackendUnreachable),
    "our ContextTooLong (the embedded model)": (ContextTooLong("prompt too long", limit=2048), ContextTooLong),
    "our BackendUnreachable": (BackendUnreachable("model not loaded"), BackendUnreachable),
}


@pytest.mark.parametrize(("error", "ours"), INNER_ERRORS.values(), ids=INNER_ERRORS.keys())
def test_inner_model_errors_are_ours_and_the_frameworks(error, ours):
    framework = ContextOverflowError if ours is ContextTooLong else ModelConnectionError
    for run in (
        lambda: VerbalizedSampler(llm=raising(error), k=2).invoke("x"),
        lambda: VerbalizedChatModel(llm=raising(error), k=2).invoke("x"),
        lambda: list(VerbalizedSampler(llm=raising(error), k=2).stream("x")),
    ):
        with pytest.raises(ours) as info:
            run()
        assert isinstance(info.value, framework)
        assert info.value.__cause__ is error or type(info.value.__cause__) is type(error)


def test_fallbacks_on_the_frameworks_context_error_catch_ours():
    small = VerbalizedChatModel(llm=raising(ContextTooLong("prompt too long", limit=2048)), k=2)
    big = VerbalizedChatModel(llm=cycling(vs_reply("a", "b")), k=2)
    assert small.with_fallbacks([big], exceptions_to_handle=(ContextOverflowError,)).invoke("x").content in "ab"


async def test_async_paths_map_errors_too():
    with pytest.raises(BackendUnreachable) as info:
        await VerbalizedChatModel(llm=raising(openai.APIConnectionError(request=REQUEST)), k=2).ainvoke("x")
    assert isinstance(info.value, ModelConnectionError)


# --- 5. per-call settings, native async, usage once -------------------------------------------
def test_per_call_vs_and_generation_settings_reach_the_right_place():
    recorder = Recorder()
    chat = VerbalizedChatModel(llm=cycling(vs_reply("a", "b", "c")), k=5, temperature=0.9)
    message = chat.invoke("x", config={"callbacks": [recorder]}, k=3, temperature=0.2, top_p=0.5, max_tokens=64)
    params = recorder.inner()[0]["params"]
    assert (params["temperature"], params["top_p"], params["max_tokens"]) == (0.2, 0.5, 64)
    assert "k" not in params and "3 different responses" in recorder.inner()[0]["messages"][0].content
    assert message.content in {"a", "b", "c"}
    zero = VerbalizedChatModel(llm=cycling(vs_reply("a")), k=1)
    zero.invoke("x", config={"callbacks": [recorder]}, temperature=0)
    assert recorder.inner()[-1]["params"]["temperature"] == 0  # an explicit 0 is sent, not dropped


def test_bind_seed_draws_with_the_one_seeding_rule():
    reply = vs_reply(*"abcde")
    distribution = VerbalizedSampler(llm=cycling(reply), k=5).invoke("x")
    chat = VerbalizedChatModel(llm=cycling(reply), k=5)
    for seed in range(6):
        assert chat.bind(seed=seed).invoke("x").content == distribution.sample(seed).text
        assert chat.invoke("x", seed=seed).content == distribution.sample(seed).text


def test_sampler_takes_generation_settings_and_refuses_others_by_name():
    recorder = Recorder()
    sampler = VerbalizedSampler(llm=cycling(vs_reply("a", "b")), k=2)
    sampler.invoke("x", config={"callbacks": [recorder]}, temperature=0.1, max_tokens=9, stop=["END"])
    params = recorder.inner()[0]["params"]
    assert (params["temperature"], params["max_tokens"], params["stop"]) == (0.1, 9, ["END"])
    list(sampler.stream("x", config={"callbacks": [recorder]}, temperature=0.3))
    assert recorder.inner()[-1]["params"]["temperature"] == 0.3
    with pytest.raises(InvalidSetting, match="temperature") as info:
        sampler.invoke("x", temperature=-1)
    assert info.value.field == "temperature"
    with pytest.raises(SettingsError, match="'tempreature'"):
        sampler.bind(tempreature=0.2).invoke("x")


async def test_native_async_stream_never_uses_the_sync_path():
    class AsyncOnly(GenericFakeChatModel):
        def _generate(self, *args, **kwargs):
            raise AssertionError("the sync path was used")

        async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
            return ChatResult(generations=[ChatGeneration(message=AIMessage(vs_reply("a", "b")))])

    assert VerbalizedChatModel._astream is not BaseChatModel._astream
    chat = VerbalizedChatModel(llm=AsyncOnly(messages=itertools.cycle([vs_reply("a", "b")])), k=2)
    chunks = [chunk async for chunk in chat.astream("x")]
    assert len(chunks) == 1 and chunks[0].content in {"a", "b"}
    assert (await chat.ainvoke("x")).content in {"a", "b"}


def test_usage_is_reported_once_under_the_usage_callback():
    chat = VerbalizedChatModel(llm=cycling(costed(vs_reply("a", "b"))), k=2)
    with get_usage_metadata_callback() as callback:
        message = chat.invoke("x")
    (counted,) = callback.usage_metadata.values()
    assert (counted["input_tokens"], counted["output_tokens"]) == (12, 40)
    assert message.usage_metadata is None  # the callback counted the inner call already
    assert message.response_metadata["verbalized_usage"]["output_tokens"] == 40
    plain = chat.invoke("x")  # no callbacks: the message carries the inner calls' sum
    assert plain.usage_metadata["input_tokens"] == 12 and plain.usage_metadata["output_tokens"] == 40


async def test_usage_is_reported_once_on_the_async_stream():
    chat = VerbalizedChatModel(llm=cycling(costed(vs_reply("a", "b"))), k=2)
    with get_usage_metadata_callback() as callback:
        _ = [chunk async for chunk in chat.astream("x")]
    (counted,) = callback.usage_metadata.values()
    assert counted["total_tokens"] == 52


# --- 8. settings errors -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "field"),
    [({"k": 0}, "k"), ({"on_failure": "explode"}, "on_failure"), ({"temperature": float("nan")}, "temperature")],
)
def test_bad_values_are_short_invalid_settings_naming_the_field_never_the_inner_repr(settings, field):
    for cls in (VerbalizedChatModel, VerbalizedSampler, VerbalizedOutputParser):
        if field == "temperature" and cls is not VerbalizedChatModel:
            continue
        with pytest.raises(InvalidSetting) as info:
            cls(llm=cycling(vs_reply("a")), **settings) if cls is not VerbalizedOutputParser else cls(**settings)
        assert info.value.field == field and isinstance(info.value, ValueError)
        assert "GenericFakeChatModel" not in str(info.value) and len(str(info.value)) < 200


def test_vsconfig_misspelt_keyword_is_a_settings_error():
    with pytest.raises(SettingsError, match=r"'kk' \(did you mean 'k'\?\)"):
        VSConfig(kk=5)
    with pytest.raises(TypeError):  # still the TypeError it was
        VSConfig(kk=5)


# --- the embedded model's chat model passes per-call settings on --------------------------------
class RecordingBackend:
    """Stands in for LocalModel: records each request and answers with a Reply."""

    model_name = "recorded.gguf"
    model_path = "recorded.gguf"

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    def generate(self, request: ModelRequest) -> Reply:
        self.requests.append(request)
        return Reply(vs_reply("a", "b"), prompt_tokens=7, completion_tokens=3, finish_reason="stop", model="m.gguf")


def test_chat_local_model_sends_per_call_settings_as_generation_settings():
    chat = ChatLocalModel()
    backend = RecordingBackend()
    chat._model = backend  # the LocalModel it would load
    message = chat.invoke("x", temperature=0.2, top_p=0.9, max_tokens=8, seed=5, stop=["END"])
    request = backend.requests[-1]
    assert request.settings == GenerationSettings(temperature=0.2, top_p=0.9, max_tokens=8, seed=5, stop=("END",))
    assert message.usage_metadata["output_tokens"] == 3 and message.response_metadata["finish_reason"] == "stop"
    VerbalizedSampler(llm=chat, k=2).invoke("y", max_tokens=16)
    assert backend.requests[-1].settings.max_tokens == 16 and backend.requests[-1].schema is not None
    with pytest.raises(SettingsError, match="'top_k'"):
        chat.invoke("x", top_k=3)


def test_chat_local_model_errors_are_langchains_too():
    class TooLong(RecordingBackend):
        def generate(self, request):
            raise ContextTooLong("prompt too long", limit=2048, prompt_tokens=5000)

    chat = ChatLocalModel()
    chat._model = TooLong()
    with pytest.raises(ContextOverflowError) as info:
        chat.invoke("x")
    assert isinstance(info.value, ContextTooLong) and (info.value.limit, info.value.prompt_tokens) == (2048, 5000)


# --- the caller's config reaches the inner model ----------------------------------------------
class ConfigSeen(BaseCallbackHandler):
    """Records each chat-model run's tags and metadata (the caller's keys only)."""

    def __init__(self) -> None:
        self.runs: list[tuple[list[str], dict[str, Any]]] = []

    def on_chat_model_start(self, serialized, messages, *, tags=None, metadata=None, **kwargs):
        self.runs.append((tags or [], {key: value for key, value in (metadata or {}).items() if key == "user"}))


def configurable_inner() -> Any:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    inner = FakeListChatModel(responses=[vs_reply("Ohio", "Utah")] * 4)
    return inner.configurable_fields(responses=ConfigurableField(id="responses"))


CONFIGURED = {"configurable": {"responses": [vs_reply("Maine", "Iowa")] * 4}}


def test_a_configurable_inner_model_is_configured_by_the_calls_config():
    chat = VerbalizedChatModel(llm=configurable_inner(), k=2)
    message = chat.invoke("Name a state.", CONFIGURED)
    assert message.content in {"Maine", "Iowa"}
    (chunk,) = chat.stream("Name a state.", CONFIGURED)
    assert chunk.content in {"Maine", "Iowa"}
    assert chat.batch(["a", "b"], CONFIGURED)[1].content in {"Maine", "Iowa"}
    assert chat.invoke("Name a state.").content in {"Ohio", "Utah"}  # unconfigured: the defaults


async def test_a_configurable_inner_model_is_configured_by_the_async_calls_config():
    chat = VerbalizedChatModel(llm=configurable_inner(), k=2)
    assert (await chat.ainvoke("Name a state.", CONFIGURED)).content in {"Maine", "Iowa"}
    (chunk,) = [chunk async for chunk in chat.astream("x", CONFIGURED)]
    assert chunk.content in {"Maine", "Iowa"}


def test_the_calls_tags_and_metadata_reach_the_inner_runs_nested_under_this_one():
    seen = ConfigSeen()
    chat = VerbalizedChatModel(llm=cycling(vs_reply("a", "b")), k=2)
    chat.invoke("x", {"callbacks": [seen], "tags": ["T"], "metadata": {"user": "u1"}, "run_name": "vs"})
    (outer_tags, outer_metadata), (inner_tags, inner_metadata) = seen.runs
    assert "T" in outer_tags and "T" in inner_tags and outer_metadata == inner_metadata == {"user": "u1"}


def test_the_dual_errors_survive_pickling_with_their_attributes():
    import pickle

    from vs_integrations.langchain._errors import (
        VSBackendUnreachable,
        VSContextTooLong,
        VSOutputParserException,
        VSRequestRefused,
    )

    errors = [
        VSOutputParserException("no candidate", raw="hello"),
        VSContextTooLong("too long", limit=10, prompt_tokens=20, status=400),
        VSBackendUnreachable("down", status=None, body="refused"),
        VSRequestRefused("bad", status=422, body="{}"),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and vars(copy) == vars(error)
    assert pickle.loads(pickle.dumps(errors[0])).llm_output == "hello"
