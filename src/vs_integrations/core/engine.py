"""The call loop: ask, parse, retry, and for VS-Multi hold the conversation.

The loop is written once as a generator that yields requests and receives replies, so the sync
and async drivers (and every adapter) share the same logic.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any

from .config import OnFailure as OnFailure  # re-exported for callers typing on_failure
from .config import VSConfig, resolve_config
from .distribution import Candidate, Distribution
from .errors import ParseError
from .parser import Item, build_distribution, extract, parse
from .prompts import Message, build_messages, followup_message, json_schema

Schema = dict[str, Any]
ModelFn = Callable[[list[Message], Schema | None], str]
AsyncModelFn = Callable[[list[Message], Schema | None], Awaitable[str]]
Request = tuple[list[Message], Schema | None]
logger = logging.getLogger("vs_integrations")


class VSEngine:
    """Runs a VS variant against any model given as a function.

    The model is a callable ``(messages, json_schema_or_None) -> str`` (or an async one for
    :meth:`arun`). ``messages`` are ``{"role", "content"}`` dicts; the schema, when not None, is
    what the reply must match (pass it to constrained decoding or a structured-output API, or
    ignore it).

    Args:
        config: The VS settings (default ``VSConfig()``); ``max_retries`` and ``on_failure``
            there say how many extra calls a short reply gets and what happens after them.
        use_schema: Pass the reply's JSON Schema to the model (only for ``format="json"``).
        **settings: Flat VS settings (``k``, ``tail``, ``on_failure``...) overriding ``config``,
            resolved by :func:`resolve_config`.

    Example:
        >>> def model(messages, schema):
        ...     return '{"responses": [{"text": "4", "probability": 0.5}, {"text": "2", "probability": 0.5}]}'
        >>> VSEngine(VSConfig(k=2)).run(model, "Roll a die.").texts
        ['4', '2']

    """

    def __init__(self, config: VSConfig | None = None, *, use_schema: bool = True, **settings: Any) -> None:
        self.config = resolve_config(config, owner="VSEngine", **settings)
        self.use_schema = use_schema

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

    def run(self, model: ModelFn, instruction: str | Sequence[Message]) -> Distribution:
        """Ask ``model`` for a verbalized distribution for ``instruction``.

        Raises:
            ParseError: When no acceptable reply came within the retries and ``on_failure``
                is ``"raise"``.

        """
        steps = self.steps(instruction)
        request = next(steps)
        while True:
            messages, schema = request
            try:
                request = steps.send(model(messages, schema))
            except StopIteration as done:
                result: Distribution = done.value
                return result

    async def arun(self, model: AsyncModelFn, instruction: str | Sequence[Message]) -> Distribution:
        """Async twin of :meth:`run`."""
        steps = self.steps(instruction)
        request = next(steps)
        while True:
            messages, schema = request
            reply = await model(messages, schema)
            try:
                request = steps.send(reply)
            except StopIteration as done:
                result: Distribution = done.value
                return result

    def steps(self, instruction: str | Sequence[Message]) -> Generator[Request, str, Distribution]:
        """The loop as a generator: yields ``(messages, schema)``, is sent each reply.

        Adapters that must call the model themselves (streaming, framework callbacks) drive
        this generator; its return value is the final distribution.
        """
        messages = build_messages(instruction, self.config)
        if self.config.variant == "multi":
            return (yield from self._multi(messages))
        return (yield from self._single(messages))

    def _single(self, messages: list[Message]) -> Generator[Request, str, Distribution]:
        k = self.config.k
        best: Distribution | None = None
        last_raw = ""
        for _ in range(self.max_retries + 1):
            last_raw = yield messages, self.schema()
            _check_reply(last_raw)
            try:
                distribution = parse(last_raw, self.config)
            except ParseError:
                continue
            if len(distribution) >= k:
                return distribution
            if best is None or len(distribution) > len(best):
                best = distribution
        return self._give_up(best, last_raw)

    def _multi(self, messages: list[Message]) -> Generator[Request, str, Distribution]:
        config = self.config
        per_turn = config.turn_size
        turns_needed = -(-config.k // per_turn)
        items: list[Item] = []
        seen: set[str] = set()
        replies: list[str] = []
        notes: list[str] = []
        failures = 0
        conversation = list(messages)
        count = per_turn
        for _ in range(turns_needed + self.max_retries):
            reply = yield conversation, self.schema(count)
            _check_reply(reply)
            replies.append(reply)
            extraction = extract(reply, config)
            fresh = [item for item in extraction.items if item.text and item.text.casefold() not in seen]
            if not fresh:
                failures += 1
                notes.append(f"turn {len(replies)} added no new candidate")
                continue
            for item in fresh:
                seen.add(item.text.casefold())
                items.append(item._replace(index=len(items)))
            if len(items) >= config.k:
                break
            count = min(per_turn, config.k - len(items))
            conversation = [*conversation, {"role": "assistant", "content": reply}, followup_message(config, count)]
        raw = "\n\n".join(replies)
        if not items:
            return self._give_up(None, raw)
        distribution = build_distribution(items, config, raw=raw, warnings=notes)
        if len(distribution) >= config.k:
            return distribution
        return self._give_up(distribution, raw)

    def _give_up(self, best: Distribution | None, raw: str) -> Distribution:
        attempts = self.max_retries + 1
        wanted = f"{self.config.k} distinct candidates"
        if self.on_failure == "partial" and best is not None:
            shortfall = f"kept {len(best)} candidate(s); wanted {wanted} in {attempts} attempt(s)"
            logger.warning("verbalized sampling: %s", shortfall)
            best.warnings.append(shortfall)
            return best
        if self.on_failure == "fallback":
            return Distribution(
                [Candidate(raw.strip(), 1.0, None, 0)],
                raw=raw,
                warnings=[f"no reply held {wanted} in {attempts} attempt(s); fell back to the raw reply"],
            )
        found = f"best reply held {len(best)}" if best is not None else "no reply parsed"
        raise ParseError(f"no reply held {wanted} in {attempts} attempt(s) ({found})", raw, best)


def _check_reply(reply: object) -> None:
    if not isinstance(reply, str):
        raise TypeError(f"the model function must return the reply as a str; got {type(reply).__name__}")
