"""What the inner model's replies cost reaches the distribution's trace; the finish reason is used;
a context-length error states its sizes; structured output is refused by name (issue 22)."""

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langchain_core.exceptions import ContextOverflowError
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_openai.chat_models.base import OpenAIContextOverflowError
from pydantic import BaseModel

from vs_integrations import ContextTooLong, Usage
from vs_integrations.langchain import VerbalizedChatModel, VerbalizedSampler, draw

from .scripted import vs_reply

USAGE = {"input_tokens": 233, "output_tokens": 139, "total_tokens": 372}
METADATA = {"finish_reason": "stop", "model_name": "qwen2.5-0.5b-instruct"}


def costed(text: str, **metadata: Any) -> AIMessage:
    """An inner reply as ChatOpenAI returns it: usage, finish reason and model name."""
    return AIMessage(text, usage_metadata=USAGE, response_metadata={**METADATA, **metadata})


def cycling(*replies: AIMessage) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.cycle(replies))


class StreamingWithUsage(GenericFakeChatModel):
    """Streams its reply a word a chunk, the last chunk carrying usage and metadata (as ChatOpenAI does)."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs) -> Iterator[ChatGenerationChunk]:
        message = next(self.messages)
        for word in message.content.split(" "):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
        last = AIMessageChunk(content="", usage_metadata=message.usage_metadata)
        last.response_metadata = dict(message.response_metadata)
        yield ChatGenerationChunk(message=last)


def test_sampler_distribution_carries_the_inner_models_usage_and_call_records():
    distribution = VerbalizedSampler(llm=cycling(costed(vs_reply("a", "b", "c"))), k=3).invoke("x")
    assert distribution.usage.calls == 1
    assert (distribution.usage.prompt_tokens, distribution.usage.completion_tokens) == (233, 139)
    (record,) = distribution.calls
    assert (record.kind, record.finish_reason, record.model) == ("first", "stop", "qwen2.5-0.5b-instruct")
    assert record.schema_form == "json_schema"  # the form the negotiation sent
    assert record.seconds is not None and record.seconds >= 0


async def test_async_sampler_and_retries_add_up_every_calls_usage():
    inner = cycling(costed("no candidates here"), costed(vs_reply("a", "b")))
    distribution = await VerbalizedSampler(llm=inner, k=2).ainvoke("x")
    assert [r.kind for r in distribution.calls] == ["first", "retry"]
    assert distribution.usage == Usage(2, 466, 278, distribution.usage.seconds)


def test_stream_sums_the_chunks_usage_into_the_trace():
    inner = StreamingWithUsage(messages=itertools.cycle([costed(vs_reply("a", "b"))]))
    *_, last = VerbalizedSampler(llm=inner, k=2).stream("x")
    assert last.texts == ["a", "b"]
    (record,) = last.calls
    assert (record.prompt_tokens, record.completion_tokens) == (233, 139)
    assert (record.finish_reason, record.model, record.schema_form) == ("stop", "qwen2.5-0.5b-instruct", "json_schema")


async def test_async_stream_sums_the_chunks_usage_too():
    inner = StreamingWithUsage(messages=itertools.cycle([costed(vs_reply("a", "b"))]))
    chunks = [chunk async for chunk in VerbalizedSampler(llm=inner, k=2).astream("x")]
    assert chunks[-1].usage.total_tokens == 372


def test_chat_models_distribution_and_usage_agree():
    message = VerbalizedChatModel(llm=cycling(costed(vs_reply("a", "b"))), k=2).invoke("x")
    distribution = message.response_metadata["verbalized_distribution"]
    assert distribution["usage"]["prompt_tokens"] == message.usage_metadata["input_tokens"] == 233
    assert distribution["calls"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    "metadata",
    [
        {"finish_reason": "length"},  # OpenAI, llama.cpp, vLLM
        {"finish_reason": None, "stop_reason": "max_tokens"},  # Anthropic
        {"finish_reason": "MAX_TOKENS"},  # Google
    ],
)
def test_a_reply_cut_at_the_token_limit_loses_its_unfinished_last_candidate(metadata):
    cut = "- Ohio\n- Utah\n- New Hamp"
    sampler = VerbalizedSampler(llm=cycling(costed(cut, **metadata)), k=3, format="list", max_retries=0)
    distribution = sampler.invoke("x")
    assert distribution.texts == ["Ohio", "Utah"]
    assert any("cut at the token limit" in w and "New Hamp" in w for w in distribution.warnings)
    assert distribution.calls[0].finish_reason == "length"
    assert "New Hamp" in distribution.raw  # nothing the model returned is lost
    finished = VerbalizedSampler(llm=cycling(costed(cut)), k=3, format="list", max_retries=0).invoke("x")
    assert finished.texts == ["Ohio", "Utah", "New Hamp"]  # a reply that stopped keeps its last item


def test_a_streamed_reply_cut_at_the_token_limit_loses_its_last_candidate_too():
    cut = costed("- Ohio\n- Utah\n- New Hamp", finish_reason="length")
    inner = StreamingWithUsage(messages=itertools.cycle([cut]))
    *_, last = VerbalizedSampler(llm=inner, k=3, format="list", max_retries=0).stream("x")
    assert last.texts == ["Ohio", "Utah"]


REQUEST = httpx.Request("POST", "http://127.0.0.1:1/v1/chat/completions")
VLLM = (
    "This model's maximum context length is 2048 tokens. However, you requested 7433 tokens "
    "(6409 in the messages, 1024 in the completion)."
)
LLAMA_CPP = '{"error": {"code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 4100, "n_ctx": 4096}}'


@pytest.mark.parametrize(
    ("error", "limit", "prompt_tokens"),
    [
        (
            OpenAIContextOverflowError(VLLM, response=httpx.Response(400, request=REQUEST, text=VLLM), body=None),
            2048,
            6409,
        ),
        (ContextOverflowError(f"the request exceeds the context size: {LLAMA_CPP}"), 4096, 4100),
    ],
)
def test_a_context_error_of_the_inner_model_states_the_window_and_the_prompts_size(error, limit, prompt_tokens):
    class Failing(GenericFakeChatModel):
        def _generate(self, *args, **kwargs):
            raise error

    with pytest.raises(ContextTooLong) as info:
        VerbalizedSampler(llm=Failing(messages=iter([])), k=2).invoke("x")
    assert (info.value.limit, info.value.prompt_tokens) == (limit, prompt_tokens)


class Joke(BaseModel):
    setup: str
    punchline: str


def test_with_structured_output_says_what_to_do_instead():
    chat = VerbalizedChatModel(llm=cycling(costed(vs_reply("a"))), k=1)
    with pytest.raises(NotImplementedError) as info:
        chat.with_structured_output(Joke)
    message = str(info.value)
    assert "with_structured_output" in message and "tool" not in message
    assert "inner model" in message and "VerbalizedSampler" in message


def test_the_suggested_structured_pipeline_works():
    from langchain_core.output_parsers import PydanticOutputParser

    jokes = [Joke(setup=f"s{i}", punchline=f"p{i}").model_dump_json() for i in range(2)]
    chain = VerbalizedSampler(llm=cycling(AIMessage(vs_reply(*jokes))), k=2) | draw(seed=0)
    joke = (chain | PydanticOutputParser(pydantic_object=Joke)).invoke("Two jokes about coffee, each as JSON.")
    assert joke.setup in {"s0", "s1"}


def test_a_parse_error_rewrapped_for_langchain_keeps_the_engines_trace():
    from langchain_core.exceptions import OutputParserException

    from vs_integrations import ParseError
    from vs_integrations.core.calls import CallRecord
    from vs_integrations.langchain._errors import VSOutputParserException

    ours = ParseError("no candidate", "prose", None, calls=[CallRecord("first", prompt_tokens=9)])
    twin = VSOutputParserException.of(ours)
    assert isinstance(twin, OutputParserException) and twin.llm_output == "prose"
    assert twin.calls == ours.calls and VSOutputParserException.of(twin) is twin
