"""The DSPy adapter with dspy.utils.DummyLM and a scripted LM on DSPy's engine route."""

import json

import dspy
import pytest
from dspy.teleprompt import BootstrapFewShot
from dspy.utils import DummyLM

from vs_integrations import Distribution, ParseError, SettingsError, VSConfig
from vs_integrations.dspy import VerbalizedSampling, verbalized_signature

from .scripted import Brainstorm

XML_PAIR = (
    "<response><text>Ohio</text><probability>0.7</probability></response>"
    "<response><text>Utah</text><probability>0.3</probability></response>"
)


def candidates(*records) -> dict:
    return {"candidates": json.dumps(list(records))}


def answers(*texts) -> dict:
    return candidates(*({"answer": t, "probability": round(1 / len(texts), 4)} for t in texts))


def default_lm(replies) -> DummyLM:
    """A DummyLM leaving the temperature unset, as ``dspy.LM`` does (DummyLM's own 0.0 is an explicit 0)."""
    lm = DummyLM(replies)
    lm.kwargs["temperature"] = None
    return lm


def rollout_ids(lm) -> list:
    return [entry["kwargs"].get("rollout_id") for entry in lm.history]


@pytest.fixture(autouse=True)
def reset_dspy():
    yield
    dspy.configure(lm=None, adapter=None)


class Negative(dspy.Signature):
    """Write an incorrect but logical-looking solution to the math problem."""

    problem: str = dspy.InputField()
    solution: str = dspy.OutputField(desc="worked steps")
    final_answer: int = dspy.OutputField()


# -- the derived signature ---------------------------------------------------------------------
def test_derived_signature_keeps_inputs_and_adds_k_and_candidates():
    sig = verbalized_signature("question, context -> answer", VSConfig(k=4, tail=0.1, variant="cot"))
    assert list(sig.input_fields) == ["question", "context", "k", "max_probability"]
    assert list(sig.output_fields) == ["reasoning", "candidates"]
    desc = sig.output_fields["candidates"].json_schema_extra["desc"]
    assert "`k`" in desc and "`max_probability`" in desc and "4" not in desc
    record = sig.output_fields["candidates"].annotation.model_fields["root"].annotation.__args__[0]
    assert set(record.model_fields) == {"answer", "probability"}


def test_user_instructions_are_kept_and_the_sampling_instruction_is_a_field_description():
    sig = verbalized_signature(Negative, VSConfig())
    assert sig.instructions == "Write an incorrect but logical-looking solution to the math problem."
    desc = sig.output_fields["candidates"].json_schema_extra["desc"]
    assert "`solution`, `final_answer` and `probability`" in desc and "full distribution" in desc


def test_candidate_schema_has_no_placeholder_descriptions():
    sig = verbalized_signature(Negative, VSConfig(k=2))
    schema = json.dumps(sig.output_fields["candidates"].annotation.model_json_schema())
    assert "${" not in schema
    assert "worked steps" in schema  # a description the user wrote stays


def test_field_name_clash_multi_and_format_are_refused():
    with pytest.raises(ValueError, match="already has field"):
        VerbalizedSampling("k -> answer")
    with pytest.raises(ValueError, match=r"VSConfig\.k"):
        VerbalizedSampling("q -> answer", k=0)
    with pytest.raises(ValueError, match="multi"):
        VerbalizedSampling("q -> answer", variant="multi")
    with pytest.raises(ValueError, match="format='xml'"):
        VerbalizedSampling("q -> answer", format="xml")


# -- one settings surface ----------------------------------------------------------------------
def test_flat_keywords_and_a_whole_config_resolve_to_one_vs_config():
    flat = VerbalizedSampling("q -> answer", k=3, tail=0.1, on_failure="raise", max_retries=1, seed=4)
    assert flat.vs_config == VSConfig(k=3, tail=0.1, on_failure="raise", max_retries=1, seed=4)
    mixed = VerbalizedSampling("q -> answer", config=VSConfig(k=2), on_failure="partial", temperature=0.9)
    assert mixed.vs_config == VSConfig(k=2, on_failure="partial")
    assert mixed.predict.config == {"temperature": 0.9}  # only the LM setting reaches Predict
    assert VerbalizedSampling("q -> answer").vs_config == VSConfig()
    with pytest.raises(AttributeError):
        mixed.vs_config = VSConfig()


@pytest.mark.parametrize(
    ("keyword", "hint"), [("kk", "'k'"), ("on_falure", "'on_failure'"), ("tempreature", "'temperature'")]
)
def test_misspelt_keywords_are_refused_at_construction(keyword, hint):
    with pytest.raises(SettingsError) as info:
        VerbalizedSampling("q -> answer", **{keyword: 1})
    assert info.value.unknown == [keyword]
    assert hint in str(info.value) and "max_retries" in str(info.value)


# -- predictions -------------------------------------------------------------------------------
def test_prediction_fields_completions_and_distribution():
    dspy.configure(lm=DummyLM([answers("Ohio", "Utah", "Maine")]))
    prediction = VerbalizedSampling("question -> answer", k=3, seed=1)(question="Name a state.")
    assert prediction.completions.answer == ["Ohio", "Utah", "Maine"]
    assert prediction.answer in {"Ohio", "Utah", "Maine"}
    dist = prediction.distribution
    assert isinstance(dist, Distribution) and dist.texts == ["Ohio", "Utah", "Maine"]
    assert "[[ ## candidates ## ]]" in dist.raw and '"answer": "Ohio"' in dist.raw  # the LM's own text


@pytest.mark.parametrize("history", [{}, {"disable_history": True}, {"max_history_size": 0}])
def test_every_lm_text_is_kept_whether_or_not_dspy_keeps_history(history):
    # ChatAdapter fails on XML; the core parser reads it at once (no JSONAdapter retry call).
    lm = DummyLM([{"candidates": XML_PAIR}] * 2)
    with dspy.context(lm=lm, **history):
        prediction = VerbalizedSampling("question -> answer", k=2, seed=0)(question="x")
    assert prediction.completions.answer == ["Ohio", "Utah"]
    assert prediction.distribution.raw.count(XML_PAIR) == 1
    assert "[[ ## candidates ## ]]" in prediction.distribution.raw  # the LM's own text, not the engine's JSON


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


def test_cot_variant_keeps_reasoning():
    dspy.configure(lm=DummyLM([{"reasoning": "states vary", **answers("Ohio", "Utah")}]))
    prediction = VerbalizedSampling("question -> answer", k=2, variant="cot")(question="x")
    assert prediction.distribution.reasoning == "states vary"


async def test_aforward_runs_the_same_loop():
    # A short reply fails DSPy's validation; the core parser reads it, and the top-up asks for one.
    lm = DummyLM([answers("a"), answers("b")])
    with dspy.context(lm=lm):
        prediction = await VerbalizedSampling("q -> answer", k=2, seed=0).acall(q="x")
    assert prediction.completions.answer == ["a", "b"]
    assert len(lm.history) == 2


# -- seeds and rollout ids ---------------------------------------------------------------------
def first_rollout(seed):
    lm = default_lm([answers("a", "b")])
    with dspy.context(lm=lm):
        VerbalizedSampling("q -> answer", k=2, seed=seed)(q="same")
    return rollout_ids(lm)[0]


def test_rollout_ids_differ_across_fresh_modules_without_a_seed_and_repeat_with_one():
    assert first_rollout(None) != first_rollout(None)
    assert first_rollout(7) == first_rollout(7)
    assert first_rollout(7) != first_rollout(8)


def test_seed_repeats_the_draws_and_repeated_calls_differ():
    def draws(seed):
        dspy.configure(lm=DummyLM([answers(*"abcde")] * 10))
        module = VerbalizedSampling("q -> answer", seed=seed)
        return [module(q="x").answer for _ in range(10)]

    assert draws(3) == draws(3)
    assert len(set(draws(3))) > 1


def test_each_call_reaches_the_lm_with_its_own_rollout_and_the_default_temperature():
    dummy = default_lm([answers("a", "b"), answers("c", "d")])
    dspy.configure(lm=dummy)
    module = VerbalizedSampling("q -> answer", k=2, seed=0)
    first, second = module(q="same"), module(q="same")
    assert first.distribution.texts != second.distribution.texts
    rollouts = rollout_ids(dummy)
    assert len(set(rollouts)) == 2 and None not in rollouts
    assert {entry["kwargs"]["temperature"] for entry in dummy.history} == {0.7}


def test_parallel_with_a_seed_reproduces_whatever_the_thread_order():
    topics = [f"topic {i}" for i in range(6)]
    replies = {t: answers(*(f"{t} {n}" for n in range(5))) for t in topics}

    def run(threads):
        module = VerbalizedSampling("q -> answer", seed=11)
        lm = default_lm(replies)
        with dspy.context(lm=lm):
            outputs = dspy.Parallel(num_threads=threads)([(module, {"q": t}) for t in topics])
        by_topic = {entry["messages"][-1]["content"]: entry["kwargs"]["rollout_id"] for entry in lm.history}
        return [o.answer for o in outputs], sorted(by_topic.values())

    sequential = run(1)
    assert run(3) == sequential and run(3) == sequential
    assert len(set(sequential[0])) > 1


# -- the core loop: partial default, raise, fallback --------------------------------------------
def test_short_replies_return_what_was_read_by_default():
    dummy = default_lm([answers("Ohio", "Utah")] * 10)
    dspy.configure(lm=dummy)
    prediction = VerbalizedSampling("question -> answer", k=3, max_retries=1, seed=0)(question="x")
    assert prediction.completions.answer == ["Ohio", "Utah"]
    assert any("kept 2 candidate(s)" in w for w in prediction.distribution.warnings)
    assert len(set(rollout_ids(dummy))) == 2  # the first try and one retry, each a fresh request


def test_raise_keeps_the_lms_text_and_the_partial_result():
    dspy.configure(lm=DummyLM([answers("Ohio", "Utah")] * 10))
    with pytest.raises(ParseError) as info:
        VerbalizedSampling("question -> answer", k=3, max_retries=1, on_failure="raise")(question="x")
    assert "[[ ## candidates ## ]]" in info.value.raw
    assert info.value.distribution.texts == ["Ohio", "Utah"]


def test_unreadable_replies_raise_parse_error_with_raw():
    dspy.configure(lm=DummyLM([{"candidates": "I will not."}] * 20))  # ChatAdapter, then JSONAdapter, per try
    with pytest.raises(ParseError) as info:
        VerbalizedSampling("question -> answer", k=2, max_retries=2)(question="x")
    assert "I will not." in info.value.raw


def test_fallback_returns_the_lms_text_as_the_one_candidate():
    dspy.configure(lm=DummyLM([{"candidates": "I will not."}] * 20))
    prediction = VerbalizedSampling("question -> answer", k=2, max_retries=0, on_failure="fallback")(question="x")
    assert "I will not." in prediction.answer
    assert prediction.distribution.texts == [prediction.answer]


# -- rescued replies are traced ----------------------------------------------------------------
def test_a_reply_only_the_core_parser_reads_is_rescued_and_traced():
    dspy.configure(lm=DummyLM([{"candidates": XML_PAIR}] * 2))
    module = VerbalizedSampling("question -> answer", k=2, seed=0)
    with dspy.context(trace=[]):
        prediction = module(question="x")
        trace = list(dspy.settings.trace)
    assert prediction.completions.answer == ["Ohio", "Utah"]
    assert prediction.distribution.raw.count(XML_PAIR) == 1
    [(predictor, inputs, outputs)] = trace
    assert predictor is module.predict
    assert inputs == {"question": "x", "k": 2}
    assert [c["answer"] for c in outputs.candidates] == ["Ohio", "Utah"]


TOPICS = ("tea", "cake", "rain")
TRAINSET = [dspy.Example(topic=t, idea=f"{t} idea").with_inputs("topic") for t in TOPICS]


def bootstrap(replies):
    dspy.configure(lm=DummyLM(replies))
    program = Brainstorm()
    assert [name for name, _ in program.named_predictors()] == ["ideas.predict"]
    return BootstrapFewShot(
        metric=lambda example, pred, trace=None: example.topic in pred.idea,
        max_bootstrapped_demos=2,
        max_labeled_demos=0,
    ).compile(program, trainset=TRAINSET)


def test_bootstrap_few_shot_puts_demos_on_the_inner_predictor():
    replies = {
        t: candidates({"idea": f"{t} idea", "probability": 0.6}, {"idea": f"{t} twist", "probability": 0.4})
        for t in TOPICS
    }
    demos = bootstrap(replies).ideas.predict.demos
    assert len(demos) == 2
    assert all("k" in demo and "candidates" in demo for demo in demos)


def test_bootstrap_few_shot_learns_from_rescued_replies():
    xml = "<response><text>{t} idea</text><probability>0.6</probability></response><response><text>{t} twist</text><probability>0.4</probability></response>"
    demos = bootstrap({t: {"candidates": xml.format(t=t)} for t in TOPICS}).ideas.predict.demos
    assert len(demos) == 2
    assert all(demo["candidates"][0]["idea"].endswith(" idea") for demo in demos)


def test_save_load_round_trip(tmp_path):
    module = VerbalizedSampling("topic -> idea", k=3)
    module.predict.demos = [dspy.Example(topic="tea", k=3, candidates=[{"idea": "iced", "probability": 1.0}])]
    module.predict.signature = module.predict.signature.with_instructions("Rewritten by an optimizer.")
    path = tmp_path / "vs.json"
    module.save(str(path))
    loaded = VerbalizedSampling("topic -> idea", k=3)
    loaded.load(str(path))
    assert loaded.predict.signature.instructions == "Rewritten by an optimizer."
    assert "full distribution" in loaded.predict.signature.output_fields["candidates"].json_schema_extra["desc"]
    assert loaded.predict.demos[0]["topic"] == "tea"
