"""Normalisation: from the items a scanner found to a :class:`Distribution`.

Reads each stated probability, converts perplexities and log-likelihoods, fills missing values,
merges duplicate texts and normalises, noting every repair as a warning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from ..config import VSConfig
from ..distribution import Candidate, Distribution
from ..errors import ParseError
from .items import Item

__all__ = ["build_distribution", "no_candidates_message", "read_probability"]

_NUMBER = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:/\s*(\d+\.?\d*)|(%))?")
_INT_LIMIT = 10**300  # a module constant: Python does not fold a power this large, it would be computed per call
_NON_FINITE = re.compile(r"^\s*[-+]?(nan|inf|infinity)\s*$", re.IGNORECASE)


def read_probability(value: object) -> float | None:
    """The number a model stated, as a fraction where it says so.

    ``0.2`` and ``"0.2"`` -> 0.2, ``"20%"`` -> 0.2, ``"1/6"`` -> 0.1667, ``20`` -> 20.0.
    NaN, infinities, negative numbers and unreadable values -> None.

    Example:
        >>> read_probability("20%")
        0.2

    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, int) and not -_INT_LIMIT < value < _INT_LIMIT:
        return None  # far outside any probability (and too large for a float)
    try:
        number = float(value)  # the usual 0.25 or "0.25"; NaN and infinities are refused below
    except ValueError:
        return _read_probability_text(str(value))
    if not math.isfinite(number) or number < 0:
        return None
    return number


def _read_probability_text(value: str) -> float | None:
    """The slow path of :func:`read_probability`: percentages, fractions, numbers inside text."""
    if _NON_FINITE.match(value):
        return None
    match = _NUMBER.search(value)
    if match is None:
        return None
    try:
        number = float(match.group(1))
        if match.group(2) is not None:
            denominator = float(match.group(2))
            if denominator == 0:
                return None
            number /= denominator
        elif match.group(3):
            number /= 100.0
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number


# Probability definitions whose stated numbers are not probabilities: they are converted to weights.
_CONVERTED = ("perplexity", "nll")


def _weights(stated: list[float | None], definition: str, warnings: list[str]) -> list[float]:
    present = [v for v in stated if v is not None]
    if definition == "perplexity":
        converted: list[float | None] = [1.0 / v if v is not None and v > 0 else None for v in stated]
        warnings.append("converted perplexities to weights (1 / perplexity)")
    elif definition == "nll":
        converted = [math.exp(-min(v, 700.0)) if v is not None else None for v in stated]
        warnings.append("converted negative log-likelihoods to weights (exp(-nll))")
    else:
        converted = list(stated)
        if present and max(present) > 1 and max(present) <= 100:
            converted = [v / 100.0 if v is not None else None for v in stated]
            warnings.append("read the probabilities as percentages (a value was above 1, none above 100)")
    known = [v for v in converted if v is not None]
    missing = len(converted) - len(known)
    if missing:
        if known and sum(known) > 0:
            fill = sum(known) / len(known)
            warnings.append(f"{missing} candidate(s) had no readable probability; gave them the mean {fill:.4g}")
        else:
            fill = 1.0 / len(converted)
            if not known:
                warnings.append("no candidate stated a readable probability; used a uniform distribution")
        converted = [fill if v is None else v for v in converted]
    weights: list[float] = [v for v in converted if v is not None]
    if sum(weights) <= 0:
        warnings.append("no candidate had a positive probability; used a uniform distribution")
        return [1.0] * len(weights)
    return weights


def build_distribution(
    items: Sequence[Item],
    config: VSConfig | None = None,
    *,
    raw: str = "",
    reasoning: str | None = None,
    truncated: bool = False,
    warnings: Sequence[str] = (),
) -> Distribution:
    """Interpret the stated probabilities, merge duplicates and normalise.

    Args:
        items: The candidates found, in reply order.
        config: The settings the reply was asked with (its probability definition matters).
        raw: The reply, kept on the result and on any error.
        reasoning: The VS-CoT reasoning, kept on the result.
        truncated: Whether the reply was cut off.
        warnings: Repairs already made (by the scanner), kept first.

    Raises:
        ParseError: If no item has a non-empty text.

    Example:
        >>> build_distribution([Item("a", "60%", 0), Item("b", None, 1)]).probabilities
        [0.5, 0.5]

    """
    notes = list(warnings)
    kept = [item for item in items if item.text]
    if len(kept) < len(items):
        notes.append(f"dropped {len(items) - len(kept)} candidate(s) with empty text")
    if not kept:
        raise ParseError(no_candidates_message(raw), raw)
    stated = [read_probability(item.probability) for item in kept]
    unreadable = sum(value is None and item.probability is not None for item, value in zip(kept, stated, strict=True))
    if unreadable:
        notes.append(f"{unreadable} stated probability value(s) were unreadable, NaN, infinite or negative")
    weights = _weights(stated, config.probability if config is not None else "explicit", notes)

    # One row per distinct text (first spelling, index and stated value kept), weights added.
    rows: dict[str, list[Any]] = {}
    for item, weight, value in zip(kept, weights, stated, strict=True):
        row = rows.get(item.text.casefold())
        if row is None:
            rows[item.text.casefold()] = [item.text, weight, value, item.index]
        else:
            row[1] += weight
    if len(rows) < len(kept):
        notes.append(f"merged {len(kept) - len(rows)} duplicate candidate(s), adding their probabilities")
    total = sum([row[1] for row in rows.values()])
    if abs(total - 1.0) > 1e-6:
        notes.append(f"probabilities summed to {total:.4g}; normalised to 1")
    candidates = [Candidate(text, weight / total, value, index) for text, weight, value, index in rows.values()]
    return Distribution(candidates, raw=raw, warnings=notes, truncated=truncated, reasoning=reasoning)


def no_candidates_message(text: str) -> str:
    """The ParseError message for a reply without any candidate (with a preview of the reply)."""
    stripped = text.strip()
    # Line breaks become spaces in the first 200 characters only (the rest is cut).
    preview = stripped[:200].replace("\n", " ") + ("..." if len(stripped) > 200 else "")
    return f"no candidates found in the model reply (looked for JSON, XML and list formats): {preview!r}"
