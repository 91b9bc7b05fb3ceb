"""Seeds the embedded model sends: reproducible with a seed, fresh without one (no model loaded)."""

from vs_integrations.backends.local import LocalModel

MESSAGES = [{"role": "user", "content": "Name a colour."}]


def test_a_seed_gives_the_same_sequence_of_call_seeds():
    first, second = LocalModel(seed=7), LocalModel(seed=7)
    assert [first._request(MESSAGES, None)["seed"] for _ in range(3)] == [7, 8, 9]
    assert [second._request(MESSAGES, None)["seed"] for _ in range(3)] == [7, 8, 9]


def test_no_seed_sends_a_fresh_seed_every_call():
    # Without one, llama.cpp would use its fixed default and every process would replay the same replies.
    seeds = [LocalModel()._request(MESSAGES, None)["seed"] for _ in range(4)]
    assert len(set(seeds)) == 4 and all(isinstance(seed, int) and seed >= 0 for seed in seeds)
