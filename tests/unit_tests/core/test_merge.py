import math

import pytest

from vs_integrations import Candidate, Distribution
from vs_integrations.core.calls import CallRecord, Usage


def dist(*pairs, raw="", warnings=(), truncated=False, reasoning=None):
    return Distribution(
        [Candidate(text, p, p, i) for i, (text, p) in enumerate(pairs)],
        raw=raw,
        warnings=warnings,
        truncated=truncated,
        reasoning=reasoning,
    )


def test_equal_weights_mixture_pools_by_normalised_text():
    a = dist(("New  York", 0.6), ("Ohio", 0.4), raw="reply a")
    b = dist(("new york", 0.5), (" Utah\n", 0.5), raw="reply b")
    merged = Distribution.merge([a, b])
    assert merged.texts == ["New  York", "Ohio", " Utah\n"]
    assert merged.probabilities == pytest.approx([0.55, 0.2, 0.25])
    assert [c.index for c in merged] == [0, 1, 2]
    assert [c.raw_probability for c in merged] == [0.6, 0.4, 0.5]
    assert merged.raw == "reply a\n\nreply b"
    assert any("pooled 1 duplicate" in w for w in merged.warnings)


def test_weights_are_normalised():
    merged = Distribution.merge([dist(("a", 1.0)), dist(("b", 1.0))], [3, 1])
    assert merged.probabilities == pytest.approx([0.75, 0.25])


def test_zero_weight_keeps_raw_and_warnings_not_candidates():
    zero = dist(("b", 1.0), raw="ignored reply", warnings=["w0"])
    merged = Distribution.merge([dist(("a", 1.0), raw="kept"), zero], [1, 0])
    assert merged.texts == ["a"] and merged.probabilities == [1.0]
    assert merged.raw == "kept\n\nignored reply" and merged.warnings == ("w0",)


def test_same_predicate_pools_semantic_matches_keeping_the_first_spelling():
    a = dist(("NYC", 0.5), ("Ohio", 0.5))
    b = dist(("New York City", 0.8), ("Iowa", 0.2))
    c = dist(("new york city", 1.0))

    def same(x: str, y: str) -> bool:
        return {x.casefold(), y.casefold()} <= {"nyc", "new york city"}

    merged = Distribution.merge([a, b, c], same=same)
    assert merged.texts == ["NYC", "Ohio", "Iowa"]
    assert merged.probabilities == pytest.approx([(0.5 + 0.8 + 1.0) / 3, 0.5 / 3, 0.2 / 3])
    assert math.fsum(merged.probabilities) == pytest.approx(1.0)


def test_raw_warnings_truncation_and_reasoning_are_kept():
    a = dist(("a", 1.0), raw="r1", warnings=["w1"], reasoning="think 1")
    b = dist(("b", 1.0), raw="r2", warnings=["w2", "w3"], truncated=True)
    merged = Distribution.merge([a, b])
    assert merged.warnings == ("w1", "w2", "w3")
    assert merged.truncated is True and merged.reasoning == "think 1"
    assert Distribution.merge([a]).truncated is False


def test_unnormalised_inputs_are_renormalised():
    merged = Distribution.merge([dist(("a", 2.0), ("b", 2.0))])
    assert merged.probabilities == pytest.approx([0.5, 0.5])
    zeros = Distribution.merge([dist(("a", 0.0), ("b", 0.0))])
    assert zeros.probabilities == pytest.approx([0.5, 0.5])
    assert any("uniform" in w for w in zeros.warnings)


def test_merged_distribution_samples_and_round_trips():
    merged = Distribution.merge([dist(("a", 0.5), ("b", 0.5)), dist(("c", 1.0))])
    assert merged.sample(seed=3).text in {"a", "b", "c"}
    assert Distribution.from_dict(merged.to_dict()) == merged


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ([1.0], r"got 1 weight\(s\) for 2 distribution\(s\)"),
        ([1.0, -0.5], r"weights\[1\] must be >= 0; got -0.5"),
        ([float("nan"), 1.0], r"weights\[0\] must be finite; got nan"),
        ([float("inf"), 1.0], r"weights\[0\] must be finite"),
        ([0, 0.0], "the weights are all zero"),
        ([1, "2"], r"weights\[1\] must be a number; got '2'"),
        ([True, 1], r"weights\[0\] must be a number; got True"),
    ],
)
def test_bad_weights_are_named(weights, match):
    with pytest.raises(ValueError, match=match):
        Distribution.merge([dist(("a", 1.0)), dist(("b", 1.0))], weights)


def test_bad_distributions():
    with pytest.raises(ValueError, match="at least one distribution"):
        Distribution.merge([])
    with pytest.raises(TypeError, match=r"distributions\[1\] must be a Distribution; got dict"):
        Distribution.merge([dist(("a", 1.0)), {"a": 1.0}])  # type: ignore[list-item]


def test_merge_concatenates_the_calls_and_sums_the_usage():
    first = (CallRecord("first", 2, 10, 5, 1.0), CallRecord("top-up", 1, 12, 3, 0.5))
    second = (CallRecord("first", 1, 8, 4, 2.0, "length"),)
    a = Distribution([Candidate("x", 1.0, None, 0)], calls=first)
    b = Distribution([Candidate("y", 1.0, None, 0)], calls=second)
    ignored = Distribution([Candidate("z", 1.0, None, 0)], calls=second)
    merged = Distribution.merge([a, b, ignored], weights=[1, 1, 0])
    assert merged.texts == ["x", "y"]
    assert merged.calls == first + second + second  # a zero-weight part's calls were still paid for
    assert merged.usage == a.usage + b.usage + ignored.usage
    assert merged.usage == Usage(calls=4, prompt_tokens=38, completion_tokens=16, seconds=5.5)
