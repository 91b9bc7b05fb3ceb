"""The call loop: ask, parse, top up short replies, and for VS-Multi hold the conversation.

The loop is written once as a generator that yields requests and receives replies, so
:meth:`VSEngine.run` and :meth:`VSEngine.arun` (through :func:`~.driver.drive`) and every adapter
share the same logic. One collecting routine serves the
top-up retry of a short reply, VS-Multi's turns and :meth:`VSEngine.distinct`.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence
from functools import partial
from typing import Any

from .calls import (
    NO_SETTINGS,
    AsyncModel,
    AsyncModelFn,
    CallKind,
    CallRecord,
    GenerationSettings,
    Model,
    ModelFn,
    ModelRequest,
    Reply,
    acall_model,
    as_reply,
    call_model,
    check_async_model,
)
from .config import OnFailure, VSConfig, resolve_config
from .distribution import Candidate, Distribution, SamePredicate, ValidPredicate, text_key
from .driver import drive, run_sync
from .errors import BackendError, ParseError, SettingsError
from .parser import Item, build_distribution, drop_invalid, extract, refusal_note, shown
from .prompts import Message, build_messages, followup_message, json_schema

Schema = dict[str, Any]
logger = logging.getLogger("vs_integrations")


class VSEngine:
    """Runs a VS variant against any model given as a function.

    The model is a callable ``(messages, json_schema_or_None) -> str | Reply`` or an object with
    ``generate(request)`` (async ones for :meth:`arun`). ``messages`` are ``{"role",
    "content"}`` dicts; the schema, when not None, is what the reply must match (pass it to
    constrained decoding or a structured-output API, or ignore it). A reply with fewer than ``k``
    distinct valid candidates is topped up: the retry asks only for the missing ones, listing
    those held (and those refused), and the replies are pooled. A result holds at most ``k``
    candidates (``distinct=n``: at most ``n``) and records every call in ``calls``/``usage``.

    Args:
        config: The VS settings (default ``VSConfig()``); ``max_retries`` and ``on_failure``
            there say how many extra calls a short reply gets and what happens after them.
        use_schema: Pass the reply's JSON Schema to the model (only for ``format="json"``).
        valid: Optional ``valid(text) -> bool`` on a candidate's text. A candidate it refuses is
            dropped before normalisation (listed in a warning, still in ``raw``) and counts as
            missing, so the top-up asks for more and names the refused ones; ``k`` and
            ``distinct=n`` then count valid candidates. An engine setting (not a
            :class:`VSConfig` field: it is a function), applied to every run of the engine.
        **settings: Flat VS settings (``k``, ``tail``, ``on_failure``...) overriding ``config``,
            resolved by :func:`resolve_config`.

    Raises:
        SettingsError: When ``valid`` is not callable (or a flat setting is unknown).

    Example:
        >>> def model(messages, schema):
        ...     return '{"responses": [{"text": "4", "probability": 0.5}, {"text": "2", "probability": 0.5}]}'
        >>> result = VSEngine(VSConfig(k=2)).run(model, "Roll a die.")
        >>> result.texts, result.usage.calls, result.calls[0].kind
        (['4', '2'], 1, 'first')
        >>> VSEngine(k=1, valid=lambda text: text != "4").run(model, "Roll a die.").texts
        ['2']

    """

    def __init__(
        self,
        config: VSConfig | None = None,
        *,
        use_schema: bool = True,
        valid: ValidPredicate | None = None,
        **settings: Any,
    ) -> None:
        self.config = resolve_config(config, owner="VSEngine", **settings)
        self.use_schema = use_schema
        self.valid = check_valid(valid, "VSEngine")

    @property
    def max_retries(self) -> int:
        """Extra calls allowed after the first (``config.max_retries``)."""
        return self.config.max_retries

    @property
    def on_failure(self) -> OnFailure:
        """What happens when the retries are used up (``config.on_failure``)."""
        return self.config.on_failure

    def schema(self, count: int | None = None) -> Schema | None:
        """The schema passed to the model for a call asking for ``count`` candidates."""
        if not self.use_schema or self.config.format != "json":
            return None
        return json_schema(self.config, count)

    def run(
        self,
        model: Model | ModelFn,
        instruction: str | Sequence[Message],
        *,
        settings: GenerationSettings | None = None,
    ) -> Distribution:
        """Ask ``model`` for a verbalized distribution for ``instruction``.

        ``model`` is a backend object (``generate(request)``) or a plain function ``(messages,
        schema) -> str | Reply``; ``settings`` (temperature, max_tokens...) go with every call
        to a backend object.

        Raises:
            ParseError: When no acceptable reply came within the retries and ``on_failure``
                is ``"raise"`` (or no candidate at all was read and it is ``"partial"``).
            BackendError: When a call fails, carrying the trace of the calls before it
                (``.calls``) and the candidates held (``.distribution``). With ``on_failure=
                "partial"``, a failure after candidates were read returns them instead, with a
                warning naming the error.

        """
        return run_sync(drive(partial(call_model, model), self.steps(instruction, settings=settings)))

    async def arun(
        self,
        model: AsyncModel | AsyncModelFn,
        instruction: str | Sequence[Message],
        *,
        settings: GenerationSettings | None = None,
    ) -> Distribution:
        """Async twin of :meth:`run`: ``model`` has ``agenerate`` or is an ``async def`` function.

        Raises:
            TypeError: Before any call, when ``model`` cannot be awaited (use :meth:`run`).

        """
        check_async_model(model)
        return await drive(partial(acall_model, model), self.steps(instruction, settings=settings))

    def distinct(
        self,
        model: Model | ModelFn,
        instruction: str | Sequence[Message],
        n: int,
        *,
        max_calls: int | None = None,
        same: SamePredicate | None = None,
        settings: GenerationSettings | None = None,
    ) -> Distribution:
        """Keep asking until ``n`` distinct candidates are held; return them as one distribution.

        The first call asks for ``min(n, turn_size)`` candidates (``turn_size`` is ``k``, or
        ``per_turn`` for the ``multi`` variant); each later call shows the previous reply, lists
        the candidates held so far and asks for up to ``turn_size`` different ones. Candidates are
        pooled across replies by normalised text (case and whitespace ignored) or by ``same``,
        keeping the first spelling and the probability first stated; the result is normalised,
        its ``raw`` joins every reply. A model that ignores the format, or over-delivers without a
        schema, may leave fewer or more than ``n``.

        Args:
            model: A backend object or a function ``(messages, schema) -> str | Reply``.
            instruction: The user's request or messages.
            n: Distinct candidates wanted (>= 1).
            max_calls: Call budget; default ``2 * ceil(n / turn_size) + 1`` (twice the calls a
                perfect model needs, plus one). When it runs out, ``on_failure`` decides as in
                :meth:`run`: ``"partial"`` returns what is held with a warning, ``"raise"``
                raises :class:`ParseError` carrying it, ``"fallback"`` returns the last raw reply.
            same: Optional ``same(a, b) -> bool`` making "distinct" semantic (e.g.
                :func:`vs_integrations.core.similarity.embedding_same`).
            settings: Generation settings carried by every call (see :meth:`run`).

        Raises:
            ValueError: If ``n`` or ``max_calls`` is not a positive integer.
            ParseError: As for :meth:`run`.

        Example:
            >>> replies = iter(['{"responses": [{"text": "Ohio", "probability": 0.5},'
            ...                 ' {"text": "Utah", "probability": 0.5}]}',
            ...                 '{"responses": [{"text": "Iowa", "probability": 0.4}]}'])
            >>> VSEngine(k=2).distinct(lambda messages, schema: next(replies), "Name a US state.", 3).texts
            ['Ohio', 'Utah', 'Iowa']

        """
        steps = self.steps(instruction, distinct=n, max_calls=max_calls, same=same, settings=settings)
        return run_sync(drive(partial(call_model, model), steps))

    async def adistinct(
        self,
        model: AsyncModel | AsyncModelFn,
        instruction: str | Sequence[Message],
        n: int,
        *,
        max_calls: int | None = None,
        same: SamePredicate | None = None,
        settings: GenerationSettings | None = None,
    ) -> Distribution:
        """Async twin of :meth:`distinct` (``model`` as for :meth:`arun`)."""
        check_async_model(model)
        steps = self.steps(instruction, distinct=n, max_calls=max_calls, same=same, settings=settings)
        return await drive(partial(acall_model, model), steps)

    def steps(
        self,
        instruction: str | Sequence[Message],
        *,
        distinct: int | None = None,
        max_calls: int | None = None,
        same: SamePredicate | None = None,
        settings: GenerationSettings | None = None,
    ) -> Generator[ModelRequest, str | Reply, Distribution]:
        """The loop as a generator: yields each :class:`ModelRequest`, is sent each reply.

        Adapters that must call the model themselves (streaming, framework callbacks) drive
        this generator; its return value is the final distribution. With ``distinct=n`` it runs
        :meth:`distinct`'s loop instead of the configured variant's.

        Args:
            instruction: The user's request or messages.
            distinct: Collect this many distinct candidates (see :meth:`distinct`).
            max_calls: :meth:`distinct`'s call budget; only with ``distinct``.
            same: ``same(a, b) -> bool`` deciding that two candidates are one.
            settings: Generation settings carried by every request.

        Raises:
            ValueError: If ``distinct`` or ``max_calls`` is invalid (raised at the first
                ``next()``; :func:`check_distinct` checks them without a generator).

        """
        check_distinct(distinct, max_calls)
        config = self.config
        settings = settings or NO_SETTINGS
        if distinct is not None:
            n = distinct
            per_call = config.turn_size
            budget = 2 * -(-n // per_call) + 1 if max_calls is None else max_calls
            messages = build_messages(instruction, config, count=min(per_call, n))
            pool = _Pool(config, same, self.valid, n)
            yield from self._collect(
                messages,
                pool,
                settings,
                target=n,
                per_call=per_call,
                calls=budget,
                listing=True,
                follow_kind="distinct",
            )
            return self._finish(pool, n, stopped="the call budget used up")
        messages = build_messages(instruction, config)
        pool = _Pool(config, same, self.valid, config.k)
        if config.variant == "multi":
            # A conversation, as in the paper: every turn stays in it, so the follow-up need not
            # list what is held; unreadable or repeating turns use the retry budget.
            calls = -(-config.k // config.turn_size) + self.max_retries
            yield from self._collect(
                messages, pool, settings, target=config.k, per_call=config.turn_size, calls=calls, follow_kind="turn"
            )
        else:
            # A short reply is topped up: the retry asks only for the missing candidates.
            calls = self.max_retries + 1
            yield from self._collect(
                messages, pool, settings, target=config.k, per_call=config.k, calls=calls, listing=True
            )
        return self._finish(pool, config.k)

    def _collect(
        self,
        messages: list[Message],
        pool: _Pool,
        settings: GenerationSettings,
        *,
        target: int,
        per_call: int,
        calls: int,
        listing: bool = False,
        follow_kind: CallKind = "top-up",
    ) -> Generator[ModelRequest, str | Reply, None]:
        """Ask until ``pool`` holds ``target`` distinct valid candidates or ``calls`` are spent.

        After a reply that added candidates (or brought new ones ``valid`` refused), the next
        request is the conversation plus that reply (as the assistant's turn, so roles
        alternate: some servers refuse two user turns in a row) and a follow-up asking for the
        missing ones, at most ``per_call`` a call. With ``listing`` the follow-up lists what is
        held and the conversation keeps only the original messages and the last reply, so
        prompts stay bounded; without it the whole conversation is kept (VS-Multi); either way
        the follow-up names the refused candidates. A reply that adds nothing gets the same
        request again, except that with ``listing`` a follow-up that added nothing switches the
        rest of the collection to asking the original request afresh, pooling each fresh reply's
        new candidates: small
        models shown their previous turn often copy it (SmolLM2-135M repeats it verbatim).

        A :class:`BackendError` thrown in for a call (the model failed) ends the collection:
        with ``on_failure="partial"`` and candidates held, the result keeps them (see
        :meth:`_keeps_after`); otherwise it goes on, carrying the trace and what was held.
        """
        first_count = min(per_call, target)
        conversation, count = messages, first_count
        follow_up = True
        kind: CallKind = "first"
        for call in range(1, calls + 1):
            try:
                sent = yield ModelRequest(conversation, self.schema(count), settings, kind)
            except BackendError as error:
                if not self._keeps_after(pool, error):
                    raise
                return
            reply = as_reply(sent)
            if not pool.add(reply, kind):
                kind = "retry"
                if listing and conversation is not messages:
                    conversation, count, follow_up = messages, first_count, False
                    pool.notes.append(
                        f"follow-up reply {call} added nothing; later calls ask the original request afresh"
                    )
                continue
            missing = target - len(pool)
            if missing <= 0 or call == calls:
                return
            if not follow_up:
                kind = "retry"
                continue
            kind = follow_kind
            count = min(per_call, missing)
            pool.notes.append(
                f"reply {len(pool.replies)} left {missing} of {target} distinct candidate(s) missing; "
                f"asked for {count} more"
            )
            followup = followup_message(self.config, count, held=pool.texts if listing else None, refused=pool.refused)
            answer: Message = {"role": "assistant", "content": reply.text}
            conversation = [*(messages if listing else conversation), answer, followup]

    def _keeps_after(self, pool: _Pool, error: BackendError) -> bool:
        """Whether the run ends with what ``pool`` holds after ``error`` failed a call.

        The error gets the trace and the candidates held (nothing the earlier calls brought is
        lost when it is raised); the pool keeps it, for the result's warning, when the run goes on.
        """
        error.calls = tuple(pool.records)
        error.distribution = pool.distribution() if pool.texts else None
        if self.on_failure != "partial" or error.distribution is None:
            return False
        pool.failure = error
        return True

    def _finish(self, pool: _Pool, target: int, *, stopped: str = "the retries used up") -> Distribution:
        best = pool.distribution() if pool.texts else None
        if best is not None and len(best) >= target:
            return best
        if pool.failure is not None:
            stopped = f"call {len(pool.replies) + 1} failed: {type(pool.failure).__name__}: {pool.failure}"
        return self._give_up(best, pool, target, stopped)

    def _give_up(self, best: Distribution | None, pool: _Pool, target: int, stopped: str) -> Distribution:
        raw = "\n\n".join(pool.replies)
        held = len(best) if best is not None else 0
        calls = len(pool.replies)
        summary = f"held {held} of the {target} distinct candidates wanted after {calls} call(s) ({stopped})"
        if self.on_failure == "partial" and best is not None:
            # Logged with what a user can change; the warning on the result stays the bare fact.
            advice = (
                "; ask for fewer (k), allow more calls (max_retries), or set on_failure='raise' to refuse short results"
                if pool.failure is None
                else ""
            )
            logger.warning("verbalized sampling: %s%s", summary, advice)
            return best.replace(warnings=[*best.warnings, f"kept {held} candidate(s): {summary}"])
        if self.on_failure == "fallback":
            # The raw reply as it came: it is not read, so ``valid`` does not judge it.
            last = pool.replies[-1] if pool.replies else ""
            return Distribution(
                [Candidate(last.strip(), 1.0, None, 0)],
                raw=raw,
                warnings=[*pool.notes, f"{summary}; fell back to the last raw reply"],
                calls=pool.records,
            )
        if best is not None:
            message = summary
        elif pool.refused:
            message = f"{summary}; valid() refused every candidate read ({len(pool.refused)} distinct)"
        else:
            message = f"{summary}; no reply parsed"
        raise ParseError(message, raw, best, calls=pool.records)


def check_valid(valid: object, owner: str) -> ValidPredicate | None:
    """``valid`` when it is a function or None; else a :class:`SettingsError` naming ``owner``'s field.

    Example:
        >>> check_valid(str.isalpha, "VSEngine") is str.isalpha
        True
    """
    if valid is not None and not callable(valid):
        raise SettingsError(
            f"{owner}: valid must be a function valid(text) -> bool or None; got {type(valid).__name__}",
            field="valid",
        )
    return valid


class _Pool:
    """The distinct valid candidates read from several replies, every reply, and the trace.

    A candidate is new unless its normalised text (:func:`text_key`) or, with ``same``, a
    held candidate matches it. A repeat within one reply is kept under the held spelling, so
    the parser adds its probability as it does for a single reply; a repeat of an earlier
    reply's candidate is dropped (its probability was stated already). A candidate ``valid``
    refuses is never held. Once ``target`` candidates are held, further new ones are surplus:
    the pool keeps the first ``target`` in reply order (earlier replies first) and leaves the
    rest out, with a warning. A reply cut at the token limit loses its last candidate when that
    candidate runs to the end of the reply (it is unfinished).
    """

    def __init__(self, config: VSConfig, same: SamePredicate | None, valid: ValidPredicate | None, target: int) -> None:
        self.config = config
        self.same = same
        self.valid = valid
        self.target = target
        self.items: list[Item] = []
        self.texts: list[str] = []  # the held candidates, first spellings, in order
        self.refused: list[str] = []  # the candidates valid refused, first spellings, in order
        self.replies: list[str] = []
        self.records: list[CallRecord] = []
        self.notes: list[str] = []
        self.failure: BackendError | None = None  # a failed call after which the held candidates were kept
        self.reasoning: str | None = None
        self.truncated = False
        self._spellings: dict[str, str] = {}  # text_key -> held spelling
        self._refused_keys: set[str] = set()

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, reply: Reply, kind: CallKind) -> int:
        """Read ``reply`` (the answer to a call of ``kind``) and record the call.

        Returns:
            How many new distinct candidates it added, plus how many new ones ``valid``
            refused (both are progress: a refusal is named in the next follow-up).

        """
        self.replies.append(reply.text)
        refused_before = len(self.refused)
        added = self._read(reply, len(self.replies))
        self.records.append(CallRecord.of(kind, reply, added))
        return added + len(self.refused) - refused_before

    def _read(self, reply: Reply, number: int) -> int:
        extraction = extract(reply.text, self.config)
        items = extraction.items
        if reply.cut_at_token_limit:
            self.truncated = True
            if items and _runs_to_end(reply.text, items[-1].text):
                items = items[:-1]
                self.notes.append(
                    f"reply {number} was cut at the token limit (finish reason 'length'); dropped its "
                    f"unfinished last candidate {shown(extraction.items[-1].text)}"
                )
            else:
                self.notes.append(
                    f"reply {number} was cut at the token limit (finish reason 'length'); kept its complete candidates"
                )
        elif extraction.truncated:
            self.truncated = True
            self.notes.append(f"reply {number} was cut off; kept its complete candidates")
        if not items:
            self.notes.append(f"reply {number} held no readable candidate")
            return 0
        if self.reasoning is None:
            self.reasoning = extraction.reasoning
        items, refused = drop_invalid(items, self.valid)
        for text in refused:
            self._refuse(text)
        fresh: set[str] = set()
        surplus: dict[str, str] = {}  # text_key -> first spelling, of the candidates left out
        repeated = empty = 0
        for item in items:
            if not item.text:
                empty += 1
                continue
            spelling = self._held(item.text)
            if spelling is None:
                if len(self.texts) >= self.target:
                    surplus.setdefault(text_key(item.text), item.text)
                    continue
                spelling = item.text
                self._spellings[text_key(spelling)] = spelling
                self.texts.append(spelling)
                fresh.add(spelling)
            elif spelling not in fresh:
                repeated += 1
                continue
            # The position becomes the candidate's index; a repeat's is unused (it merges into the first).
            self.items.append(Item(spelling, item.probability, len(self.texts) - 1))
        if empty:
            self.notes.append(f"reply {number} had {empty} candidate(s) with empty text; dropped them")
        if refused:
            self.notes.append(f"reply {number}: {refusal_note(refused)}")
        if surplus:
            self.notes.append(
                f"reply {number} brought {len(surplus)} candidate(s) beyond the {self.target} wanted; kept the "
                f"first {self.target} in reply order and left out (still in raw): "
                + ", ".join(shown(text) for text in surplus.values())
            )
        if repeated:
            self.notes.append(f"reply {number} repeated {repeated} candidate(s) already held; kept the first")
        if not fresh:
            self.notes.append(f"reply {number} added no new candidate")
        return len(fresh)

    def _refuse(self, text: str) -> None:
        key = text_key(text)
        if key not in self._refused_keys:
            self._refused_keys.add(key)
            self.refused.append(text)

    def _held(self, text: str) -> str | None:
        key = text_key(text)
        spelling = self._spellings.get(key)
        if spelling is None and self.same is not None:
            spelling = next((held for held in self.texts if self.same(held, text)), None)
            if spelling is not None:
                self._spellings[key] = spelling
        return spelling

    def distribution(self) -> Distribution:
        """The held candidates, their stated probabilities read on one scale and normalised."""
        distribution = build_distribution(
            self.items,
            self.config,
            raw="\n\n".join(self.replies),
            reasoning=self.reasoning,
            truncated=self.truncated,
            warnings=self.notes,
        )
        return distribution.replace(calls=self.records)


def _runs_to_end(reply: str, text: str) -> bool:
    """True when the candidate ``text`` is the very end of ``reply`` (whitespace ignored).

    In a reply cut at the token limit, such a candidate was still being written; a candidate
    followed by anything (a closing quote, tag or bracket, a stated probability) was finished.
    """
    words = text.split()
    return bool(words) and " ".join(reply.split()).endswith(" ".join(words))


def check_distinct(distinct: int | None, max_calls: int | None = None) -> None:
    """Refuse what :meth:`VSEngine.steps` would refuse in ``distinct``/``max_calls``, before any call.

    Example:
        >>> check_distinct(3, max_calls=5)
        >>> check_distinct(None, max_calls=5)
        Traceback (most recent call last):
        ...
        ValueError: max_calls applies only with distinct=n (run's budget is max_retries)

    Raises:
        ValueError: When ``distinct`` or ``max_calls`` is not a positive integer, or
            ``max_calls`` comes without ``distinct``.
    """
    if distinct is None:
        if max_calls is not None:
            raise ValueError("max_calls applies only with distinct=n (run's budget is max_retries)")
        return
    _positive_int("distinct n", distinct)
    if max_calls is not None:
        _positive_int("max_calls", max_calls)


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
