"""LCEL composition: streamed distributions through chains, the draw step, schema fallback on a stream."""

import ast
import itertools
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

import vs_integrations.langchain as lc_package
from vs_integrations import BackendUnreachable, Distribution
from vs_integrations.backends.response_format import learnt_style
from vs_integrations.langchain import DistributionChunk, VerbalizedSampler, draw
from vs_integrations.langchain._common import endpoint_key

PROMPT = ChatPromptTemplate.from_messages([("human", "Name a {thing}.")])


def vs_reply(*pairs: tuple[str, float]) -> str:
    return json.dumps({"responses": [{"text": t, "probability": p} for t, p in pairs]})


THREE = vs_reply(("Ohio", 0.5), ("Utah", 0.3), ("Maine", 0.2))


def fake(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(replies))


def sampler_for(*replies: str, **settings: Any) -> VerbalizedSampler:
    return VerbalizedSampler(llm=fake(*replies), **settings)


# --- streaming ------------------------------------------------------------------------------
def test_stream_yields_cumulative_distributions_ending_with_the_invoke_result():
    expected = sampler_for(THREE, k=3).invoke("x")
    chunks = list(sampler_for(THREE, k=3).stream("x"))
    assert all(isinstance(c, DistributionChunk) for c in chunks)
    assert [c.texts for c in chunks] == [["Ohio"], ["Ohio", "Utah"], ["Ohio", "Utah", "Maine"], expected.texts]
    assert [[n.text for n in c.new] for c in chunks] == [["Ohio"], ["Utah"], ["Maine"], []]
    for chunk in chunks:
        assert sum(chunk.probabilities) == pytest.approx(1.0)
    assert chunks[1].probabilities == pytest.approx([0.5 / 0.8, 0.3 / 0.8])
    assert chunks[-1] == expected  # candidates, raw, warnings, truncated, reasoning
    assert chunks[-1].raw == THREE


def test_folding_the_stream_gives_the_final_distribution():
    chunks = list(sampler_for(THREE, k=3).stream("x"))
    folded = chunks[0]
    for chunk in chunks[1:]:
        folded = folded + chunk
    assert folded == chunks[-1]
    assert [c.text for c in folded.new] == ["Ohio", "Utah", "Maine"]
    with pytest.raises(TypeError):
        chunks[0] + Distribution(chunks[0].candidates)


def test_a_step_after_the_sampler_receives_the_distribution_when_streamed():
    received = []

    def after(value):
        received.append(value)
        return value.texts

    chain = PROMPT | sampler_for(THREE, k=3) | RunnableLambda(after)
    assert list(chain.stream({"thing": "US state"})) == [["Ohio", "Utah", "Maine"]]
    assert len(received) == 1 and isinstance(received[0], Distribution)
    assert received[0] == sampler_for(THREE, k=3).invoke("Name a US state.")


async def test_async_chain_stream_and_astream_events_output_a_distribution():
    received = []
    chain = PROMPT | sampler_for(THREE, k=3) | RunnableLambda(lambda d: received.append(d) or len(d))
    assert [out async for out in chain.astream({"thing": "state"})] == [3]
    assert isinstance(received[0], Distribution) and received[0].texts == ["Ohio", "Utah", "Maine"]

    chain = PROMPT | sampler_for(THREE, k=3)
    events = [e async for e in chain.astream_events({"thing": "state"}, version="v2")]
    ends = [
        e for e in events if e["event"] == "on_chain_end" and e["name"] in ("VerbalizedSampler", "RunnableSequence")
    ]
    assert {e["name"] for e in ends} == {"VerbalizedSampler", "RunnableSequence"}
    for end in ends:
        output = end["data"]["output"]
        assert isinstance(output, Distribution) and output.texts == ["Ohio", "Utah", "Maine"]
    streamed = [
        e["data"]["chunk"] for e in events if e["event"] == "on_chain_stream" and e["name"] == "VerbalizedSampler"
    ]
    assert [len(c.new) for c in streamed] == [1, 1, 1, 0]


def test_stream_through_retries_flags_only_new_candidates_and_keeps_warnings():
    replies = (vs_reply(("a", 0.5), ("b", 0.5)), vs_reply(("a", 0.2), ("b", 0.2), ("c", 0.2)))
    chunks = list(sampler_for(*replies, k=4, max_retries=1).stream("x"))
    assert [[n.text for n in c.new] for c in chunks] == [["a"], ["b"], ["c"], []]
    expected = sampler_for(*replies, k=4, max_retries=1).invoke("x")
    assert chunks[-1] == expected and chunks[-1].warnings == expected.warnings
    assert any("held 3 of the 4 distinct candidates wanted" in w for w in chunks[-1].warnings)  # the partial default


async def test_astream_multi_variant_and_transform():
    replies = (vs_reply(("a", 0.5), ("b", 0.5)), vs_reply(("c", 0.5), ("d", 0.5)))
    sampler = sampler_for(*replies, k=4, variant="multi", per_turn=2)
    chunks = [c async for c in sampler.astream("x")]
    assert chunks[-1].texts == ["a", "b", "c", "d"] and [len(c) for c in chunks] == [1, 2, 3, 4, 4]

    async def inputs():
        yield "x"

    sampler = sampler_for(*replies, k=4, variant="multi", per_turn=2)
    final = [c async for c in sampler.atransform(inputs())][-1]
    assert final == chunks[-1]
    assert list(sampler_for(*replies, k=4, variant="multi").transform(iter(["x"])))[-1] == final


def test_stream_takes_per_call_settings():
    chunks = list(sampler_for(vs_reply(("a", 0.5), ("b", 0.5)), k=5).stream("x", k=2))
    assert chunks[-1].texts == ["a", "b"] and not any("wanted" in w for w in chunks[-1].warnings)


# --- schema negotiation on the first stream -----------------------------------------------------
class RefusesJsonSchema(GenericFakeChatModel):
    """Refuses OpenAI's json_schema form before the first token, as llama.cpp's server does."""

    formats: ClassVar[list[Any]] = []

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        response_format = kwargs.get("response_format")
        type(self).formats.append(response_format)
        if response_format and response_format["type"] == "json_schema":
            raise ValueError("Error code: 400 - response_format.type: Input should be 'text' or 'json_object'")
        yield from super()._stream(messages, stop, run_manager, **kwargs)


def test_first_stream_falls_back_to_the_next_schema_form_and_the_form_is_shared():
    RefusesJsonSchema.formats = []
    llm = RefusesJsonSchema(messages=iter([THREE]))
    chunks = list(VerbalizedSampler(llm=llm, k=3).stream("x"))
    assert chunks[-1].texts == ["Ohio", "Utah", "Maine"]
    types = [f["type"] for f in RefusesJsonSchema.formats]
    assert types == ["json_schema", "json_object"]
    assert RefusesJsonSchema.formats[1]["schema"]["properties"]["responses"]["minItems"] == 3
    assert learnt_style(endpoint_key(llm)) == "json_object"

    # A fresh sampler over the same kind of model starts from the learnt form.
    list(VerbalizedSampler(llm=RefusesJsonSchema(messages=iter([THREE])), k=3).stream("y"))
    assert [f["type"] for f in RefusesJsonSchema.formats] == ["json_schema", "json_object", "json_object"]


async def test_first_astream_falls_back_too():
    RefusesJsonSchema.formats = []
    chunks = [c async for c in VerbalizedSampler(llm=RefusesJsonSchema(messages=iter([THREE])), k=3).astream("x")]
    assert chunks[-1].texts == ["Ohio", "Utah", "Maine"]
    assert [f["type"] for f in RefusesJsonSchema.formats] == ["json_schema", "json_object"]


def test_an_error_that_is_not_a_refusal_is_raised_from_the_stream():
    class Down(GenericFakeChatModel):
        def _stream(self, *args, **kwargs):
            raise ConnectionError("server down")
            yield  # a generator, like a real stream

    with pytest.raises(BackendUnreachable) as info:
        list(VerbalizedSampler(llm=Down(messages=iter([])), k=2).stream("x"))
    assert isinstance(info.value.__cause__, ConnectionError)


# --- the draw step ----------------------------------------------------------------------------
def cycling_sampler(**settings: Any) -> VerbalizedSampler:
    reply = vs_reply(*[(t, 0.2) for t in ("a", "b", "c", "d", "e")])
    return VerbalizedSampler(llm=GenericFakeChatModel(messages=itertools.cycle([reply])), k=5, **settings)


def test_draw_step_follows_the_one_seeding_rule():
    # draw(seed=s) is Distribution.sample(s): the same seed picks the same candidate of the same
    # distribution, on every call; other seeds reach other candidates.
    def answers(seed):
        chain = PROMPT | cycling_sampler() | draw(seed=seed) | StrOutputParser()
        return [chain.invoke({"thing": "letter"}) for _ in range(3)]

    distribution = cycling_sampler().invoke("x")
    for seed in range(6):
        assert answers(seed) == [distribution.sample(seed).text] * 3
    assert len({answers(seed)[0] for seed in range(20)}) > 1


def test_draw_step_unseeded_and_streamed():
    chain = PROMPT | cycling_sampler() | draw() | StrOutputParser()
    streamed = list(chain.stream({"thing": "letter"}))
    assert len(streamed) == 1 and streamed[0] in set("abcde")
    assert len({chain.invoke({"thing": "letter"}) for _ in range(30)}) > 1


async def test_draw_step_async_and_its_message():
    message = await (cycling_sampler() | draw(seed=1)).ainvoke("x")
    assert isinstance(message, AIMessage)
    dist = Distribution.from_dict(message.response_metadata["verbalized_distribution"])
    assert message.content == dist[message.response_metadata["sampled_index"]].text
    out = [chunk async for chunk in (cycling_sampler() | draw(seed=1) | StrOutputParser()).astream("x")]
    assert out == [message.content]


def test_draw_is_the_one_draw_step():
    import vs_integrations.langchain as lc

    assert not hasattr(lc, "Draw") and not hasattr(VerbalizedSampler, "with_draw")


def test_draw_refuses_what_is_not_a_distribution():
    with pytest.raises(TypeError, match=r"draw\(\) needs a Distribution"):
        draw().invoke("text")


# --- package structure ------------------------------------------------------------------------
def test_the_langchain_package_has_no_import_cycle():
    package = Path(lc_package.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported.add(node.module or "__init__")
        graph[path.stem] = imported

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for name in graph.get(start, ()):
            if name == target or (name not in seen and reaches(name, target, seen | {name})):
                return True
        return False

    cyclic = sorted(name for name in graph if name != "__init__" and reaches(name, name, set()))
    assert cyclic == []
