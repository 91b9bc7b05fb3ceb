"""Seeds the embedded model sends: reproducible with a seed, fresh without one (no model loaded)."""

from vs_integrations.backends.local import LocalModel
from vs_integrations.core.calls import GenerationSettings, ModelRequest

MESSAGES = [{"role": "user", "content": "Name a colour."}]
REQUEST = ModelRequest(MESSAGES, None)


def test_a_seed_gives_the_same_sequence_of_call_seeds():
    first, second = LocalModel(seed=7), LocalModel(seed=7)
    assert [first._request(REQUEST)["seed"] for _ in range(3)] == [7, 8, 9]
    assert [second._request(REQUEST)["seed"] for _ in range(3)] == [7, 8, 9]


def test_no_seed_sends_a_fresh_seed_every_call():
    # Without one, llama.cpp would use its fixed default and every process would replay the same replies.
    seeds = [LocalModel()._request(REQUEST)["seed"] for _ in range(4)]
    assert len(set(seeds)) == 4 and all(isinstance(seed, int) and seed >= 0 for seed in seeds)


def test_a_request_seed_is_used_as_is_and_leaves_the_base_sequence_alone():
    model = LocalModel(seed=7)
    seeded = ModelRequest(MESSAGES, None, GenerationSettings(seed=42))
    assert [model._request(seeded)["seed"] for _ in range(2)] == [42, 42]
    assert model._request(REQUEST)["seed"] == 7
