"""Answer-count bar charts (``vs compare --plot``): one bar per distinct answer, never merged."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def short_labels(answers: Sequence[str], width: int = 40) -> list[str]:
    """Labels for ``answers``, each at most ``width`` characters, all different.

    A long answer is cut with an ellipsis; answers whose cut labels would coincide get a
    ``#n`` suffix, so a chart never draws two answers on one bar.

    Example:
        >>> short_labels(["a very long answer one", "a very long answer two", "ok"], width=12)
        ['a very long…', 'a very l… #2', 'ok']
    """
    labels: list[str] = []
    taken: set[str] = set()
    for answer in answers:
        flat = " ".join(answer.split())
        label = flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"
        number = 1
        while label in taken:
            number += 1
            suffix = f" #{number}"
            base = flat if len(flat) + len(suffix) <= width else flat[: width - 1 - len(suffix)].rstrip() + "…"
            label = base + suffix
        taken.add(label)
        labels.append(label)
    return labels


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_answer_counts(counts: Mapping[str, Counter[str]], path: Path, title: str, width: int = 40) -> None:
    """Write a PNG with one horizontal bar chart of answer counts per method.

    Every distinct answer gets its own bar (most frequent on top), labelled by
    :func:`short_labels`.

    Raises:
        ImportError: If matplotlib is not installed.

    Example:
        >>> counts = {"direct": Counter(["texas", "texas", "ohio"])}
        >>> plot_answer_counts(counts, Path("states.png"), "Name a US state.")  # doctest: +SKIP
    """
    plt = _pyplot()
    tallest = max((len(counter) for counter in counts.values()), default=1)
    figure, axes = plt.subplots(1, len(counts), figsize=(6 * len(counts), max(3.0, 1.2 + 0.3 * tallest)), squeeze=False)
    for axis, (method, counter) in zip(axes[0], counts.items(), strict=True):
        ranked = counter.most_common()
        positions = list(range(len(ranked)))[::-1]  # numeric positions: equal labels never share a bar
        axis.barh(positions, [count for _, count in ranked], color="tab:blue")
        axis.set_yticks(positions, short_labels([answer for answer, _ in ranked], width), fontsize=8)
        axis.set_title(f"{method}: {len(counter)} distinct")
        axis.set_xlabel("count")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
