"""Streaming, context-length errors, the partial default and reply-schema negotiation."""

import pytest
from llama_index.core.base.response.schema import AsyncStreamingResponse, Response, StreamingResponse
from llama_index.core.query_engine import RetrieverQueryEngine

from vs_integrations import ContextTooLong, Distribution, ParseError
from vs_integrations.backends.response_format import learnt_style
from vs_integrations.llama_index import VerbalizedQueryEngine, VerbalizedSynthesizer
from vs_integrations.llama_index._driver import endpoint

from .scripted import HTTPError, ScriptedLLM, vs_reply

# -- streaming -------------------------------------------------------------------------------


def test_a_streaming_synthesizer_streams_the_drawn_answer(index):
    llm = ScriptedLLM(replies=[vs_reply("Paris", "France")])
    synthesizer = VerbalizedSynthesizer(llm=llm, k=2, streaming=True)
    response = index.as_query_engine(response_synthesizer=synthesizer).query("Where is the Eiffel Tower?")
    assert isinstance(response, StreamingResponse)
    distribution = Distribution.from_dict(response.metadata["verbalized_distribution"])
    chunks = list(response.response_gen)
    assert "".join(chunks) == distribution[response.metadata["sampled_index"]].text
    assert response.source_nodes


async def test_a_streaming_synthesizer_streams_async(summary_index):
    llm = ScriptedLLM(replies=[vs_reply("Rome", "Italy")])
    synthesizer = VerbalizedSynthesizer(llm=llm, k=2, streaming=True)
    response = await summary_index.as_query_engine(response_synthesizer=synthesizer).aquery("Colosseum?")
    assert isinstance(response, AsyncStreamingResponse)
    chunks = [chunk async for chunk in response.async_response_gen()]
    assert "".join(chunks) in {"Rome", "Italy"}
    assert response.metadata["verbalized_distribution"]["candidates"]


def test_streaming_asked_of_as_query_engine_is_refused_at_construction(index):
    synthesizer = VerbalizedSynthesizer(llm=ScriptedLLM(replies=[]), k=2)
    with pytest.raises(ValueError, match=r"VerbalizedSynthesizer\(\.\.\., streaming=True\)"):
        index.as_query_engine(response_synthesizer=synthesizer, streaming=True)
    with pytest.raises(ValueError, match="streaming=True"):
        RetrieverQueryEngine.from_args(index.as_retriever(), response_synthesizer=synthesizer, streaming=True)
    # Agreeing settings, and every other place a synthesizer is tested for truth, are fine.
    streaming = VerbalizedSynthesizer(llm=ScriptedLLM(replies=[]), k=2, streaming=True)
    assert index.as_query_engine(response_synthesizer=streaming, streaming=True)
    assert index.as_query_engine(response_synthesizer=synthesizer) and synthesizer


def test_the_query_engine_streams(index):
    llm = ScriptedLLM(replies=[vs_reply("x", "y")])
    engine = VerbalizedQueryEngine.from_index(index, k=2, llm=llm, streaming=True)
    response = engine.query("q")
    assert isinstance(response, StreamingResponse) and str(response) in {"x", "y"}
    assert engine.synthesizer.streaming


# -- the partial default ---------------------------------------------------------------------


def test_partial_is_the_default(summary_index):
    llm = ScriptedLLM(replies=[vs_reply("London", "UK")] * 3)
    engine = summary_index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, k=3))
    response = engine.query("Where is Big Ben?")
    distribution = response.metadata["verbalized_distribution"]
    assert [c["text"] for c in distribution["candidates"]] == ["London", "UK"]
    assert distribution["warnings"]  # the shortfall is reported, not raised
    assert len(llm.calls) == 3  # the retries were spent first
    raising = ScriptedLLM(replies=[vs_reply("London", "UK")] * 3)
    with pytest.raises(ParseError):
        VerbalizedSynthesizer(llm=raising, k=3, on_failure="raise").synthesize(
            "q", summary_index.as_retriever().retrieve("q")
        )


# -- context too long ------------------------------------------------------------------------


def test_a_context_length_failure_names_the_limit(index):
    error = HTTPError("This model's maximum context length is 4096 tokens, your messages resulted in 5000", 400)
    llm = ScriptedLLM(replies=[error])
    engine = index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, k=2))
    with pytest.raises(ContextTooLong) as info:
        engine.query("q")
    assert info.value.limit == 4096 and info.value.status == 400
    assert "4096 tokens" in str(info.value) and "scripted" in str(info.value)
    assert info.value.__cause__ is error
    assert len(llm.calls) == 1  # a context-length 400 is not a refused format: no other form tried


def test_a_typed_context_error_from_the_llm_passes_through(index):
    # As the embedded backend raises it: kept as is, and never taken for a refused schema form.
    error = ContextTooLong("prompt of 3000 tokens with its response_format schema", limit=2048, prompt_tokens=3000)
    llm = ScriptedLLM(replies=[error])
    with pytest.raises(ContextTooLong) as info:
        index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, k=2)).query("q")
    assert info.value is error and len(llm.calls) == 1


async def test_a_query_longer_than_the_window_is_refused_before_any_call(index):
    llm = ScriptedLLM(replies=[], context_window=600)
    engine = index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, k=2))
    with pytest.raises(ContextTooLong, match="context window is 600 tokens") as info:
        await engine.aquery("Where? " * 500)
    assert info.value.limit == 600 and not llm.calls


def test_other_failures_pass_through_untouched(index):
    error = RuntimeError("connection reset")
    llm = ScriptedLLM(replies=[error])
    with pytest.raises(RuntimeError) as info:
        index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, k=2)).query("q")
    assert info.value is error


# -- reply-schema negotiation ----------------------------------------------------------------


def test_auto_falls_back_when_a_form_is_refused_and_remembers(index):
    llm = ScriptedLLM(replies=[vs_reply("a", "b"), vs_reply("c", "d")], refused_formats=("json_schema",))
    engine = index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, k=2))
    assert engine.query("q").response in {"a", "b"}
    forms = [call[1].get("response_format", {}).get("type") for call in llm.calls]
    assert forms == ["json_schema", "json_object"]
    assert llm.calls[1][1]["response_format"]["schema"]["properties"]["responses"]["minItems"] == 2
    # A new synthesizer on the same model starts from the learnt form.
    again = index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, k=2))
    assert again.query("q").response in {"c", "d"}
    assert llm.calls[2][1]["response_format"]["type"] == "json_object"
    assert learnt_style(endpoint(llm)) == "json_object"


async def test_auto_falls_back_to_prompt_only_async(summary_index):
    llm = ScriptedLLM(replies=[vs_reply("a", "b")], refused_formats=("json_schema", "json_object"))
    engine = summary_index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, k=2))
    response = await engine.aquery("q")
    assert isinstance(response, Response) and response.response in {"a", "b"}
    assert [call[1].get("response_format", {}).get("type") for call in llm.calls] == [
        "json_schema",
        "json_object",
        None,
    ]
    assert "response_format" not in llm.calls[-1][1]


def test_a_fixed_form_is_not_negotiated(index):
    llm = ScriptedLLM(replies=[], refused_formats=("json_object",))
    synthesizer = VerbalizedSynthesizer(llm=llm, k=2, schema_style="json_object")
    with pytest.raises(HTTPError):
        index.as_query_engine(response_synthesizer=synthesizer).query("q")
    assert len(llm.calls) == 1
    with pytest.raises(ValueError, match="schema_style must be one of"):
        VerbalizedSynthesizer(llm=llm, schema_style="xml")  # type: ignore[arg-type]


def test_retries_negotiate_once_per_reply(index):
    llm = ScriptedLLM(replies=["no list here", vs_reply("a", "b")], refused_formats=("json_schema",))
    engine = index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, k=2))
    assert engine.query("q").response in {"a", "b"}
    forms = [call[1]["response_format"]["type"] for call in llm.calls]
    assert forms == ["json_schema", "json_object", "json_object"]  # the retry uses the learnt form


def test_a_misspelt_own_keyword_is_suggested():
    from vs_integrations import SettingsError
    from vs_integrations.llama_index import VerbalizedSynthesizer

    with pytest.raises(SettingsError, match=r"'streming' \(did you mean 'streaming'\?\).*own: .*streaming"):
        VerbalizedSynthesizer(streming=True)
