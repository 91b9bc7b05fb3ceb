"""Print every speed figure the project tracks, measured side by side in one run.

Usage: python benchmarks/run.py [--quick]   (--quick skips the embedded-model figures)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable

from vs_integrations import VSConfig, VSEngine, parse

TEXTS = [
    "Why did the coffee file a police report? It got mugged, and frankly it never saw the espresso coming.",
    "I told my barista a joke about decaf. It had no punchline, much like the drink, but she laughed anyway.",
    "Coffee: the reason I am able to pretend I like mornings, people, and the sound of my own alarm clock.",
    "My coffee and I have an understanding: it keeps me awake, and I never ask what it does all night long.",
    "How does a latte say goodbye? It doesn't; it just slowly goes cold on your desk until you forget it.",
]
PROBABILITIES = [0.3, 0.25, 0.2, 0.15, 0.1]
REPLIES = {
    "json": json.dumps(
        {"responses": [{"text": t, "probability": p} for t, p in zip(TEXTS, PROBABILITIES, strict=True)]}
    ),
    "xml": "\n".join(
        f"<response><text>{t}</text><probability>{p}</probability></response>"
        for t, p in zip(TEXTS, PROBABILITIES, strict=True)
    ),
    "list": "\n".join(
        f"{i}. {t} (Probability: {p})" for i, (t, p) in enumerate(zip(TEXTS, PROBABILITIES, strict=True), 1)
    ),
}
ADVERSARIAL = {
    "10^5 nested '['": "[" * 100_000,
    "1 MB of unclosed <response>": ("<response>" * 104_858)[: 1 << 20],
    "1 MB of '{'": "{" * (1 << 20),
}


def per_call(functions: dict[str, Callable[[], object]], min_seconds: float) -> dict[str, float]:
    """Seconds per call of each function: rounds interleave them, the best round counts."""
    runs = {}
    for name, fn in functions.items():
        count = 1
        while True:
            start = time.perf_counter()
            for _ in range(count):
                fn()
            if time.perf_counter() - start >= min_seconds / 10:
                break
            count *= 2
        runs[name] = count
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(7):
        for name, fn in functions.items():
            start = time.perf_counter()
            for _ in range(runs[name]):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / runs[name])
    return best


def parse_figures(min_seconds: float) -> None:
    print("## Parsing 5-candidate replies")
    reply = REPLIES["json"]
    functions: dict[str, Callable[[], object]] = {"json.loads": lambda: json.loads(reply)}
    functions.update({name: (lambda text=text: parse(text)) for name, text in REPLIES.items()})
    seconds = per_call(functions, min_seconds)
    baseline = seconds["json.loads"]
    mb = len(reply.encode()) / 1e6
    print(f"json.loads (baseline)            {mb / baseline:8.1f} MB/s  {baseline * 1e6:7.2f} µs/reply")
    for name, text in REPLIES.items():
        size = len(text.encode()) / 1e6
        took = seconds[name]
        goal = f"  {baseline / took:5.0%} of json.loads (goal >= 50%)" if name == "json" else "  (goal >= 20 MB/s)"
        print(f"parse + normalise, {name:5}         {size / took:8.1f} MB/s  {took * 1e6:7.2f} µs/reply{goal}")
    print()
    print("## Adversarial inputs (goal < 1 s each)")
    for name, text in ADVERSARIAL.items():
        start = time.perf_counter()
        try:
            parse(text)
        except ValueError:
            pass
        print(f"{name:32} {time.perf_counter() - start:8.3f} s")
    print()


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
    from vs_integrations.local import LocalModel, default_threads

    print(f"## Embedded model (SmolLM2-135M, {default_threads()} thread(s))")
    code = "from vs_integrations.cli import main; raise SystemExit(main(['sample', 'Name a US state.', '--json']))"
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
    from vs_integrations.local import LocalModel

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
    parse_figures(min_seconds)
    adapter_figures(min_seconds)
    dspy_figures(min_seconds)
    if not args.quick:
        model_figures()


if __name__ == "__main__":
    main()
