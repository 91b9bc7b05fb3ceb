"""What a distinct candidate costs on the embedded model, measured side by side in one run.

1. Retries of a short reply: the old loop (every retry asks for all k again; the best single
   reply wins) against the engine's top-up (a retry asks only for the missing candidates, listing
   the held ones; the replies are pooled). Both start from the same seed, so their first calls
   are the same and only the retries differ.
2. Collecting N distinct candidates: ``VSEngine.distinct`` against repeated independent VS calls
   (one call each, no retry) pooled until N distinct or the same call budget is spent.

Figures: calls, prompt and completion tokens (LocalModel's usage counters), seconds, distinct
candidates, and the ratios per distinct candidate.

Usage: VS_THREADS=1 python benchmarks/sampling_cost.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from vs_integrations import Distribution, ParseError, VSConfig, VSEngine, build_messages, json_schema, parse
from vs_integrations.backends.local import LocalModel
from vs_integrations.core.distribution import text_key

PROMPTS = [
    "Name a US state.",
    "Tell a joke about coffee.",
    "Name a colour.",
    "Suggest a name for a cat.",
    "Name a fruit.",
]
K = 5
DISTINCT_N = 10


@dataclass
class Tally:
    """Costs and yield added up over runs."""

    runs: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    distinct: int = 0

    def row(self, label: str) -> str:
        per = max(self.distinct, 1)
        return (
            f"{label:34} {self.calls:5} {self.prompt_tokens:7} {self.completion_tokens:7} {self.seconds:8.1f} "
            f"{self.distinct:5}  {self.completion_tokens / per:8.1f} {self.seconds / per:7.2f} "
            f"{1000 * self.distinct / max(self.completion_tokens, 1):8.1f}"
        )


HEADER = (
    f"{'':34} {'calls':>5} {'prompt':>7} {'compl.':>7} {'seconds':>8} {'dist.':>5}  "
    f"{'tok/dist':>8} {'s/dist':>7} {'dist/1kt':>8}"
)


def measure(tally: Tally, run: Callable[..., int], model: LocalModel, *args: object) -> None:
    """``run(model, *args)`` once, adding its calls, tokens, seconds and distinct candidates to ``tally``."""
    calls, prompt, completion = model.usage.calls, model.usage.prompt_tokens, model.usage.completion_tokens
    start = time.perf_counter()
    distinct = run(model, *args)
    tally.seconds += time.perf_counter() - start
    tally.runs += 1
    tally.calls += model.usage.calls - calls
    tally.prompt_tokens += model.usage.prompt_tokens - prompt
    tally.completion_tokens += model.usage.completion_tokens - completion
    tally.distinct += distinct


def ask_all_again(model: LocalModel, prompt: str, config: VSConfig) -> int:
    """The retry loop before top-ups: each retry asks for all k again; the best single reply wins.

    Returns the number of distinct candidates in the result.
    """
    messages, schema = build_messages(prompt, config), json_schema(config)
    best: Distribution | None = None
    for _ in range(config.max_retries + 1):
        try:
            distribution = parse(model(messages, schema), config)
        except ParseError:
            continue
        if len(distribution) >= config.k:
            return len(distribution)
        if best is None or len(distribution) > len(best):
            best = distribution
    return len(best) if best is not None else 0


def top_up(model: LocalModel, prompt: str, engine: VSEngine) -> int:
    """The engine's loop: a retry asks only for the missing candidates."""
    try:
        return len(engine.run(model, prompt))
    except ParseError:
        return 0


def collect_distinct(model: LocalModel, prompt: str, engine: VSEngine, n: int) -> int:
    try:
        return len(engine.distinct(model, prompt, n))
    except ParseError:
        return 0


def independent_calls(model: LocalModel, prompt: str, config: VSConfig, n: int, budget: int) -> int:
    """Distinct candidates pooled from one-call VS runs, until ``n`` or ``budget`` calls."""
    engine = VSEngine(config, max_retries=0)
    held: set[str] = set()
    for _ in range(budget):
        try:
            held.update(text_key(text) for text in engine.run(model, prompt).texts)
        except ParseError:
            pass
        if len(held) >= n:
            break
    return len(held)


def retry_figures(prompts: list[str], repeats: int) -> None:
    print(f"## Retries of a short reply (k={K}, max_retries=2; same seeds; {len(prompts)} prompts x {repeats})")
    config = VSConfig(k=K, max_retries=2)
    engine = VSEngine(config)
    before, after = Tally(), Tally()
    for repeat in range(repeats):
        for number, prompt in enumerate(prompts):
            seed = 1000 * repeat + number
            measure(before, ask_all_again, LocalModel(seed=seed), prompt, config)
            measure(after, top_up, LocalModel(seed=seed), prompt, engine)
    print(HEADER)
    print(before.row("ask all k again (before)"))
    print(after.row("top up the missing ones (after)"))
    print_ratios(before, after)


def distinct_figures(prompts: list[str], repeats: int) -> None:
    budget = 2 * -(-DISTINCT_N // K) + 1
    print(
        f"## Collecting {DISTINCT_N} distinct candidates (k={K}, budget {budget} calls; "
        f"{len(prompts)} prompts x {repeats})"
    )
    config = VSConfig(k=K)
    engine = VSEngine(config)
    independent, distinct = Tally(), Tally()
    for repeat in range(repeats):
        for number, prompt in enumerate(prompts):
            seed = 5000 + 1000 * repeat + number
            measure(independent, independent_calls, LocalModel(seed=seed), prompt, config, DISTINCT_N, budget)
            measure(distinct, collect_distinct, LocalModel(seed=seed), prompt, engine, DISTINCT_N)
    print(HEADER)
    print(independent.row("independent VS calls, pooled"))
    print(distinct.row("VSEngine.distinct"))
    print_ratios(independent, distinct)


def print_ratios(before: Tally, after: Tally) -> None:
    def per(tally: Tally, value: float) -> float:
        return value / max(tally.distinct, 1)

    tokens = per(after, after.completion_tokens) / max(per(before, before.completion_tokens), 1e-9)
    seconds = per(after, after.seconds) / max(per(before, before.seconds), 1e-9)
    print(
        f"second / first: completion tokens per distinct {tokens:.2f}x, seconds per distinct {seconds:.2f}x, "
        f"distinct per run {after.distinct / max(after.runs, 1):.1f} vs {before.distinct / max(before.runs, 1):.1f}"
    )
    print()


def main(quick: bool = False) -> None:
    """Print both comparisons; ``quick`` runs 2 prompts once each (a few minutes on an idle machine)."""
    print(f"(VS_THREADS={os.environ.get('VS_THREADS', '2')}, load average {os.getloadavg()[0]:.2f})")
    if quick:
        retry_figures(PROMPTS[:2], 1)
        distinct_figures(PROMPTS[:2], 1)
    else:
        retry_figures(PROMPTS[:4], 2)
        distinct_figures(PROMPTS[:3], 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 prompts, once each")
    main(parser.parse_args().quick)
