"""The DSPy adapter on the embedded model through DSPy's engine route."""

import dspy
import pytest

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
