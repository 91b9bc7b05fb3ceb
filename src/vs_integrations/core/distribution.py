"""Candidates and the normalised distribution over them."""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate
from typing import Any, NamedTuple, overload


class Candidate(NamedTuple):
    """One response the model verbalized, with its probability.

    Attributes:
        text: The response text, exactly as the model wrote it (trimmed).
        probability: Normalised probability; the candidates of a distribution sum to 1.
        raw_probability: The number the model stated (``"20%"`` -> 0.2, ``"1/6"`` -> 0.1667,
            a bare ``20`` -> 20.0), or ``None`` if it stated none that could be read.
        index: Position of the candidate in the reply (0-based).

    Example:
        >>> Candidate("Paris", 0.5, 0.5, 0).text
        'Paris'

    """

    text: str
    probability: float
    raw_probability: float | None
    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose: the field is the contract


SeedLike = int | random.Random | None


class Distribution(Sequence[Candidate]):
    """A normalised, immutable distribution over the candidates of one VS reply.

    Args:
        candidates: The candidates; their probabilities must already sum to 1.
        raw: The model's text the distribution was read from.
        warnings: Repairs the parser made (normalisation, missing values, merges...).
        truncated: True when the reply was cut off and only complete candidates were kept.
        reasoning: The reasoning the VS-CoT variant wrote before its candidates.

    Example:
        >>> from vs_integrations import parse
        >>> dist = parse('{"responses": [{"text": "heads", "probability": 0.5},'
        ...              ' {"text": "tails", "probability": 0.5}]}')
        >>> dist.sample(seed=1).text in {"heads", "tails"}
        True

    """

    __slots__ = ("_candidates", "_cumulative", "raw", "reasoning", "truncated", "warnings")

    def __init__(
        self,
        candidates: Sequence[Candidate],
        *,
        raw: str = "",
        warnings: Sequence[str] = (),
        truncated: bool = False,
        reasoning: str | None = None,
    ) -> None:
        self._candidates: tuple[Candidate, ...] = tuple(candidates)
        self._cumulative: list[float] | None = None
        self.raw = raw
        self.warnings: list[str] = list(warnings)
        self.truncated = truncated
        self.reasoning = reasoning

    # -- sequence protocol -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._candidates)

    @overload
    def __getitem__(self, index: int) -> Candidate: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Candidate, ...]: ...
    def __getitem__(self, index: int | slice) -> Candidate | tuple[Candidate, ...]:
        return self._candidates[index]

    def __iter__(self) -> Iterator[Candidate]:
        return iter(self._candidates)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Distribution):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{c.text[:30]!r}: {c.probability:.3f}" for c in self._candidates)
        return f"Distribution({inner})"

    # -- views -------------------------------------------------------------------------------
    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """The candidates in reply order."""
        return self._candidates

    @property
    def texts(self) -> list[str]:
        """The candidates' texts in reply order."""
        return [c.text for c in self._candidates]

    @property
    def probabilities(self) -> list[float]:
        """The normalised probabilities in reply order."""
        return [c.probability for c in self._candidates]

    @property
    def entropy(self) -> float:
        """Shannon entropy in nats."""
        return -sum(c.probability * math.log(c.probability) for c in self._candidates if c.probability > 0)

    # -- sampling ------------------------------------------------------------------------------
    def sample(self, seed: SeedLike = None) -> Candidate:
        """Draw one candidate with its probability.

        Args:
            seed: An int (same seed, same pick), a ``random.Random`` to draw from, or None.

        Raises:
            ValueError: If the distribution is empty, or a probability is negative or NaN, or
                none is positive.

        """
        if not self._candidates:
            raise ValueError("cannot sample from an empty Distribution")
        if self._cumulative is None:
            _check_probabilities(self._candidates)
            self._cumulative = list(accumulate(c.probability for c in self._candidates))
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        point = rng.random() * self._cumulative[-1]
        position = bisect_right(self._cumulative, point)
        return self._candidates[min(position, len(self._candidates) - 1)]

    def argmax(self) -> Candidate:
        """The most probable candidate (the first one on ties)."""
        if not self._candidates:
            raise ValueError("cannot take argmax of an empty Distribution")
        return max(self._candidates, key=lambda c: c.probability)

    def top(self, n: int) -> list[Candidate]:
        """The ``n`` most probable candidates, most probable first (stable on ties)."""
        if n < 0:
            raise ValueError(f"top(n) needs n >= 0; got {n}")
        return sorted(self._candidates, key=lambda c: -c.probability)[:n]

    def filter(self, predicate: Callable[[Candidate], bool]) -> Distribution:
        """Keep the candidates ``predicate`` accepts and renormalise.

        Raises:
            ValueError: If no candidate (or only zero-probability ones) is left.

        """
        kept = [c for c in self._candidates if predicate(c)]
        total = sum(c.probability for c in kept)
        if not kept or total <= 0:
            raise ValueError("filter() left no candidate with positive probability")
        return self._replace_probabilities(kept, [c.probability / total for c in kept])

    def with_temperature(self, temperature: float) -> Distribution:
        """Sharpen (t < 1) or flatten (t > 1) the distribution: p ** (1 / t), renormalised."""
        if not temperature > 0 or math.isinf(temperature):
            raise ValueError(f"temperature must be a finite number > 0; got {temperature!r}")
        if not self._candidates:
            return self._replace_probabilities([], [])
        exponent = 1.0 / temperature
        # Work in log space so tiny probabilities and small temperatures do not underflow to 0.
        logs = [exponent * math.log(c.probability) if c.probability > 0 else -math.inf for c in self._candidates]
        peak = max(logs)
        if peak == -math.inf:
            return self._replace_probabilities(self._candidates, [c.probability for c in self._candidates])
        weights = [math.exp(v - peak) for v in logs]
        total = sum(weights)
        return self._replace_probabilities(self._candidates, [w / total for w in weights])

    def _replace_probabilities(self, candidates: Sequence[Candidate], probabilities: Sequence[float]) -> Distribution:
        return Distribution(
            [c._replace(probability=p) for c, p in zip(candidates, probabilities, strict=True)],
            raw=self.raw,
            warnings=self.warnings,
            truncated=self.truncated,
            reasoning=self.reasoning,
        )

    # -- rendering and serialisation ---------------------------------------------------------
    def to_markdown(self) -> str:
        """A Markdown table of the candidates."""
        lines = ["| # | probability | text |", "|---|---|---|"]
        for c in self._candidates:
            text = c.text.replace("|", "\\|").replace("\n", "<br>")
            lines.append(f"| {c.index} | {c.probability:.3f} | {text} |")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; :meth:`from_dict` reads it back."""
        return {
            "candidates": [c._asdict() for c in self._candidates],
            "raw": self.raw,
            "warnings": list(self.warnings),
            "truncated": self.truncated,
            "reasoning": self.reasoning,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Distribution:
        """Rebuild a distribution from :meth:`to_dict` output.

        Probabilities that do not sum to 1 are renormalised, with a warning.

        Raises:
            ValueError: If ``data`` is not shaped like :meth:`to_dict` output, or a probability
                is negative, NaN or infinite, or none is positive.

        Example:
            >>> data = {"candidates": [{"text": "a", "probability": 2, "index": 0}]}
            >>> Distribution.from_dict(data).probabilities
            [1.0]

        """
        try:
            candidates = [
                Candidate(
                    str(c["text"]),
                    float(c["probability"]),
                    None if c.get("raw_probability") is None else float(c["raw_probability"]),
                    int(c["index"]),
                )
                for c in data["candidates"]
            ]
            warnings = [str(w) for w in data.get("warnings", [])]
            raw = str(data.get("raw", ""))
            truncated = bool(data.get("truncated", False))
            reasoning = data.get("reasoning")
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a Distribution dict: {exc!r}") from exc
        if reasoning is not None and not isinstance(reasoning, str):
            raise ValueError(f"not a Distribution dict: 'reasoning' must be a string or None; got {reasoning!r}")
        if candidates:
            _check_probabilities(candidates)
            total = math.fsum(c.probability for c in candidates)
            if abs(total - 1.0) > 1e-6:
                warnings.append(f"from_dict: probabilities summed to {total:.4g}; normalised to 1")
                candidates = [c._replace(probability=c.probability / total) for c in candidates]
        return cls(candidates, raw=raw, warnings=warnings, truncated=truncated, reasoning=reasoning)


def _check_probabilities(candidates: Sequence[Candidate]) -> None:
    """Refuse probabilities no distribution can hold, naming the first bad candidate."""
    for candidate in candidates:
        if not math.isfinite(candidate.probability) or candidate.probability < 0:
            raise ValueError(
                f"candidate {candidate.index} ({candidate.text[:40]!r}) has probability "
                f"{candidate.probability!r}; probabilities must be finite and >= 0"
            )
    if not any(c.probability > 0 for c in candidates):
        raise ValueError(f"all {len(candidates)} probabilities are 0; there is nothing to sample from")
