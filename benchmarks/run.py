"""Print every speed figure the project tracks, measured side by side in one run.

Usage: python benchmarks/run.py [--quick]   (--quick skips the embedded-model figures)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import async_calls
import parser as parser_figures  # benchmarks/parser.py: the parser's own figures
import ray_throughput
import sampling_cost
from parser import REPLIES, per_call  # the same replies and timing loop as the parser's figures

from vs_integrations import VSConfig, VSEngine


def import_figures() -> None:
    print("## Import time (goal < 0.1 s, no framework imported)")
    code = (
        "import sys, time; t = time.perf_counter(); import vs_integrations; t = time.perf_counter() - t; "
        "bad = sorted({m.split('.')[0] for m in sys.modules} & {'langchain_core', 'dspy', 'llama_index', 'litellm'}); "
        "print(f'{t:.4f}', ','.join(bad) or 'none')"
    )
    times = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        times.append(float(out[0]))
    print(f"import vs_integrations            {min(times):8.4f} s (best of 5)  frameworks imported: {out[1]}")
    print()


def adapter_figures(min_seconds: float) -> None:
    import itertools

    from langchain_core.language_models import GenericFakeChatModel

    from vs_integrations.langchain import VerbalizedChatModel, VerbalizedSampler
    from vs_integrations.langchain._common import from_core_messages

    print("## Adapter overhead over the core engine (zero-latency fake model, goal < 0.5 ms per call)")
    reply = REPLIES["json"]
    config = VSConfig(k=5)
    engine = VSEngine(config)
    fake = GenericFakeChatModel(messages=itertools.cycle([reply]))
    sampler = VerbalizedSampler(llm=fake, k=5)
    chat = VerbalizedChatModel(llm=fake, k=5)

    def engine_alone() -> object:
        # The same fake chat model, called directly: what is left is the adapter's own cost.
        return engine.run(lambda messages, schema: fake.invoke(from_core_messages(messages)).text, "Tell a joke.")

    seconds = per_call(
        {
            "engine": engine_alone,
            "sampler": lambda: sampler.invoke("Tell a joke."),
            "chat": lambda: chat.invoke("Tell a joke."),
        },
        min_seconds,
    )
    base = seconds["engine"]
    print(f"core engine + fake.invoke        {base * 1e3:8.3f} ms/call")
    for name, label in (("sampler", "VerbalizedSampler.invoke"), ("chat", "VerbalizedChatModel.invoke")):
        print(f"{label:32} {seconds[name] * 1e3:8.3f} ms/call  overhead {(seconds[name] - base) * 1e3:6.3f} ms")
    print()


def dspy_figures(min_seconds: float) -> None:
    import dspy
    from dspy.utils import DummyLM

    from vs_integrations.dspy import VerbalizedSampling

    print("## DSPy module overhead (zero-latency DummyLM, goal < 0.5 ms per call)")
    records = json.loads(REPLIES["json"])["responses"]
    reply = {"candidates": json.dumps([{"answer": r["text"], "probability": r["probability"]} for r in records])}
    module = VerbalizedSampling("question -> answer", k=5, seed=0)
    predict = dspy.Predict(module.predict.signature)
    engine = VSEngine(VSConfig(k=5))
    with dspy.context(lm=DummyLM(iter(lambda: reply, None)), adapter=dspy.ChatAdapter()):
        seconds = per_call(
            {
                "engine": lambda: engine.run(lambda messages, schema: REPLIES["json"], "Tell a joke."),
                "predict": lambda: predict(question="Tell a joke.", k=5),
                "module": lambda: module(question="Tell a joke."),
            },
            min_seconds,
        )
    print(f"core engine alone                {seconds['engine'] * 1e3:8.3f} ms/call")
    print(
        f"dspy.Predict, same signature     {seconds['predict'] * 1e3:8.3f} ms/call  (DSPy's own formatting and parsing)"
    )
    own = seconds["module"] - seconds["predict"]
    print(
        f"VerbalizedSampling               {seconds['module'] * 1e3:8.3f} ms/call  "
        f"overhead over Predict {own * 1e3:6.3f} ms"
    )
    print()


def model_figures() -> None:
    from vs_integrations.backends.local import LocalModel, default_threads

    print(f"## Embedded model (SmolLM2-135M, {default_threads()} thread(s))")
    code = (
        "from vs_integrations.tools.cli import main; raise SystemExit(main(['sample', 'Name a US state.', '--json']))"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    cold = time.perf_counter() - start
    model = LocalModel(seed=1)
    engine = VSEngine(VSConfig(k=5), on_failure="partial")
    engine.run(model, "Name a US state.")  # load
    calls_before, tokens_before = model.usage.calls, model.usage.completion_tokens
    start = time.perf_counter()
    for _ in range(3):
        engine.run(model, "Name a US state.")
    warm = (time.perf_counter() - start) / 3
    tokens = model.usage.completion_tokens - tokens_before
    calls = model.usage.calls - calls_before
    first, full = streaming_latency(model)
    print(f"vs sample, cold (new process)    {cold:8.2f} s")
    print(f"VS k=5 run, warm (in process)    {warm:8.2f} s   ({calls / 3:.1f} calls per run)")
    print(f"generation speed                 {tokens / (warm * 3):8.1f} tokens/s")
    print(f"streaming: first candidate       {first:8.2f} s   full reply {full:.2f} s  ({first / full:.0%} of it)")
    print()


def streaming_latency(model: object) -> tuple[float, float]:
    """Seconds to the first complete candidate and to the end of the reply, one streamed VS call."""
    from vs_integrations import StreamParser, build_messages, json_schema
    from vs_integrations.backends.local import LocalModel

    assert isinstance(model, LocalModel)
    config = VSConfig(k=5)
    parser = StreamParser(config)
    start = time.perf_counter()
    first = None
    for chunk in model.stream(build_messages("Tell a joke about coffee.", config), json_schema(config)):
        if parser.feed(chunk) and first is None:
            first = time.perf_counter() - start
    full = time.perf_counter() - start
    return (first if first is not None else full), full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the embedded-model figures")
    args = parser.parse_args()
    min_seconds = 0.5 if args.quick else 2.0
    import_figures()
    parser_figures.main(args.quick)
    adapter_figures(min_seconds)
    dspy_figures(min_seconds)
    ray_throughput.main(args.quick)
    async_calls.main()  # about 9 s: 100 native async calls, through worker threads, and capped by max_in_flight
    if not args.quick:
        model_figures()
        sampling_cost.main(quick=True)


if __name__ == "__main__":
    main()
