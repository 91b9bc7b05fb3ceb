"""A DSPy metric over a prediction's whole distribution: how different its good candidates are, times how good.

A metric that sees one drawn answer judges a VS program by luck. :class:`DistributionMetric`
scores every candidate of a :class:`~vs_integrations.dspy.VerbalizedSampling` prediction, so
``BootstrapFewShot``, ``MIPROv2`` and ``GEPA`` optimize a program for diverse *and* good outputs;
GEPA also gets feedback naming the weak and near-duplicate candidates.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dspy

from ..core.errors import InvalidSetting
from ..core.similarity import Embed, minilm_embed
from ..tools.evaluation.metrics import pairwise_similarity, rouge_l_f1

logger = logging.getLogger("vs_integrations")

Quality = Callable[[str], float]
"""``quality(text) -> float`` in [0, 1], e.g. an LLM judge's score scaled to [0, 1]."""
CandidateMetric = Callable[..., Any]
"""The user's DSPy metric ``metric(example, prediction, trace=None)``, applied to each candidate."""
DiversityKind = Literal["auto", "semantic", "lexical"]


@dataclass(frozen=True)
class Scored:
    """One candidate as the metric saw it."""

    text: str
    quality: float
    valid: bool


@dataclass(frozen=True)
class Assessment:
    """A prediction's score and its parts: ``score = diversity * quality``.

    Attributes:
        score: In [0, 1].
        diversity: Semantic (mean pairwise ``1 - cos``) or lexical (``1 -`` mean pairwise
            ROUGE-L F1) diversity of the valid candidates, in [0, 1]; 0 with fewer than two.
        quality: Mean quality over all candidates, an invalid one counting 0.
        diversity_kind: ``"semantic"`` or ``"lexical"``.
        candidates: Each candidate's text, quality and validity.
        near_duplicates: Pairs of valid candidates at or above the near-duplicate similarity.
    """

    score: float
    diversity: float
    quality: float
    diversity_kind: str
    candidates: tuple[Scored, ...]
    near_duplicates: tuple[tuple[str, str], ...]


class DistributionMetric:
    """A DSPy metric: diversity of a prediction's valid candidates times their quality.

    Called as any DSPy metric, ``metric(example, prediction, trace=None)``, it returns a float in
    [0, 1] (``BootstrapFewShot`` keeps a demo when it is truthy or reaches its
    ``metric_threshold``; ``Evaluate`` and ``MIPROv2`` average it). Called by ``GEPA`` (with
    ``pred_name``/``pred_trace``) it returns ``dspy.Prediction(score=..., feedback=...)``, the
    feedback naming the weak, invalid and near-duplicate candidates.

    The prediction must carry its candidates: a :class:`VerbalizedSampling` prediction (its
    ``distribution``), or any ``dspy.Prediction.from_completions`` result.

    Diversity is semantic with an embedding function (``embed``, or all-MiniLM-L6-v2 when the
    ``eval`` extra is installed); without one it is lexical (``1 -`` mean pairwise ROUGE-L F1),
    which counts shared words, not shared meaning: paraphrases look diverse. The kind used is
    logged once and named in every feedback.

    Args:
        quality: ``quality(text) -> float`` in [0, 1] for one candidate's text (a judge).
        candidate_metric: Instead of ``quality``, your own DSPy metric, called on each candidate
            as a one-candidate prediction: ``candidate_metric(example, candidate, None)``; a bool,
            a number in [0, 1] or a ``Prediction`` with ``score``. Neither: every valid
            candidate has quality 1 (diversity only).
        valid: ``valid(fields) -> bool`` on a candidate's output fields; an invalid candidate
            is left out of the diversity and counts quality 0.
        field: The output field whose text is judged and compared (default: the candidate's
            text in the distribution, i.e. its one output field or all fields as JSON).
        embed: ``embed(texts) -> vectors`` for semantic diversity.
        diversity: ``"auto"`` (semantic when an embedder is available, else lexical),
            ``"semantic"`` (an embedder is required) or ``"lexical"``.
        weak_below: A candidate scoring below this is named as weak in the feedback.
        near_duplicate: Similarity (cosine, or ROUGE-L F1 when lexical) from which two valid
            candidates are named as near-duplicates in the feedback.

    Raises:
        SettingsError: If both ``quality`` and ``candidate_metric`` are given, a callable argument
            is not callable, or a threshold is outside [0, 1] (the message names the field).

    Example:
        >>> def polite(text):
        ...     return 0.0 if "sorry" in text.lower() else 1.0
        >>> metric = DistributionMetric(polite, diversity="lexical")
        >>> prediction = dspy.Prediction.from_completions([{"joke": "Decaf? Depresso."}, {"joke": "Sorry, no."}])
        >>> round(metric(None, prediction), 2)
        0.5
    """

    def __init__(
        self,
        quality: Quality | None = None,
        *,
        candidate_metric: CandidateMetric | None = None,
        valid: Callable[[dict[str, Any]], bool] | None = None,
        field: str | None = None,
        embed: Embed | None = None,
        diversity: DiversityKind = "auto",
        weak_below: float = 0.5,
        near_duplicate: float = 0.8,
    ) -> None:
        if quality is not None and candidate_metric is not None:
            raise InvalidSetting("DistributionMetric takes quality or candidate_metric, not both", field="quality")
        for name, value in (("quality", quality), ("candidate_metric", candidate_metric), ("valid", valid)):
            if value is not None and not callable(value):
                raise InvalidSetting(
                    f"DistributionMetric: {name} must be callable; got {type(value).__name__}", field=name
                )
        if embed is not None and not callable(embed):
            raise InvalidSetting(
                f"DistributionMetric: embed must be callable; got {type(embed).__name__}", field="embed"
            )
        if diversity not in ("auto", "semantic", "lexical"):
            raise InvalidSetting(
                f"DistributionMetric: diversity must be 'auto', 'semantic' or 'lexical'; got {diversity!r}",
                field="diversity",
            )
        for name, bound in (("weak_below", weak_below), ("near_duplicate", near_duplicate)):
            if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not 0 <= bound <= 1:
                raise InvalidSetting(
                    f"DistributionMetric: {name} must be a number in [0, 1]; got {bound!r}", field=name
                )
        self.quality = quality
        self.candidate_metric = candidate_metric
        self.valid = valid
        self.field = field
        self.diversity = diversity
        self.weak_below = float(weak_below)
        self.near_duplicate = float(near_duplicate)
        self._embed = embed

    def __call__(
        self,
        example: Any,
        prediction: Any,
        trace: Any = None,
        pred_name: str | None = None,
        pred_trace: Any = None,
    ) -> float | dspy.Prediction:
        """Score ``prediction``; with ``pred_name``/``pred_trace`` (GEPA) also say why."""
        assessment = self.assess(example, prediction)
        if pred_name is None and pred_trace is None:
            return assessment.score
        return dspy.Prediction(score=assessment.score, feedback=self.feedback(assessment))

    def assess(self, example: Any, prediction: Any) -> Assessment:
        """Score every candidate of ``prediction`` and combine them (see :class:`Assessment`).

        Raises:
            TypeError: If ``prediction`` carries no candidates (no ``completions``).
            ValueError: If a quality is not a number in [0, 1] (the message names the candidate).
        """
        candidates = [
            Scored(text, self._quality(example, fields, text) if ok else 0.0, ok)
            for text, fields, ok in self._candidates(prediction)
        ]
        kept = [c.text for c in candidates if c.valid]
        kind, similarity = self._similarity(kept)
        pairs = [(i, j) for i in range(len(kept)) for j in range(i + 1, len(kept))]
        diversity = sum(1 - similarity[p] for p in pairs) / len(pairs) if pairs else 0.0
        quality = sum(c.quality for c in candidates) / len(candidates) if candidates else 0.0
        near = tuple((kept[i], kept[j]) for i, j in pairs if similarity[i, j] >= self.near_duplicate)
        return Assessment(round(diversity * quality, 6), diversity, quality, kind, tuple(candidates), near)

    def feedback(self, assessment: Assessment) -> str:
        """The text GEPA reflects on: the score's parts and the candidates to improve."""
        lines = [
            f"Score {assessment.score:.2f} = diversity {assessment.diversity:.2f} ({assessment.diversity_kind}) "
            f"x quality {assessment.quality:.2f} over {len(assessment.candidates)} candidate(s)."
        ]
        invalid = [c.text for c in assessment.candidates if not c.valid]
        weak = [c for c in assessment.candidates if c.valid and c.quality < self.weak_below]
        if invalid:
            lines.append("Invalid candidates: " + "; ".join(_quoted(t) for t in invalid) + ".")
        if weak:
            lines.append(
                f"Weak candidates (quality below {self.weak_below:g}): "
                + "; ".join(f"{_quoted(c.text)} ({c.quality:.2f})" for c in weak)
                + "."
            )
        if assessment.near_duplicates:
            lines.append(
                "Near-duplicates: "
                + "; ".join(f"{_quoted(a)} ~ {_quoted(b)}" for a, b in assessment.near_duplicates)
                + "."
            )
        if sum(c.valid for c in assessment.candidates) < 2:
            lines.append("Fewer than two valid candidates: diversity needs at least two different good ones.")
        if len(lines) == 1:
            lines.append("Every candidate is valid, good and distinct.")
        else:
            lines.append("Aim for candidates that are all valid and good, and differ from each other in substance.")
        return " ".join(lines)

    # -- parts -----------------------------------------------------------------------------------
    def _candidates(self, prediction: Any) -> list[tuple[str, dict[str, Any], bool]]:
        completions = getattr(prediction, "completions", None)
        if completions is None:
            raise TypeError(
                "DistributionMetric needs a prediction with candidates (a VerbalizedSampling prediction or "
                f"dspy.Prediction.from_completions); got {type(prediction).__name__} without completions"
            )
        distribution = prediction.get("distribution") if hasattr(prediction, "get") else None
        texts = list(distribution.texts) if distribution is not None else None
        out = []
        for index in range(len(completions)):
            fields = dict(completions[index].items())
            if self.field is not None:
                if self.field not in fields:
                    raise KeyError(
                        f"DistributionMetric: the candidates have no field {self.field!r}; fields: {sorted(fields)}"
                    )
                text = _as_text(fields[self.field])
            elif texts is not None and index < len(texts):
                text = texts[index]
            else:
                text = _as_text(next(iter(fields.values()))) if len(fields) == 1 else _as_text(fields)
            out.append((text, fields, self.valid is None or bool(self.valid(fields))))
        return out

    def _quality(self, example: Any, fields: dict[str, Any], text: str) -> float:
        if self.quality is not None:
            value: Any = self.quality(text)
        elif self.candidate_metric is not None:
            value = self.candidate_metric(example, dspy.Prediction(**fields), None)
            value = getattr(value, "score", value)
        else:
            return 1.0
        if isinstance(value, bool):
            return float(value)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
            raise ValueError(
                f"DistributionMetric: a quality must be a number in [0, 1]; got {value!r} for {_quoted(text)}"
            )
        return float(value)

    def _similarity(self, texts: Sequence[str]) -> tuple[str, dict[tuple[int, int], float]]:
        """Pairwise similarity of ``texts`` in [0, 1], and which kind."""
        embed = self._embedder()
        if embed is not None:
            return "semantic", pairwise_similarity(list(embed(list(texts))))
        pairs = ((i, j) for i in range(len(texts)) for j in range(i + 1, len(texts)))
        return "lexical", {(i, j): rouge_l_f1(texts[i], texts[j]) for i, j in pairs}

    def _embedder(self) -> Embed | None:
        if self._embed is not None or self.diversity == "lexical":
            return self._embed
        embed, missing = _installed_embedder()
        if embed is None and self.diversity == "semantic":
            raise ImportError(f"DistributionMetric(diversity='semantic'): {missing}")
        return embed


_embedder_lock = threading.Lock()


def _installed_embedder() -> tuple[Embed | None, str]:
    """all-MiniLM-L6-v2 when the ``eval`` extra is installed, else None and why (logged once per process)."""
    with _embedder_lock:  # around the cache: threads asking first would each load the model
        return _load_embedder()


@functools.cache
def _load_embedder() -> tuple[Embed | None, str]:
    try:
        return minilm_embed(), ""
    except ImportError as exc:
        logger.warning("DistributionMetric: no embedding model (%s); diversity is lexical (1 - ROUGE-L F1)", exc)
        return None, str(exc)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _quoted(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


__all__ = ["Assessment", "CandidateMetric", "DistributionMetric", "Quality", "Scored"]
