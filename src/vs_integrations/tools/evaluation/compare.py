"""``vs compare``: direct answers vs VS candidates on one prompt, counted honestly and shown side by side.

Counts are of distinct *valid* answers: each answer goes through its task's judge (a known task's
own rule, or for a free prompt any text that is not a refusal, optionally matching ``--valid``),
and free text is compared after folding case, punctuation and spacing. The rendering is plain
text that fits the given width (80 columns when piped), so it reads the same in a terminal, a
pipe or a log.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Sequence
from typing import Any

from . import metrics
from .runner import Embedder, MethodRun

_LABEL_WIDTH = 24  # the metric names' column
_ANSWERS_SHOWN = 15  # distinct answers listed per method
_INVALID_SHOWN = 5  # invalid answers listed per method


def method_label(method: str) -> str:
    """How a method is named in the comparison: ``direct`` or ``VS-<variant>``."""
    return method if method in ("direct", "sequence") else f"VS-{method}"


def answer_counts(run: MethodRun) -> Counter[str]:
    """Distinct valid answers and how often each came, under a readable name.

    Answers of a task with an answer set are named by the judge ("Texas"); free text by its first
    spelling among the answers that count as the same (case, punctuation and spacing aside).
    """
    spelled: dict[str, str] = {}
    counts: Counter[str] = Counter()
    free = not run.task.support
    for answer in run.answers:
        key = run.task.judge(answer)
        if key is None:
            continue
        name = spelled.setdefault(key, " ".join(answer.split()) if free else key)
        counts[name] += 1
    return counts


def compare_summary(runs: Sequence[MethodRun], embed: Embedder | None = None) -> dict[str, Any]:
    """Per method: answers, what counts (valid, distinct valid, counts), diversity, quality and cost.

    ``semantic_diversity`` is over the valid answers of a free-text prompt when ``embed`` is
    given; ``quality`` is the judge's mean with its 95% bootstrap interval when the runs were
    judged (see :func:`~vs_integrations.tools.evaluation.judge_run`).
    """
    methods: dict[str, Any] = {}
    for run in runs:
        counts = answer_counts(run)
        valid_texts = run.valid_texts
        diversity = None
        if embed is not None and not run.task.support and len(valid_texts) > 1:
            diversity = metrics.semantic_diversity(embed(valid_texts))
        methods[run.method] = {
            "label": method_label(run.method),
            "answers": run.answers,
            "valid": len(valid_texts),
            "invalid": [answer for answer in run.answers if run.task.judge(answer) is None],
            "distinct": len(counts),
            "counts": dict(counts.most_common()),
            "semantic_diversity": diversity,
            "quality": run.quality(),
            "scores": None if run.judgement is None else [s.to_dict() for s in run.judgement.scores],
            "calls": run.calls,
            "failed_calls": run.failed_calls,
            "generated_tokens": run.tokens,
            "tokens_per_distinct": run.tokens / len(counts) if counts else None,
            "seconds": run.seconds,
        }
    task = runs[0].task
    return {"task": task.name, "validity": task.rule, "rubric": task.rubric, "methods": methods}


def _fmt(value: Any, pattern: str = "{}") -> str:
    return "–" if value is None else pattern.format(value)


def _quality_cell(quality: dict[str, Any] | None) -> str:
    if quality is None:
        return "not judged"
    if quality["mean"] is None:
        return f"no score ({quality['errors']} errors)"
    cell = f"{quality['mean']:.1f}"
    if quality["low"] is not None:
        cell += f" [{quality['low']:.1f}–{quality['high']:.1f}]"
    return cell + (f" ({quality['errors']} err.)" if quality["errors"] else "")


def _columns(left: list[str], right: list[str], width: int) -> list[str]:
    """Two lists of lines side by side, each column ``width`` wide."""
    rows = max(len(left), len(right))
    left, right = left + [""] * (rows - len(left)), right + [""] * (rows - len(right))
    return [f"{a:<{width}} | {b}".rstrip() for a, b in zip(left, right, strict=True)]


def _wrapped(entries: list[str], width: int, indent: str = "") -> list[str]:
    """Each entry wrapped to ``width``, its continuation lines indented two more spaces."""
    lines = []
    for entry in entries:
        lines += textwrap.wrap(entry, width, initial_indent=indent, subsequent_indent=indent + "  ") or [""]
    return lines


def render_comparison(summary: dict[str, Any], width: int = 80) -> str:
    """The comparison as plain text no wider than ``width`` (at least 40) columns.

    First the numbers per method (rows: metrics; columns: methods), then the distinct valid
    answers side by side, most frequent first, then the answers that did not count.
    """
    width = max(width, 40)
    methods = list(summary["methods"].values())
    title = textwrap.wrap(summary["prompt"], width) + textwrap.wrap(
        f"n={summary['n']} a method, k={summary['k']}, {summary['backend']}; valid: {summary['validity']}"
        + (f"; quality: {summary['judge']}, rubric {summary['rubric']}" if summary.get("judge") else ""),
        width,
    )
    value_width = max((width - _LABEL_WIDTH) // max(len(methods), 1) - 1, 8)
    rows = [
        ("answers", [str(len(m["answers"])) for m in methods]),
        ("valid", [str(m["valid"]) for m in methods]),
        ("distinct valid", [str(m["distinct"]) for m in methods]),
        ("semantic diversity", [_fmt(m["semantic_diversity"], "{:.1f}") for m in methods]),
        ("quality (0–10)", [_quality_cell(m["quality"]) for m in methods]),
        ("calls (failed)", [f"{m['calls']} ({m['failed_calls']})" for m in methods]),
        ("generated tokens", [str(m["generated_tokens"]) for m in methods]),
        ("tokens / distinct valid", [_fmt(m["tokens_per_distinct"], "{:.0f}") for m in methods]),
        ("seconds", [f"{m['seconds']:.1f}" for m in methods]),
    ]
    lines = [*title, ""]
    lines.append(" " * _LABEL_WIDTH + "".join(f"{m['label']:<{value_width + 1}}" for m in methods).rstrip())
    for name, cells in rows:
        if all(cell == "–" for cell in cells):
            continue  # a metric that does not apply to this prompt (semantic diversity of a state)
        wrapped = [textwrap.wrap(cell, value_width) or [""] for cell in cells]
        for i in range(max(len(w) for w in wrapped)):
            label = name if i == 0 else ""
            line = f"{label:<{_LABEL_WIDTH}}" + "".join(
                f"{(w[i] if i < len(w) else ''):<{value_width + 1}}" for w in wrapped
            )
            lines.append(line.rstrip())
    spent = summary.get("judge_usage")
    if spent:
        lines += textwrap.wrap(
            f"judge (not in the cost above): {spent['calls']} calls, "
            f"{spent['prompt_tokens'] + spent['completion_tokens']} tokens, {spent['seconds']:.1f} s",
            width,
        )
    column = (width - 3) // 2
    sides = []
    for m in methods[:2]:
        entries = [f"{answer} ×{count}" for answer, count in list(m["counts"].items())[:_ANSWERS_SHOWN]]
        if len(m["counts"]) > _ANSWERS_SHOWN:
            entries.append(f"… {len(m['counts']) - _ANSWERS_SHOWN} more")
        sides.append(_wrapped([m["label"], "-" * len(m["label"])], column) + _wrapped(entries or ["(none)"], column))
    lines += ["", "Distinct valid answers, most frequent first:", *_columns(sides[0], sides[-1], column)]
    invalid = [m for m in methods if m["invalid"]]
    if invalid:
        lines += ["", "Not counted (invalid or refusals):"]
        for m in invalid:
            shown = Counter(" ".join(a.split()) for a in m["invalid"]).most_common(_INVALID_SHOWN)
            entries = [f"{answer} ×{count}" for answer, count in shown]
            more = len(m["invalid"]) - sum(count for _, count in shown)
            lines += _wrapped([f"{m['label']} ({len(m['invalid'])}):"], width)
            lines += _wrapped(entries + ([f"… {more} more"] if more else []), width, indent="  ")
    return "\n".join(lines)
