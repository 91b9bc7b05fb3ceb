"""What the embedded model and OpenAI-compatible endpoints share: the call shapes, defaults and token usage.

A backend answers :meth:`Backend.generate` (``ModelRequest -> Reply``): the request's generation
settings override the backend's own (set at construction), and the reply carries its tokens,
finish reason, model name and seconds. ``complete``, ``__call__`` and ``stream`` are the same
call in the shapes adapters use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ..core.calls import NO_SETTINGS, GenerationSettings, ModelRequest, Reply
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


@dataclass
class Usage:
    """Token usage added up over a backend's calls.

    Example:
        >>> usage = Usage()
        >>> usage.add(Completion("hi", 10, 2))
        >>> usage.total_tokens
        12
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def add(self, reply: Completion | Reply) -> None:
        """Count one call."""
        self.calls += 1
        self.prompt_tokens += reply.prompt_tokens or 0
        self.completion_tokens += reply.completion_tokens or 0


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
    implement :meth:`stream` and a native :meth:`agenerate`; the base class merges the settings,
    times the call and counts usage, which :attr:`usage` reports. A backend is a (async) context
    manager closing its connections.

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

    def _count(self, reply: Completion | Reply) -> None:
        with self._usage_lock:
            self.usage.add(reply)

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
    ) -> Iterator[str]:
        """Yield the reply in chunks. The default yields the whole reply at once."""
        yield self.complete(messages, schema, settings).text

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
