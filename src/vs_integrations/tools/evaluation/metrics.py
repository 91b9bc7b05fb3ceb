"""The paper's diversity and quality metrics, in plain Python (no numerical libraries)."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence


def kl_to_uniform(counts: Mapping[str, int], support: Sequence[str]) -> float:
    """KL(empirical || uniform) over ``support``, in nats; answers outside it are ignored.

    0 means every answer in the support is equally frequent; ``log(len(support))`` means one
    answer only.

    Raises:
        ValueError: If the support is empty or no counted answer is in it.
    """
    if not support:
        raise ValueError("kl_to_uniform needs a non-empty support")
    inside = {answer: counts.get(answer, 0) for answer in set(support)}
    total = sum(inside.values())
    if total == 0:
        raise ValueError("kl_to_uniform: no answer falls in the support")
    size = len(inside)
    return sum((c / total) * math.log((c / total) * size) for c in inside.values() if c > 0)


def coverage(valid_answers: Iterable[str], answer_set: Sequence[str]) -> float:
    """Unique valid answers over the size of the answer set (the paper's open-ended QA coverage)."""
    if not answer_set:
        raise ValueError("coverage needs a non-empty answer set")
    return len(set(valid_answers) & set(answer_set)) / len(set(answer_set))


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams of whitespace tokens (0 when there is none)."""
    if n < 1:
        raise ValueError(f"distinct_n needs n >= 1; got {n}")
    grams = [tuple(tokens[i : i + n]) for tokens in (t.split() for t in texts) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def rouge_l_f1(a: str, b: str) -> float:
    """ROUGE-L F1 of two texts on whitespace tokens (longest common subsequence)."""
    x, y = a.split(), b.split()
    if not x or not y:
        return 0.0
    previous = [0] * (len(y) + 1)
    for token in x:
        current = [0]
        for j, other in enumerate(y, start=1):
            current.append(previous[j - 1] + 1 if token == other else max(previous[j], current[j - 1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(y), lcs / len(x)
    return 2 * precision * recall / (precision + recall)


def mean_pairwise(values: Sequence[float]) -> float:
    """Mean of the values (0 for none)."""
    return sum(values) / len(values) if values else 0.0


def mean_pairwise_rouge_l(texts: Sequence[str]) -> float:
    """Mean ROUGE-L F1 over all pairs of texts (lower = more diverse)."""
    return mean_pairwise([rouge_l_f1(texts[i], texts[j]) for i in range(len(texts)) for j in range(i + 1, len(texts))])


def pairwise_similarity(embeddings: Sequence[Sequence[float]]) -> dict[tuple[int, int], float]:
    """``clip(cosine, 0, 1)`` of every pair ``i < j`` of ``embeddings`` (each vector normalised once).

    Example:
        >>> pairwise_similarity([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
        {(0, 1): 1.0, (0, 2): 0.0, (1, 2): 0.0}
    """
    unit = []
    for vector in embeddings:
        norm = math.sqrt(sum(v * v for v in vector))
        unit.append([v / norm for v in vector] if norm > 0 else list(vector))
    return {
        (i, j): min(max(sum(a * b for a, b in zip(unit[i], unit[j], strict=True)), 0.0), 1.0)
        for i in range(len(unit))
        for j in range(i + 1, len(unit))
    }


def semantic_diversity(embeddings: Sequence[Sequence[float]]) -> float:
    """Mean over pairs of ``1 - clip(cosine, 0, 1)``, times 100 (the paper's semantic diversity)."""
    return 100.0 * mean_pairwise([1.0 - similarity for similarity in pairwise_similarity(embeddings).values()])


def answer_counts(answers: Iterable[str]) -> Counter[str]:
    """How often each answer occurs."""
    return Counter(answers)


def bootstrap_mean_interval(
    groups: Sequence[Sequence[float]], resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Seeded bootstrap interval of the mean of all values, resampling whole groups.

    A group is what one call gave (a VS call's candidates are not independent draws), so groups
    are drawn with replacement and the mean is taken over their values. Empty groups count as
    drawn but add no value; a resample without any value is skipped. None when no group holds a
    value.

    Example:
        >>> bootstrap_mean_interval([[8.0], [8.0], [8.0]])
        (8.0, 8.0)
        >>> low, high = bootstrap_mean_interval([[2.0, 4.0], [9.0]], seed=1)
        >>> 2.0 <= low <= high <= 9.0
        True
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
    if not any(groups):
        return None
    rng = random.Random(seed)
    means = []
    for _ in range(resamples):
        values = [value for group in rng.choices(groups, k=len(groups)) for value in group]
        if values:
            means.append(sum(values) / len(values))
    means.sort()
    tail = (1 - confidence) / 2
    return means[int(tail * (len(means) - 1))], means[int((1 - tail) * (len(means) - 1))]
