"""The DSPy adapter on the embedded model through DSPy's engine route."""

import dspy
import pytest
from dspy.utils.exceptions import ContextWindowExceededError, LMTransportError

from vs_integrations import BackendUnreachable, ContextTooLong
from vs_integrations.backends.local import LocalModel
from vs_integrations.dspy import VerbalizedSampling, local_lm

pytestmark = pytest.mark.integration


def test_with_no_lm_configured_the_module_runs_on_the_embedded_model():
    with dspy.context(lm=None, adapter=None):
        prediction = VerbalizedSampling("question -> answer", k=3)(question="Name a US state.")
    # A top-up pools its reply with the first, so a short first reply can end with more than k.
    answers = prediction.completions.answer
    assert prediction.answer in answers and len(set(answers)) == len(answers) >= 1
    assert prediction.distribution.raw.lstrip().startswith("{")  # JSONAdapter's schema-constrained JSON


async def test_async_engine_with_an_explicit_lm():
    lm = local_lm(LocalModel(seed=4), cache=False)
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        prediction = await VerbalizedSampling("topic -> joke", k=2, seed=1).acall(topic="coffee")
    assert prediction.joke
    assert lm.history[-1]["usage"]["completion_tokens"] > 0


def test_a_per_call_max_tokens_reaches_the_embedded_model():
    lm = local_lm(LocalModel(seed=0), cache=False)
    lm("Write a long story about a lighthouse keeper.", max_tokens=8)
    assert 0 < lm.history[-1]["usage"]["completion_tokens"] <= 8


def test_usage_tracking_counts_the_embedded_models_tokens():
    lm = local_lm(LocalModel(seed=2), cache=False)
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter(), track_usage=True):
        prediction = VerbalizedSampling("question -> answer", k=2, seed=0)(question="Name a US state.")
    usage = next(iter(prediction.get_lm_usage().values()))
    assert usage["completion_tokens"] == sum(entry["usage"]["completion_tokens"] for entry in lm.history) > 0


def test_a_prompt_too_long_is_contexttoolong_and_dspys_context_window_error():
    lm = local_lm(LocalModel(n_ctx=256), cache=False)
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()), pytest.raises(ContextTooLong) as info:
        VerbalizedSampling("question -> answer", k=2)(question="Name a US state. " * 200)
    assert isinstance(info.value, ContextWindowExceededError)
    assert info.value.limit == 256 and info.value.prompt_tokens > 256


def test_a_server_that_is_down_is_backendunreachable_and_dspys_transport_error():
    lm = dspy.LM("openai/any", api_base="http://127.0.0.1:9/v1", api_key="none", num_retries=0, cache=False)
    with dspy.context(lm=lm), pytest.raises(BackendUnreachable) as info:
        VerbalizedSampling("question -> answer", k=2)(question="Name a US state.")
    assert isinstance(info.value, LMTransportError) and info.value.__cause__ is not None


def test_a_prompt_too_long_for_the_real_server_is_contexttoolong(llama_server):
    lm = dspy.LM("openai/any", api_base=llama_server, api_key="none", num_retries=0, cache=False)
    with dspy.context(lm=lm), pytest.raises(ContextTooLong) as info:
        VerbalizedSampling("question -> answer", k=2)(question="coffee " * 5000)
    assert isinstance(info.value, ContextWindowExceededError) and info.value.__cause__ is not None
