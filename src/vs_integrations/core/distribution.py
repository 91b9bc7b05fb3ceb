"""Candidates and the normalised distribution over them."""

from __future__ import annotations

import inspect
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate
from typing import Any, NamedTuple, overload

from .calls import CALL_KINDS, CallRecord, Usage


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


SeedLike = int | str | random.Random | None
"""A draw's seed: an int or str (reproducible anywhere), a ``random.Random`` to draw from, or None."""

SamePredicate = Callable[[str, str], bool]
"""``same(a, b) -> bool``: True when two candidate texts count as one candidate."""

ValidPredicate = Callable[[str], bool]
"""``valid(text) -> bool``: True when a candidate's text is an acceptable answer."""


def text_key(text: str) -> str:
    """The form two texts are compared in when pooling candidates: whitespace collapsed, casefolded.

    Example:
        >>> text_key("  New   York ") == text_key("new york")
        True

    """
    return " ".join(text.split()).casefold()


def _mixture_shares(weights: Sequence[float] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0 / count] * count
    values = list(weights)
    if len(values) != count:
        raise ValueError(f"Distribution.merge(): got {len(values)} weight(s) for {count} distribution(s)")
    for position, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"Distribution.merge(): weights[{position}] must be a number; got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"Distribution.merge(): weights[{position}] must be finite; got {value!r}")
        if value < 0:
            raise ValueError(f"Distribution.merge(): weights[{position}] must be >= 0; got {value!r}")
    total = math.fsum(values)
    if total <= 0:
        raise ValueError("Distribution.merge(): the weights are all zero; at least one must be positive")
    return [value / total for value in values]


class Distribution(Sequence[Candidate]):
    """A normalised, immutable distribution over the candidates of one VS result.

    Nothing changes it after construction: its attributes are read-only, ``warnings`` and
    ``calls`` are tuples, and every transformation (:meth:`filter`, :meth:`with_temperature`,
    :meth:`merge`, :meth:`replace`) returns a new distribution that keeps the trace.

    Args:
        candidates: The candidates; their probabilities must already sum to 1.
        raw: The model's text the distribution was read from.
        warnings: Repairs the parser and the engine made (normalisation, missing values,
            merges, candidates left out...).
        truncated: True when a reply was cut off and only complete candidates were kept.
        reasoning: The reasoning the VS-CoT variant wrote before its candidates.
        calls: The trace: one :class:`~vs_integrations.core.calls.CallRecord` per model call
            the result took, in call order (empty for a distribution parsed from text).

    Example:
        >>> from vs_integrations import parse
        >>> dist = parse('{"responses": [{"text": "heads", "probability": 0.5},'
        ...              ' {"text": "tails", "probability": 0.5}]}')
        >>> dist.sample(seed=1).text in {"heads", "tails"}
        True
        >>> dist.usage.calls, dist.warnings
        (0, ())

    """

    __slots__ = ("_calls", "_candidates", "_cumulative", "_raw", "_reasoning", "_truncated", "_warnings")

    def __init__(
        self,
        candidates: Sequence[Candidate],
        *,
        raw: str = "",
        warnings: Sequence[str] = (),
        truncated: bool = False,
        reasoning: str | None = None,
        calls: Sequence[CallRecord] = (),
    ) -> None:
        self._candidates: tuple[Candidate, ...] = tuple(candidates)
        self._cumulative: list[float] | None = None  # a cache of the draw, filled on first use
        self._raw = raw
        self._warnings: tuple[str, ...] = tuple(warnings)
        self._truncated = truncated
        self._reasoning = reasoning
        self._calls: tuple[CallRecord, ...] = tuple(calls)

    @property
    def raw(self) -> str:
        """The model's text the distribution was read from (every reply, for a pooled result)."""
        return self._raw

    @property
    def warnings(self) -> tuple[str, ...]:
        """What was repaired, dropped or left out on the way, in order."""
        return self._warnings

    @property
    def truncated(self) -> bool:
        """True when a reply was cut off and only complete candidates were kept."""
        return self._truncated

    @property
    def reasoning(self) -> str | None:
        """The VS-CoT reasoning, if any."""
        return self._reasoning

    @property
    def calls(self) -> tuple[CallRecord, ...]:
        """One record per model call the result took (kind, tokens, seconds, finish reason...)."""
        return self._calls

    @property
    def usage(self) -> Usage:
        """What the result cost in all: the sum of :attr:`calls`."""
        return Usage.of(self._calls)

    def replace(
        self,
        *,
        candidates: Sequence[Candidate] | None = None,
        raw: str | None = None,
        warnings: Sequence[str] | None = None,
        truncated: bool | None = None,
        reasoning: str | None = None,
        calls: Sequence[CallRecord] | None = None,
    ) -> Distribution:
        """A copy with the given attributes changed (None keeps the current one).

        The candidates' probabilities must still sum to 1.

        Example:
            >>> dist = Distribution([Candidate("a", 1.0, None, 0)])
            >>> dist.replace(warnings=[*dist.warnings, "checked"]).warnings
            ('checked',)

        """
        return Distribution(
            self._candidates if candidates is None else candidates,
            raw=self._raw if raw is None else raw,
            warnings=self._warnings if warnings is None else warnings,
            truncated=self._truncated if truncated is None else truncated,
            reasoning=self._reasoning if reasoning is None else reasoning,
            calls=self._calls if calls is None else calls,
        )

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
        # The trace says what a result cost, not what it is: the same replies give equal
        # results however long their calls took.
        if not isinstance(other, Distribution):
            return NotImplemented
        return self._content() == other._content()

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
        """Draw one candidate with its probability: the package's one draw.

        What a seed reproduces: the same distribution (the same candidates with the same
        probabilities, in the same order) and the same int or str seed give the same candidate,
        in any process, on any machine and through any adapter. The seed goes to
        ``random.Random`` as is (a str is hashed with SHA-512 by ``random.seed``, never with
        Python's per-process ``hash()``), which draws one number in [0, 1); the candidate is the
        one whose cumulative probability interval, in reply order, holds it.

        Args:
            seed: An int or str (same seed, same pick), a ``random.Random`` to draw the number
                from (a stream of draws, reproducible from the stream's own seed), or None (a
                fresh, unreproducible draw).

        Raises:
            ValueError: If the distribution is empty, or a probability is negative or NaN, or
                none is positive.
            TypeError: If ``seed`` is of another type (a float or a bool, for example).

        Example:
            >>> dist = Distribution([Candidate("heads", 0.5, 0.5, 0), Candidate("tails", 0.5, 0.5, 1)])
            >>> dist.sample(seed=7) == dist.sample(seed=7)
            True

        """
        if not self._candidates:
            raise ValueError("cannot sample from an empty Distribution")
        if isinstance(seed, random.Random):
            rng = seed
        elif seed is None or (isinstance(seed, (int, str)) and not isinstance(seed, bool)):
            rng = random.Random(seed)
        else:
            raise TypeError(f"seed must be an int, a str, a random.Random or None; got {type(seed).__name__}")
        if self._cumulative is None:
            _check_probabilities(self._candidates)
            self._cumulative = list(accumulate(c.probability for c in self._candidates))
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
        return self.replace(
            candidates=[c._replace(probability=p) for c, p in zip(candidates, probabilities, strict=True)]
        )

    # -- combining -----------------------------------------------------------------------------
    @classmethod
    def merge(
        cls,
        distributions: Sequence[Distribution],
        weights: Sequence[float] | None = None,
        *,
        same: SamePredicate | None = None,
    ) -> Distribution:
        """The mixture of several distributions, with equal candidates pooled.

        Each distribution's probabilities are scaled by its weight (weights are normalised);
        candidates whose texts match after :func:`text_key` (case and whitespace ignored), or that
        ``same`` says are the same, are pooled into one that keeps the first spelling, the first
        stated value and the summed probability. The result is renormalised; its ``raw``
        joins every distribution's raw reply, its ``warnings`` keep all of theirs and its
        ``calls`` are all of theirs in order (so its ``usage`` is their sum). Candidates of a
        zero-weight distribution are not part of the mixture (its raw text, warnings and calls
        are still kept).

        Args:
            distributions: The distributions to mix (at least one).
            weights: One non-negative, finite weight per distribution, not all zero; default
                equal weights.
            same: Optional ``same(a, b) -> bool`` deciding that two texts are the same candidate
                (e.g. :func:`vs_integrations.core.similarity.embedding_same`); checked after the
                normalised-text match, against the texts kept so far.

        Raises:
            ValueError: If there is no distribution or a weight is invalid (the message says
                which and why).
            TypeError: If an element is not a :class:`Distribution`.

        Example:
            >>> a = Distribution([Candidate("Ohio", 0.5, 0.5, 0), Candidate("Utah", 0.5, 0.5, 1)])
            >>> b = Distribution([Candidate(" ohio ", 1.0, 1.0, 0)])
            >>> [(c.text, c.probability) for c in Distribution.merge([a, b])]
            [('Ohio', 0.75), ('Utah', 0.25)]

        """
        parts = list(distributions)
        if not parts:
            raise ValueError("Distribution.merge() needs at least one distribution; got none")
        for position, part in enumerate(parts):
            if not isinstance(part, Distribution):
                raise TypeError(
                    f"Distribution.merge(): distributions[{position}] must be a Distribution; got {type(part).__name__}"
                )
        shares = _mixture_shares(weights, len(parts))
        rows: list[list[Any]] = []  # [text, mass, stated value]
        by_key: dict[str, int] = {}
        pooled = 0
        for part, share in zip(parts, shares, strict=True):
            if share == 0:
                continue
            for candidate in part:
                key = text_key(candidate.text)
                at = by_key.get(key)
                if at is None and same is not None:
                    at = next((i for i, kept in enumerate(rows) if same(kept[0], candidate.text)), None)
                if at is None:
                    by_key[key] = len(rows)
                    rows.append([candidate.text, share * candidate.probability, candidate.raw_probability])
                else:
                    by_key.setdefault(key, at)
                    rows[at][1] += share * candidate.probability
                    pooled += 1
        notes = [warning for part in parts for warning in part.warnings]
        if pooled:
            notes.append(f"merge pooled {pooled} duplicate candidate(s), adding their probabilities")
        total = sum(row[1] for row in rows)
        if rows and total <= 0:
            notes.append("merge: no candidate had a positive probability; used a uniform distribution")
            for row in rows:
                row[1] = 1.0
            total = float(len(rows))
        return cls(
            [Candidate(text, mass / total, stated, index) for index, (text, mass, stated) in enumerate(rows)],
            raw="\n\n".join(part.raw for part in parts if part.raw),
            warnings=notes,
            truncated=any(part.truncated for part in parts),
            reasoning="\n\n".join(part.reasoning for part in parts if part.reasoning) or None,
            calls=[record for part in parts for record in part.calls],
        )

    # -- rendering and serialisation ---------------------------------------------------------
    def to_markdown(self) -> str:
        """A Markdown table of the candidates."""
        lines = ["| # | probability | text |", "|---|---|---|"]
        for c in self._candidates:
            text = c.text.replace("|", "\\|").replace("\n", "<br>")
            lines.append(f"| {c.index} | {c.probability:.3f} | {text} |")
        return "\n".join(lines)

    def _content(self) -> tuple[Any, ...]:
        return (self._candidates, self._raw, self._warnings, self._truncated, self._reasoning)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; :meth:`from_dict` reads it back (``usage`` is derived from ``calls``)."""
        return {
            "candidates": [c._asdict() for c in self._candidates],
            "raw": self._raw,
            "warnings": list(self._warnings),
            "truncated": self._truncated,
            "reasoning": self._reasoning,
            "calls": [record.to_dict() for record in self._calls],
            "usage": self.usage.to_dict(),
        }

    def _asdict(self) -> dict[str, Any]:
        """The constructor's arguments by name, as live objects: ``type(d)(**d._asdict()) == d``.

        The namedtuple convention, followed by serialisers that rebuild an object with
        ``cls(**kwargs)``: LangGraph's checkpointers store a distribution in graph state this way.
        """
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        return {name: getattr(self, name) for name in names}

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
            calls = [CallRecord.from_dict(record) for record in data.get("calls", [])]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a Distribution dict: {exc!r}") from exc
        if reasoning is not None and not isinstance(reasoning, str):
            raise ValueError(f"not a Distribution dict: 'reasoning' must be a string or None; got {reasoning!r}")
        for position, record in enumerate(calls):
            if record.kind not in CALL_KINDS:
                raise ValueError(f"not a Distribution dict: calls[{position}] has kind {record.kind!r}")
        if candidates:
            _check_probabilities(candidates)
            total = math.fsum(c.probability for c in candidates)
            if abs(total - 1.0) > 1e-6:
                warnings.append(f"from_dict: probabilities summed to {total:.4g}; normalised to 1")
                candidates = [c._replace(probability=c.probability / total) for c in candidates]
        return cls(candidates, raw=raw, warnings=warnings, truncated=truncated, reasoning=reasoning, calls=calls)


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
