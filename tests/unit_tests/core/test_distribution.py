import json
import os
import random
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from vs_integrations import Candidate, Distribution, parse
from vs_integrations.core.calls import CallRecord, Usage


@pytest.fixture
def dist() -> Distribution:
    return parse(
        '[{"text": "a", "probability": 0.6}, {"text": "b", "probability": 0.3}, {"text": "c", "probability": 0.1}]'
    )


def test_sequence_protocol(dist):
    assert len(dist) == 3
    assert dist[0] == Candidate("a", dist[0].probability, 0.6, 0)
    assert dist[0].probability == pytest.approx(0.6)
    assert [c.text for c in dist] == ["a", "b", "c"]
    assert dist[1:] == dist.candidates[1:]


def test_candidate_is_immutable(dist):
    with pytest.raises(AttributeError):
        dist[0].text = "x"  # type: ignore[misc]


def test_sample_same_seed_same_pick_and_follows_probabilities(dist):
    assert all(dist.sample(seed=s) == dist.sample(seed=s) for s in range(50))
    rng = random.Random(0)
    counts = Counter(dist.sample(rng).text for _ in range(10_000))
    assert abs(counts["a"] / 10_000 - 0.6) < 0.03
    assert abs(counts["c"] / 10_000 - 0.1) < 0.02


def test_sample_empty_raises():
    with pytest.raises(ValueError, match="empty"):
        Distribution([]).sample()


def test_argmax_top_filter(dist):
    assert dist.argmax().text == "a"
    assert [c.text for c in dist.top(2)] == ["a", "b"]
    kept = dist.filter(lambda c: c.text != "a")
    assert kept.texts == ["b", "c"]
    assert [round(p, 4) for p in kept.probabilities] == [0.75, 0.25]
    assert kept.raw == dist.raw
    with pytest.raises(ValueError, match="no candidate"):
        dist.filter(lambda c: False)


def test_with_temperature(dist):
    sharp = dist.with_temperature(0.5)
    assert [round(p, 4) for p in sharp.probabilities] == [round(x / 0.46, 4) for x in (0.36, 0.09, 0.01)]
    flat = dist.with_temperature(1000)
    assert max(flat.probabilities) - min(flat.probabilities) < 0.01
    assert dist.with_temperature(0.001).argmax().probability == pytest.approx(1.0)
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            dist.with_temperature(bad)


def test_entropy(dist):
    uniform = parse('["a", "b", "c", "d"]')
    assert uniform.entropy == pytest.approx(1.3862943611198906)
    assert 0 < dist.entropy < uniform.entropy


def test_dict_round_trip_is_json_serialisable(dist):
    data = dist.to_dict()
    assert set(data) == {"candidates", "raw", "warnings", "truncated", "reasoning", "calls", "usage"}
    assert set(data["candidates"][0]) == {"text", "probability", "raw_probability", "index"}
    again = Distribution.from_dict(json.loads(json.dumps(data)))
    assert again == dist and again.raw == dist.raw


def test_from_dict_rejects_malformed():
    with pytest.raises(ValueError, match="not a Distribution dict"):
        Distribution.from_dict({"candidates": [{"text": "a"}]})


def test_markdown(dist):
    md = parse('[{"text": "x|y\\nz", "probability": 1}]').to_markdown()
    assert "x\\|y<br>z" in md
    assert dist.to_markdown().count("\n") == 4


# --- guards: no silent pick from a distribution that is not one --------------------------------
@pytest.mark.parametrize(
    ("probabilities", "message"),
    [
        ([0.0, 0.0], "all 2 probabilities are 0"),
        ([0.7, -0.2], "candidate 1 .* probability -0.2"),
        ([float("nan"), 0.5], "candidate 0 .* probability nan"),
        ([float("inf"), 0.5], "candidate 0 .* probability inf"),
    ],
)
def test_sample_refuses_probabilities_no_distribution_can_hold(probabilities, message):
    dist = Distribution([Candidate(f"c{i}", p, None, i) for i, p in enumerate(probabilities)])
    with pytest.raises(ValueError, match=message):
        dist.sample(seed=0)


def test_from_dict_renormalises_with_a_warning():
    data = {
        "candidates": [
            {"text": "a", "probability": 3, "raw_probability": 3, "index": 0},
            {"text": "b", "probability": 1, "raw_probability": None, "index": 1},
        ],
        "raw": "r",
        "warnings": ["kept"],
    }
    dist = Distribution.from_dict(data)
    assert dist.probabilities == [0.75, 0.25]
    assert dist.warnings[0] == "kept"
    assert any("summed to 4" in w for w in dist.warnings)
    assert dist.raw == "r"


@pytest.mark.parametrize("bad", [-1, float("nan"), "inf"])
def test_from_dict_refuses_impossible_probabilities(bad):
    data = {"candidates": [{"text": "a", "probability": bad, "index": 0}, {"text": "b", "probability": 1, "index": 1}]}
    with pytest.raises(ValueError, match="candidate 0"):
        Distribution.from_dict(data)


def test_from_dict_refuses_all_zero_probabilities():
    data = {"candidates": [{"text": "a", "probability": 0, "index": 0}]}
    with pytest.raises(ValueError, match="all 1 probabilities are 0"):
        Distribution.from_dict(data)


def test_round_trip_keeps_a_valid_distribution_unchanged(dist):
    assert Distribution.from_dict(json.loads(json.dumps(dist.to_dict()))) == dist


# -- immutability and the trace ---------------------------------------------------------------------

TRACE = (
    CallRecord("first", 2, 40, 20, 0.5, "length", "m", "json_schema", 1),
    CallRecord("top-up", 1, 50, 10, 0.25, "stop", "m", "json_object", 3),
)


def traced() -> Distribution:
    return Distribution(
        [Candidate("a", 0.75, 0.3, 0), Candidate("b", 0.25, 0.1, 1)], raw="r", warnings=["w"], calls=TRACE
    )


def test_a_distribution_cannot_be_changed_after_construction():
    dist = traced()
    assert dist.warnings == ("w",) and dist.calls == TRACE
    for name in ("raw", "warnings", "truncated", "reasoning", "calls", "usage"):
        with pytest.raises(AttributeError):
            setattr(dist, name, None)
    with pytest.raises(AttributeError):
        dist.warnings.append("x")  # type: ignore[attr-defined]
    warnings = ["given"]
    built = Distribution([Candidate("a", 1.0, None, 0)], warnings=warnings)
    warnings.append("later")
    assert built.warnings == ("given",)


def test_replace_returns_a_copy_with_the_given_attributes():
    dist = traced()
    noted = dist.replace(warnings=[*dist.warnings, "checked"])
    assert noted.warnings == ("w", "checked") and dist.warnings == ("w",)
    assert noted.calls == TRACE and noted.raw == "r" and noted.texts == dist.texts


def test_usage_sums_the_calls():
    assert traced().usage == Usage(calls=2, prompt_tokens=90, completion_tokens=30, seconds=0.75)
    assert Distribution([Candidate("a", 1.0, None, 0)]).usage == Usage()


def test_the_trace_survives_transformations_and_the_dict_round_trip():
    dist = traced()
    assert dist.filter(lambda c: c.text == "a").calls == TRACE
    assert dist.with_temperature(2.0).calls == TRACE
    data = json.loads(json.dumps(dist.to_dict()))
    assert data["usage"] == {"calls": 2, "prompt_tokens": 90, "completion_tokens": 30, "seconds": 0.75, "unreported": 0}
    back = Distribution.from_dict(data)
    assert back.calls == TRACE and back.usage == dist.usage and back == dist
    old = {k: v for k, v in data.items() if k not in ("calls", "usage")}
    assert Distribution.from_dict(old).calls == ()


def test_equality_ignores_the_trace_but_not_the_content():
    plain = Distribution(traced().candidates, raw="r", warnings=["w"])
    assert plain == traced()
    assert plain != traced().replace(raw="other")


@pytest.mark.parametrize("calls", [[{"kind": "guess"}], ["first"], [{"added": 1}]])
def test_from_dict_refuses_a_malformed_trace(calls):
    data = traced().to_dict() | {"calls": calls}
    with pytest.raises(ValueError, match="not a Distribution dict"):
        Distribution.from_dict(data)


# -- the one draw and its seeding rule ---------------------------------------------------------------

DRAW = textwrap.dedent(
    """
    from vs_integrations import Candidate, Distribution
    dist = Distribution([Candidate(str(i), 1 / 20, None, i) for i in range(20)])
    print([dist.sample(seed).text for seed in (0, 1, 2, 3, "prompt-7", "q:9", 123456789)])
    """
)


def test_an_int_or_str_seed_gives_the_same_candidate_in_any_process():
    # Run in processes with different hash seeds: a draw keyed on hash() would differ between them.
    picks = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": os.pathsep.join(sys.path)}
        done = subprocess.run([sys.executable, "-c", DRAW], env=env, capture_output=True, text=True, check=True)
        picks.add(done.stdout)
    assert len(picks) == 1
    dist = Distribution([Candidate(str(i), 1 / 20, None, i) for i in range(20)])
    here = [dist.sample(seed).text for seed in (0, 1, 2, 3, "prompt-7", "q:9", 123456789)]
    assert picks == {f"{here}\n"}
    assert len(set(here)) > 1  # the seeds do pick different candidates


def test_a_random_generator_seed_draws_from_its_stream():
    dist = Distribution([Candidate(str(i), 0.1, None, i) for i in range(10)])
    first, second = random.Random(5), random.Random(5)
    assert [dist.sample(first).text for _ in range(8)] == [dist.sample(second).text for _ in range(8)]


@pytest.mark.parametrize("seed", [1.5, True, b"x", [1]])
def test_sample_refuses_other_seed_types(seed):
    with pytest.raises(TypeError, match="seed must be an int, a str"):
        traced().sample(seed)
