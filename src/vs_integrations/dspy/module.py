"""``VerbalizedSampling``: a DSPy module that asks for k candidates with probabilities and draws one."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import dspy
import pydantic
from dspy.signatures.signature import Signature, ensure_signature
from dspy.utils.callback import BaseCallback
from dspy.utils.exceptions import AdapterParseError

from ..backends.base import DEFAULT_TEMPERATURE
from ..core.calls import ModelRequest, Reply
from ..core.config import VSConfig, refuse_unknown, resolve_config, split_settings
from ..core.distribution import Distribution
from ..core.driver import drive, run_sync
from ..core.engine import VSEngine, check_distinct
from ..core.errors import InvalidSetting, ParseError
from ..core.parser import extract_records, parse
from ..core.prompts import SIGNATURE_FIELD_DESCRIPTIONS, signature_instructions
from .errors import VSAdapterParseError, lm_errors_as_ours

COUNT_FIELD = "k"
CEILING_FIELD = "max_probability"
CANDIDATES_FIELD = "candidates"
REASONING_FIELD = "reasoning"
LM_SETTINGS: tuple[str, ...] = ("temperature", "max_tokens", "top_p")
"""Non-VS keywords :class:`VerbalizedSampling` accepts: LM settings for the inner ``dspy.Predict``."""
_OWN_KEYWORDS = (*LM_SETTINGS, "fresh", "distinct", "max_calls", "valid")
"""Every keyword of the module's own, named when a misspelt one is refused."""

Valid = Callable[[dict[str, Any]], bool]
"""``valid(fields) -> bool``: whether a candidate (its output fields by name) is acceptable."""

# Guards the per-input call counters; module-level so a module stays deep-copyable.
_counter_lock = threading.Lock()
# LM calls one inner call makes: ChatAdapter's JSONAdapter retry is off (the core parser reads instead).
_TEXTS_PER_CALL = 1
# The engine's instruction when unseeded: any non-empty text (the inner Predict writes the prompt).
_UNSEEDED = "unseeded"


def verbalized_signature(signature: str | type[Signature], config: VSConfig) -> type[Signature]:
    """Derive the VS signature from the user's, the way ``dspy.ChainOfThought`` derives its own.

    Inputs stay; the input ``k`` (and ``max_probability`` with tail sampling) is added; the
    outputs become ``candidates``: a list of records carrying every original output field plus
    ``probability``. The sampling instruction is the ``candidates`` field's description, where
    optimizers (which rewrite a signature's instructions) leave it; the instructions stay the
    user's own.

    Raises:
        ValueError: If the signature already uses a name the VS signature adds.

    Example:
        >>> sig = verbalized_signature("topic -> joke", VSConfig(k=3))
        >>> list(sig.input_fields), list(sig.output_fields)
        (['topic', 'k'], ['candidates'])
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
            name: (field.annotation, pydantic.Field(description=_own_desc(name, field)))
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
    candidate_list = _candidate_list(record, config.k)
    vs_text = signature_instructions(
        config, list(outputs), count_field=COUNT_FIELD, ceiling_field=CEILING_FIELD if config.tail else None
    )
    derived = derived.append(CANDIDATES_FIELD, dspy.OutputField(desc=vs_text), type_=candidate_list)
    own = base.instructions
    # DSPy writes "Given the fields ..., produce the fields ..." when the user wrote nothing; the
    # derived signature gets the same sentence for its own fields.
    if own.startswith("Given the fields"):
        inputs = ", ".join(f"`{name}`" for name in derived.input_fields)
        produced = ", ".join(f"`{name}`" for name in derived.output_fields)
        own = f"Given the fields {inputs}, produce the fields {produced}."
    result: type[Signature] = derived.with_instructions(own)
    return result


def _candidate_list(record: type[pydantic.BaseModel], count: int) -> type[pydantic.RootModel[Any]]:
    """The ``candidates`` type: a list of exactly ``count`` records.

    The count is data in the prompt; in the type it lets constrained decoding enforce it. A
    RootModel carries minItems/maxItems into DSPy's schema, which keeps only bare annotations.
    """
    return type(
        "VerbalizedCandidates",
        (pydantic.RootModel[Annotated[list[record], pydantic.Field(min_length=count, max_length=count)]],),  # type: ignore[valid-type]
        {},
    )


@functools.lru_cache(maxsize=64)
def _counted(signature: type[Signature], count: int) -> type[Signature]:
    """``signature`` (the inner predictor's current one) asking for ``count`` candidates.

    A top-up asks for the missing candidates only: ``k`` is ``count`` in the prompt and the list
    type holds ``count`` records, so a schema-constrained model writes that many and DSPy's
    adapter reads them. Instructions and descriptions stay the signature's own.
    """
    field = signature.output_fields[CANDIDATES_FIELD]
    record = field.annotation.model_fields["root"].annotation.__args__[0]
    counted: type[Signature] = signature.with_updated_fields(CANDIDATES_FIELD, type_=_candidate_list(record, count))
    return counted


def _own_desc(name: str, field: Any) -> str | None:
    desc = (field.json_schema_extra or {}).get("desc")
    # DSPy fills an undescribed field with the placeholder "${name}": not a description.
    return None if desc == f"${{{name}}}" else desc


class _ReplyRecorder(BaseCallback):
    """Keeps the LM's raw text of the calls made under it, so nothing it returned is lost."""

    def __init__(self) -> None:
        self.replies: list[str] = []

    def on_lm_end(self, call_id: str, outputs: Any, exception: Exception | None = None) -> None:
        self.replies.extend(_output_texts(outputs))


class _HistoryLog:
    """Stands among DSPy's calling modules: every LM call under it appends its history entry here."""

    def __init__(self) -> None:
        self.history: list[dict[str, Any]] = []


class _LMCalls:
    """The LM calls one inner call made: their texts and, where DSPy's history keeps them, their entries."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.entries: list[dict[str, Any]] = []  # empty with history off (only a callback saw the calls)
        self.seconds = 0.0

    def reply(self, text: str) -> Reply:
        """``text`` (what the engine reads) as a Reply with what the calls cost.

        Their summed tokens, the last call's finish reason and model, the inner call's seconds.
        """
        usages = [entry.get("usage") or {} for entry in self.entries]
        last = self.entries[-1] if self.entries else {}
        model = last.get("response_model") or last.get("model")
        return Reply(
            text,
            prompt_tokens=_token_sum(usages, "prompt_tokens"),
            completion_tokens=_token_sum(usages, "completion_tokens"),
            finish_reason=_finish_reason(last.get("response")),
            model=model if isinstance(model, str) else None,
            seconds=self.seconds,
        )


def _token_sum(usages: list[dict[str, Any]], name: str) -> int | None:
    """The calls' ``name`` tokens added up; None when no call reported them."""
    counts = [count for usage in usages if isinstance(count := usage.get(name), int)]
    return sum(counts) if counts else None


def _finish_reason(response: Any) -> str | None:
    """The finish reason of an LM call's response.

    An lm15 ``Response`` (or a list of them: the last one's), or an OpenAI-shaped response's first choice.
    """
    if isinstance(response, list | tuple):
        response = response[-1] if response else None
    reason = _field(response, "finish_reason")
    if reason is None:
        choices = _field(response, "choices")
        reason = _field(choices[0], "finish_reason") if isinstance(choices, list | tuple) and choices else None
    return reason if isinstance(reason, str) else None


def _field(value: Any, name: str) -> Any:
    """``value[name]`` of a dict, ``value.name`` of an object, else None."""
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def _output_texts(outputs: Any) -> list[str]:
    return [output if isinstance(output, str) else str(output.get("text", output)) for output in outputs or []]


# What a driver sends the call loop after each inner call: DSPy's result (or its parse error)
# and the LM calls made during it.
_Outcome = tuple["dspy.Prediction | AdapterParseError", _LMCalls]


@functools.cache
def _embedded_lm() -> Any:
    from .local_engine import local_lm

    return local_lm()


class VerbalizedSampling(dspy.Module):
    """Ask for ``k`` candidates with probabilities in one call, then draw one.

    The returned ``dspy.Prediction`` has the drawn candidate's output fields, ``.completions``
    holding every candidate, and ``distribution`` (the core :class:`~vs_integrations.Distribution`,
    raw reply included). ``k`` is an input field filled from the settings; the sampling
    instruction is the description of the ``candidates`` output field, so an optimizer rewriting
    the inner predictor's instructions does not remove it.

    Short or unreadable replies go through the core engine's loop (``max_retries``, then
    ``on_failure``: ``"partial"`` keeps what was read with a warning). DSPy's adapter reads each
    reply first; when it cannot, the core parser does, before any further LM call (the
    ``ChatAdapter``'s own retry through its ``JSONAdapter`` is turned off for the inner call).
    A short reply is topped up by a call asking for the missing candidates only (``k`` is the
    missing count there). The call is traced once, as the candidates kept with their normalised
    probabilities (so ``BootstrapFewShot`` and GEPA learn from it, the core parser's rescues too).

    Each call sends a ``rollout_id`` so DSPy's cache does not freeze the distribution: random
    when ``seed`` is None (fresh draws in every run), derived from the seed, the inputs, and how
    often this module has seen them when ``seed`` is set (the same program run repeats, also under
    ``dspy.Parallel``). A rollout id or temperature set on the LM (``dspy.BestOfN`` and
    ``dspy.Refine`` set both) is respected: the LM's id is folded into the one sent. At
    temperature 0 no rollout id is sent (the reply would be the same; DSPy would warn).

    ``prediction.distribution.usage`` and ``.calls`` hold what the LM calls cost (tokens from
    DSPy's history entries, the finish reason, the model, seconds), as DSPy's usage tracking counts them.

    With no LM configured, the embedded model is used (``local`` extra) with ``dspy.JSONAdapter``.

    ``distinct=N`` runs the engine's distinct-N loop (:meth:`VSEngine.distinct
    <vs_integrations.VSEngine.distinct>`): calls of ``k`` candidates are pooled until ``N``
    distinct ones are held or ``max_calls`` (default ``2 * ceil(N / k) + 1``) are spent, and
    ``.completions`` holds every pooled candidate (a shortfall is a warning under the default
    ``on_failure="partial"``). The inner ``Predict`` has no conversation, so a later call asks
    for the missing ones (at most ``k``) without listing what is held.

    Errors are both the package's and DSPy's: a reply nothing could read is a
    :class:`~vs_integrations.dspy.errors.VSAdapterParseError` (``ParseError`` and
    ``AdapterParseError``); DSPy's ``ContextWindowExceededError``, ``LMTransportError``,
    ``LMTimeoutError`` and provider refusals (``LMInvalidRequestError``, ``LMServerError``...)
    from the inner LM come out as ``ContextTooLong`` / ``BackendUnreachable`` /
    ``RequestRefused`` that are still DSPy's classes, the original as the cause.

    Args:
        signature: The task, e.g. ``"question -> answer"`` or a ``dspy.Signature`` class.
        config: A whole :class:`~vs_integrations.VSConfig`; flat settings override its fields.
        fresh: Send a rollout id per call (see above); False lets identical calls hit the cache.
        distinct: Collect this many distinct candidates over several calls (None: one VS call).
        max_calls: The call budget of ``distinct`` (None: the engine's default).
        valid: ``valid(fields) -> bool`` on a candidate's output fields (a dict by field name).
            Invalid candidates are dropped before the distribution is built, listed in a
            warning, kept in ``.raw``, and count as missing, so the top-up asks for more.
        **settings: Flat VS settings (``k``, ``variant``, ``per_turn``, ``tail``, ``probability``,
            ``format``, ``max_retries``, ``on_failure``, ``seed``) and the LM settings
            ``temperature``, ``max_tokens``, ``top_p`` (given to the inner ``dspy.Predict``).
            A ``temperature`` set on the module or on the LM (0 included) is sent as given; when
            neither sets one (``dspy.LM``'s default is None), 0.7 is sent.

    Raises:
        SettingsError: For a keyword that is neither (the message names it and the accepted
            ones), or a ``valid`` that is not callable.
        ValueError: For ``variant="multi"`` (it needs a conversation) or ``format`` other than
            ``"json"`` (DSPy's adapter sets the reply format), a signature clash, or a
            ``distinct``/``max_calls`` that is not a positive integer (``max_calls`` without
            ``distinct``).

    Example:
        >>> vs = VerbalizedSampling("topic -> joke", k=3, seed=0)
        >>> vs.vs_config.k, [name for name, _ in vs.named_predictors()]
        (3, ['predict'])
        >>> VerbalizedSampling("problem -> wrong_solution", k=5, distinct=20).distinct
        20
        >>> states = VerbalizedSampling("q -> state", valid=lambda fields: "," not in fields["state"])
    """

    def __init__(
        self,
        signature: str | type[Signature],
        *,
        config: VSConfig | None = None,
        fresh: bool = True,
        distinct: int | None = None,
        max_calls: int | None = None,
        valid: Valid | None = None,
        **settings: Any,
    ) -> None:
        super().__init__()
        refuse_unknown(settings, "VerbalizedSampling", own=_OWN_KEYWORDS)
        if valid is not None and not callable(valid):
            raise InvalidSetting(
                f"VerbalizedSampling: valid must be a function of a candidate's fields; got {type(valid).__name__}",
                field="valid",
            )
        vs_settings, rest = split_settings(settings)
        vs_settings.pop("config", None)
        resolved = resolve_config(config, owner="VerbalizedSampling", **vs_settings)
        if resolved.variant == "multi":
            raise ValueError("VerbalizedSampling supports variant 'standard' or 'cot'; 'multi' needs a conversation")
        if resolved.format != "json":
            raise ValueError(
                f"VerbalizedSampling: format={resolved.format!r} does not apply; DSPy's adapter "
                "(dspy.ChatAdapter, dspy.JSONAdapter) sets the reply format"
            )
        # Built once. The module reads the replies itself; the engine's schema is read only for
        # how many candidates each call asks for (see _requested_count), never sent.
        self._engine = VSEngine(resolved)
        try:
            check_distinct(distinct, max_calls)
        except ValueError as exc:
            raise ValueError(f"VerbalizedSampling: {exc}") from exc
        self.distinct = distinct
        self.max_calls = max_calls
        self.valid = valid
        self._vs_config = resolved
        self.signature = ensure_signature(signature)
        # DSPy rebuilds a signature's field dicts on every access; the names are read per reply.
        self._output_names = list(self.signature.output_fields)
        self.predict = dspy.Predict(verbalized_signature(self.signature, resolved), **rest)
        self.fresh = fresh
        self._seen: dict[str, int] = {}

    @property
    def vs_config(self) -> VSConfig:
        """The resolved VS settings (read-only)."""
        return self._vs_config

    # -- the call loop, shared by forward and aforward -------------------------------------------
    def _calls(self, inputs: dict[str, Any]) -> Generator[dict[str, Any], _Outcome, dspy.Prediction]:
        """Yields the inner ``Predict``'s keyword arguments per call; is sent each outcome.

        The core engine's ``steps`` decides when to retry, how many candidates to ask for and
        what ``on_failure`` does; each reply reaches it as the valid candidates read from it (by
        DSPy's adapter, else the core parser), and the result keeps the LM's own text.
        """
        config = self._vs_config
        call_config = dict(inputs.pop("config", None) or {})
        # Only seeded values depend on the inputs; unseeded calls need neither the digest nor a counter.
        key = _UNSEEDED if config.seed is None else _inputs_key(inputs)
        occurrence = 0 if config.seed is None else self._occurrence(key)
        lm = self.predict.lm or dspy.settings.lm
        lm_settings = getattr(lm, "kwargs", {}) or {}
        steps = self._engine.steps(key, distinct=self.distinct, max_calls=self.max_calls)
        request = next(steps)
        read = _Read()
        attempt = 0
        try:
            while True:
                count = _requested_count(request, config.k)
                call: dict[str, Any] = {**inputs, COUNT_FIELD: count}
                if config.tail is not None:
                    call[CEILING_FIELD] = config.tail
                if count != config.k:
                    call["signature"] = _counted(self.predict.signature, count)
                lm_config = self._lm_config(key, occurrence, attempt, lm_settings, call_config)
                call["config"] = {**lm_config, **call_config}
                outcome, lm_calls = yield call
                reply = lm_calls.reply(self._reply(outcome, lm_calls.texts, read))
                attempt += 1
                request = steps.send(reply)
        except StopIteration as done:
            distribution = _restored(done.value, read.originals)
        except ParseError as error:
            kept = None if error.distribution is None else _restored(error.distribution, read.originals)
            raw = _restore(error.raw, read.originals)
            signature = self.predict.signature
            raise VSAdapterParseError(str(error), raw, kept, signature=signature, calls=error.calls) from error
        self._trace(inputs, distribution, read)
        if read.refused:
            listed = ", ".join(repr(text[:80]) for text in read.refused)
            note = f"dropped {len(read.refused)} invalid candidate(s) (valid refused): {listed}"
            distribution = distribution.replace(warnings=[*distribution.warnings, note])
        return self._prediction(distribution, read.fields_by_text, key, occurrence)

    def _occurrence(self, key: str) -> int:
        # How often this module has seen these inputs: repeated calls differ, yet every call's
        # values depend only on (seed, inputs, occurrence), whatever thread runs it.
        with _counter_lock:
            occurrence = self._seen.get(key, 0)
            self._seen[key] = occurrence + 1
        return occurrence

    def _lm_config(
        self, key: str, occurrence: int, attempt: int, lm_settings: dict[str, Any], call_config: dict[str, Any]
    ) -> dict[str, Any]:
        lm_config: dict[str, Any] = {}
        if not self.fresh:
            return lm_config
        # A temperature set on the module or the LM (0 included: dspy.LM's default is None) is
        # kept, BestOfN's 1.0 too; only when neither sets one does VS's own default apply.
        if self.predict.config.get("temperature") is None and lm_settings.get("temperature") is None:
            lm_config["temperature"] = DEFAULT_TEMPERATURE
        # At temperature 0 a rollout id changes nothing but DSPy's warning: the reply is the same.
        if {**lm_settings, **self.predict.config, **lm_config, **call_config}.get("temperature") == 0:
            return lm_config
        seed = self._vs_config.seed
        # A wrapper's rollout id (BestOfN, Refine) is folded in, so each of its attempts differs.
        outer = lm_settings.get("rollout_id")
        if seed is None:
            lm_config["rollout_id"] = secrets.randbits(62)
        else:
            lm_config["rollout_id"] = _derive(seed, key, occurrence, attempt, outer) >> 2
        return lm_config

    def _reply(self, outcome: dspy.Prediction | AdapterParseError, texts: list[str], read: _Read) -> str:
        """The reply as the engine reads it: the valid candidates read from the LM's text, as JSON."""
        if not texts and isinstance(outcome, AdapterParseError):
            texts = [str(outcome.lm_response or "")]
        raw = "\n\n".join(texts)
        if isinstance(outcome, AdapterParseError):
            records, reasoning = max((self._rescue(text) for text in texts), key=lambda found: len(found[0]))
            if not records:
                return raw  # nothing readable: the engine sees (and keeps) the LM's own text
        else:
            records = _records(outcome.get(CANDIDATES_FIELD))
            found = outcome.get(REASONING_FIELD)
            reasoning = found if isinstance(found, str) else None
        names = self._output_names
        responses = []
        for record in records:
            fields = {name: record.get(name) for name in names}
            text = _candidate_text(fields, names)
            if self.valid is not None and not self.valid(fields):
                read.refused.append(text)
                continue
            read.fields_by_text.setdefault(text, fields)
            responses.append({"text": text, "probability": record.get("probability")})
        if not isinstance(outcome, AdapterParseError):
            self._untrace()
        reply: dict[str, Any] = {"responses": responses}
        if reasoning is not None:
            reply["reasoning"] = reasoning
        sent = json.dumps(reply, ensure_ascii=False, default=str)
        read.originals[sent] = raw
        return sent

    def _rescue(self, raw: str) -> tuple[list[dict[str, Any]], str | None]:
        """Read the candidates with the core parser when DSPy's adapter could not."""
        names = self._output_names
        records, _ = extract_records(raw)
        usable = [r for r in records if all(name in r for name in names)]
        if usable or len(names) > 1:
            return usable, None
        # XML, lists, other keys: the core reads the text; it is the one output field.
        try:
            read = parse(raw, self._vs_config)
        except ParseError:
            return [], None
        # The normalised probability: the stated one may be missing (None) or on another scale.
        return [{names[0]: c.text, "probability": round(c.probability, 4)} for c in read], read.reasoning

    def _untrace(self) -> None:
        """Take back the entry ``Predict`` traced for one reply: the module traces the whole call."""
        trace = dspy.settings.trace
        if trace and trace[-1][0] is self.predict:
            trace.pop()

    def _trace(self, inputs: dict[str, Any], distribution: Distribution, read: _Read) -> None:
        """Trace the call as one demo: the candidates kept, each with its normalised probability.

        Optimizers learn from the trace (``BootstrapFewShot`` makes demos of it, GEPA reflects on
        it), so a demo shows the format at its best: every candidate valid and read as fields,
        probabilities that are numbers summing to 1, and ``k`` the number shown.
        """
        trace = dspy.settings.trace
        if trace is None or dspy.settings.max_trace_size <= 0:
            return
        records = [
            {**read.fields_by_text[c.text], "probability": round(c.probability, 4)}
            for c in distribution
            if c.text in read.fields_by_text
        ]
        if not records:
            return
        traced_inputs = {**inputs, COUNT_FIELD: len(records)}
        if self._vs_config.tail is not None:
            traced_inputs[CEILING_FIELD] = self._vs_config.tail
        outputs: dict[str, Any] = {CANDIDATES_FIELD: records}
        if self._vs_config.variant == "cot":
            outputs = {REASONING_FIELD: distribution.reasoning or "", **outputs}
        if len(trace) >= dspy.settings.max_trace_size:
            trace.pop(0)
        trace.append((self.predict, traced_inputs, dspy.Prediction(**outputs)))

    def _prediction(
        self, distribution: Distribution, fields_by_text: dict[str, dict[str, Any]], key: str, occurrence: int
    ) -> dspy.Prediction:
        names = self._output_names
        completions = [fields_by_text.get(c.text) or _fields_from_text(c.text, names) for c in distribution]
        prediction = dspy.Prediction.from_completions(completions, signature=self.signature)
        seed = self._vs_config.seed
        picked = distribution.sample(None if seed is None else _derive(seed, key, occurrence, "draw", None))
        for name, value in completions[distribution.texts.index(picked.text)].items():
            prediction[name] = value
        prediction["distribution"] = distribution
        return prediction

    @contextmanager
    def _inner_context(self) -> Iterator[None]:
        """The LM and adapter of the inner call.

        No LM anywhere: the embedded model, which follows the format only under a JSON schema.
        A ``ChatAdapter`` does not retry a failed parse through its ``JSONAdapter`` (a second LM
        call): the core parser reads the reply first, and the engine decides about a retry.
        """
        settings = dspy.settings
        embedded = self.predict.lm is None and settings.lm is None
        adapter = settings.adapter or (dspy.JSONAdapter() if embedded else _CHAT_WITHOUT_FALLBACK)
        if isinstance(adapter, dspy.ChatAdapter) and adapter.use_json_adapter_fallback:
            adapter = copy.copy(adapter)  # the user's adapter stays as configured
            adapter.use_json_adapter_fallback = False
        changes: dict[str, Any] = {"adapter": adapter}
        if embedded:
            changes["lm"] = _embedded_lm()
        with dspy.context(**changes):
            yield

    # -- forward -------------------------------------------------------------------------------
    def forward(self, **kwargs: Any) -> dspy.Prediction:
        """Ask for the candidates and draw one.

        Raises:
            VSAdapterParseError: If no candidate could be read within the retries (or fewer than
                ``k`` with ``on_failure="raise"``); ``.raw`` holds the LM's text.
            VSContextWindowExceeded, VSLMTransportError, VSLMTimeoutError: DSPy's LM error of
                that kind, as the package's error too.
        """
        with self._inner_context():
            return run_sync(drive(functools.partial(self._ask, self.predict), self._calls(kwargs)))

    async def aforward(self, **kwargs: Any) -> dspy.Prediction:
        """Async twin of :meth:`forward` (the same loop, ``_calls``, awaiting the inner call)."""
        with self._inner_context():
            return await drive(functools.partial(self._ask, self.predict.acall), self._calls(kwargs))

    @staticmethod
    async def _ask(
        predict: Callable[..., dspy.Prediction | Awaitable[dspy.Prediction]], call: dict[str, Any]
    ) -> _Outcome:
        """One inner call (``predict`` is ``Predict.__call__`` or ``Predict.acall``) and the LM's texts.

        With a plain ``predict`` it never suspends, so :meth:`forward` runs it without a loop.
        """
        outcome: dspy.Prediction | AdapterParseError
        with _recording() as lm_calls:
            start = time.perf_counter()
            try:
                with lm_errors_as_ours():
                    answer = predict(**call)
                    outcome = await answer if isinstance(answer, Awaitable) else answer
            except AdapterParseError as exc:
                outcome = exc
            lm_calls.seconds = time.perf_counter() - start
        return outcome, lm_calls


class _Read:
    """What one module call read from its replies, across the engine's calls."""

    def __init__(self) -> None:
        self.originals: dict[str, str] = {}  # what the engine was sent -> the LM's own text
        self.fields_by_text: dict[str, dict[str, Any]] = {}
        self.refused: list[str] = []  # candidates ``valid`` refused


_CHAT_WITHOUT_FALLBACK = dspy.ChatAdapter(use_json_adapter_fallback=False)
"""DSPy's default adapter for the inner call when none is configured, without its JSON retry."""


def _requested_count(request: ModelRequest, default: int) -> int:
    """How many candidates the engine's request asks for (its reply schema's item count)."""
    schema = request.schema or {}
    count = schema.get("properties", {}).get("responses", {}).get("maxItems")
    return count if isinstance(count, int) else default


@contextmanager
def _recording() -> Iterator[_LMCalls]:
    """The LM calls made inside, in order: their texts, and their history entries (complete on exit)."""
    settings = dspy.settings
    # DSPy appends each LM call's history entry to every module in ``caller_modules``; a log
    # there costs next to nothing, whereas any active callback makes DSPy inspect the arguments
    # of every wrapped call (Predict, adapter, LM). With history off, or kept too short for a
    # call's two LM texts (ChatAdapter's JSON retry), only a callback sees them.
    calls = _LMCalls()
    if settings.disable_history or settings.max_history_size < _TEXTS_PER_CALL:
        recorder = _ReplyRecorder()
        calls.texts = recorder.replies
        with dspy.context(callbacks=[*settings.get("callbacks", []), recorder]):
            yield calls
        return
    log = _HistoryLog()
    try:
        with dspy.context(caller_modules=[*(settings.caller_modules or []), log]):
            yield calls
    finally:
        calls.entries = log.history
        for entry in log.history:
            calls.texts.extend(_output_texts(entry.get("outputs")))


def _inputs_key(inputs: dict[str, Any]) -> str:
    # A digest, so the per-input counters stay small whatever the inputs (e.g. long contexts).
    text = json.dumps(inputs, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _derive(seed: int, key: str, occurrence: int, purpose: int | str, outer: object) -> int:
    """A 64-bit value fixed by its arguments (no shared RNG, so threads cannot reorder draws)."""
    material = json.dumps([seed, key, occurrence, purpose, outer], default=str).encode()
    return int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big")


def _records(found: Any) -> list[dict[str, Any]]:
    if isinstance(found, pydantic.RootModel):
        found = found.root
    return [c.model_dump() if isinstance(c, pydantic.BaseModel) else dict(c) for c in found or []]


def _candidate_text(fields: dict[str, Any], names: list[str]) -> str:
    if len(names) == 1:
        value = fields[names[0]]
        return (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)).strip()
    return json.dumps(fields, ensure_ascii=False, default=str)


def _fields_from_text(text: str, names: list[str]) -> dict[str, Any]:
    """The fields of a candidate only the engine read (e.g. its ``fallback`` of the raw reply)."""
    if len(names) > 1:
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if isinstance(record, dict):
            return {name: record.get(name) for name in names}
    return {name: text if position == 0 else None for position, name in enumerate(names)}


def _restore(raw: str, originals: dict[str, str]) -> str:
    # The engine saw the candidates as JSON; put the LM's own text back wherever it appears.
    for sent, original in originals.items():
        if sent in raw:
            raw = raw.replace(sent, original)
    return raw


def _restored(distribution: Distribution, originals: dict[str, str]) -> Distribution:
    """The engine's result with the LM's own text as ``raw`` (and as the candidate of a fallback)."""
    by_sent = {sent.strip(): original.strip() for sent, original in originals.items()}
    candidates = [c._replace(text=by_sent.get(c.text, c.text)) for c in distribution]
    return distribution.replace(candidates=candidates, raw=_restore(distribution.raw, originals))
