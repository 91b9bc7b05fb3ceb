"""The LM calls' usage, finish reason, model and time reach the distribution's trace; temperature 0
sends no rollout id (issue 22)."""

import json
import warnings

import dspy
import pytest
from dspy.lm15 import Usage as LMUsage

from vs_integrations import Reply, Usage
from vs_integrations.dspy import LocalEngine, VerbalizedSampling
from vs_integrations.dspy.local_engine import AsyncLocalEngine

from .scripted import scripted_lm


@pytest.fixture(autouse=True)
def reset_dspy():
    yield
    dspy.configure(lm=None, adapter=None, track_usage=False)


def candidates(*states: str) -> str:
    return json.dumps([{"answer": s, "probability": round(1 / len(states), 4)} for s in states])


def scripted(*replies: str):
    """A scripted LM answering ``replies`` in turn, each call reporting 600 prompt and 200 completion tokens."""
    queue = list(replies)
    lm, engine = scripted_lm(lambda field, messages: queue.pop(0) if field == "candidates" else "")
    engine.usage = LMUsage(input_tokens=600, output_tokens=200, total_tokens=800)
    return lm, engine


def test_distribution_usage_is_what_dspys_usage_tracking_counts():
    lm, _ = scripted(candidates("Ohio", "Utah"), candidates("Maine"))
    dspy.configure(lm=lm, track_usage=True)
    prediction = VerbalizedSampling("q -> answer", k=3, seed=0)(q="Name a US state.")
    distribution = prediction.distribution
    tracked = prediction.get_lm_usage()["scripted/test"]
    assert distribution.usage.calls == 2
    assert (
        (distribution.usage.prompt_tokens, distribution.usage.completion_tokens)
        == (
            tracked["prompt_tokens"],
            tracked["completion_tokens"],
        )
        == (1200, 400)
    )
    assert [(r.kind, r.finish_reason, r.model) for r in distribution.calls] == [
        ("first", "stop", "scripted"),
        ("top-up", "stop", "scripted"),
    ]
    assert all(r.seconds is not None for r in distribution.calls)
    assert distribution.usage.seconds > 0


def test_a_reply_cut_at_the_token_limit_is_noted_as_such():
    lm, engine = scripted(candidates("Ohio", "Utah"))
    engine.finish_reason = "length"
    with dspy.context(lm=lm):
        distribution = VerbalizedSampling("q -> answer", k=2, seed=0)(q="x").distribution
    assert distribution.calls[0].finish_reason == "length"
    assert distribution.truncated and any("token limit" in w for w in distribution.warnings)


class CountingModel:
    """The embedded model's place under LocalEngine: answers with a Reply that states its cost."""

    model_name = "SmolLM2-135M-Instruct.Q4_1.gguf"

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)

    def generate(self, request):
        return Reply(self.replies.pop(0), prompt_tokens=417, completion_tokens=135, finish_reason="stop", model="smol")


def test_the_embedded_models_route_reports_its_usage():
    reply = json.dumps({"candidates": json.loads(candidates("Ohio", "Utah"))})
    lm = dspy.LM("local/smol", engine=LocalEngine(CountingModel(reply)), cache=False)
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        distribution = VerbalizedSampling("q -> answer", k=2, seed=0)(q="x").distribution
    assert distribution.usage == Usage(1, 417, 135, distribution.usage.seconds)
    assert distribution.calls[0].finish_reason == "stop"


async def test_the_embedded_models_route_reports_its_usage_async():
    reply = json.dumps({"candidates": json.loads(candidates("Ohio", "Utah"))})
    engine = LocalEngine(CountingModel(reply))
    lm = dspy.LM("local/smol", engine=engine, async_engine=AsyncLocalEngine(engine), cache=False)
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        prediction = await VerbalizedSampling("q -> answer", k=2, seed=0).acall(q="x")
    assert prediction.distribution.usage.total_tokens == 552


def test_temperature_zero_sends_no_rollout_id_and_no_warning():
    lm, _ = scripted(candidates("Ohio", "Utah"), candidates("Ohio", "Utah"))
    with dspy.context(lm=lm), warnings.catch_warnings():
        warnings.simplefilter("error")
        VerbalizedSampling("q -> answer", k=2, temperature=0)(q="x")
        VerbalizedSampling("q -> answer", k=2, seed=1)(q="x", config={"temperature": 0})
    assert all("rollout_id" not in entry["kwargs"] for entry in lm.history)
    assert [entry["kwargs"]["temperature"] for entry in lm.history] == [0, 0]


def test_other_temperatures_keep_the_rollout_id_so_the_cache_does_not_replay():
    lm, engine = scripted(candidates("Ohio", "Utah"), candidates("Maine", "Texas"))
    lm.cache = True
    with dspy.context(lm=lm):
        first = VerbalizedSampling("q -> answer", k=2, temperature=0.5)(q="x")
        second = VerbalizedSampling("q -> answer", k=2)(q="x")
    assert all("rollout_id" in entry["kwargs"] for entry in lm.history)
    assert len(engine.requests) == 2 and first.completions.answer != second.completions.answer
