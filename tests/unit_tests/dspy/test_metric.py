"""DistributionMetric: diversity of the valid candidates times their quality, for DSPy's optimizers."""

import itertools
import json
import logging

import dspy
import pytest
from dspy.teleprompt import BootstrapFewShot
from dspy.utils import DummyLM

from vs_integrations import SettingsError
from vs_integrations.dspy import DistributionMetric
from vs_integrations.dspy import metric as metric_module

from .scripted import Brainstorm, scripted_lm


@pytest.fixture(autouse=True)
def reset_dspy():
    yield
    dspy.configure(lm=None, adapter=None)


def jokes(*texts):
    return dspy.Prediction.from_completions([{"joke": t} for t in texts])


def judge(text):
    """A stand-in judge: a joke about coffee is good, anything else poor."""
    return 0.9 if "coffee" in text else 0.1


def test_score_is_lexical_diversity_times_mean_quality():
    metric = DistributionMetric(judge, diversity="lexical")
    # One shared word of 4 and 5: ROUGE-L F1 = 2 * (1/5 * 1/4) / (1/5 + 1/4) = 2/9.
    assert metric(None, jokes("coffee keeps me going", "decaf coffee is a lie")) == pytest.approx(0.9 * (1 - 2 / 9))
    # Same words: no diversity, however good.
    assert metric(None, jokes("coffee keeps me going", "coffee keeps me going")) == 0.0
    assert metric(None, jokes("coffee keeps me going")) == 0.0  # one candidate has no diversity


def test_semantic_diversity_with_an_embedder():
    vectors = {"espresso pun": [1.0, 0.0], "latte pun": [0.8, 0.6], "tea pun": [0.0, 1.0]}
    metric = DistributionMetric(embed=lambda texts: [vectors[t] for t in texts])
    assessment = metric.assess(None, jokes(*vectors))
    assert assessment.diversity_kind == "semantic"
    assert assessment.diversity == pytest.approx(((1 - 0.8) + 1 + (1 - 0.6)) / 3)
    assert assessment.quality == 1.0  # no quality given: diversity only


def test_without_an_embedding_model_auto_falls_back_to_lexical_and_says_so(monkeypatch, caplog):
    def missing():
        raise ImportError("install the eval extra")

    monkeypatch.setattr(metric_module, "minilm_embed", missing)
    metric_module._load_embedder.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="vs_integrations"):
            result = DistributionMetric(judge)(None, jokes("coffee a", "coffee b"), None, pred_name="p", pred_trace=[])
            DistributionMetric(judge)(None, jokes("coffee a", "coffee b"))
        assert caplog.text.count("diversity is lexical") == 1 and "(lexical)" in result.feedback
        with pytest.raises(ImportError, match="eval extra"):
            DistributionMetric(diversity="semantic")(None, jokes("a", "b"))
    finally:
        metric_module._load_embedder.cache_clear()


def test_invalid_candidates_count_zero_and_leave_the_diversity():
    metric = DistributionMetric(judge, valid=lambda fields: "sorry" not in fields["joke"], diversity="lexical")
    assessment = metric.assess(None, jokes("coffee one", "coffee two three", "sorry, I can't"))
    assert [c.valid for c in assessment.candidates] == [True, True, False]
    assert assessment.quality == pytest.approx((0.9 + 0.9 + 0) / 3)
    assert assessment.diversity == pytest.approx(1 - 0.4)  # the two valid ones only


def test_the_users_own_metric_judges_each_candidate():
    def contains_topic(example, candidate, trace=None):
        return example.topic in candidate.joke

    metric = DistributionMetric(candidate_metric=contains_topic, diversity="lexical")
    example = dspy.Example(topic="coffee")
    assert metric.assess(example, jokes("coffee x", "tea y")).quality == 0.5


def test_gepa_calls_get_feedback_naming_weak_invalid_and_near_duplicate_candidates():
    metric = DistributionMetric(judge, valid=lambda fields: fields["joke"] != "What's your name?", diversity="lexical")
    prediction = jokes("coffee is my love language", "coffee is my love language!", "the cat sat", "What's your name?")
    result = metric(None, prediction, None, pred_name="ideas.predict", pred_trace=[])
    assert isinstance(result, dspy.Prediction) and result.score == metric(None, prediction)
    assert "Weak candidates (quality below 0.5): 'the cat sat' (0.10)" in result.feedback
    assert 'Invalid candidates: "What\'s your name?"' in result.feedback
    assert "Near-duplicates: 'coffee is my love language' ~ 'coffee is my love language!'" in result.feedback


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"quality": judge, "candidate_metric": judge}, "quality"),
        ({"quality": "judge"}, "quality"),
        ({"weak_below": 2}, "weak_below"),
        ({"diversity": "semantics"}, "diversity"),
    ],
)
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(SettingsError) as info:
        DistributionMetric(**kwargs)
    assert info.value.field == field


def test_a_quality_outside_0_1_and_a_prediction_without_candidates_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]; got 7 for 'coffee'"):
        DistributionMetric(lambda text: 7, diversity="lexical")(None, jokes("coffee", "tea"))
    with pytest.raises(TypeError, match="without completions"):
        DistributionMetric(diversity="lexical")(None, dspy.Prediction(joke="coffee"))


def ideas(*texts):
    return {"candidates": json.dumps([{"idea": t, "probability": round(1 / len(texts), 4)} for t in texts])}


def test_bootstrap_few_shot_keeps_the_demos_whose_distribution_is_diverse_and_good():
    replies = {
        "tea": ideas("tea pairing menu", "tea tasting club"),  # good and different
        "cake": ideas("cake sale", "cake sale"),  # the same twice: no diversity
        "rain": ideas("rain poncho shop", "umbrella rental"),  # different, one off topic
    }
    dspy.configure(lm=DummyLM(replies))
    trainset = [dspy.Example(topic=t).with_inputs("topic") for t in replies]

    def on_topic(text):
        return 1.0 if any(topic in text for topic in replies) else 0.0

    metric = DistributionMetric(on_topic, diversity="lexical")
    compiled = BootstrapFewShot(
        metric=metric, metric_threshold=0.6, max_bootstrapped_demos=3, max_labeled_demos=0
    ).compile(Brainstorm(), trainset=trainset)
    demos = compiled.ideas.predict.demos
    assert [demo["topic"] for demo in demos] == ["tea"]
    assert [c["idea"] for c in demos[0]["candidates"]] == ["tea pairing menu", "tea tasting club"]


def test_gepa_reflects_on_the_metrics_feedback():
    counter = itertools.count()

    def answer(field, messages):
        if field != "candidates":
            return "Write one surprising idea per candidate."
        n = next(counter)
        return json.dumps([{"idea": f"bold idea {n}", "probability": 0.5}, {"idea": f"dull {n}", "probability": 0.5}])

    lm, engine = scripted_lm(answer)
    dspy.configure(lm=lm)
    trainset = [dspy.Example(topic=t).with_inputs("topic") for t in ("tea", "cake", "rain", "snow")]
    metric = DistributionMetric(lambda text: 0.2 if "dull" in text else 0.9, diversity="lexical")
    dspy.GEPA(metric=metric, max_metric_calls=12, reflection_lm=lm, num_threads=1).compile(
        Brainstorm(), trainset=trainset[:2], valset=trainset[2:]
    )
    reflections = [
        r["messages"][-1]["content"] for r in engine.requests if "Weak candidates" in r["messages"][-1]["content"]
    ]
    assert reflections and "'dull " in reflections[0]
