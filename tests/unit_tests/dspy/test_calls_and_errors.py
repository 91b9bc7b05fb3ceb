"""Temperatures, LM calls per VS call, `valid`, traced demos, LocalEngine settings and usage, errors both ways."""

import json
import pickle
import sys
import types

import dspy
import pytest
from dspy.teleprompt import BootstrapFewShot
from dspy.utils import DummyLM
from dspy.utils.exceptions import (
    AdapterParseError,
    ContextWindowExceededError,
    LMAuthError,
    LMInvalidRequestError,
    LMProviderError,
    LMRateLimitError,
    LMServerError,
    LMTransportError,
    is_retryable_lm_error,
)

from vs_integrations import (
    BackendUnreachable,
    ContextTooLong,
    GenerationSettings,
    ParseError,
    RequestRefused,
    SettingsError,
)
from vs_integrations.core.calls import Reply
from vs_integrations.dspy import LocalEngine, VerbalizedSampling
from vs_integrations.dspy.errors import (
    VSAdapterParseError,
    VSContextWindowExceeded,
    VSLMServerError,
    VSLMTransportError,
    lm_errors_as_ours,
)

from .scripted import Brainstorm

STATES = {"Ohio", "Utah", "Maine", "Texas"}


def answers(*texts) -> dict:
    return {"candidates": json.dumps([{"answer": t, "probability": round(1 / len(texts), 4)} for t in texts])}


def asked_counts(lm) -> list[int]:
    """The ``k`` each LM call asked for (ChatAdapter writes it as the ``k`` input field)."""
    counts = []
    for entry in lm.history:
        content = entry["messages"][-1]["content"]
        counts.append(int(content.split("[[ ## k ## ]]\n", 1)[1].split("\n", 1)[0]))
    return counts


@pytest.fixture(autouse=True)
def reset_dspy():
    yield
    dspy.configure(lm=None, adapter=None, track_usage=False)


# -- temperature ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("module_temperature", "lm_temperature", "sent"),
    [(0, 0.0, 0), (0.3, 0.9, 0.3), (None, 0.9, 0.9), (None, 0.0, 0.0), (None, None, 0.7), (0, None, 0)],
)
def test_an_explicit_temperature_is_sent_as_given(module_temperature, lm_temperature, sent):
    lm = DummyLM([answers("Ohio", "Utah")])
    lm.kwargs["temperature"] = lm_temperature
    settings = {} if module_temperature is None else {"temperature": module_temperature}
    with dspy.context(lm=lm):
        VerbalizedSampling("q -> answer", k=2, seed=0, **settings)(q="x")
    assert {**lm.kwargs, **lm.history[0]["kwargs"]}["temperature"] == sent


def test_an_lm_built_at_temperature_0_is_sent_0_and_no_rollout_id():
    # dspy.LM's default temperature is None, so this 0 is the caller's; DummyLM answers with its settings.
    dummy = DummyLM([answers("Ohio", "Utah")])
    dummy.kwargs = dict(dspy.LM("openai/x", temperature=0.0).kwargs)
    with dspy.context(lm=dummy):
        VerbalizedSampling("q -> answer", k=2, seed=0)(q="x")
    [entry] = dummy.history
    assert entry["kwargs"].get("temperature", dummy.kwargs["temperature"]) == 0.0
    assert "rollout_id" not in entry["kwargs"]


# -- LM calls per VS call --------------------------------------------------------------------------
def test_a_reply_only_the_core_parser_reads_costs_one_lm_call():
    listed = "1. Ohio (Prob: 0.5)\n2. Utah (Prob: 0.3)\n3. Maine (Prob: 0.2)"
    lm = DummyLM([{"candidates": listed}] * 3)
    with dspy.context(lm=lm):
        prediction = VerbalizedSampling("q -> answer", k=3, seed=0)(q="Name a US state.")
    assert prediction.completions.answer == ["Ohio", "Utah", "Maine"]
    assert len(lm.history) == 1  # was 2: ChatAdapter's JSONAdapter retry before the core parser read it


def test_a_short_reply_is_topped_up_by_one_call_asking_for_the_missing_ones():
    lm = DummyLM([answers("Ohio", "Utah"), answers("Maine")])
    with dspy.context(lm=lm):
        prediction = VerbalizedSampling("q -> answer", k=3, seed=0)(q="Name a US state.")
    assert prediction.completions.answer == ["Ohio", "Utah", "Maine"]
    assert asked_counts(lm) == [3, 1]  # was 4 calls: two per try (adapter retry), each asking for 3


# -- valid -----------------------------------------------------------------------------------------
def test_invalid_candidates_are_dropped_listed_kept_in_raw_and_topped_up():
    lm = DummyLM([answers("Ohio", "Houston", "Utah"), answers("District of Columbia"), answers("Maine")])
    module = VerbalizedSampling("q -> answer", k=3, seed=0, valid=lambda fields: fields["answer"] in STATES)
    with dspy.context(lm=lm):
        prediction = module(q="Name a US state.")
    assert prediction.completions.answer == ["Ohio", "Utah", "Maine"]
    # A top-up that added nothing makes the engine ask the whole request afresh (its rule for small models).
    assert asked_counts(lm) == [3, 1, 3]
    [warning] = [w for w in prediction.distribution.warnings if "invalid" in w]
    assert "2 invalid" in warning and "'Houston'" in warning and "'District of Columbia'" in warning
    assert "Houston" in prediction.distribution.raw


def test_valid_must_be_callable():
    with pytest.raises(SettingsError) as info:
        VerbalizedSampling("q -> answer", valid="Ohio|Utah")
    assert info.value.field == "valid" and isinstance(info.value, ValueError)


# -- traced demos ----------------------------------------------------------------------------------
def test_demos_carry_numeric_probabilities_when_the_reply_stated_none():
    unweighted = "<response><text>{t} idea</text></response><response><text>{t} twist</text></response>"
    dspy.configure(lm=DummyLM({t: {"candidates": unweighted.format(t=t)} for t in ("tea", "cake", "rain")}))
    trainset = [dspy.Example(topic=t, idea=f"{t} idea").with_inputs("topic") for t in ("tea", "cake", "rain")]
    compiled = BootstrapFewShot(
        metric=lambda example, pred, trace=None: True, max_bootstrapped_demos=2, max_labeled_demos=0
    ).compile(Brainstorm(), trainset=trainset)
    demos = compiled.ideas.predict.demos
    assert len(demos) == 2
    assert [[c["probability"] for c in demo["candidates"]] for demo in demos] == [[0.5, 0.5]] * 2


def test_demos_hold_only_valid_candidates():
    replies = {t: answers(f"{t} idea", "off topic") for t in ("tea", "cake")}
    replies = {t: {"candidates": r["candidates"].replace('"answer"', '"idea"')} for t, r in replies.items()}
    dspy.configure(lm=DummyLM(replies))
    module = VerbalizedSampling("topic -> idea", k=2, max_retries=0, valid=lambda f: f["idea"] != "off topic")
    with dspy.context(trace=[]):
        module(topic="tea")
        [(_, inputs, outputs)] = dspy.settings.trace
    assert outputs.candidates == [{"idea": "tea idea", "probability": 1.0}] and inputs["k"] == 1


# -- LocalEngine: per-call settings and usage -----------------------------------------------------
class RecordingModel:
    """A model object under the call contract: answers JSON candidates, records each request."""

    model_name = "recording"

    def __init__(self, *replies):
        self.replies = list(replies)
        self.requests = []

    def generate(self, request):
        self.requests.append(request)
        return Reply(self.replies.pop(0), prompt_tokens=11, completion_tokens=7, finish_reason="stop")


def test_local_engine_passes_each_calls_settings_and_leaves_unset_ones_to_the_model():
    model = RecordingModel("once upon", "a time")
    lm = dspy.LM("local/recording", engine=LocalEngine(model), cache=False)
    lm("Write a long story", max_tokens=8, temperature=0.0, top_p=0.5, seed=3, stop=["END"])
    lm("Write a long story")
    assert model.requests[0].settings == GenerationSettings(0.0, 0.5, 8, 3, ("END",))
    assert model.requests[1].settings == GenerationSettings()  # the model's own defaults apply
    assert lm.history[0]["usage"]["completion_tokens"] == 7


def test_dspy_usage_tracking_sees_every_call_of_a_vs_call():
    first = json.dumps({"candidates": [{"answer": "Ohio", "probability": 0.5}, {"answer": "Utah", "probability": 0.5}]})
    top_up = json.dumps({"candidates": [{"answer": "Maine", "probability": 1.0}]})
    lm = dspy.LM("local/recording", engine=LocalEngine(RecordingModel(first, top_up)), cache=False)
    dspy.configure(lm=lm, adapter=dspy.JSONAdapter(), track_usage=True)
    prediction = VerbalizedSampling("q -> answer", k=3, seed=0)(q="Name a US state.")
    assert prediction.completions.answer == ["Ohio", "Utah", "Maine"]
    usage = prediction.get_lm_usage()["local/recording"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (22, 14)


# -- errors both ways ------------------------------------------------------------------------------
class FailingModel:
    model_name = "failing"

    def __init__(self, error):
        self.error = error

    def generate(self, request):
        raise self.error


def run_on(model):
    lm = dspy.LM("local/failing", engine=LocalEngine(model), cache=False, num_retries=0)
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        VerbalizedSampling("q -> answer", k=2)(q="x")


def test_a_prompt_too_long_is_ours_and_dspys_with_the_sizes_and_dspys_error_as_cause():
    with pytest.raises(ContextWindowExceededError) as info:
        run_on(FailingModel(ContextTooLong("the prompt takes 3000 tokens", limit=2048, prompt_tokens=3000)))
    error = info.value
    assert isinstance(error, ContextTooLong) and (error.limit, error.prompt_tokens) == (2048, 3000)
    assert isinstance(error.__cause__, ContextWindowExceededError) and not isinstance(error.__cause__, ContextTooLong)


def test_an_unreachable_model_is_ours_and_dspys_and_dspy_would_retry_it():
    with pytest.raises(BackendUnreachable) as info:
        run_on(FailingModel(BackendUnreachable("model file not found")))
    assert isinstance(info.value, LMTransportError) and is_retryable_lm_error(info.value)
    assert "model file not found" in str(info.value)


def test_an_unreadable_reply_is_ours_and_dspys_parse_error():
    lm = DummyLM([{"candidates": "I will not."}] * 3)
    module = VerbalizedSampling("q -> answer", k=2, max_retries=1)
    with dspy.context(lm=lm):
        with pytest.raises(AdapterParseError) as info:
            module(q="x")
        with pytest.raises(ParseError):
            module(q="y")
    assert "I will not." in info.value.raw and info.value.lm_response == info.value.raw
    assert "answer" in info.value.signature.output_fields["candidates"].json_schema_extra["desc"]


def test_a_litellm_connection_error_that_reaches_the_module_is_mapped(monkeypatch):
    # LiteLLM takes seconds to import; the mapping looks its class up in sys.modules, as here.
    fake_litellm = types.SimpleNamespace(APIConnectionError=type("APIConnectionError", (Exception,), {}))
    monkeypatch.setitem(sys.modules, "litellm", fake_litellm)
    with pytest.raises(BackendUnreachable) as info:
        with lm_errors_as_ours():
            raise fake_litellm.APIConnectionError("Connection refused")
    assert isinstance(info.value, LMTransportError)
    assert isinstance(info.value.__cause__, fake_litellm.APIConnectionError)


def test_a_configured_chat_adapter_is_left_as_it_is():
    adapter = dspy.ChatAdapter()
    lm = DummyLM([{"candidates": "1. Ohio (Prob: 0.5)\n2. Utah (Prob: 0.5)"}] * 2)
    with dspy.context(lm=lm, adapter=adapter):
        prediction = VerbalizedSampling("q -> answer", k=2, seed=0)(q="x")
    assert prediction.completions.answer == ["Ohio", "Utah"] and len(lm.history) == 1
    assert adapter.use_json_adapter_fallback  # only the inner call's copy has the retry off


class RefusingLM(DummyLM):
    def __init__(self, error):
        super().__init__([])
        self.error = error

    def forward(self, *args, **kwargs):
        raise self.error


@pytest.mark.parametrize(
    ("error", "dspy_class"),
    [
        (LMServerError("upstream 500", status=500), LMServerError),
        (LMInvalidRequestError("response_format not supported", status=400), LMInvalidRequestError),
        (LMRateLimitError("slow down", status=429, retry_after=2.0), LMRateLimitError),
        (LMAuthError("bad key", status=401), LMProviderError),
    ],
)
def test_a_refused_request_is_ours_and_keeps_dspys_class(error, dspy_class):
    with dspy.context(lm=RefusingLM(error)):
        with pytest.raises(RequestRefused) as info:
            VerbalizedSampling("q -> answer", k=2)(q="x")
    assert isinstance(info.value, dspy_class) and info.value.__cause__ is error
    assert (info.value.status, info.value.retry_after) == (error.status, error.retry_after)
    assert is_retryable_lm_error(info.value) == is_retryable_lm_error(error)


def test_the_modules_errors_survive_pickling_with_their_attributes():
    signature = dspy.Signature("q -> answer: int", "Count.")
    errors = [
        VSAdapterParseError("no candidate", "I will not.", None, signature=signature),
        VSContextWindowExceeded("too long", limit=2048, prompt_tokens=3000, model="m", status=400),
        VSLMTransportError("connection refused", model="m"),
        VSLMServerError("upstream 500", status=500, retry_after=1.0),
    ]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert {name: value for name, value in vars(copy).items() if name != "signature"} == {
            name: value for name, value in vars(error).items() if name != "signature"
        }
    rebuilt = pickle.loads(pickle.dumps(errors[0])).signature
    assert rebuilt.instructions == "Count." and rebuilt.output_fields["answer"].annotation is int


def test_a_servers_context_error_gives_its_sizes_from_the_message():
    message = (
        "This model's maximum context length is 2048 tokens. However, you requested 5412 tokens "
        "(5012 in the messages, 400 in the completion)."
    )
    with (
        dspy.context(lm=RefusingLM(ContextWindowExceededError(message=message))),
        pytest.raises(ContextTooLong) as info,
    ):
        VerbalizedSampling("q -> answer", k=2)(q="x")
    assert (info.value.limit, info.value.prompt_tokens) == (2048, 5012)
    assert isinstance(info.value, ContextWindowExceededError)
