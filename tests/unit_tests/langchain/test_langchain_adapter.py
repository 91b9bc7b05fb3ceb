"""The LangChain adapter with GenericFakeChatModel inner models."""

import asyncio
import itertools
import json
import threading
import time
from typing import Any, ClassVar

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import OutputParserException
from langchain_core.globals import set_llm_cache
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import ConfigurableField

from vs_integrations import BackendUnreachable, Candidate, Distribution, ParseError
from vs_integrations.langchain import VerbalizedChatModel, VerbalizedOutputParser, VerbalizedSampler


def vs_reply(*texts: str) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 1 / len(texts)} for t in texts]})


def fake(*replies: Any) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(replies))


class Recorder(BaseCallbackHandler):
    """Records what reached the inner chat model and streamed tokens."""

    def __init__(self) -> None:
        self.prompts: list[list[Any]] = []
        self.tokens = 0
        self.kwargs: list[dict[str, Any]] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.prompts.append(messages[0])
        self.kwargs.append(kwargs.get("invocation_params", {}))

    def on_llm_new_token(self, token, **kwargs):
        self.tokens += 1


# --- VerbalizedSampler ------------------------------------------------------------------------
def test_prompt_pipe_sampler_returns_distribution():
    sampler = VerbalizedSampler(llm=fake(vs_reply("Ohio", "Utah", "Maine")), k=3)
    chain = ChatPromptTemplate.from_messages([("human", "Name a {thing}.")]) | sampler
    recorder = Recorder()
    dist = chain.invoke({"thing": "US state"}, config={"callbacks": [recorder]})
    assert isinstance(dist, Distribution) and dist.texts == ["Ohio", "Utah", "Maine"]
    sent = recorder.prompts[0]
    assert isinstance(sent[0], SystemMessage) and "3 different responses" in sent[0].content
    assert isinstance(sent[1], HumanMessage) and sent[1].content == "Name a US state."


@pytest.mark.parametrize(
    "given",
    ["Name a state.", [("system", "Be terse."), ("human", "Name a state.")], [HumanMessage("Name a state.")]],
)
def test_accepts_chat_model_inputs(given):
    recorder = Recorder()
    VerbalizedSampler(llm=fake(vs_reply("a", "b")), k=2).invoke(given, config={"callbacks": [recorder]})
    assert recorder.prompts[0][-1].content == "Name a state."
    if isinstance(given, list) and isinstance(given[0], tuple):
        assert recorder.prompts[0][0].content.startswith("Be terse.\n\n")


def test_invalid_settings_name_the_field():
    with pytest.raises(ValueError, match=r"VSConfig\.k"):
        VerbalizedSampler(llm=fake(), k=0)
    with pytest.raises(ValueError, match=r"VSConfig\.variant must be one of standard, cot, multi; got 'fancy'"):
        VerbalizedChatModel(llm=fake(), variant="fancy")


def test_retries_then_parse_error_keeps_raw():
    sampler = VerbalizedSampler(llm=fake("nope", vs_reply("a"), "still nope"), k=2, max_retries=2, on_failure="raise")
    with pytest.raises(ParseError) as info:
        sampler.invoke("x")
    assert info.value.raw == "\n\n".join(["nope", vs_reply("a"), "still nope"])  # every reply kept
    assert info.value.distribution.texts == ["a"]


def test_partial_and_retry_success():
    assert VerbalizedSampler(llm=fake("nope", vs_reply("a", "b")), k=2).invoke("x").texts == ["a", "b"]
    dist = VerbalizedSampler(llm=fake(vs_reply("a")), k=3, max_retries=0, on_failure="partial").invoke("x")
    assert dist.texts == ["a"] and dist.warnings


async def test_ainvoke():
    dist = await VerbalizedSampler(llm=fake(vs_reply("a", "b")), k=2).ainvoke("x")
    assert dist.texts == ["a", "b"]


class SlowFake(GenericFakeChatModel):
    """Counts concurrent calls; replies by the last human message."""

    active: int = 0
    peak: int = 0

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        lock = _LOCK
        with lock:
            type(self).active += 1
            type(self).peak = max(type(self).peak, type(self).active)
        time.sleep(0.05)
        with lock:
            type(self).active -= 1
        prompt = messages[-1].content
        if prompt == "bad":
            raise RuntimeError("inner model failed")
        return super()._generate(messages, stop, run_manager, **kwargs)


_LOCK = threading.Lock()


def test_batch_with_failures_and_max_concurrency():
    SlowFake.active = SlowFake.peak = 0
    inner = SlowFake(messages=itertools.cycle([vs_reply("a", "b")]))
    sampler = VerbalizedSampler(llm=inner, k=2)
    results = sampler.batch(["x", "bad", "y", "z"], config={"max_concurrency": 2}, return_exceptions=True)
    assert isinstance(results[1], RuntimeError)
    assert all(isinstance(r, Distribution) for i, r in enumerate(results) if i != 1)
    assert SlowFake.peak == 2
    with pytest.raises(RuntimeError):
        sampler.batch(["x", "bad"])


async def test_abatch_with_failures():
    inner = SlowFake(messages=itertools.cycle([vs_reply("a", "b")]))
    results = await VerbalizedSampler(llm=inner, k=2).abatch(["x", "bad"], return_exceptions=True)
    assert isinstance(results[0], Distribution) and isinstance(results[1], RuntimeError)


def test_stream_yields_candidates_before_the_inner_stream_ends():
    reply = vs_reply("first answer", "second answer", "third answer")
    recorder = Recorder()
    sampler = VerbalizedSampler(llm=fake(reply), k=3)
    seen_at = []
    for chunk in sampler.stream("x", config={"callbacks": [recorder]}):
        assert isinstance(chunk, Distribution) and all(isinstance(c, Candidate) for c in chunk.new)
        seen_at.extend((candidate.text, recorder.tokens) for candidate in chunk.new)
    assert [text for text, _ in seen_at] == ["first answer", "second answer", "third answer"]
    total_tokens = recorder.tokens
    assert seen_at[0][1] < seen_at[1][1] < total_tokens  # the first arrived well before the end


def test_stream_retries_yield_only_new_candidates():
    sampler = VerbalizedSampler(llm=fake(vs_reply("a", "b"), vs_reply("a", "b", "c")), k=3)
    assert [c.text for chunk in sampler.stream("x") for c in chunk.new] == ["a", "b", "c"]


async def test_astream_multi_variant():
    sampler = VerbalizedSampler(llm=fake(vs_reply("a", "b"), vs_reply("c", "d")), k=4, variant="multi", per_turn=2)
    assert [c.text async for chunk in sampler.astream("x") for c in chunk.new] == ["a", "b", "c", "d"]


async def test_astream_events_nest_the_inner_run():
    sampler = VerbalizedSampler(llm=fake(vs_reply("a", "b")), k=2)
    events = [event async for event in sampler.astream_events("x", version="v2")]
    sampler_start = next(e for e in events if e["event"] == "on_chain_start")
    inner_start = next(e for e in events if e["event"] == "on_chat_model_start")
    assert sampler_start["run_id"] in inner_start["parent_ids"]
    end = next(e for e in events if e["event"] == "on_chain_end")
    assert end["run_id"] == sampler_start["run_id"]


def test_configurable_fields():
    sampler = VerbalizedSampler(llm=fake(vs_reply("a", "b"), vs_reply("a", "b", "c", "d")), k=2).configurable_fields(
        k=ConfigurableField(id="vs_k"), tail=ConfigurableField(id="vs_tail")
    )
    recorder = Recorder()
    assert len(sampler.invoke("x")) == 2
    dist = sampler.with_config(configurable={"vs_k": 4, "vs_tail": 0.2}, callbacks=[recorder]).invoke("x")
    assert len(dist) == 4
    assert "4 different responses" in recorder.prompts[0][0].content and "below 0.2" in recorder.prompts[0][0].content


class SchemaPicky(GenericFakeChatModel):
    """Refuses OpenAI's json_schema form the way llama.cpp's server does; records what it got."""

    formats: ClassVar[list] = []

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        response_format = kwargs.get("response_format")
        type(self).formats.append(response_format)
        if response_format and response_format["type"] == "json_schema":
            raise ValueError("Error code: 500 - response_format.type: Input should be 'text' or 'json_object'")
        return super()._generate(messages, stop, run_manager, **kwargs)


def test_schema_style_is_learnt_and_kept():
    SchemaPicky.formats = []
    sampler = VerbalizedSampler(llm=SchemaPicky(messages=itertools.cycle([vs_reply("a", "b")])), k=2)
    sampler.invoke("x")
    sampler.invoke("y")
    types = [f["type"] for f in SchemaPicky.formats]
    assert types == ["json_schema", "json_object", "json_object"]
    assert SchemaPicky.formats[1]["schema"]["properties"]["responses"]["minItems"] == 2


def test_other_inner_errors_are_not_retried_as_schema_refusals():
    class Broken(GenericFakeChatModel):
        def _generate(self, *args, **kwargs):
            raise ConnectionError("down")

    # Raised once (no other form tried), as ours, the original kept as the cause.
    with pytest.raises(BackendUnreachable) as info:
        VerbalizedSampler(llm=Broken(messages=iter([])), k=2).invoke("x")
    assert isinstance(info.value.__cause__, ConnectionError)


def test_schema_style_none_sends_no_schema():
    SchemaPicky.formats = []
    VerbalizedSampler(llm=SchemaPicky(messages=iter([vs_reply("a", "b")])), k=2, schema_style="none").invoke("x")
    assert SchemaPicky.formats == [None]


# --- VerbalizedChatModel ----------------------------------------------------------------------
def test_chat_model_drops_into_an_existing_chain():
    chat = VerbalizedChatModel(llm=fake(vs_reply("Ohio", "Utah")), k=2, seed=3)
    chain = ChatPromptTemplate.from_messages([("human", "Name a {thing}.")]) | chat | StrOutputParser()
    assert chain.invoke({"thing": "state"}) in {"Ohio", "Utah"}


def test_chat_model_metadata_and_usage_over_retries():
    usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    inner = fake(AIMessage("garbage", usage_metadata=usage), AIMessage(vs_reply("a", "b"), usage_metadata=usage))
    message = VerbalizedChatModel(llm=inner, k=2, seed=0).invoke("x")
    dist = Distribution.from_dict(message.response_metadata["verbalized_distribution"])
    assert dist.texts == ["a", "b"]
    assert message.content == dist[message.response_metadata["sampled_index"]].text
    assert message.usage_metadata["input_tokens"] == 20 and message.usage_metadata["output_tokens"] == 10


def test_chat_model_seed_is_the_one_seeding_rule():
    # seed=s draws Distribution.sample(s): the same candidate of the same distribution every call.
    def draws(seed):
        chat = VerbalizedChatModel(
            llm=GenericFakeChatModel(messages=itertools.cycle([vs_reply(*"abcde")])), k=5, seed=seed
        )
        return [chat.invoke("x").content for _ in range(4)]

    distribution = VerbalizedSampler(llm=fake(vs_reply(*"abcde")), k=5).invoke("x")
    for seed in range(5):
        assert draws(seed) == [distribution.sample(seed).text] * 4
    assert len({draws(seed)[0] for seed in range(20)}) > 1
    assert len(set(draws(None) + draws(None) + draws(None))) > 1  # unseeded: fresh draws


def test_llm_cache_keeps_replies_but_draws_afresh():
    set_llm_cache(InMemoryCache())
    try:
        chat = VerbalizedChatModel(llm=fake(vs_reply(*"abcde")), k=5)  # one scripted reply only
        answers = {chat.invoke("same prompt").content for _ in range(15)}
    finally:
        set_llm_cache(None)
    assert len(answers) > 1  # the inner reply came from the cache; each call drew again


def test_chat_model_forwards_standard_params():
    recorder = Recorder()
    chat = VerbalizedChatModel(llm=fake(vs_reply("a", "b")), k=2, temperature=0.3, max_tokens=50)
    chat.invoke("x", config={"callbacks": [recorder]})
    inner = recorder.kwargs[-1]  # the first start is the wrapper's own run
    assert inner["_type"] == "generic-fake-chat-model"
    assert inner["temperature"] == 0.3 and inner["max_tokens"] == 50


def test_chat_model_refuses_tools_saying_what_to_do_instead():
    with pytest.raises(NotImplementedError, match=r"Bind the tools to the inner model"):
        VerbalizedChatModel(llm=fake()).bind_tools([])


async def test_chat_model_async_and_stream():
    chat = VerbalizedChatModel(llm=fake(vs_reply("a", "b"), vs_reply("c", "d")), k=2)
    assert (await chat.ainvoke("x")).content in {"a", "b"}
    chunks = [chunk async for chunk in chat.astream("x")]
    assert len(chunks) == 1 and chunks[0].content in {"c", "d"} and chunks[0].chunk_position == "last"


# --- VerbalizedOutputParser -------------------------------------------------------------------
def test_output_parser():
    parser = VerbalizedOutputParser(k=2)
    assert parser.parse("<response><text>a</text><probability>1</probability></response>").texts == ["a"]
    assert "2 different responses" in parser.get_format_instructions()
    with pytest.raises(OutputParserException) as info:
        parser.parse("no candidates")
    assert info.value.llm_output == "no candidates"
    with pytest.raises(ValueError, match=r"VSConfig\.probability"):
        VerbalizedOutputParser(probability="odds")


def test_output_parser_in_a_chain():
    prompt = ChatPromptTemplate.from_messages([("system", "{instructions}"), ("human", "{question}")])
    parser = VerbalizedOutputParser(k=2)
    chain = prompt.partial(instructions=parser.get_format_instructions()) | fake(vs_reply("x", "y")) | parser
    assert chain.invoke({"question": "q"}).texts == ["x", "y"]


def test_asyncio_gather_many_samplers():
    async def run():
        samplers = [VerbalizedSampler(llm=fake(vs_reply(f"{i}a", f"{i}b")), k=2) for i in range(5)]
        return await asyncio.gather(*(s.ainvoke("x") for s in samplers))

    results = asyncio.run(run())
    assert [r.texts[0] for r in results] == [f"{i}a" for i in range(5)]


def test_reply_format_by_name_or_alias():
    assert VerbalizedSampler(llm=fake(), format="xml").reply_format == "xml"
    assert VerbalizedSampler(llm=fake(), reply_format="list").reply_format == "list"
    assert VerbalizedChatModel(llm=fake(), reply_format="xml").vs_config.format == "xml"
