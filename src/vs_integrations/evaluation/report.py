"""The Markdown report and PNG plots of an evaluation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .runner import MethodRun

_COLUMNS = (
    ("method", "method", "{}"),
    ("answers", "answers", "{}"),
    ("valid", "valid", "{}"),
    ("distinct_valid", "distinct valid", "{}"),
    ("kl_uniform", "KL to uniform", "{:.3f}"),
    ("coverage", "coverage", "{:.2f}"),
    ("semantic_diversity", "semantic div.", "{:.1f}"),
    ("rouge_l", "ROUGE-L", "{:.3f}"),
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


def goal_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The goals as measured ratios of each VS variant to direct prompting.

    Tasks with an answer set (dice, choice): distinct valid answers (goal ≥ 2×), generated tokens
    per distinct valid answer (goal ≤ 1×) and, for dice, KL to uniform (goal ≤ 0.5×). Free text:
    semantic diversity (the paper reports 1.6–2.1× for creative writing).
    """
    by_method = {row["method"]: row for row in rows}
    direct = by_method.get("direct")
    if direct is None:
        return []
    lines = []
    for method in ("standard", "cot", "multi"):
        vs = by_method.get(method)
        if vs is None:
            continue
        parts = []
        if direct["coverage"] is not None or direct["kl_uniform"] is not None:
            if direct["distinct_valid"]:
                ratio = vs["distinct_valid"] / direct["distinct_valid"]
                parts.append(f"distinct valid ×{ratio:.2f} (goal ≥ 2: {'met' if ratio >= 2 else 'not met'})")
            if direct["tokens_per_distinct"] and vs["tokens_per_distinct"]:
                ratio = vs["tokens_per_distinct"] / direct["tokens_per_distinct"]
                parts.append(f"tokens per distinct ×{ratio:.2f} (goal ≤ 1: {'met' if ratio <= 1 else 'not met'})")
            if direct["kl_uniform"] and vs["kl_uniform"] is not None and direct["coverage"] is None:
                ratio = vs["kl_uniform"] / direct["kl_uniform"]
                parts.append(f"KL ×{ratio:.2f} (goal ≤ 0.5: {'met' if ratio <= 0.5 else 'not met'})")
        elif direct["semantic_diversity"] and vs["semantic_diversity"] is not None:
            ratio = vs["semantic_diversity"] / direct["semantic_diversity"]
            parts.append(f"semantic diversity ×{ratio:.2f} (paper, larger models: 1.6–2.1)")
        if parts:
            lines.append(f"- VS-{method} vs direct: " + "; ".join(parts))
    return lines


def write_report(runs: Sequence[MethodRun], rows: Sequence[dict[str, Any]], out: Path, header: str) -> Path:
    """Write ``report.md`` and the plots into ``out``; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    sections = [header]
    for task in dict.fromkeys(row["task"] for row in rows):
        task_rows = [row for row in rows if row["task"] == task]
        sections.append(f"## {task}\n\n{markdown_table(task_rows)}")
        goals = goal_lines(task_rows)
        if goals:
            sections.append("\n".join(goals))
        task_runs = [run for run in runs if run.task.name == task]
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
