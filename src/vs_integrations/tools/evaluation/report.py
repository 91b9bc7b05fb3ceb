"""The Markdown report and PNG plots of an evaluation."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import metrics
from .runner import MethodRun

RESAMPLES = 1000
MIN_VALID = 10  # fewer valid answers on either side of a ratio: too few to judge a goal
Statistic = Callable[[list[str]], float | None]

_COLUMNS = (
    ("method", "method", "{}"),
    ("k", "k", "{}"),
    ("answers", "answers", "{}"),
    ("valid", "valid", "{}"),
    ("distinct_valid", "distinct valid", "{}"),
    ("kl_uniform", "KL to uniform", "{:.3f}"),
    ("coverage", "coverage", "{:.2f}"),
    ("semantic_diversity", "semantic div.", "{:.1f}"),
    ("rouge_l", "ROUGE-L", "{:.3f}"),
    ("quality", "quality (0–10)", "{:.1f}"),
    ("quality_interval", "quality 95% CI", "{0[0]:.1f}–{0[1]:.1f}"),
    ("judge_errors", "judge errors", "{}"),
    ("calls", "calls", "{}"),
    ("tokens", "gen. tokens", "{}"),
    ("tokens_per_distinct", "tokens / distinct", "{:.0f}"),
    ("seconds", "seconds", "{:.1f}"),
    ("seconds_per_distinct", "s / distinct", "{:.2f}"),
)


def _cell(value: Any, pattern: str) -> str:
    return "–" if value is None else pattern.format(value)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """One task's rows as a Markdown table (columns that are empty for every row are left out)."""
    columns = [c for c in _COLUMNS if any(row.get(c[0]) is not None for row in rows)]
    lines = ["| " + " | ".join(title for _, title, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(key), pattern) for key, _, pattern in columns) + " |" for row in rows]
    return "\n".join(lines)


def distinct_count(valid: list[str]) -> float:
    """Distinct valid answers."""
    return float(len(set(valid)))


def ratio_interval(
    vs: MethodRun, direct: MethodRun, statistic: Statistic, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float] | None:
    """95% bootstrap interval of ``statistic(vs) / statistic(direct)``, resampling whole calls.

    A call's candidates are not independent draws (a VS call lists k different answers), so
    each run's calls are resampled with replacement, not its answers. Resamples where either
    statistic is undefined (KL without a valid answer) or the direct one is 0 are dropped; None
    if fewer than half remain.

    Example:
        >>> from vs_integrations.tools.evaluation import BUILTIN_TASKS
        >>> die = BUILTIN_TASKS["dice"]
        >>> direct = MethodRun(die, "direct", ["4", "4", "3"], [1, 1, 1])
        >>> vs = MethodRun(die, "standard", list("123456"), [6])
        >>> ratio_interval(vs, direct, distinct_count)
        (3.0, 6.0)
    """
    rng = random.Random(seed)
    vs_calls, direct_calls = vs.judged_calls(), direct.judged_calls()
    if not vs_calls or not direct_calls:
        return None
    ratios = []
    for _ in range(resamples):
        top = statistic(_valid(rng.choices(vs_calls, k=len(vs_calls))))
        bottom = statistic(_valid(rng.choices(direct_calls, k=len(direct_calls))))
        if top is not None and bottom:
            ratios.append(top / bottom)
    if len(ratios) < resamples / 2:
        return None
    ratios.sort()
    return ratios[int(0.025 * (len(ratios) - 1))], ratios[int(0.975 * (len(ratios) - 1))]


def _valid(calls: Sequence[list[str | None]]) -> list[str]:
    return [answer for call in calls for answer in call if answer is not None]


def _kl_statistic(support: Sequence[str]) -> Statistic:
    def kl(valid: list[str]) -> float | None:
        return metrics.kl_to_uniform(metrics.answer_counts(valid), support) if valid else None

    return kl


def _verdict(ratio: float, interval: tuple[float, float] | None, goal: float, at_least: bool) -> str:
    """Met or not met by the whole interval; "undecided" when the interval spans the goal."""
    low, high = interval if interval is not None else (ratio, ratio)
    if (low >= goal) if at_least else (high <= goal):
        return "met"
    if (high < goal) if at_least else (low > goal):
        return "not met"
    return "undecided: the interval spans the goal"


def _ratio_text(name: str, ratio: float, interval: tuple[float, float] | None, goal: str, verdict: str) -> str:
    spread = f" [{interval[0]:.2f}–{interval[1]:.2f}]" if interval is not None else ""
    return f"{name} ×{ratio:.2f}{spread} (goal {goal}: {verdict})"


def goal_lines(rows: Sequence[dict[str, Any]], runs: Sequence[MethodRun] = ()) -> list[str]:
    """The goals as measured ratios of each VS variant to direct prompting.

    Tasks with an answer set (dice, choice): distinct valid answers (goal ≥ 2×), generated tokens
    per distinct valid answer (goal ≤ 1×) and, for dice, KL to uniform (goal ≤ 0.5×). Free text:
    semantic diversity (the paper reports 1.6–2.1× for creative writing). With the ``runs``, the
    distinct and KL ratios carry a 95% bootstrap interval over calls, and a goal counts as met
    (or not met) only when the whole interval is on that side of it. With fewer than
    ``MIN_VALID`` valid answers on either side no goal is judged: the ratio is shown, unjudged.
    """
    by_method = {row["method"]: row for row in rows}
    runs_by_method = {run.method: run for run in runs}
    direct = by_method.get("direct")
    if direct is None:
        return []
    direct_run = runs_by_method.get("direct")
    lines = []
    for method in ("standard", "cot", "multi"):
        vs = by_method.get(method)
        if vs is None:
            continue
        vs_run = runs_by_method.get(method)

        def interval(statistic: Statistic, vs_run: MethodRun | None = vs_run) -> tuple[float, float] | None:
            return None if vs_run is None or direct_run is None else ratio_interval(vs_run, direct_run, statistic)

        parts = []
        few = None
        if min(direct["valid"], vs["valid"]) < MIN_VALID:
            few = f"too few valid answers to judge: {direct['valid']} direct, {vs['valid']} VS"
        if direct["coverage"] is not None or direct["kl_uniform"] is not None:
            if direct["distinct_valid"]:
                ratio = vs["distinct_valid"] / direct["distinct_valid"]
                spread = interval(distinct_count)
                parts.append(
                    _ratio_text("distinct valid", ratio, spread, "≥ 2", few or _verdict(ratio, spread, 2, True))
                )
            if direct["tokens_per_distinct"] and vs["tokens_per_distinct"]:
                ratio = vs["tokens_per_distinct"] / direct["tokens_per_distinct"]
                parts.append(
                    _ratio_text("tokens per distinct", ratio, None, "≤ 1", few or _verdict(ratio, None, 1, False))
                )
            if direct["kl_uniform"] and vs["kl_uniform"] is not None and direct["coverage"] is None:
                ratio = vs["kl_uniform"] / direct["kl_uniform"]
                spread = interval(_kl_statistic(vs_run.task.support)) if vs_run is not None else None
                parts.append(_ratio_text("KL", ratio, spread, "≤ 0.5", few or _verdict(ratio, spread, 0.5, False)))
        elif direct["semantic_diversity"] and vs["semantic_diversity"] is not None:
            ratio = vs["semantic_diversity"] / direct["semantic_diversity"]
            parts.append(f"semantic diversity ×{ratio:.2f} (paper, larger models: 1.6–2.1)")
        if parts:
            lines.append(f"- VS-{method} vs direct: " + "; ".join(parts))
    return lines


def settings_line(runs: Sequence[MethodRun]) -> str:
    """How one task was run and judged: k (and where it came from), n, the judge's rule."""
    task = runs[0].task
    ks = sorted({run.k for run in runs if run.k is not None})
    k = "k = " + "/".join(map(str, ks)) if ks else "k not used"
    if ks and task.k is not None:
        k += " (set by the task)"
    n = max(len(run.answers) for run in runs)
    return f"{k}; up to n = {n} answers per method; valid answer: {task.rule}."


def write_report(runs: Sequence[MethodRun], rows: Sequence[dict[str, Any]], out: Path, header: str) -> Path:
    """Write ``report.md`` and the plots into ``out``; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    sections = [header]
    for task in dict.fromkeys(row["task"] for row in rows):
        task_rows = [row for row in rows if row["task"] == task]
        task_runs = [run for run in runs if run.task.name == task]
        sections.append(f"## {task}")
        if task_runs:
            sections.append(settings_line(task_runs))
        sections.append(markdown_table(task_rows))
        goals = goal_lines(task_rows, task_runs)
        if goals:
            sections.append("\n".join(goals))
            if any("[" in line for line in goals):
                sections.append(
                    f"Brackets: 95% bootstrap interval ({RESAMPLES} resamples of whole calls); a goal is met or "
                    "not met only when the whole interval is on one side of it."
                )
        if task_runs and task_runs[0].task.support:
            name = f"{task}_answers.png"
            plot_histograms(task_runs, out / name)
            sections.append(f"![{task} answers]({name})")
    free = [row for row in rows if row["semantic_diversity"] is not None]
    if free:
        plot_diversity_vs_tokens(free, out / "diversity_vs_tokens.png")
        sections.append("## Diversity vs cost\n\n![semantic diversity vs tokens per answer](diversity_vs_tokens.png)")
    path = out / "report.md"
    path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return path


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_histograms(runs: Sequence[MethodRun], path: Path) -> None:
    """One bar chart of valid-answer counts per method."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 3.6), squeeze=False, sharey=True)
    for axis, run in zip(axes[0], runs, strict=True):
        counts = Counter(run.valid)
        labels = [a for a in run.task.support if counts[a]] or ["(none)"]
        axis.bar(range(len(labels)), [counts[a] for a in labels], color="tab:blue")
        axis.set_xticks(range(len(labels)), [label[:12] for label in labels], rotation=90, fontsize=7)
        axis.set_title(f"{run.method}: {len(counts)} distinct", fontsize=9)
    figure.suptitle(runs[0].task.name)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def plot_diversity_vs_tokens(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Semantic diversity against generated tokens per answer, one point per task and method."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4.5))
    for method in dict.fromkeys(row["method"] for row in rows):
        points = [row for row in rows if row["method"] == method]
        axis.scatter(
            [row["tokens"] / max(row["answers"], 1) for row in points],
            [row["semantic_diversity"] for row in points],
            label=method,
        )
    axis.set_xlabel("generated tokens per answer")
    axis.set_ylabel("semantic diversity")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
