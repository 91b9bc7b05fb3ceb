"""Seeds the embedded model sends: reproducible with a seed, fresh without one (no model loaded)."""

import subprocess
import sys

from vs_integrations.backends.local import LocalModel, call_seed
from vs_integrations.core.calls import GenerationSettings, ModelRequest

MESSAGES = [{"role": "user", "content": "Name a colour."}]
REQUEST = ModelRequest(MESSAGES, None)


def call_seeds(seed: int, calls: int) -> list[int]:
    model = LocalModel(seed=seed)
    return [model._request(REQUEST)["seed"] for _ in range(calls)]


def test_a_seed_gives_the_same_sequence_of_call_seeds():
    first = call_seeds(7, 3)
    assert first == call_seeds(7, 3) == [call_seed(7, call) for call in range(3)]
    assert len(set(first)) == 3 and all(0 <= seed < 2**31 for seed in first)


def test_neighbouring_seeds_share_no_call_seed():
    # seed + call made seed 1's calls replay seed 0's, shifted by one call.
    assert set(call_seeds(0, 50)).isdisjoint(call_seeds(1, 50))


def test_the_sequence_is_the_same_in_another_process():
    # A stable hash, not Python's per-process salted one: runs repeat across processes.
    code = "from vs_integrations.backends.local import call_seed; print([call_seed(7, i) for i in range(3)])"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PYTHONPATH": ":".join(sys.path)},
    )
    assert other.stdout.strip() == str(call_seeds(7, 3))


def test_no_seed_sends_a_fresh_seed_every_call():
    # Without one, llama.cpp would use its fixed default and every process would replay the same replies.
    seeds = [LocalModel()._request(REQUEST)["seed"] for _ in range(4)]
    assert len(set(seeds)) == 4 and all(isinstance(seed, int) and seed >= 0 for seed in seeds)


def test_a_request_seed_is_used_as_is_and_leaves_the_base_sequence_alone():
    model = LocalModel(seed=7)
    seeded = ModelRequest(MESSAGES, None, GenerationSettings(seed=42))
    assert [model._request(seeded)["seed"] for _ in range(2)] == [42, 42]
    assert model._request(REQUEST)["seed"] == call_seed(7, 0)
