"""VerbalizedSampling inside DSPy's wrappers and optimizers, with scripted LMs (offline, small)."""

import itertools
import json

import dspy
import pytest

from vs_integrations.dspy import VerbalizedSampling

from .scripted import Brainstorm, requested_fields, scripted_lm

DROPPED = "Write one idea about the topic."  # an optimizer's proposal without the VS wording


@pytest.fixture(autouse=True)
def reset_dspy():
    yield
    dspy.configure(lm=None, adapter=None)


def ideas_answer():
    """Answers the VS field with two fresh ideas per call, and any other field with ``DROPPED``."""
    counter = itertools.count()

    def answer(field, messages):
        if field == "candidates":
            n = next(counter)
            return json.dumps([{"idea": f"idea {n}a", "probability": 0.6}, {"idea": f"idea {n}b", "probability": 0.4}])
        if field == "advice":  # dspy.Refine's feedback step
            return json.dumps({"ideas.predict": "Be bolder."})
        return DROPPED

    return answer


def test_best_of_n_attempts_each_reach_the_model_at_the_wrappers_temperature():
    lm, engine = scripted_lm(ideas_answer(), cache=True)  # the cache would absorb repeated requests
    best = dspy.BestOfN(VerbalizedSampling("topic -> idea", k=2), N=3, reward_fn=lambda args, pred: 0.0, threshold=1.0)
    with dspy.context(lm=lm):
        best(topic="rain")
    assert len(engine.requests) == 3
    assert {request["temperature"] for request in engine.requests} == {1.0}


def test_refine_attempts_each_reach_the_model():
    lm, engine = scripted_lm(ideas_answer(), cache=True)
    refine = dspy.Refine(VerbalizedSampling("topic -> idea", k=2), N=2, reward_fn=lambda args, pred: 0.0, threshold=1.0)
    with dspy.context(lm=lm):
        refine(topic="rain")
    vs_requests = [r for r in engine.requests if requested_fields(r["messages"]) == ["candidates"]]
    assert len(vs_requests) == 2


def test_an_instruction_without_the_vs_wording_still_samples():
    lm, engine = scripted_lm(ideas_answer())
    module = VerbalizedSampling("topic -> idea", k=2, seed=0)
    module.predict.signature = module.predict.signature.with_instructions(DROPPED)
    with dspy.context(lm=lm):
        prediction = module(topic="rain")
    system = engine.requests[-1]["messages"][0]["content"]
    assert DROPPED in system and "full distribution of possible responses" in system
    assert len(prediction.completions.idea) == 2


TRAINSET = [dspy.Example(topic=t, idea=f"{t} idea").with_inputs("topic") for t in ("tea", "cake", "rain", "snow")]


def idea_metric(example, prediction, trace=None, *args):
    return float(len(prediction.completions.idea) == 2)


def test_mipro_v2_compiles_a_program_containing_the_module():
    lm, _ = scripted_lm(ideas_answer())
    dspy.configure(lm=lm)
    optimizer = dspy.MIPROv2(metric=idea_metric, auto=None, num_candidates=2, num_threads=1, verbose=False)
    compiled = optimizer.compile(
        Brainstorm(), trainset=TRAINSET, num_trials=2, minibatch=False, max_bootstrapped_demos=1, max_labeled_demos=0
    )
    predictor = compiled.ideas.predict
    assert "full distribution" in predictor.signature.output_fields["candidates"].json_schema_extra["desc"]
    assert len(compiled(topic="fog").completions.idea) == 2


def test_gepa_reflects_on_replies_only_the_core_parser_read():
    counter = itertools.count()

    def xml_ideas(field, messages):  # DSPy's adapters cannot read these; the core parser can
        if field != "candidates":
            return DROPPED
        n = next(counter)
        return "".join(f"<response><text>idea {n}{s}</text><probability>0.5</probability></response>" for s in "ab")

    lm, engine = scripted_lm(xml_ideas)
    dspy.configure(lm=lm)

    def feedback_metric(example, prediction, trace=None, pred_name=None, pred_trace=None):
        return dspy.Prediction(score=0.5, feedback="Give more surprising ideas.")

    optimizer = dspy.GEPA(metric=feedback_metric, max_metric_calls=12, reflection_lm=lm, num_threads=1)
    compiled = optimizer.compile(Brainstorm(), trainset=TRAINSET[:2], valset=TRAINSET[2:])
    reflections = [r for r in engine.requests if "Give more surprising ideas." in r["messages"][-1]["content"]]
    assert (
        reflections
        and '"Generated Outputs": {"candidates": [{"idea": "idea ' in reflections[0]["messages"][-1]["content"]
    )
    assert len(compiled(topic="fog").completions.idea) == 2
