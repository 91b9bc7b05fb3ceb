"""``valid=``: the LangChain adapters drop refused candidates, top up for more and name the refused."""

import json

import pytest
from langchain_core.caches import InMemoryCache
from langchain_core.globals import set_llm_cache
from langchain_core.load import dumpd

from vs_integrations import InvalidSetting, ParseError, VSConfig
from vs_integrations.langchain import VerbalizedChatModel, VerbalizedOutputParser, VerbalizedSampler

from .scripted import Prompts, fake, vs_reply

STATES = {"Ohio", "Utah", "Iowa", "Maine"}


def is_state(text: str) -> bool:
    return text in STATES


FIRST = vs_reply("Ohio", "Houston", "Utah", "District of Columbia")
SECOND = vs_reply("Iowa", "Maine")


def check_topped_up(result, prompts: Prompts) -> None:
    assert result.texts == ["Ohio", "Utah", "Iowa", "Maine"]
    assert sum(c.probability for c in result) == pytest.approx(1.0)
    # Nothing is lost: the refused candidates stay in raw and a warning names them.
    assert "Houston" in result.raw and "District of Columbia" in result.raw
    assert any("refused 2" in w and "'Houston'" in w for w in result.warnings)
    # The top-up asked for the two missing and named the refused ones.
    assert len(prompts.sent) == 2
    followup = prompts.sent[1][-1].content
    assert "refused as invalid answers:\n1. Houston\n2. District of Columbia" in followup
    assert "Generate 2 alternative" in followup


def test_sampler_drops_refused_candidates_and_tops_up():
    prompts = Prompts()
    sampler = VerbalizedSampler(llm=fake(FIRST, SECOND), k=4, valid=is_state)
    check_topped_up(sampler.invoke("Name a US state.", config={"callbacks": [prompts]}), prompts)


async def test_sampler_ainvoke_and_stream_show_only_valid_candidates():
    prompts = Prompts()
    sampler = VerbalizedSampler(llm=fake(FIRST, SECOND), k=4, valid=is_state)
    check_topped_up(await sampler.ainvoke("Name a US state.", config={"callbacks": [prompts]}), prompts)
    chunks = list(VerbalizedSampler(llm=fake(FIRST, SECOND), k=4, valid=is_state).stream("Name a US state."))
    assert [c.text for chunk in chunks for c in chunk.new] == ["Ohio", "Utah", "Iowa", "Maine"]
    assert all(c.text in STATES for chunk in chunks for c in chunk)
    assert "Houston" in chunks[-1].raw


def test_sampler_takes_valid_per_call_and_through_bind():
    sampler = VerbalizedSampler(llm=fake(FIRST, SECOND), k=4)
    assert sampler.invoke("x", valid=is_state).texts == ["Ohio", "Utah", "Iowa", "Maine"]
    bound = VerbalizedSampler(llm=fake(FIRST, SECOND), k=4).bind(valid=is_state)
    assert bound.invoke("x").texts == ["Ohio", "Utah", "Iowa", "Maine"]


def test_sampler_distinct_counts_valid_candidates():
    sampler = VerbalizedSampler(llm=fake(FIRST, SECOND), k=4, distinct=3, valid=is_state)
    assert sampler.invoke("x").texts == ["Ohio", "Utah", "Iowa"]


def test_sampler_with_valid_still_serialises_without_the_function():
    sampler = VerbalizedSampler(llm=fake(FIRST), k=4, valid=lambda text: True)
    kwargs = dumpd(sampler)["kwargs"]
    assert "valid" not in kwargs and kwargs["k"] == 4
    json.dumps(dumpd(sampler))


def test_a_valid_that_is_not_callable_is_refused_naming_the_field():
    with pytest.raises(InvalidSetting) as caught:
        VerbalizedSampler(llm=fake(FIRST), valid="Ohio|Utah")
    assert caught.value.field == "valid"


def test_chat_model_draws_only_valid_candidates():
    prompts = Prompts()
    chat = VerbalizedChatModel(llm=fake(FIRST, SECOND), k=4, valid=is_state, seed=0)
    message = chat.invoke("Name a US state.", config={"callbacks": [prompts]})
    assert message.content in STATES
    distribution = message.response_metadata["verbalized_distribution"]
    assert [c["text"] for c in distribution["candidates"]] == ["Ohio", "Utah", "Iowa", "Maine"]
    assert "Houston" in distribution["raw"]
    followup = prompts.sent[-1][-1].content
    assert "1. Houston" in followup and "refused as invalid answers" in followup


async def test_chat_model_takes_valid_per_call_asynchronously():
    chat = VerbalizedChatModel(llm=fake(FIRST, SECOND), k=4, seed=0)
    message = await chat.ainvoke("Name a US state.", valid=is_state)
    assert [c["text"] for c in message.response_metadata["verbalized_distribution"]["candidates"]] == [
        "Ohio",
        "Utah",
        "Iowa",
        "Maine",
    ]


def test_chat_model_cache_key_names_the_check():
    plain = VerbalizedChatModel(llm=fake(FIRST), k=4)
    checked = VerbalizedChatModel(llm=fake(FIRST), k=4, valid=is_state)
    assert plain._identifying_params["valid"] is None
    assert checked._identifying_params["valid"] == f"{__name__}.is_state"
    # A lambda in the settings does not break LangChain's cache key.
    set_llm_cache(InMemoryCache())
    try:
        lambda_chat = VerbalizedChatModel(llm=fake(FIRST, SECOND), k=4, valid=lambda t: t in STATES, cache=True)
        first = lambda_chat.invoke("x")
        # Served from the cache: the inner fake has no reply left for another call.
        assert first.content in STATES and lambda_chat.invoke("x").content == first.content
    finally:
        set_llm_cache(None)


def test_output_parser_drops_refused_candidates_with_the_engines_warning():
    parser = VerbalizedOutputParser(k=4, valid=is_state)
    result = parser.parse(FIRST)
    assert result.texts == ["Ohio", "Utah"]
    assert result.raw == FIRST
    assert any("valid() refused 2 candidate(s)" in w and "'District of Columbia'" in w for w in result.warnings)


def test_output_parser_short_of_valid_candidates_follows_on_failure():
    with pytest.raises(ParseError) as caught:
        VerbalizedOutputParser(k=4, valid=is_state, on_failure="raise").parse(FIRST)
    assert caught.value.raw == FIRST and caught.value.distribution.texts == ["Ohio", "Utah"]
    with pytest.raises(ParseError, match="refused 2") as every:
        VerbalizedOutputParser(config=VSConfig(k=2), valid=is_state).parse(vs_reply("Houston", "Paris"))
    assert every.value.raw == vs_reply("Houston", "Paris")
