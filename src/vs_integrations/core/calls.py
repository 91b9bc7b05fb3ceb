"""The call contract between the engine and a model: what a call asks, what it returns, what it cost.

The engine asks with a :class:`ModelRequest` (messages, the reply schema, the generation settings
and what kind of call it is) and accepts back a plain string or a :class:`Reply` (text, tokens,
finish reason, model, seconds). A model is either a plain function ``(messages, schema) -> str |
Reply`` (it never sees the settings) or an object with ``generate(request)`` (and, for async
use, ``agenerate(request)``), as the package's backends are.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, Protocol, runtime_checkable

from .errors import InvalidSetting
from .prompts import Message

Schema = dict[str, Any]
CallKind = Literal["first", "retry", "top-up", "turn", "distinct"]
"""What a call was: the first ask; the same request again after a reply that added nothing; a
top-up asking for the missing candidates; a VS-Multi turn; a :meth:`VSEngine.distinct` follow-up."""
CALL_KINDS: tuple[str, ...] = ("first", "retry", "top-up", "turn", "distinct")


@dataclass(frozen=True)
class GenerationSettings:
    """Sampling settings for one model call; None leaves the model's own default.

    Args:
        temperature: Finite and >= 0.
        top_p: In (0, 1].
        max_tokens: Reply token limit (>= 1).
        seed: The model's sampling seed (an integer).
        stop: Stop sequences (one string or several).

    Raises:
        SettingsError: Naming the field, when a value is out of range or of the wrong type.

    Example:
        >>> GenerationSettings(temperature=0.7, stop="END").as_kwargs()
        {'temperature': 0.7, 'stop': ['END']}
    """

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for name, low, high in (("temperature", 0.0, math.inf), ("top_p", 0.0, 1.0)):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidSetting(f"{name} must be a finite number; got {value!r}", field=name)
            if not low <= value <= high or (name == "top_p" and value == 0):
                bound = "in (0, 1]" if name == "top_p" else ">= 0"
                raise InvalidSetting(f"{name} must be {bound}; got {value!r}", field=name)
        for name, minimum in (("max_tokens", 1), ("seed", None)):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
                kind = "a positive integer" if minimum else "an integer"
                raise InvalidSetting(f"{name} must be {kind}; got {value!r}", field=name)
        stop = self.stop
        if stop is not None:
            stops = (stop,) if isinstance(stop, str) else stop
            if not isinstance(stops, Sequence) or not all(isinstance(s, str) and s for s in stops):
                raise InvalidSetting(
                    f"stop must be a string or a list of non-empty strings; got {stop!r}", field="stop"
                )
            object.__setattr__(self, "stop", tuple(stops))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The setting names, in order."""
        return tuple(f.name for f in fields(cls))

    def as_kwargs(self) -> dict[str, Any]:
        """The settings that are set, as keyword arguments (``stop`` as a list)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = list(value) if f.name == "stop" else value
        return out

    def updated(self, other: GenerationSettings | None = None, **changes: Any) -> GenerationSettings:
        """A copy where ``other``'s set values, then ``changes`` that are not None, win."""
        merged = {**(other.as_kwargs() if other else {}), **{k: v for k, v in changes.items() if v is not None}}
        return replace(self, **merged) if merged else self


NO_SETTINGS = GenerationSettings()


@dataclass(frozen=True)
class ModelRequest:
    """One call the engine asks for.

    It unpacks as ``messages, schema`` (the shape of the plain model function).

    Example:
        >>> request = ModelRequest([{"role": "user", "content": "Hi"}], None)
        >>> messages, schema = request
        >>> request.kind
        'first'
    """

    messages: list[Message]
    schema: Schema | None
    settings: GenerationSettings = NO_SETTINGS
    kind: CallKind = "first"

    def __iter__(self) -> Iterator[Any]:
        yield self.messages
        yield self.schema


@dataclass(frozen=True)
class Reply:
    """A model's answer to one call, with what it cost (None where the model did not say).

    Example:
        >>> Reply("Paris", prompt_tokens=12, completion_tokens=3, finish_reason="stop").total_tokens
        15
    """

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    model: str | None = None
    seconds: float | None = None
    schema_form: str | None = None
    """The reply-schema form the call was sent with (``json_schema``, ``json_object``, ``none``...)."""
    attempts: int = 1
    """HTTP attempts the call took (retries included)."""

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens (0 where unknown)."""
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)

    @property
    def cut_at_token_limit(self) -> bool:
        """True when the model stopped at its token limit (finish reason ``length``)."""
        return self.finish_reason == "length"


def as_reply(value: object, seconds: float | None = None) -> Reply:
    """Read a model's return value: a string or a :class:`Reply` (timed with ``seconds`` if it was not).

    Raises:
        TypeError: For anything else.
    """
    if isinstance(value, str):
        return Reply(value, seconds=seconds)
    if isinstance(value, Reply):
        return value if value.seconds is not None or seconds is None else replace(value, seconds=seconds)
    raise TypeError(f"the model must return the reply as a str or a Reply; got {type(value).__name__}")


@dataclass(frozen=True)
class CallRecord:
    """What one model call of a result was and cost: an entry of ``Distribution.calls``.

    Example:
        >>> CallRecord("first", added=5, completion_tokens=80).to_dict()["kind"]
        'first'
    """

    kind: CallKind
    added: int = 0
    """New distinct candidates the reply added."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float | None = None
    finish_reason: str | None = None
    model: str | None = None
    schema_form: str | None = None
    attempts: int = 1

    @classmethod
    def of(cls, kind: CallKind, reply: Reply, added: int) -> CallRecord:
        """The record of ``reply`` to a call of ``kind``."""
        return cls(
            kind,
            added,
            reply.prompt_tokens,
            reply.completion_tokens,
            reply.seconds,
            reply.finish_reason,
            reply.model,
            reply.schema_form,
            reply.attempts,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallRecord:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Usage:
    """What a result cost in all: calls, tokens (as reported) and seconds.

    A call whose model reported no token counts (a streamed reply from a server that sends no
    usage, a plain function returning a str) adds 0 tokens and is counted in ``unreported``, so
    a 0 is never mistaken for a free call.

    Example:
        >>> Usage.of([CallRecord("first", prompt_tokens=10, completion_tokens=5, seconds=1.0), CallRecord("top-up")])
        Usage(calls=2, prompt_tokens=10, completion_tokens=5, seconds=1.0, unreported=1)
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    unreported: int = 0
    """Calls whose token counts the model did not report (their tokens are not in the sums)."""

    @classmethod
    def of(cls, records: Sequence[CallRecord | Reply]) -> Usage:
        """Sum ``records`` (call records, or replies: both state tokens and seconds)."""
        return cls(
            len(records),
            sum(r.prompt_tokens or 0 for r in records),
            sum(r.completion_tokens or 0 for r in records),
            round(sum(r.seconds or 0.0 for r in records), 6),
            sum(r.prompt_tokens is None and r.completion_tokens is None for r in records),
        )

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.calls + other.calls,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            round(self.seconds + other.seconds, 6),
            self.unreported + other.unreported,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


@runtime_checkable
class Model(Protocol):
    """A model object the engine calls with the whole request (the package's backends are ones)."""

    def generate(self, request: ModelRequest) -> Reply | str:
        """Answer one request."""
        ...


@runtime_checkable
class AsyncModel(Protocol):
    """A model object with a native async call."""

    async def agenerate(self, request: ModelRequest) -> Reply | str:
        """Answer one request without blocking the event loop."""
        ...


ModelFn = Callable[[list[Message], Schema | None], "str | Reply"]
AsyncModelFn = Callable[[list[Message], Schema | None], Awaitable["str | Reply"]]


def call_model(model: Model | ModelFn, request: ModelRequest) -> Reply:
    """Make one call of ``model`` (an object with ``generate`` or a plain function) and time it."""
    start = time.perf_counter()
    if isinstance(model, Model):
        value: object = model.generate(request)
    else:
        value = model(request.messages, request.schema)
    return as_reply(value, time.perf_counter() - start)


def check_async_model(model: object) -> None:
    """Refuse, up front, a model :meth:`VSEngine.arun` cannot await.

    Raises:
        TypeError: When ``model`` has no ``agenerate`` and is not an async function.
    """
    # iscoroutinefunction sees through functools.partial; an object's async __call__ needs its own look.
    if isinstance(model, AsyncModel) or inspect.iscoroutinefunction(model):
        return
    if not inspect.iscoroutinefunction(getattr(model, "__call__", None)):  # noqa: B004
        raise TypeError(
            f"arun needs an async model (an `async def` function or an object with `agenerate`); got "
            f"{type(model).__name__}: use run() for a synchronous model"
        )


async def acall_model(model: AsyncModel | AsyncModelFn, request: ModelRequest) -> Reply:
    """Async twin of :func:`call_model` (``model`` checked by :func:`check_async_model`)."""
    start = time.perf_counter()
    if isinstance(model, AsyncModel):
        value: object = await model.agenerate(request)
    else:
        value = await model(request.messages, request.schema)
    return as_reply(value, time.perf_counter() - start)


__all__ = [
    "CALL_KINDS",
    "NO_SETTINGS",
    "AsyncModel",
    "AsyncModelFn",
    "CallKind",
    "CallRecord",
    "GenerationSettings",
    "Model",
    "ModelFn",
    "ModelRequest",
    "Reply",
    "Usage",
    "acall_model",
    "as_reply",
    "call_model",
    "check_async_model",
]
