"""What the embedded model and OpenAI-compatible endpoints share: the call shapes, defaults and token usage.

A backend answers :meth:`Backend.generate` (``ModelRequest -> Reply``): the request's generation
settings override the backend's own (set at construction), and the reply carries its tokens,
finish reason, model name and seconds. ``complete``, ``__call__`` and ``stream`` are the same
call in the shapes adapters use; ``stream`` returns a :class:`ReplyStream`, whose pieces are the
text and whose :attr:`~ReplyStream.reply` is the whole :class:`Reply` once it ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ..core.calls import NO_SETTINGS, GenerationSettings, ModelRequest, Reply, Usage
from ..core.errors import InvalidSetting
from ..core.prompts import Message

Schema = dict[str, Any]
B = TypeVar("B", bound="Backend")

# The paper's sampling settings, the package's backends' defaults. Adapters wrapping the embedded
# model read these instead of writing the numbers again.
DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 1.0
DEFAULT_MAX_TOKENS = 1024
DEFAULT_SETTINGS = GenerationSettings(
    temperature=DEFAULT_TEMPERATURE, top_p=DEFAULT_TOP_P, max_tokens=DEFAULT_MAX_TOKENS
)


@dataclass(frozen=True)
class Completion:
    """One reply and the tokens it took (0 where the model did not say)."""

    text: str
    prompt_tokens: int
    completion_tokens: int


class ReplyStream(Iterator[str]):
    """A reply as it is generated: iterate for its text pieces; :attr:`reply` is the whole reply at the end.

    Exhausting it sets :attr:`reply` (text, tokens, finish reason, model, seconds), which is also
    the ``StopIteration`` value, so ``reply = yield from backend.stream(...)`` works in a
    generator. A stream closed early (:meth:`close`) has no reply; the backend's usage still
    counts what was generated.

    Args:
        pieces: A generator yielding the text pieces and returning the :class:`Reply`.

    Example:
        >>> def pieces():
        ...     yield "Ohio is "
        ...     yield "a state"
        ...     return Reply("Ohio is a state", 12, 4, finish_reason="length")
        >>> stream = ReplyStream(pieces())
        >>> "".join(stream), stream.reply.cut_at_token_limit
        ('Ohio is a state', True)
    """

    def __init__(self, pieces: Generator[str, None, Reply]) -> None:
        self._pieces = pieces
        self.reply: Reply | None = None

    def __iter__(self) -> ReplyStream:
        return self

    def __next__(self) -> str:
        if self.reply is not None:
            raise StopIteration(self.reply)
        try:
            return next(self._pieces)
        except StopIteration as end:
            self.reply = end.value
            raise StopIteration(end.value) from None

    def close(self) -> None:
        """Stop the stream (the backend stops generating)."""
        self._pieces.close()


def check_positive(field: str, value: object, *, integer: bool = False) -> None:
    """Refuse a constructor argument that is not a positive (finite) number, naming it.

    Raises:
        InvalidSetting: Naming ``field``.
    """
    if integer:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        kind = "a positive integer"
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < float("inf")
        kind = "a positive finite number"
    if not ok:
        raise InvalidSetting(f"{field} must be {kind}; got {value!r}", field=field)


class Backend:
    """A chat model the engine can call: ``generate(request) -> Reply`` (or ``backend(messages, schema)``).

    Subclasses implement :meth:`_generate` (or, ignoring the settings, :meth:`_complete`) and may
    implement :meth:`_stream` and a native :meth:`agenerate`; the base class merges the settings,
    times the call and counts usage, which :attr:`usage` (a :class:`~vs_integrations.Usage` of
    every call so far) reports. A backend is a (async) context manager closing its connections.

    Args:
        settings: The generation settings of every call; a request's own settings override them.

    Example:
        >>> class Echo(Backend):
        ...     def _generate(self, request):
        ...         return Reply(request.messages[-1]["content"], completion_tokens=1)
        >>> Echo()([{"role": "user", "content": "hi"}])
        'hi'
    """

    name: str = "backend"

    def __init__(self, settings: GenerationSettings = DEFAULT_SETTINGS) -> None:
        self.settings = settings
        self.usage = Usage()
        """Every call so far: calls, prompt and completion tokens (unknown ones as 0), seconds."""
        self._usage_lock = threading.Lock()

    def _generate(self, request: ModelRequest) -> Reply:
        """Make one call (``self.settings_for(request)`` are its settings).

        The default calls :meth:`_complete`, for a backend that takes no settings.
        """
        completion = self._complete(request.messages, request.schema)
        return Reply(completion.text, completion.prompt_tokens, completion.completion_tokens, model=self.name)

    def _complete(self, messages: list[Message], schema: Schema | None) -> Completion:
        """Make one call without settings: implement this or :meth:`_generate`."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _generate nor _complete")

    def settings_for(self, request: ModelRequest) -> GenerationSettings:
        """The settings a call uses: the backend's, overridden by the request's."""
        return self.settings.updated(request.settings)

    def generate(self, request: ModelRequest) -> Reply:
        """One call under the engine's contract: the reply with its tokens, finish reason and seconds."""
        start = time.perf_counter()
        return self._record(self._generate(request), start)

    async def agenerate(self, request: ModelRequest) -> Reply:
        """Async twin of :meth:`generate`; by default the call runs in a worker thread."""
        import asyncio  # imported here: asyncio costs ~0.1 s at import time

        return await asyncio.to_thread(self.generate, request)

    def _record(self, reply: Reply, start: float) -> Reply:
        """Time ``reply`` (if the backend did not) and count its usage."""
        if reply.seconds is None:
            reply = replace(reply, seconds=time.perf_counter() - start)
        self._count(reply)
        return reply

    def _count(self, reply: Reply) -> None:
        counted = Usage.of([reply])
        with self._usage_lock:
            self.usage += counted

    def complete(
        self, messages: list[Message], schema: Schema | None = None, settings: GenerationSettings | None = None
    ) -> Completion:
        """One chat call; ``schema`` constrains the reply when the backend can."""
        reply = self.generate(ModelRequest(messages, schema, settings or NO_SETTINGS))
        return Completion(reply.text, reply.prompt_tokens or 0, reply.completion_tokens or 0)

    def __call__(self, messages: list[Message], schema: Schema | None = None) -> str:
        """The reply text: the plain model-function shape."""
        return self.generate(ModelRequest(messages, schema)).text

    async def acall(self, messages: list[Message], schema: Schema | None = None) -> str:
        """Async twin of ``__call__``."""
        return (await self.agenerate(ModelRequest(messages, schema))).text

    def stream(
        self, messages: list[Message], schema: Schema | None = None, settings: GenerationSettings | None = None
    ) -> ReplyStream:
        """The reply in pieces as it is generated; the stream's ``reply`` is the whole reply once it ends."""
        return ReplyStream(self._stream(ModelRequest(messages, schema, settings or NO_SETTINGS)))

    def _stream(self, request: ModelRequest) -> Generator[str, None, Reply]:
        """Yield the reply's pieces and return the reply. The default yields the whole reply at once."""
        reply = self.generate(request)
        yield reply.text
        return reply

    def close(self) -> None:
        """Release the backend's connections (nothing by default)."""

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        self.close()

    def __enter__(self: B) -> B:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self: B) -> B:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
