"""What the embedded model and OpenAI-compatible endpoints share: one call shape and token usage."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..core.calls import ModelRequest, Reply
from ..core.prompts import Message

Schema = dict[str, Any]


@dataclass(frozen=True)
class Completion:
    """One reply and the tokens it took."""

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

    def add(self, completion: Completion) -> None:
        """Count one call."""
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens


class Backend(ABC):
    """A chat model the engine can call: ``backend(messages, schema) -> str``.

    Subclasses implement :meth:`complete` (and may implement :meth:`stream`); the base class
    counts usage, which :attr:`usage` reports.
    """

    name: str = "backend"

    def __init__(self) -> None:
        self.usage = Usage()
        self._usage_lock = threading.Lock()

    @abstractmethod
    def _complete(self, messages: list[Message], schema: Schema | None) -> Completion:
        """Make one call."""

    def complete(self, messages: list[Message], schema: Schema | None = None) -> Completion:
        """One chat call; ``schema`` constrains the reply when the backend can."""
        completion = self._complete(messages, schema)
        with self._usage_lock:
            self.usage.add(completion)
        return completion

    def generate(self, request: ModelRequest) -> Reply:
        """One call under the engine's contract: the reply with its tokens."""
        completion = self.complete(request.messages, request.schema)
        return Reply(completion.text, completion.prompt_tokens, completion.completion_tokens, model=self.name)

    async def agenerate(self, request: ModelRequest) -> Reply:
        """Async twin of :meth:`generate`."""
        import asyncio

        return await asyncio.to_thread(self.generate, request)

    def __call__(self, messages: list[Message], schema: Schema | None = None) -> str:
        """The reply text: the engine's model-function shape."""
        return self.complete(messages, schema).text

    async def acall(self, messages: list[Message], schema: Schema | None = None) -> str:
        """Async twin of ``__call__`` (runs the call in a worker thread)."""
        import asyncio  # imported here: asyncio costs ~0.1 s at import time

        return await asyncio.to_thread(self, messages, schema)

    def stream(self, messages: list[Message], schema: Schema | None = None) -> Iterator[str]:
        """Yield the reply in chunks. The default yields the whole reply at once."""
        yield self(messages, schema)
