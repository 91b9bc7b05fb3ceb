"""Validated settings shared by the prompt builder, the parser and the engine."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

Variant = Literal["standard", "cot", "multi"]
ProbabilityDefinition = Literal["implicit", "explicit", "relative", "percentage", "confidence", "perplexity", "nll"]
ReplyFormat = Literal["json", "xml", "list"]

VARIANTS: tuple[str, ...] = ("standard", "cot", "multi")
PROBABILITY_DEFINITIONS: tuple[str, ...] = (
    "implicit",
    "explicit",
    "relative",
    "percentage",
    "confidence",
    "perplexity",
    "nll",
)
FORMATS: tuple[str, ...] = ("json", "xml", "list")
MAX_K = 100


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"VSConfig.{name} must be one of {', '.join(allowed)}; got {value!r}")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"VSConfig.{name} must be an integer from {low} to {high}; got {value!r}")


@dataclass(frozen=True)
class VSConfig:
    """How to ask for, and how to read, a verbalized distribution.

    Args:
        k: Number of candidates to ask for (1-100).
        variant: ``"standard"`` (one call), ``"cot"`` (reasoning first, then the candidates) or
            ``"multi"`` (a conversation collecting ``per_turn`` candidates a turn).
        per_turn: Candidates asked for in each turn of the ``multi`` variant (1..k).
            Defaults to ``ceil(k / 2)``.
        tail: ``None``, or a threshold in (0, 1): the model is told that every candidate's
            probability must be below it, which pushes it toward the tails. It is an
            instruction, never a filter.
        probability: What the number next to each candidate means.
        format: The reply format the model is asked for. The parser reads all formats.

    Example:
        >>> cfg = VSConfig(k=5, tail=0.1)
        >>> cfg.with_(variant="cot").variant
        'cot'

    """

    k: int = 5
    variant: Variant = "standard"
    per_turn: int | None = None
    tail: float | None = None
    probability: ProbabilityDefinition = "explicit"
    format: ReplyFormat = "json"

    def __post_init__(self) -> None:
        _check_int("k", self.k, 1, MAX_K)
        _check_choice("variant", self.variant, VARIANTS)
        _check_choice("probability", self.probability, PROBABILITY_DEFINITIONS)
        _check_choice("format", self.format, FORMATS)
        if self.per_turn is not None:
            _check_int("per_turn", self.per_turn, 1, self.k)
        if self.tail is not None:
            tail = self.tail
            if isinstance(tail, bool) or not isinstance(tail, (int, float)) or not 0 < tail < 1:
                raise ValueError(f"VSConfig.tail must be None or a number strictly between 0 and 1; got {tail!r}")

    @property
    def turn_size(self) -> int:
        """Candidates asked for per turn (``k`` except for the ``multi`` variant)."""
        if self.variant != "multi":
            return self.k
        return self.per_turn if self.per_turn is not None else (self.k + 1) // 2

    def with_(self, **changes: Any) -> VSConfig:
        """Return a copy with ``changes`` applied (validated again)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"VSConfig has no field(s) {', '.join(sorted(unknown))}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
