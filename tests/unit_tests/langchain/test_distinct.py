"""``VerbalizedSampler(distinct=N)``: the engine's distinct-N loop through invoke, batch and stream."""

import pytest

from vs_integrations import InvalidSetting
from vs_integrations.langchain import VerbalizedSampler

from .scripted import Prompts, fake, vs_reply

REPLIES = (vs_reply("a", "b"), vs_reply("c", "d"), vs_reply("e"))


def test_invoke_pools_calls_until_n_distinct_listing_what_is_held():
    prompts = Prompts()
    result = VerbalizedSampler(llm=fake(*REPLIES), k=2, distinct=5).invoke("x", config={"callbacks": [prompts]})
    assert result.texts == ["a", "b", "c", "d", "e"]
    assert sum(c.probability for c in result) == pytest.approx(1.0)
    assert not any("held" in warning for warning in result.warnings)
    assert len(prompts.sent) == 3
    assert prompts.sent[1][-2].content == REPLIES[0]
    assert "already given 2 responses:\n1. a\n2. b" in prompts.sent[1][-1].content
    # The last call lists the four held and asks only for the one missing.
    assert "4. d" in prompts.sent[2][-1].content and "Generate 1 alternative" in prompts.sent[2][-1].content


async def test_ainvoke_and_stream_match_invoke():
    expected = VerbalizedSampler(llm=fake(*REPLIES), k=2, distinct=5).invoke("x")
    assert (await VerbalizedSampler(llm=fake(*REPLIES), k=2, distinct=5).ainvoke("x")).texts == expected.texts
    chunks = list(VerbalizedSampler(llm=fake(*REPLIES), k=2, distinct=5).stream("x"))
    # A chunk as each candidate completes, across the three calls; the last is invoke's result.
    assert [c.text for chunk in chunks for c in chunk.new] == ["a", "b", "c", "d", "e"]
    assert chunks[-1].texts == expected.texts and chunks[-1].raw == expected.raw
    achunks = [chunk async for chunk in VerbalizedSampler(llm=fake(*REPLIES), k=2, distinct=5).astream("x")]
    assert achunks[-1].texts == expected.texts


def test_batch_runs_the_loop_per_input():
    sampler = VerbalizedSampler(llm=fake(*REPLIES[:2], vs_reply("p", "q"), vs_reply("r", "s")), k=2, distinct=4)
    first, second = sampler.batch(["x", "y"], config={"max_concurrency": 1})
    assert first.texts == ["a", "b", "c", "d"] and second.texts == ["p", "q", "r", "s"]


def test_budget_shortfall_is_a_warning_and_max_calls_bounds_the_calls():
    prompts = Prompts()
    stuck = fake(*[vs_reply("a", "b")] * 9)
    result = VerbalizedSampler(llm=stuck, k=2, distinct=4, max_calls=2).invoke("x", config={"callbacks": [prompts]})
    assert result.texts == ["a", "b"] and len(prompts.sent) == 2
    assert any("held 2 of the 4" in warning for warning in result.warnings)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"distinct": 0}, "distinct"),
        ({"distinct": True}, "distinct"),
        ({"distinct": "3"}, "distinct"),
        ({"distinct": 3, "max_calls": -1}, "max_calls"),
        ({"max_calls": 3}, "max_calls"),
    ],
)
def test_invalid_distinct_settings_are_refused_at_construction_naming_the_field(settings, field):
    with pytest.raises(InvalidSetting, match=f"VerbalizedSampler: {field}") as info:
        VerbalizedSampler(llm=fake(), **settings)
    assert info.value.field == field and "GenericFakeChatModel" not in str(info.value)
