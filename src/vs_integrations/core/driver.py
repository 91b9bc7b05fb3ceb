"""One driver for sync and async: a generator of calls, fed by a call that may be either.

A procedure of several calls (the engine's loop, an adapter's inner calls, the reply-schema
negotiation) is written once as a generator: it yields what to call with and is sent each
answer, or thrown the call's error. :func:`drive` feeds it. Awaited with an ``async`` call it
suspends at each call; with a plain call it never suspends, so :func:`run_sync` finishes it
without an event loop. So each procedure has one body, and its sync and async entry points
differ only in the call they pass.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar

Q = TypeVar("Q")
A = TypeVar("A")
R = TypeVar("R")


async def drive(call: Callable[[Q], Awaitable[A]] | Callable[[Q], A], steps: Generator[Q, A, R]) -> R:
    """Send ``steps`` the answer ``call`` gives to each thing it yields; return what it returns.

    An error of ``call`` is thrown into ``steps`` at its ``yield`` (it may recover, e.g. try the
    next form); one it does not catch comes out of here unchanged.

    Example:
        >>> def doubled() -> Generator[int, int, int]:
        ...     return (yield 1) + (yield 2)
        >>> run_sync(drive(lambda n: 2 * n, doubled()))
        6

    Raises:
        RuntimeError: When ``call`` raises ``StopIteration`` (escaping, it would end the caller's
            loop silently, as if ``steps`` had returned None).
    """
    request = next(steps)
    while True:
        try:
            try:
                answer = call(request)
                if isinstance(answer, Awaitable):
                    answer = await answer
            except StopIteration as stop:
                raise RuntimeError("the model raised StopIteration") from stop
            except Exception as exc:
                request = steps.throw(exc)
                continue
            request = steps.send(answer)
        except StopIteration as done:
            result: R = done.value
            return result


def run_sync(coroutine: Coroutine[Any, Any, R]) -> R:
    """The result of a :func:`drive` coroutine whose calls are synchronous (it never suspends).

    Raises:
        RuntimeError: When a call suspended it after all (an async call given to a sync entry point).
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: R = done.value
        return result
    coroutine.close()
    raise RuntimeError("a synchronous call suspended the driver (pass it to the async entry point)")
