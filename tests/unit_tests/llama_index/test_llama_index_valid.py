"""``valid=``: the LlamaIndex adapters drop refused candidates, top up for more and name the refused."""

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from vs_integrations import ParseError, SettingsError
from vs_integrations.llama_index import (
    VerbalizedLLM,
    VerbalizedOutputParser,
    VerbalizedQueryEngine,
    VerbalizedSynthesizer,
)

from .scripted import ScriptedLLM, vs_reply

OPEN = {"Saturday 9-17", "Sunday closed", "Monday 8-18"}


def is_hours(text: str) -> bool:
    return text in OPEN


FIRST = vs_reply("Saturday 9-17", "Get a loyalty card!", "Sunday closed")
SECOND = vs_reply("Monday 8-18")


def check_topped_up(distribution: dict, inner: ScriptedLLM) -> None:
    assert [c["text"] for c in distribution["candidates"]] == ["Saturday 9-17", "Sunday closed", "Monday 8-18"]
    assert "Get a loyalty card!" in distribution["raw"]
    assert any("refused 1" in w and "'Get a loyalty card!'" in w for w in distribution["warnings"])
    assert len(inner.calls) == 2
    followup = inner.calls[1][0][-1].content
    assert "refused as invalid answers:\n1. Get a loyalty card!" in followup
    assert "Generate 1 alternative response" in followup


def test_synthesizer_tops_up_for_valid_answers(index):
    inner = ScriptedLLM(replies=[FIRST, SECOND])
    synthesizer = VerbalizedSynthesizer(llm=inner, k=3, valid=is_hours, seed=0)
    response = index.as_query_engine(response_synthesizer=synthesizer).query("Open on Saturday?")
    assert response.response in OPEN
    check_topped_up(response.metadata["verbalized_distribution"], inner)


async def test_query_engine_passes_valid_to_its_synthesizer(index):
    inner = ScriptedLLM(replies=[FIRST, SECOND])
    engine = VerbalizedQueryEngine.from_index(index, llm=inner, k=3, valid=is_hours)
    response = await engine.aquery("Open on Saturday?")
    check_topped_up(response.metadata["verbalized_distribution"], inner)


def test_query_engine_refuses_valid_beside_a_ready_synthesizer(index):
    synthesizer = VerbalizedSynthesizer(llm=ScriptedLLM(replies=[]), k=3)
    with pytest.raises(SettingsError, match="valid"):
        VerbalizedQueryEngine(index.as_retriever(), synthesizer, valid=is_hours)


def test_verbalized_llm_draws_only_valid_candidates():
    inner = ScriptedLLM(replies=[FIRST, SECOND])
    response = VerbalizedLLM(inner, k=3, valid=is_hours, seed=0).chat(
        [ChatMessage(role=MessageRole.USER, content="Open on Saturday?")]
    )
    assert response.message.content in OPEN
    check_topped_up(response.additional_kwargs["verbalized_distribution"], inner)


async def test_verbalized_llm_takes_valid_per_call():
    inner = ScriptedLLM(replies=[FIRST, SECOND])
    response = await VerbalizedLLM(inner, k=3).acomplete("Open on Saturday?", valid=is_hours)
    check_topped_up(response.additional_kwargs["verbalized_distribution"], inner)
    # The check is not sent to the inner LLM as a keyword.
    assert all("valid" not in kwargs for _, kwargs in inner.calls)


def test_a_valid_that_is_not_callable_is_refused_naming_the_field():
    for build in (
        lambda: VerbalizedLLM(ScriptedLLM(replies=[]), valid="Saturday"),
        lambda: VerbalizedSynthesizer(llm=ScriptedLLM(replies=[]), valid="Saturday"),
        lambda: VerbalizedOutputParser(valid="Saturday"),
    ):
        with pytest.raises(SettingsError) as caught:
            build()
        assert caught.value.field == "valid"


def test_output_parser_drops_refused_candidates_with_the_engines_warning():
    result = VerbalizedOutputParser(k=3, valid=is_hours).parse(FIRST)
    assert result.texts == ["Saturday 9-17", "Sunday closed"]
    assert result.raw == FIRST
    assert any("valid() refused 1 candidate(s)" in w for w in result.warnings)
    with pytest.raises(ParseError) as caught:
        VerbalizedOutputParser(k=3, valid=is_hours, on_failure="raise").parse(FIRST)
    assert caught.value.raw == FIRST
    fallback = VerbalizedOutputParser(k=1, valid=is_hours, on_failure="fallback").parse(vs_reply("Get a card!"))
    assert fallback.texts == [vs_reply("Get a card!")] and "refused 1" in fallback.warnings[0]
