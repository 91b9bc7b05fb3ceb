"""Parser speed figures, measured side by side in one run.

* Throughput on the kept corpus of real replies (tests/data/real_replies.jsonl) against the
  official ``verbalized-sampling`` 0.1.3 parser plus its post-processing, on the same replies.
  Its sdist is fetched once into benchmarks/.official (ignored by git):
  ``pip download --no-deps --no-binary :all: verbalized-sampling==0.1.3 -d benchmarks/.official``;
  only its parser and selection modules are loaded, by file path (no torch, no transformers).
* Well-formed 5-candidate replies, time per reply against json.loads (no goal: the parser has no
  speed paths; tens of microseconds a reply against seconds a model call).
* 1 MB inputs of every adversarial shape against a well-formed 1 MB reply (goal <= 20x).
* Linearity: time for n and 4n bytes (goal: ratio about 4), one-shot and streamed in 64-byte chunks
  (streaming costs a few one-shot parses: each finished record is read as the one-shot reader reads it).

Times are CPU time of this process (``time.process_time``): on the shared, loaded machine wall
time mostly measures the other processes; for this single-threaded code CPU time is what the
parser costs.

Usage: python benchmarks/parser.py [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tarfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vs_integrations import ParseError, StreamParser, parse

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "tests" / "data" / "real_replies.jsonl"
OFFICIAL = HERE / ".official"
OFFICIAL_SDIST = "verbalized_sampling-0.1.3.tar.gz"

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
MB = 1 << 20


ROUNDS = 15


def per_call(functions: dict[str, Callable[[], object]], min_seconds: float) -> dict[str, float]:
    """Seconds per call of each function: rounds interleave them, the best round counts.

    Many short rounds rather than a few long ones: on a shared VM the hypervisor takes the CPU
    away in bursts (``top`` shows steal time), and CPU time counts those bursts; the best of many
    short rounds is the one least touched by them, for every function alike.
    """
    runs = {}
    for name, fn in functions.items():
        count = 1
        while True:
            start = time.process_time()
            for _ in range(count):
                fn()
            if time.process_time() - start >= min_seconds / (2 * ROUNDS):
                break
            count *= 2
        runs[name] = count
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(ROUNDS):
        for name, fn in functions.items():
            start = time.process_time()
            for _ in range(runs[name]):
                fn()
            best[name] = min(best[name], (time.process_time() - start) / runs[name])
    return best


def once(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def parse_or_error(text: str) -> object:
    try:
        return parse(text)
    except ParseError as err:
        return err


def stream_in_chunks(text: str, size: int = 64) -> object:
    parser = StreamParser()
    for start in range(0, len(text), size):
        parser.feed(text[start : start + size])
    try:
        return parser.close()
    except ParseError as err:
        return err


# ----------------------------------------------------------------------------- the official parser
def load_official() -> tuple[Callable[[str], Any], Callable[[list[dict[str, Any]]], Any]] | None:
    """The official parse and post-process functions, or None if its sdist is not fetched."""
    sdist = OFFICIAL / OFFICIAL_SDIST
    if not sdist.is_file():
        return None
    root = OFFICIAL / "verbalized_sampling-0.1.3"
    if not root.is_dir():
        with tarfile.open(sdist) as archive:
            archive.extractall(OFFICIAL, filter="data")
    package = root / "verbalized_sampling"

    def load(name: str, path: Path) -> types.ModuleType:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    # A stand-in package, so methods/parser.py's relative imports resolve without running the
    # package's __init__ (which imports the model clients).
    methods = types.ModuleType("_official_methods")
    methods.__path__ = [str(package / "methods")]
    sys.modules["_official_methods"] = methods
    load("_official_methods.prompt", package / "methods" / "prompt.py")
    load("_official_methods.factory", package / "methods" / "factory.py")
    parser = load("_official_methods.parser", package / "methods" / "parser.py")
    selection = load("_official_selection", package / "selection.py")
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers"})
    assert not heavy, f"the official modules imported {heavy}"

    def official_parse(text: str) -> Any:
        return parser.ResponseParser.parse_structure_with_probability(text)

    def official_postprocess(responses: list[dict[str, Any]]) -> Any:
        # verbalize()'s defaults: tau=0.12, min_k_survivors=3, weight_mode="elicited".
        return selection.postprocess_responses(
            responses, tau=0.12, min_k_survivors=3, weight_mode="elicited", seed=None
        )

    return official_parse, official_postprocess


def corpus_figures(min_seconds: float) -> None:
    print("## Real replies of the embedded model (no schema): ours vs the official parser")
    if not CORPUS.is_file():
        print(f"corpus missing: {CORPUS}")
        return
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    replies = [row["reply"] for row in rows]
    size = sum(len(r.encode()) for r in replies) / 1e6
    ours_found = sum(not isinstance(parse_or_error(r), ParseError) for r in replies)
    functions: dict[str, Callable[[], object]] = {"ours": lambda: [parse_or_error(r) for r in replies]}
    official = load_official()
    if official is None:
        print(f"official sdist not found in {OFFICIAL}; fetch it with pip download (see this module's docstring)")
    else:
        official_parse, official_postprocess = official

        def run_official() -> list[object]:
            out: list[object] = []
            for reply in replies:
                try:
                    out.append(official_postprocess(official_parse(reply)))
                except Exception as exc:  # whatever it raises counts as a failed reply
                    out.append(exc)
            return out

        functions["official"] = run_official
        found = sum(isinstance(result, tuple) and any(item.text for item in result[0]) for result in run_official())
    seconds = per_call(functions, min_seconds)
    print(f"{len(replies)} replies, {size * 1e3:.1f} KB")
    print(
        f"ours: parse + normalise          {size / seconds['ours']:8.2f} MB/s  replies with a candidate: {ours_found}"
    )
    if official is not None:
        ratio = seconds["official"] / seconds["ours"]
        official_speed = size / seconds["official"]
        print(f"official: parse + postprocess    {official_speed:8.2f} MB/s  replies with a candidate: {found}")
        print(f"ours / official throughput       {ratio:8.2f}x  (goal >= 1)")
    print()


# ----------------------------------------------------------------------------- well-formed replies
def format_figures(min_seconds: float) -> None:
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
        print(f"parse + normalise, {name:5}         {size / took:8.1f} MB/s  {took * 1e6:7.2f} µs/reply")
    print()


# ----------------------------------------------------------------------------- adversarial and linearity
def well_formed(size: int) -> str:
    """A well-formed JSON reply of about ``size`` characters (many 100-character candidates)."""
    record = json.dumps({"text": TEXTS[0], "probability": 0.001})
    count = max(1, size // (len(record) + 2))
    return json.dumps({"responses": [{"text": f"{i} {TEXTS[i % 5]}", "probability": 0.001} for i in range(count)]})


ADVERSARIAL: dict[str, Callable[[int], str]] = {
    'repeated {"a":"a":': lambda n: ('{"a":"a":' * (n // 9 + 1))[:n],
    "nested, then closed": lambda n: '{"a":' * (n // 10) + "}" * (n // 10),
    "'[' only": lambda n: "[" * n,
    "unclosed string": lambda n: '{"responses": [{"text": "' + "a" * n,
    "unclosed <response>": lambda n: ("<response>" * (n // 10 + 1))[:n],
    "<response> + CDATA": lambda n: ("<response><![CDATA[" * (n // 19 + 1))[:n],
    "(Prob: without close": lambda n: ("(Prob: " * (n // 7 + 1))[:n],
    "tiny list items": lambda n: ("- a\n" * (n // 4 + 1))[:n],
    "one line of '1. '": lambda n: ("1. " * (n // 3 + 1))[:n],
    "numbered 1. 2. 3. inline": lambda n: "1. x " + " ".join(f"{i % 998 + 2}. x" for i in range(n // 6)),
    "newlines": lambda n: "\n" * n,
    "cut-off JSON list": lambda n: well_formed(n)[: n - 7],
    # Loose JSON, read by the token loop in Python (capped at 20,000 values), and brackets in prose.
    "'[a] ' repeated": lambda n: ("[a] " * (n // 4 + 1))[:n],
    "<think>, then '[a] ' repeated": lambda n: "<think>x</think>" + ("[a] " * (n // 4 + 1))[: n - 16],
    "'[a, b] ' repeated": lambda n: ("[a, b] " * (n // 7 + 1))[:n],
    "single-quoted strings": lambda n: "[" + ("'a', " * (n // 5 + 1))[: n - 2] + "]",
    "unquoted words": lambda n: "{responses: [" + ("a, " * (n // 3 + 1))[: n - 15] + "]}",
    "strings with line breaks": lambda n: "[" + ('"a\nb", ' * (n // 8 + 1))[: n - 2] + "]",
    "'#' after a JSON opener": lambda n: '{"responses": [' + "#" * (n - 15),
    "strings stating probabilities": lambda n: "[" + ('"Red (Probability: 0.6)", ' * (n // 26 + 1))[: n - 2] + "]",
    "texts beside probabilities": lambda n: (
        '{"responses": [' + ('"a", ' * (n // 10)) + '"a"], "probabilities": [' + ("0.1, " * (n // 10)) + "0.1]}"
    ),
}


def adversarial_figures(quick: bool) -> None:
    print("## 1 MB inputs: parse time against a well-formed 1 MB JSON reply (goal <= 20x)")
    reference_text = well_formed(MB)
    reference = once(lambda: parse(reference_text), 5)
    print(f"{'well-formed 1 MB JSON reply':32} {reference * 1e3:8.1f} ms")
    worst = 0.0
    for name, make in ADVERSARIAL.items():
        text = make(MB)
        took = once(lambda text=text: parse_or_error(text), 1 if quick else 3)
        worst = max(worst, took / reference)
        print(f"{name:32} {took * 1e3:8.1f} ms  {took / reference:6.1f}x")
    print(f"worst                            {worst:8.1f}x  (goal <= 20x)")
    print()
    print("## Linearity: time(4n) / time(n), n = 256 KB (goal: about 4)")
    n = 256 * 1024
    families: dict[str, Callable[[int], str]] = {**ADVERSARIAL, "well-formed JSON": well_formed}
    for name, make in families.items():
        small, large = make(n), make(4 * n)
        one_small = once(lambda small=small: parse_or_error(small), 1 if quick else 3)
        one_large = once(lambda large=large: parse_or_error(large), 1 if quick else 3)
        print(f"{name:32} one-shot {one_large / one_small:5.2f}")
    print()


def streaming_figures(quick: bool, min_seconds: float) -> None:
    print("## Streaming in 64-byte chunks against one parse (goal: linear, 4x the length about 4x the time)")
    closers = "a } b ] c > d ) e " * 3
    plain = "a plain candidate text, of about the same length as the other one here "
    shapes: dict[str, Callable[[int], str]] = {}
    for kind, body in (("with closers", closers), ("plain", plain)):
        shapes[f"JSON, texts {kind}"] = lambda count, body=body: json.dumps(
            {"responses": [{"text": f"{i} {body}", "probability": 0.01} for i in range(count)]}
        )
        shapes[f"XML, texts {kind}"] = lambda count, body=body: "\n".join(
            f"<response><text>{i} {body.replace('>', '&gt;')}</text><probability>0.01</probability></response>"
            for i in range(count)
        )
        shapes[f"list, texts {kind}"] = lambda count, body=body: "\n".join(
            f"{i}. {i} {body} (Probability: 0.01)" for i in range(1, count + 1)
        )
    # Not the asked marker: the general list reader throughout.
    shapes["list (Prob: x), texts plain"] = lambda count: "\n".join(
        f"{i}. {i} {plain} (Prob: 0.01)" for i in range(1, count + 1)
    )
    for name, make in shapes.items():
        small, large = make(200), make(800)
        seconds = per_call(
            {
                "parse": lambda small=small: parse(small),
                "stream": lambda small=small: stream_in_chunks(small),
                "large": lambda large=large: stream_in_chunks(large),
            },
            min_seconds,
        )
        ratio = seconds["stream"] / seconds["parse"]
        print(
            f"{name:29} {len(small) / 1e3:5.1f} KB: stream {seconds['stream'] * 1e3:6.2f} ms = {ratio:4.1f}x one parse "
            f"(incl. close()); 4x the length: {seconds['large'] / seconds['stream']:4.1f}x the time"
        )
    adversarial = {
        '180 KB of {"a":"a":': '{"a":"a":' * 20_000,
        "one 180 KB text of closers": '{"responses": [{"text": "' + "}]" * 90_000 + '", "probability": 1}]}',
        "a list, then a 180 KB indent": "- a (p=0.5)\n" + " " * 180_000,
    }
    for label, text in adversarial.items():
        took = once(lambda text=text: stream_in_chunks(text), 1 if quick else 3)
        one_shot = once(lambda text=text: parse_or_error(text))
        print(f"{label + ', streamed':32} {took * 1e3:8.1f} ms  ({one_shot * 1e3:.1f} ms one-shot)")
    print()


def main(quick: bool = False) -> None:
    """Print every parser figure; ``quick`` shortens the timing loops."""
    min_seconds = 0.5 if quick else 2.0
    corpus_figures(min_seconds)
    format_figures(min_seconds)
    adversarial_figures(quick)
    streaming_figures(quick, min_seconds)


if __name__ == "__main__":
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--quick", action="store_true", help="shorter timing loops")
    main(options.parse_args().quick)
