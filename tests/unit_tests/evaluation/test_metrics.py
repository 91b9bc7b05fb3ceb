"""Each metric on hand-computed cases."""

import math

import pytest

from vs_integrations.tools.evaluation import (
    coverage,
    distinct_n,
    kl_to_uniform,
    mean_pairwise_rouge_l,
    rouge_l_f1,
    semantic_diversity,
)
from vs_integrations.tools.evaluation.tasks import DICE_FACES


def test_kl_to_uniform():
    assert kl_to_uniform({f: 10 for f in DICE_FACES}, DICE_FACES) == pytest.approx(0.0)
    assert kl_to_uniform({"3": 7}, DICE_FACES) == pytest.approx(math.log(6))
    # two faces, 3:1 -> p = (0.75, 0.25): 0.75 ln(4.5) + 0.25 ln(1.5)
    assert kl_to_uniform({"1": 3, "2": 1}, DICE_FACES) == pytest.approx(0.75 * math.log(4.5) + 0.25 * math.log(1.5))
    assert kl_to_uniform({"1": 1, "9": 100}, DICE_FACES) == pytest.approx(math.log(6))  # outside the support: ignored
    with pytest.raises(ValueError):
        kl_to_uniform({"9": 1}, DICE_FACES)
    with pytest.raises(ValueError):
        kl_to_uniform({"1": 1}, [])


def test_coverage():
    assert coverage(["Ohio", "Ohio", "Utah"], ["Ohio", "Utah", "Iowa", "Maine"]) == 0.5
    assert coverage(["Narnia"], ["Ohio"]) == 0.0


def test_distinct_n():
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n(["a"], 2) == 0.0
    with pytest.raises(ValueError):
        distinct_n(["a"], 0)


def test_rouge_l():
    assert rouge_l_f1("the cat sat", "the cat sat") == 1.0
    assert rouge_l_f1("a b c d", "x y") == 0.0
    # LCS("a b c d", "a c e") = "a c" (2): P = 2/3, R = 2/4 -> F1 = 4/7
    assert rouge_l_f1("a b c d", "a c e") == pytest.approx(4 / 7)
    assert rouge_l_f1("", "a") == 0.0
    assert mean_pairwise_rouge_l(["a b", "a b", "c d"]) == pytest.approx((1 + 0 + 0) / 3)


def test_semantic_diversity():
    assert semantic_diversity([[1, 0], [2, 0]]) == pytest.approx(0.0)
    assert semantic_diversity([[1, 0], [0, 3]]) == pytest.approx(100.0)
    assert semantic_diversity([[1, 0], [-1, 0]]) == pytest.approx(100.0)  # negative cosine clipped to 0
    # pairs: (x, y) 1 - 0 = 1; (x, diag) 1 - 1/sqrt2; (y, diag) 1 - 1/sqrt2
    expected = 100 * (1 + 2 * (1 - 1 / math.sqrt(2))) / 3
    assert semantic_diversity([[1, 0], [0, 1], [1, 1]]) == pytest.approx(expected)
