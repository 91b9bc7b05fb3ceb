"""Tokens/s of the embedded model by thread count: idle, beside busy loops, beside another llama.cpp.

Usage: python benchmarks/threads.py [--quick]   (--quick: the idle condition only)

llama.cpp's worker threads spin while they wait for a core, so a thread count that is fast on
an idle machine can collapse when something else wants the same cores. Each row loads the
model with ``n_threads`` (generation) and ``n_threads_batch`` (prompt processing), streams one
VS-sized prompt and reports prompt tokens/s (prompt size / time to the first token) and
generation tokens/s (after the first token). Conditions: nothing else started by this script;
one busy-loop process per core; a second process running the same model with the same thread
counts, generating without pause. The machine's load average is printed with every row: on a
shared machine "idle" only means "nothing added by this script".
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from vs_integrations import VSConfig, build_messages
from vs_integrations.backends.local import available_cores, default_model_path, default_threads

MAX_TOKENS = 48
BUDGET_SECONDS = 10.0  # of generation per call: a collapsed setting is cut short, not waited out
REPEATS = 2
COMPETITOR = """
import sys
from llama_cpp import Llama
llama = Llama(model_path=sys.argv[1], n_ctx=1024, n_threads=int(sys.argv[2]), n_threads_batch=int(sys.argv[3]),
              verbose=False)
print("ready", flush=True)
while True:
    llama.reset()
    llama.create_completion("Write a long story about a bear who lives in a forest.", max_tokens=128, temperature=0.7)
"""


@contextmanager
def busy_loops(count: int) -> Iterator[None]:
    """``count`` processes spinning on the CPU for the duration of the block."""
    processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(1.0)
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait()


@contextmanager
def second_llama(threads: int, batch_threads: int) -> Iterator[None]:
    """Another process generating with the same model and thread counts, without pause."""
    process = subprocess.Popen(
        [sys.executable, "-c", COMPETITOR, str(default_model_path()), str(threads), str(batch_threads)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the competing llama.cpp process did not start")
        time.sleep(1.0)  # let it reach generation
        yield
    finally:
        process.kill()
        process.wait()


def measure(threads: int, batch_threads: int) -> tuple[float, float]:
    """Median prompt and generation tokens/s of ``REPEATS`` streamed calls (after a warm-up)."""
    from llama_cpp import Llama

    llama: Any = Llama(
        model_path=str(default_model_path()),
        n_ctx=1024,
        n_threads=threads,
        n_threads_batch=batch_threads,
        verbose=False,
    )
    prompt = "\n\n".join(message["content"] for message in build_messages("Name a US state.", VSConfig(k=5)))
    prompt_tokens = len(llama.tokenize(prompt.encode()))
    no_eos = {llama.token_eos(): -100.0}  # always generate MAX_TOKENS tokens
    prompt_rates, generation_rates = [], []
    try:
        llama.create_completion("Hello", max_tokens=1)  # warm-up: first use allocates buffers
        for _ in range(REPEATS):
            llama.reset()  # no prompt cache: every call processes the whole prompt
            start = time.perf_counter()
            first = last = 0.0
            count = 0
            chunks = llama.create_completion(
                prompt, max_tokens=MAX_TOKENS, temperature=0.0, stream=True, logit_bias=no_eos
            )
            for _ in chunks:
                count += 1
                last = time.perf_counter() - start
                if count == 1:
                    first = last
                elif last - first > BUDGET_SECONDS:
                    break
            prompt_rates.append(prompt_tokens / first)
            generation_rates.append((count - 1) / (last - first) if count > 1 else 0.0)
    finally:
        llama.close()
    return statistics.median(prompt_rates), statistics.median(generation_rates)


def settings(cores: int) -> list[tuple[int, int]]:
    """(n_threads, n_threads_batch) pairs: 1, 2 and all cores, and llama-cpp-python's own default."""
    pairs = [(1, 1), (2, 2), (cores, cores), (max(cores // 2, 1), cores)]
    return list(dict.fromkeys((min(a, cores), min(b, cores)) for a, b in pairs))


def main(quick: bool = False) -> None:
    cores = available_cores()
    print(f"## Embedded model threads (SmolLM2-135M, {cores} cores; library default {default_threads()} thread(s))")
    print("prompt: the VS prompt for 'Name a US state.' (k=5); generation: up to 48 tokens, temperature 0")
    print(f"{'condition':32} {'threads gen/batch':>18} {'prompt tok/s':>13} {'gen tok/s':>10} {'load (1 min)':>13}")
    conditions: list[tuple[str, Any]] = [("nothing added", lambda t, b: _nothing())]
    if not quick:
        conditions += [
            (f"{cores} busy-loop processes", lambda t, b: busy_loops(cores)),
            ("second llama.cpp, same threads", second_llama),
        ]
    for name, condition in conditions:
        for threads, batch_threads in settings(cores):
            with condition(threads, batch_threads):
                prompt_rate, generation_rate = measure(threads, batch_threads)
                load = os.getloadavg()[0]
            label = f"{threads}/{batch_threads}"
            print(f"{name:32} {label:>18} {prompt_rate:13.1f} {generation_rate:10.1f} {load:13.2f}")
    print()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the idle condition only")
    main(parser.parse_args().quick)
