"""The DSPy adapter with dspy.utils.DummyLM."""

import json

import dspy
import pytest
from dspy.teleprompt import BootstrapFewShot
from dspy.utils import DummyLM

from vs_integrations import Distribution, ParseError, VSConfig
from vs_integrations.dspy import VerbalizedSampling, verbalized_signature


def candidates(*records) -> dict:
    return {"candidates": json.dumps(list(records))}


def answers(*texts) -> dict:
    return candidates(*({"answer": t, "probability": round(1 / len(texts), 4)} for t in texts))


@pytest.fixture(autouse=True)
def reset_dspy():
    yield
    dspy.configure(lm=None, adapter=None)


class Negative(dspy.Signature):
    """Write an incorrect but logical-looking solution to the math problem."""

    problem: str = dspy.InputField()
    solution: str = dspy.OutputField(desc="worked steps")
    final_answer: int = dspy.OutputField()


def test_derived_signature_keeps_inputs_and_adds_k_and_candidates():
    sig = verbalized_signature("question, context -> answer", VSConfig(k=4, tail=0.1, variant="cot"))
    assert list(sig.input_fields) == ["question", "context", "k", "max_probability"]
    assert list(sig.output_fields) == ["reasoning", "candidates"]
    assert "`k`" in sig.instructions and "`max_probability`" in sig.instructions and "4" not in sig.instructions
    record = sig.output_fields["candidates"].annotation.model_fields["root"].annotation.__args__[0]
    assert set(record.model_fields) == {"answer", "probability"}


def test_user_instructions_are_kept():
    sig = verbalized_signature(Negative, VSConfig())
    assert sig.instructions.startswith("Write an incorrect but logical-looking solution")
    assert "`solution`, `final_answer` and `probability`" in sig.instructions


def test_field_name_clash_is_refused():
    with pytest.raises(ValueError, match="already has field"):
        VerbalizedSampling("k -> answer")
    with pytest.raises(ValueError, match=r"VSConfig\.k"):
        VerbalizedSampling("q -> answer", k=0)
    with pytest.raises(ValueError, match="multi"):
        VerbalizedSampling("q -> answer", variant="multi")


def test_prediction_fields_completions_and_distribution():
    dspy.configure(lm=DummyLM([answers("Ohio", "Utah", "Maine")]))
    prediction = VerbalizedSampling("question -> answer", k=3, seed=1)(question="Name a state.")
    assert prediction.completions.answer == ["Ohio", "Utah", "Maine"]
    assert prediction.answer in {"Ohio", "Utah", "Maine"}
    dist = prediction.distribution
    assert isinstance(dist, Distribution) and dist.texts == ["Ohio", "Utah", "Maine"]
    assert '"answer": "Ohio"' in dist.raw  # the LM's own text is kept


def test_multi_field_signature_with_typed_outputs():
    dspy.configure(
        lm=DummyLM(
            [
                candidates(
                    {"solution": "8 cakes, 10 cupcakes", "final_answer": 28, "probability": 0.6},
                    {"solution": "8 cakes, 5 cupcakes", "final_answer": 25, "probability": 0.4},
                )
            ]
        )
    )
    prediction = VerbalizedSampling(Negative, k=2, seed=0)(problem="Gary's flour problem")
    assert prediction.completions.final_answer == [28, 25]
    assert isinstance(prediction.final_answer, int)
    index = prediction.completions.final_answer.index(prediction.final_answer)
    assert prediction.solution == prediction.completions.solution[index]


def test_seed_repeats_the_draws():
    def draws(seed):
        dspy.configure(lm=DummyLM([answers(*"abcde")] * 10))
        module = VerbalizedSampling("q -> answer", seed=seed)
        return [module(q="x").answer for _ in range(10)]

    assert draws(3) == draws(3)
    assert len(set(draws(3))) > 1


def test_each_call_reaches_the_lm_despite_the_cache():
    replies = iter([answers("a", "b"), answers("c", "d")])
    dummy = DummyLM(replies)
    dspy.configure(lm=dummy)
    module = VerbalizedSampling("q -> answer", k=2, seed=0)
    first, second = module(q="same"), module(q="same")
    assert first.distribution.texts != second.distribution.texts
    rollouts = [entry["kwargs"].get("rollout_id") for entry in dummy.history]
    assert len(set(rollouts)) == 2 and None not in rollouts


def test_unparseable_by_dspy_is_recovered_by_the_core():
    xml = "<response><text>Ohio</text><probability>0.7</probability></response><response><text>Utah</text><probability>0.3</probability></response>"
    dspy.configure(lm=DummyLM([{"candidates": xml}] * 2))
    prediction = VerbalizedSampling("question -> answer", k=2, seed=0)(question="x")
    assert prediction.completions.answer == ["Ohio", "Utah"]
    assert prediction.distribution.raw.count("<response>") == 2


def test_unreadable_replies_raise_parse_error_with_raw():
    dspy.configure(lm=DummyLM([{"candidates": "I will not."}] * 20))  # ChatAdapter, then JSONAdapter, per try
    with pytest.raises(ParseError) as info:
        VerbalizedSampling("question -> answer", k=2, max_retries=2)(question="x")
    assert "I will not." in info.value.raw


def test_cot_variant_keeps_reasoning():
    dspy.configure(lm=DummyLM([{"reasoning": "states vary", **answers("Ohio", "Utah")}]))
    prediction = VerbalizedSampling("question -> answer", k=2, variant="cot")(question="x")
    assert prediction.distribution.reasoning == "states vary"


async def test_aforward():
    dspy.configure(lm=DummyLM([answers("a", "b")]))
    prediction = await VerbalizedSampling("q -> answer", k=2, seed=0).acall(q="x")
    assert prediction.completions.answer == ["a", "b"]


class Brainstorm(dspy.Module):
    def __init__(self):
        super().__init__()
        self.ideas = VerbalizedSampling("topic -> idea", k=2, seed=0)

    def forward(self, topic):
        return self.ideas(topic=topic)


def test_bootstrap_few_shot_puts_demos_on_the_inner_predictor():
    trainset = [dspy.Example(topic=t, idea=f"{t} idea").with_inputs("topic") for t in ("tea", "cake", "rain")]
    replies = {
        t: candidates({"idea": f"{t} idea", "probability": 0.6}, {"idea": f"odd {t}", "probability": 0.4})
        for t in ("tea", "cake", "rain")
    }
    dspy.configure(lm=DummyLM(replies))
    program = Brainstorm()
    assert [name for name, _ in program.named_predictors()] == ["ideas.predict"]
    compiled = BootstrapFewShot(
        metric=lambda example, pred, trace=None: example.topic in pred.idea,
        max_bootstrapped_demos=2,
        max_labeled_demos=0,
    ).compile(program, trainset=trainset)
    demos = compiled.ideas.predict.demos
    assert len(demos) == 2
    assert all("k" in demo and "candidates" in demo for demo in demos)


def test_save_load_round_trip(tmp_path):
    module = VerbalizedSampling("topic -> idea", k=3)
    module.predict.demos = [dspy.Example(topic="tea", k=3, candidates=[{"idea": "iced", "probability": 1.0}])]
    module.predict.signature = module.predict.signature.with_instructions("Rewritten by an optimizer.")
    path = tmp_path / "vs.json"
    module.save(str(path))
    loaded = VerbalizedSampling("topic -> idea", k=3)
    loaded.load(str(path))
    assert loaded.predict.signature.instructions == "Rewritten by an optimizer."
    assert loaded.predict.demos[0]["topic"] == "tea"
