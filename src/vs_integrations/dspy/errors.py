"""Errors both ways: the module's errors are also DSPy's, and DSPy's LM errors become ours.

Each class here is one exception caught by either family: ``except vs_integrations.ParseError``
and ``except dspy.utils.exceptions.AdapterParseError`` both catch :class:`VSAdapterParseError`.
DSPy's own errors of the inner LM (``ContextWindowExceededError``, ``LMTransportError``,
``LMTimeoutError``), and a connection error or timeout that reached the module unwrapped (read
by :func:`~vs_integrations.backends.errors.classify_error`: LiteLLM's, ``openai``'s, ``httpx``'s,
Python's), are re-raised as the matching class here, with the original as the cause.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dspy.utils.exceptions import (
    AdapterParseError,
    ContextWindowExceededError,
    DSPyError,
    LMTimeoutError,
    LMTransportError,
)

from ..backends.errors import classify_error, error_status
from ..core.errors import BackendUnreachable, ContextTooLong, ParseError

if TYPE_CHECKING:
    from dspy.signatures.signature import Signature

    from ..core.distribution import Distribution


class VSAdapterParseError(ParseError, AdapterParseError):
    """No usable candidates were read: a :class:`~vs_integrations.ParseError` and DSPy's ``AdapterParseError``.

    ``raw`` and ``lm_response`` both hold the LM's own text; ``distribution`` the best partial result.

    Example:
        >>> import dspy
        >>> err = VSAdapterParseError("no candidate", "I will not.", None, signature=dspy.Signature("q -> a"))
        >>> isinstance(err, AdapterParseError), err.lm_response
        (True, 'I will not.')
    """

    def __init__(
        self, message: str, raw: str, distribution: Distribution | None = None, *, signature: type[Signature]
    ) -> None:
        ParseError.__init__(self, message, raw, distribution)
        DSPyError.__init__(self, message)
        self.adapter_name = "VerbalizedSampling"
        self.signature = signature
        self.lm_response = raw
        self.parsed_result = None


class VSContextWindowExceeded(ContextTooLong, ContextWindowExceededError):
    """The prompt does not fit: a :class:`~vs_integrations.ContextTooLong` and DSPy's ``ContextWindowExceededError``.

    Example:
        >>> err = VSContextWindowExceeded("prompt too long", limit=2048, prompt_tokens=3000)
        >>> isinstance(err, ContextWindowExceededError), err.limit
        (True, 2048)
    """

    def __init__(
        self,
        message: str,
        *,
        limit: int | None = None,
        prompt_tokens: int | None = None,
        model: str | None = None,
        status: int | None = None,
    ) -> None:
        _init_both(self, message, model=model, status=status)
        self.limit = limit
        self.prompt_tokens = prompt_tokens


class VSLMTransportError(BackendUnreachable, LMTransportError):
    """The model could not be reached: a :class:`~vs_integrations.BackendUnreachable` and DSPy's ``LMTransportError``.

    Example:
        >>> isinstance(VSLMTransportError("connection refused"), LMTransportError)
        True
    """

    def __init__(self, message: str, *, model: str | None = None, status: int | None = None) -> None:
        _init_both(self, message, model=model, status=status)


class VSLMTimeoutError(BackendUnreachable, LMTimeoutError):
    """The model timed out: a :class:`~vs_integrations.BackendUnreachable` and DSPy's ``LMTimeoutError``.

    Example:
        >>> isinstance(VSLMTimeoutError("timed out"), BackendUnreachable)
        True
    """

    def __init__(self, message: str, *, model: str | None = None, status: int | None = None) -> None:
        _init_both(self, message, model=model, status=status)


def _init_both(error: DSPyError, message: str, *, model: str | None, status: int | None) -> None:
    """Initialise a class that is both a :class:`~vs_integrations.BackendError` and a ``DSPyError``.

    DSPy's constructors take keywords only past the message, so the package's cooperative
    ``super().__init__(message)`` chain cannot reach them: DSPy's sets the message and metadata,
    and the package's attributes are set here.
    """
    DSPyError.__init__(error, message, model=model, status=status)
    error.body = message


def _ours(exc: BaseException) -> Exception | None:
    """The error of the package's own family for DSPy's ``exc``, or None to let it pass unchanged."""
    if isinstance(exc, (ContextTooLong, BackendUnreachable)) and isinstance(exc, DSPyError):
        return None  # already both
    model = getattr(exc, "model", None)
    status = error_status(exc)
    # DSPy's own message, without the "[model] " prefix its str() adds (ours adds it again).
    message = getattr(exc, "message", None) or str(exc)
    kind = classify_error(exc)
    if isinstance(exc, ContextWindowExceededError) or kind == "context_too_long":
        # The embedded model's own ContextTooLong (under LocalEngine's lm15 error) knows the sizes.
        sizes = next((e for e in _causes(exc) if isinstance(e, ContextTooLong)), None)
        return VSContextWindowExceeded(
            message,
            limit=getattr(sizes, "limit", None),
            prompt_tokens=getattr(sizes, "prompt_tokens", None),
            model=model,
            status=status,
        )
    if isinstance(exc, LMTimeoutError) or kind == "timeout":
        return VSLMTimeoutError(message, model=model, status=status)
    if isinstance(exc, LMTransportError) or kind == "unreachable":
        return VSLMTransportError(message, model=model, status=status)
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


@contextmanager
def lm_errors_as_ours() -> Iterator[None]:
    """Re-raise DSPy's context-window, transport and timeout errors as the classes above (cause kept).

    Example:
        >>> try:
        ...     with lm_errors_as_ours():
        ...         raise LMTransportError("connection refused")
        ... except BackendUnreachable as err:
        ...     type(err.__cause__).__name__
        'LMTransportError'
    """
    try:
        yield
    except Exception as exc:
        mapped = _ours(exc)
        if mapped is None:
            raise
        raise mapped from exc


__all__ = [
    "VSAdapterParseError",
    "VSContextWindowExceeded",
    "VSLMTimeoutError",
    "VSLMTransportError",
    "lm_errors_as_ours",
]
