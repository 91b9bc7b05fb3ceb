"""Normalisation: from the items a scanner found to a :class:`Distribution`.

Reads each stated probability, converts perplexities and log-likelihoods, fills missing values,
merges duplicate texts and normalises, noting every repair as a warning.
"""

from __future__ import annotations

import json.scanner
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..config import VSConfig
from ..distribution import Candidate, Distribution
from ..errors import ParseError
from .items import Item
from .items import new_tuple as _new
from .list_scanner import numbered_list_items, plain_list_pairs

__all__ = [
    "build_distribution",
    "converts_numbers",
    "exact_distribution",
    "no_candidates_message",
    "parse_exact_json",
    "parse_exact_list",
    "parse_numbered_list",
    "read_probability",
]

_NUMBER = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:/\s*(\d+\.?\d*)|(%))?")
_INT_LIMIT = 10**300  # a module constant: Python does not fold a power this large, it would be computed per call
_FLOATS = {float}
_NONES = {type(None)}
_NON_FINITE = re.compile(r"^\s*[-+]?(nan|inf|infinity)\s*$", re.IGNORECASE)


def read_probability(value: object) -> float | None:
    """The number a model stated, as a fraction where it says so.

    ``0.2`` and ``"0.2"`` -> 0.2, ``"20%"`` -> 0.2, ``"1/6"`` -> 0.1667, ``20`` -> 20.0.
    NaN, infinities, negative numbers and unreadable values -> None.

    Example:
        >>> read_probability("20%")
        0.2

    """
    number: float
    kind = type(value)
    if kind is float or kind is int:
        if kind is int and not -_INT_LIMIT < value < _INT_LIMIT:  # type: ignore[operator]  # an int, checked
            return None  # far outside any probability (and too large for a float)
        number = float(value)  # type: ignore[arg-type]
    elif value is None or kind is bool:
        return None
    elif isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)  # the usual "0.25"; NaN and infinities are refused below
        except ValueError:
            return _read_probability_text(value)
    else:
        return None
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


def converts_numbers(config: VSConfig | None) -> bool:
    """Whether ``config`` asks for numbers that are converted to weights (perplexities, NLLs).

    The one-pass paths for the asked shapes leave such replies to the general path, which
    converts the numbers and notes it.
    """
    return config is not None and config.probability in _CONVERTED


def _weights(stated: list[float | None], definition: str, warnings: list[str]) -> list[float]:
    if definition not in _CONVERTED:
        # The two usual cases first: nothing to convert or fill, or no probability stated at all.
        missing = stated.count(None)
        if not missing:
            ready: list[float] = stated  # type: ignore[assignment]  # no None, checked above
            if max(ready) <= 1 and sum(ready) > 0:
                return ready
        elif missing == len(stated):
            warnings.append("no candidate stated a readable probability; used a uniform distribution")
            return [1.0 / len(stated)] * len(stated)
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
    # Columns, transposed in C: texts, stated values, indexes.
    texts, written, indexes = zip(*items, strict=True) if items else ((), (), ())
    if "" in texts:
        kept = [item for item in items if item[0]]
        notes.append(f"dropped {len(items) - len(kept)} candidate(s) with empty text")
        texts, written, indexes = zip(*kept, strict=True) if kept else ((), (), ())
    if not texts:
        raise ParseError(no_candidates_message(raw), raw)
    stated: list[Any] = list(written)  # the values as written, read in place below
    kinds = set(map(type, stated))
    if kinds == _FLOATS and 0.0 <= min(stated) and max(stated) <= 1.0 and not math.isnan(sum(stated)):
        pass  # the usual JSON reply: nothing to read
    elif kinds != _NONES:  # a list without probabilities has nothing to read either
        unreadable = 0
        for position, probability in enumerate(stated):
            if probability is None or (type(probability) is float and 0.0 <= probability <= 1.0):
                continue  # nothing to read
            value = read_probability(probability)
            unreadable += value is None
            stated[position] = value
        if unreadable:
            notes.append(f"{unreadable} stated probability value(s) were unreadable, NaN, infinite or negative")
    weights = _weights(stated, config.probability if config is not None else "explicit", notes)

    keys = list(map(str.casefold, texts))
    if len(set(keys)) == len(keys):
        total = sum(weights)
        if abs(total - 1.0) > 1e-6:
            notes.append(f"probabilities summed to {total:.4g}; normalised to 1")
        candidates = [
            _new(Candidate, (text, weight / total, value, index))
            for text, weight, value, index in zip(texts, weights, stated, indexes, strict=True)
        ]
        return Distribution(candidates, raw=raw, warnings=notes, truncated=truncated, reasoning=reasoning)

    # One row per distinct text (first spelling, index and stated value kept), weights added.
    rows: dict[str, list[Any]] = {}
    for key, text, index, weight, value in zip(keys, texts, indexes, weights, stated, strict=True):
        row = rows.get(key)
        if row is None:
            rows[key] = [text, weight, value, index]
        else:
            row[1] += weight
    notes.append(f"merged {len(texts) - len(rows)} duplicate candidate(s), adding their probabilities")
    total = sum([row[1] for row in rows.values()])
    if abs(total - 1.0) > 1e-6:
        notes.append(f"probabilities summed to {total:.4g}; normalised to 1")
    candidates = [
        _new(Candidate, (text, weight / total, stated_value, index))
        for text, weight, stated_value, index in rows.values()
    ]
    return Distribution(candidates, raw=raw, warnings=notes, truncated=truncated, reasoning=reasoning)


def no_candidates_message(text: str) -> str:
    """The ParseError message for a reply without any candidate (with a preview of the reply)."""
    stripped = text.strip()
    # Line breaks become spaces in the first 200 characters only (the rest is cut).
    preview = stripped[:200].replace("\n", " ") + ("..." if len(stripped) > 200 else "")
    return f"no candidates found in the model reply (looked for JSON, XML and list formats): {preview!r}"


_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def parse_exact_json(text: str, config: VSConfig | None) -> Distribution | None:
    """The reply exactly as asked for (what constrained decoding produces), read in one pass.

    Returns None for anything that needs a repair (non-strict JSON, other keys, values outside
    [0, 1], empty or repeated texts, perplexity or NLL values); the general path reads those,
    and gives the same result for every reply this accepts.
    """
    if converts_numbers(config):
        return None
    start = 0 if text[:1] == "{" else len(text) - len(text.lstrip())
    if text[start : start + 1] != "{":
        return None  # not an object: skip the decoder (and the exception it raises on prose)
    try:
        # The C scanner json.loads uses, without its wrapper's checks (about 0.5 µs a reply).
        value, end = _SCAN_ONCE(text, start)
    except (StopIteration, ValueError, RecursionError):
        return None
    if type(value) is not dict or (end != len(text) and not text[end:].isspace()):
        return None
    responses = value.get("responses")
    if type(responses) is not list or not responses:
        return None
    candidates = []
    seen = set()
    total = 0.0
    for index, entry in enumerate(responses):
        if type(entry) is not dict:
            return None
        body = entry.get("text")
        stated = entry.get("probability")
        # NaN fails the range check, so it goes to the general path too.
        if type(body) is not str or (type(stated) is not float and type(stated) is not int):
            return None
        if not 0.0 <= stated <= 1.0:
            return None
        body = body.strip()
        key = body.casefold()
        if not body or key in seen:
            return None
        seen.add(key)
        total += stated
        stated = stated if type(stated) is float else float(stated)
        candidates.append(_new(Candidate, (body, stated, stated, index)))
    reasoning = value.get("reasoning")
    return exact_distribution(candidates, total, text, reasoning if type(reasoning) is str else None)


def parse_exact_list(text: str, config: VSConfig | None) -> Distribution | None:
    """A list reply exactly as asked for, one ``N. text (Probability: p)`` per line, read in one pass.

    Same contract as :func:`parse_exact_json`: None for anything the general path would repair
    (leading text or spaces, percentages, empty or repeated texts, perplexity or NLL values).
    """
    if not text[:1].isdigit() or converts_numbers(config):
        return None
    pairs = plain_list_pairs(text)
    if pairs is None:
        return None
    candidates = []
    seen = set()
    total = 0.0
    for index, (body, stated_text) in enumerate(pairs):
        try:
            stated = float(stated_text)  # digits and dots only: never negative or NaN
        except ValueError:
            return None
        key = body.casefold()
        if not body or key in seen or not stated <= 1.0:
            return None
        seen.add(key)
        total += stated
        candidates.append(_new(Candidate, (body, stated, stated, index)))
    return exact_distribution(candidates, total, text, None)


def parse_numbered_list(text: str, config: VSConfig | None) -> Distribution | None:
    """A numbered list without probabilities (small models' fallback shape), read in one pass.

    Same contract as :func:`parse_exact_json`: None for anything the general path reads
    differently; for the rest, the same distribution (uniform, duplicates merged).
    """
    if converts_numbers(config):
        return None
    items = numbered_list_items(text)
    return None if items is None else build_distribution(items, config, raw=text)


def exact_distribution(
    candidates: list[Candidate], total: float, raw: str, reasoning: str | None
) -> Distribution | None:
    """The distribution over distinct, valid candidates that hold their stated probability; None if all are 0."""
    if total <= 0:
        return None
    notes = [] if abs(total - 1.0) <= 1e-6 else [f"probabilities summed to {total:.4g}; normalised to 1"]
    if total != 1.0:  # else each stated probability is already its share (p / 1.0 == p)
        candidates = [
            _new(Candidate, (body, share / total, stated, index)) for body, share, stated, index in candidates
        ]
    return Distribution(candidates, raw=raw, warnings=notes, reasoning=reasoning)
