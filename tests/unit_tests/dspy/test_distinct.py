"""``VerbalizedSampling(distinct=N)``: the engine's distinct-N loop through the DSPy module."""

import itertools
import json

import dspy
import pytest
from dspy.utils import DummyLM

from vs_integrations import SettingsError
from vs_integrations.dspy import VerbalizedSampling

from .scripted import scripted_lm


@pytest.fixture(autouse=True)
def reset_dspy():
    yield
    dspy.configure(lm=None, adapter=None)


def batches(*groups):
    """An ``answer`` function: each call's ``candidates`` field is the next group of wrong solutions."""
    replies = iter(groups)

    def answer(field, messages):
        texts = next(replies) if field == "candidates" else []
        return json.dumps([{"wrong_solution": t, "probability": round(1 / len(texts), 4)} for t in texts])

    return answer


def test_completions_hold_every_pooled_candidate_and_each_call_is_fresh():
    lm, engine = scripted_lm(batches(["3 + 2 = 5", "3 * 2 = 6"], ["3 * 2 = 6", "3 - 2 = 1"], ["2 / 3", "32"]))
    dspy.configure(lm=lm)
    module = VerbalizedSampling("problem -> wrong_solution", k=2, distinct=5, seed=0)
    prediction = module(problem="Gary bought 3 bags of flour, 2 kg each. How many kg?")
    # 2 + 1 new + 2 new: three calls for 5; the repeat of "3 * 2 = 6" is pooled once.
    assert prediction.completions.wrong_solution == ["3 + 2 = 5", "3 * 2 = 6", "3 - 2 = 1", "2 / 3", "32"]
    assert prediction.wrong_solution in prediction.completions.wrong_solution
    assert prediction.distribution.texts == prediction.completions.wrong_solution
    assert sum(c.probability for c in prediction.distribution) == pytest.approx(1.0)
    assert len(engine.requests) == 3
    # Each call is the same request, sent afresh (a new rollout id each, so the cache cannot repeat it).
    assert len({json.dumps(r["messages"]) for r in engine.requests}) == 1
    assert len(lm.history) == 3 and len({h["kwargs"].get("rollout_id") for h in lm.history}) == 3


async def test_aforward_shortfall_is_a_warning_within_max_calls():
    same = {"candidates": json.dumps([{"wrong_solution": t, "probability": 0.5} for t in ("3 + 2 = 5", "6")])}
    lm = DummyLM([same] * 5)
    module = VerbalizedSampling("problem -> wrong_solution", k=2, distinct=4, max_calls=3)
    with dspy.context(lm=lm):  # not configure: that would bind dspy's settings to this async task
        prediction = await module.acall(problem="Gary bought 3 bags of flour, 2 kg each. How many kg?")
    assert prediction.completions.wrong_solution == ["3 + 2 = 5", "6"] and len(lm.history) == 3
    assert any("held 2 of the 4" in warning for warning in prediction.distribution.warnings)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"distinct": 0}, "distinct n"),
        ({"distinct": 2.5}, "distinct n"),
        ({"max_calls": 2}, "max_calls"),
        ({"distinct": 3, "max_calls": False}, "max_calls"),
    ],
)
def test_invalid_distinct_settings_are_refused_at_construction(settings, match):
    with pytest.raises(ValueError, match=f"VerbalizedSampling: {match}"):
        VerbalizedSampling("problem -> wrong_solution", **settings)


def test_repeated_runs_do_not_share_a_pool():
    groups = itertools.chain.from_iterable(
        [[f"run {run} a", f"run {run} b"], [f"run {run} c", f"run {run} d"]] for run in range(2)
    )
    lm, _ = scripted_lm(batches(*groups))
    dspy.configure(lm=lm)
    module = VerbalizedSampling("problem -> wrong_solution", k=2, distinct=4)
    first, second = module(problem="p"), module(problem="p")
    assert first.completions.wrong_solution == [f"run 0 {x}" for x in "abcd"]
    assert second.completions.wrong_solution == [f"run 1 {x}" for x in "abcd"]


def test_a_misspelt_distinct_is_refused_with_a_hint():
    with pytest.raises(SettingsError, match=r"'distnct' \(did you mean 'distinct'\?\)"):
        VerbalizedSampling("problem -> wrong_solution", distnct=3)
