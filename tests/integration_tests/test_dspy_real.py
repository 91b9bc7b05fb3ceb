"""The DSPy adapter on the embedded model through DSPy's engine route."""

import dspy
import pytest

from vs_integrations.dspy import VerbalizedSampling, local_lm
from vs_integrations.local import LocalModel

pytestmark = pytest.mark.integration


def test_module_runs_offline_on_the_embedded_model():
    lm = local_lm(LocalModel(seed=3), cache=False)
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        prediction = VerbalizedSampling("question -> answer", k=3, seed=0)(question="Name a US state.")
    assert prediction.answer and len(prediction.completions.answer) >= 1
    assert prediction.distribution.raw.lstrip().startswith("{")  # schema-constrained JSON
    assert lm.history[-1]["usage"]["completion_tokens"] > 0


async def test_async_engine():
    lm = local_lm(LocalModel(seed=4), cache=False)
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        prediction = await VerbalizedSampling("topic -> joke", k=2, seed=1).acall(topic="coffee")
    assert prediction.joke
