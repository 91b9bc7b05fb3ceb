"""The compare chart: one bar per distinct answer, labels shortened but never merged."""

from collections import Counter

import matplotlib.axes

from vs_integrations.tools.evaluation.plots import plot_answer_counts, short_labels

# Ten answers that agree on their first 45 characters: a 30-character cut used to merge them.
ANSWERS = [f"Once upon a time a bear walked into the forest and {word}" for word in "abcdefghij"]


def test_short_labels_are_short_and_distinct():
    labels = short_labels(ANSWERS, width=30)
    assert len(set(labels)) == len(ANSWERS)
    assert all(len(label) <= 30 for label in labels)
    assert labels[0] == "Once upon a time a bear walke…" and labels[1].endswith(" #2")
    assert short_labels(["short", "short  "]) == ["short", "short #2"]  # equal after folding spaces


def test_one_bar_per_distinct_answer(tmp_path, monkeypatch):
    drawn = []
    original = matplotlib.axes.Axes.barh

    def spy(self, y, width, *args, **kwargs):
        drawn.append((list(y), list(width)))
        return original(self, y, width, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "barh", spy)
    counts = {"direct": Counter({ANSWERS[0]: 5, ANSWERS[1]: 1}), "standard": Counter(ANSWERS)}
    path = tmp_path / "chart.png"
    plot_answer_counts(counts, path, "A bear story")
    assert [len(y) for y, _ in drawn] == [2, 10]
    assert drawn[0][1] == [5, 1]
    assert path.read_bytes()[:4] == b"\x89PNG"
