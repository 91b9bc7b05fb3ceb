"""Reading a foreign model's error as one of the package's: one classification for every adapter.

An adapter wraps a model it did not write (a LangChain chat model, a DSPy LM, a LlamaIndex LLM),
whose failures come as its framework's or its SDK's exceptions. :func:`classify_error` says which
of the package's errors one means, from what it is (Python's, ``openai``'s, ``httpx``'s or
LiteLLM's connection and timeout errors), its HTTP status and its message (a context-length
message); :func:`as_backend_error` builds that error, the original kept for the caller to chain
as ``__cause__``. Each adapter adds its framework's own error types and raises its classes that
are both ours and the framework's. No SDK is imported here: only one already loaded can have
raised its errors.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Literal

from ..core.errors import BackendError, BackendTimeout, BackendUnreachable, ContextTooLong, RequestRefused, VSError

ErrorKind = Literal["context_too_long", "timeout", "unreachable", "refused"]
"""What a foreign error means: :class:`ContextTooLong`, :class:`BackendTimeout` (a timeout
waiting for an answer), :class:`BackendUnreachable` (a connection failure, or a connection not
accepted in time) or :class:`RequestRefused`."""

_CONTEXT_LENGTH = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|n_ctx|too many tokens|prompt is too long"
    r"|exceeds? the (available )?context|longer than the model|reduce the length",
    re.IGNORECASE,
)
# Where servers say the prompt does not fit (llama.cpp's older server: 500). A context-length
# message with another status (429's "too many tokens per minute") is not one.
_CONTEXT_STATUSES = (None, 400, 413, 500)
# The context size and the prompt's size, as OpenAI, vLLM and llama.cpp's servers word them. The
# prompt alone: vLLM's "you requested 7433 tokens (6409 in the messages, 1024 in the completion)"
# counts the reply's reserve in the first number.
_LIMIT = re.compile(
    r"maximum context length is (\d+)|context (?:window|size|length) (?:of |is )?\(?(\d+)|n_ctx\D{0,4}(\d+)", re.I
)
_PROMPT_TOKENS = re.compile(
    r"(\d+) (?:tokens )?in the messages|n_prompt_tokens\D{0,4}(\d+)|prompt (?:has|is|of) (\d+) tokens"
    r"|(\d+) input tokens",
    re.I,
)
_REQUESTED_TOKENS = re.compile(r"requested (\d+) tokens", re.I)
# (module, class) of the errors meaning each kind, most specific first: a timeout is a
# connection error in openai's and httpx's hierarchies.
_TIMEOUTS = (("openai", "APITimeoutError"), ("httpx", "TimeoutException"), ("litellm", "Timeout"))
_UNREACHABLE = (("openai", "APIConnectionError"), ("httpx", "TransportError"), ("litellm", "APIConnectionError"))
_REFUSED = (("openai", "APIStatusError"),)
# A timeout opening the connection: the server is not there (or not accepting), not slow to answer.
_CONNECT_TIMEOUTS = (("httpx", "ConnectTimeout"), ("httpcore", "ConnectTimeout"))


def is_context_length_error(message: str) -> bool:
    """Whether a server's error message says the prompt does not fit the context window.

    Example:
        >>> is_context_length_error("This model's maximum context length is 2048 tokens")
        True

    """
    return bool(_CONTEXT_LENGTH.search(message))


def context_sizes(text: str, max_tokens: int | None = None) -> tuple[int | None, int | None]:
    """The context window and the prompt's own tokens a context-length message states (None where it does not).

    The prompt's tokens are its stated share, else the total requested less the reply's reserve
    (``max_tokens``, when the caller knows it).

    Example:
        >>> context_sizes("maximum context length is 2048 tokens; you requested 3000 tokens "
        ...               "(2500 in the messages, 500 in the completion)")
        (2048, 2500)
        >>> context_sizes("requested 3000 tokens", max_tokens=500)
        (None, 2500)

    """
    limit = _first_number(_LIMIT, text)
    stated = _first_number(_PROMPT_TOKENS, text)
    if stated is not None:
        return limit, stated
    requested = _first_number(_REQUESTED_TOKENS, text)
    if requested is None:
        return limit, None
    return limit, requested - max_tokens if max_tokens is not None and requested > max_tokens else requested


def _first_number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    if match is None:
        return None
    return int(next(group for group in match.groups() if group))


def error_status(error: BaseException) -> int | None:
    """The HTTP status an exception carries (``status_code`` or ``status``), if any."""
    for name in ("status_code", "status"):
        value = getattr(error, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def error_body(error: BaseException) -> str:
    """What the server sent with ``error`` (its response's text), else the error's own text."""
    if isinstance(error, BackendError):
        return error.body
    text = getattr(getattr(error, "response", None), "text", None)
    return text if isinstance(text, str) else str(error)


def classify_error(error: BaseException) -> ErrorKind | None:
    """Which of the package's errors a foreign ``error`` means; None for none (or one of ours).

    Example:
        >>> classify_error(ConnectionRefusedError("connection refused"))
        'unreachable'
        >>> classify_error(ValueError("Requested tokens (3000) exceed context window of 2048"))
        'context_too_long'
        >>> classify_error(KeyError("x")) is None
        True

    """
    if isinstance(error, VSError):
        return None
    if error_status(error) in _CONTEXT_STATUSES and is_context_length_error(str(error)):
        return "context_too_long"
    if isinstance(error, TimeoutError) or _is_any(error, _TIMEOUTS):
        return "timeout"
    if isinstance(error, ConnectionError) or _is_any(error, _UNREACHABLE):
        return "unreachable"
    if _is_any(error, _REFUSED):
        return "refused"
    return None


def as_backend_error(
    error: BaseException, source: str = "the inner model", *, limit: int | None = None
) -> BackendError | None:
    """The package's error for a foreign ``error`` (None when it means none); chain the original.

    Args:
        error: What the wrapped model raised.
        source: What failed, as the message names it (e.g. the model's name).
        limit: The model's context window in tokens, when the caller knows it (for ``ContextTooLong``).

    A timeout is a :class:`BackendTimeout` (the server took the request but did not answer in
    time; a :class:`BackendUnreachable`, so ``except BackendUnreachable`` still catches it),
    except a timeout opening the connection (``httpx.ConnectTimeout``, also as the cause of
    ``openai``'s or LiteLLM's timeout), which is a plain :class:`BackendUnreachable`.

    Example:
        >>> err = as_backend_error(TimeoutError("read timed out"), "qwen2.5")
        >>> type(err).__name__, str(err)
        ('BackendTimeout', 'qwen2.5 failed: TimeoutError: read timed out')

    """
    kind = classify_error(error)
    if kind is None:
        return None
    message = f"{source} failed: {type(error).__name__}: {error}"
    status, body = error_status(error), error_body(error)
    if kind == "context_too_long":
        return ContextTooLong(message, limit=limit, status=status, body=body)
    if kind == "refused":
        return RequestRefused(message, status=status, body=body)
    if kind == "timeout" and not _is_connect_timeout(error):
        return BackendTimeout(message)
    return BackendUnreachable(message, status=status, body=body)


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception it was raised from or during, each once (a chain can loop).

    Example:
        >>> try:
        ...     try:
        ...         raise TimeoutError("read")
        ...     except TimeoutError as exc:
        ...         raise RuntimeError("call failed") from exc
        ... except RuntimeError as err:
        ...     [type(e).__name__ for e in causes(err)]
        ['RuntimeError', 'TimeoutError']
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_connect_timeout(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from, is a timeout opening the connection."""
    return any(_is_any(cause, _CONNECT_TIMEOUTS) for cause in causes(error))


def _is_any(error: BaseException, kinds: tuple[tuple[str, str], ...]) -> bool:
    for module_name, name in kinds:
        kind = getattr(sys.modules.get(module_name), name, None)
        if isinstance(kind, type) and isinstance(error, kind):
            return True
    return False
