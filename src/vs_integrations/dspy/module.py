"""``VerbalizedSampling``: a DSPy module that asks for k candidates with probabilities and draws one."""

from __future__ import annotations

import json
import random
from typing import Annotated, Any

import dspy
import pydantic
from dspy.signatures.signature import Signature, ensure_signature
from dspy.utils.callback import BaseCallback
from dspy.utils.exceptions import AdapterParseError

from ..core.config import ProbabilityDefinition, VSConfig
from ..core.parser import Item, ParseError, build_distribution, extract_records, parse
from ..core.prompts import SIGNATURE_FIELD_DESCRIPTIONS, signature_instructions

COUNT_FIELD = "k"
CEILING_FIELD = "max_probability"
CANDIDATES_FIELD = "candidates"
REASONING_FIELD = "reasoning"


def verbalized_signature(signature: str | type[Signature], config: VSConfig) -> type[Signature]:
    """Derive the VS signature from the user's, the way ``dspy.ChainOfThought`` derives its own.

    Inputs stay; the input ``k`` (and ``max_probability`` with tail sampling) is added; the
    outputs become ``candidates``: a list of records carrying every original output field plus
    ``probability``. The VS instruction is added to the signature's instructions.

    Raises:
        ValueError: If the signature already uses a name the VS signature adds.
    """
    base = ensure_signature(signature)
    outputs = dict(base.output_fields)
    added = [COUNT_FIELD, CANDIDATES_FIELD] + ([CEILING_FIELD] if config.tail is not None else [])
    added += [REASONING_FIELD] if config.variant == "cot" else []
    clash = sorted(set(added) & (set(base.input_fields) | set(outputs)))
    if clash:
        raise ValueError(f"the signature already has field(s) {', '.join(clash)}, which VerbalizedSampling adds")
    record = pydantic.create_model(  # type: ignore[call-overload]
        "VerbalizedCandidate",
        **{
            name: (field.annotation, pydantic.Field(description=(field.json_schema_extra or {}).get("desc")))
            for name, field in outputs.items()
        },
        probability=(float, ...),
    )
    derived = base
    for name in outputs:
        derived = derived.delete(name)
    derived = derived.append(COUNT_FIELD, dspy.InputField(desc=SIGNATURE_FIELD_DESCRIPTIONS["count"]), type_=int)
    if config.tail is not None:
        derived = derived.append(
            CEILING_FIELD, dspy.InputField(desc=SIGNATURE_FIELD_DESCRIPTIONS["ceiling"]), type_=float
        )
    if config.variant == "cot":
        derived = derived.append(
            REASONING_FIELD, dspy.OutputField(desc=SIGNATURE_FIELD_DESCRIPTIONS["reasoning"]), type_=str
        )
    # The count is data in the prompt; in the type it lets constrained decoding enforce it. A
    # RootModel carries minItems/maxItems into DSPy's schema, which keeps only bare annotations.
    candidate_list = type(
        "VerbalizedCandidates",
        (pydantic.RootModel[Annotated[list[record], pydantic.Field(min_length=config.k, max_length=config.k)]],),  # type: ignore[valid-type]
        {},
    )
    derived = derived.append(
        CANDIDATES_FIELD, dspy.OutputField(desc=SIGNATURE_FIELD_DESCRIPTIONS["candidates"]), type_=candidate_list
    )
    vs_text = signature_instructions(
        config, list(outputs), count_field=COUNT_FIELD, ceiling_field=CEILING_FIELD if config.tail else None
    )
    own = base.instructions
    # DSPy writes "Given the fields ..., produce the fields ..." when the user wrote nothing.
    generated = own.startswith("Given the fields")
    result: type[Signature] = derived.with_instructions(vs_text if generated else f"{own}\n\n{vs_text}")
    return result


class _ReplyRecorder(BaseCallback):
    """Keeps the LM's raw text of the calls made under it, so nothing it returned is lost."""

    def __init__(self) -> None:
        self.replies: list[str] = []

    def on_lm_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
        for output in outputs or []:
            self.replies.append(output if isinstance(output, str) else str(output.get("text", output)))


class VerbalizedSampling(dspy.Module):
    """Ask for ``k`` candidates with probabilities in one call, then draw one with a seeded RNG.

    The returned ``dspy.Prediction`` has the drawn candidate's output fields, ``.completions``
    holding every candidate, and ``distribution`` (the core :class:`~vs_integrations.Distribution`,
    raw reply included). The VS instruction lives in the inner ``dspy.Predict``'s signature, so
    optimizers see and may rewrite it; ``k`` is an input field filled from the module's setting.

    Each call passes a new ``rollout_id`` (at ``temperature``, default 0.7), so DSPy's cache never
    returns the same distribution twice; set ``fresh=False`` to let identical calls hit the cache.

    Args:
        signature: The task, e.g. ``"question -> answer"`` or a ``dspy.Signature`` class.
        k: Candidates per call.
        variant: ``"standard"`` or ``"cot"`` (reasoning first).
        tail: Ask for probabilities below this threshold (an instruction, not a filter).
        probability: What the stated number means.
        seed: Seed of the draw (same seed, same sequence of picks) and of the rollout ids.
        temperature: Sampling temperature sent with each rollout.
        fresh: Vary ``rollout_id`` per call so the cache does not freeze the distribution.
        max_retries: Extra calls when a reply cannot be read at all.
        **config: Passed to the inner ``dspy.Predict``.

    Example:
        >>> import dspy
        >>> vs = VerbalizedSampling("topic -> joke", k=3, seed=0)
        >>> [name for name, _ in vs.named_predictors()]
        ['predict']
    """

    def __init__(
        self,
        signature: str | type[Signature],
        k: int = 5,
        *,
        variant: str = "standard",
        tail: float | None = None,
        probability: ProbabilityDefinition = "explicit",
        seed: int | None = None,
        temperature: float = 0.7,
        fresh: bool = True,
        max_retries: int = 2,
        **config: Any,
    ) -> None:
        super().__init__()
        if variant == "multi":
            raise ValueError("VerbalizedSampling supports variant 'standard' or 'cot'; 'multi' needs a conversation")
        self.vs_config = VSConfig(k=k, variant=variant, tail=tail, probability=probability)  # type: ignore[arg-type]
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an integer >= 0; got {max_retries!r}")
        self.signature = ensure_signature(signature)
        self.predict = dspy.Predict(verbalized_signature(self.signature, self.vs_config), **config)
        self.temperature = temperature
        self.fresh = fresh
        self.max_retries = max_retries
        self._rng = random.Random(seed)
        self._rollout = (seed or 0) * 1_000_003

    # -- one call ------------------------------------------------------------------------------
    def _call_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        call = dict(kwargs)
        call[COUNT_FIELD] = self.vs_config.k
        if self.vs_config.tail is not None:
            call[CEILING_FIELD] = self.vs_config.tail
        if self.fresh:
            self._rollout += 1
            call["config"] = {"rollout_id": self._rollout, "temperature": self.temperature, **kwargs.get("config", {})}
        return call

    def _records(self, prediction: dspy.Prediction) -> list[dict[str, Any]]:
        records = []
        found = prediction.get(CANDIDATES_FIELD)
        if isinstance(found, pydantic.RootModel):
            found = found.root
        for candidate in found or []:
            records.append(candidate.model_dump() if isinstance(candidate, pydantic.BaseModel) else dict(candidate))
        return records

    def _recover(self, raw: str) -> list[dict[str, Any]]:
        """Read the candidates with the core parser when DSPy's adapter could not."""
        names = list(self.signature.output_fields)
        records, _ = extract_records(raw)
        usable = [r for r in records if all(name in r for name in names)]
        if usable:
            return usable
        if len(names) == 1:
            # XML, lists, other keys: the core reads the text; it is the one output field.
            return [
                {names[0]: c.text, "probability": c.raw_probability if c.raw_probability is not None else None}
                for c in parse(raw, self.vs_config)
            ]
        raise ParseError(f"no candidate carries all of {', '.join(names)}", raw)

    def _prediction(self, records: list[dict[str, Any]], raw: str, reasoning: str | None) -> dspy.Prediction:
        names = list(self.signature.output_fields)
        fields_by_text: dict[str, dict[str, Any]] = {}
        items = []
        for position, record in enumerate(records):
            fields = {name: record.get(name) for name in names}
            text = (
                _as_text(fields[names[0]]) if len(names) == 1 else json.dumps(fields, ensure_ascii=False, default=str)
            )
            fields_by_text.setdefault(text.strip(), fields)
            items.append(Item(text.strip(), record.get("probability"), position))
        distribution = build_distribution(items, self.vs_config, raw=raw, reasoning=reasoning)
        if len(distribution) != self.vs_config.k:
            distribution.warnings.append(f"expected {self.vs_config.k} candidates, found {len(distribution)}")
        completions = [fields_by_text[c.text] for c in distribution]
        prediction = dspy.Prediction.from_completions(completions, signature=self.signature)
        picked = distribution.sample(self._rng)
        for name, value in fields_by_text[picked.text].items():
            prediction[name] = value
        prediction["distribution"] = distribution
        return prediction

    def _finish(self, outcome: dspy.Prediction | AdapterParseError, recorder: _ReplyRecorder) -> dspy.Prediction:
        raw = recorder.replies[-1] if recorder.replies else ""
        if isinstance(outcome, AdapterParseError):
            raw = outcome.lm_response or raw
            return self._prediction(self._recover(raw), raw, None)
        reasoning = outcome.get(REASONING_FIELD)
        return self._prediction(self._records(outcome), raw, reasoning if isinstance(reasoning, str) else None)

    # -- forward -------------------------------------------------------------------------------
    def forward(self, **kwargs: Any) -> dspy.Prediction:
        """Ask for the candidates and draw one.

        Raises:
            vs_integrations.ParseError: If no reply could be read within the retries (``.raw``
                holds the last one).
        """
        error: ParseError | None = None
        for _ in range(self.max_retries + 1):
            recorder = _ReplyRecorder()
            with dspy.context(callbacks=[*dspy.settings.get("callbacks", []), recorder]):
                try:
                    outcome: dspy.Prediction | AdapterParseError = self.predict(**self._call_kwargs(kwargs))
                except AdapterParseError as exc:
                    outcome = exc
            try:
                return self._finish(outcome, recorder)
            except ParseError as exc:
                error = exc
        assert error is not None
        raise error

    async def aforward(self, **kwargs: Any) -> dspy.Prediction:
        """Async twin of :meth:`forward`."""
        error: ParseError | None = None
        for _ in range(self.max_retries + 1):
            recorder = _ReplyRecorder()
            with dspy.context(callbacks=[*dspy.settings.get("callbacks", []), recorder]):
                try:
                    outcome: dspy.Prediction | AdapterParseError = await self.predict.acall(**self._call_kwargs(kwargs))
                except AdapterParseError as exc:
                    outcome = exc
            try:
                return self._finish(outcome, recorder)
            except ParseError as exc:
                error = exc
        assert error is not None
        raise error


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
