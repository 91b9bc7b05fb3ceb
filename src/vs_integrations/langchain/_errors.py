"""Errors both ways: ours that are also LangChain's, and the inner model's errors read as ours.

Every error the adapter raises is one of the package's types (``except vs_integrations.ParseError``)
and, where LangChain has one, LangChain's own (``with_fallbacks(exceptions_to_handle=...)``,
``with_retry(retry_if_exception_type=...)``). An error of the inner model that means the same as
one of ours (LangChain's ``ContextOverflowError``, ``openai.APIConnectionError``...) is raised as
ours, with the original as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelConnectionError,
    ModelError,
    ModelInvalidRequestError,
    ModelTimeoutError,
    OutputParserException,
)

from ..backends.errors import classify_error, context_sizes, error_body, error_status
from ..core.calls import CallRecord
from ..core.distribution import Distribution
from ..core.errors import BackendUnreachable, ContextTooLong, ParseError, RequestRefused, VSError


class VSOutputParserException(ParseError, OutputParserException):
    """A reply with no usable candidate: our ``ParseError`` and LangChain's ``OutputParserException``.

    ``raw`` and ``llm_output`` both hold the model's reply; ``distribution`` the best partial one.

    Example:
        >>> err = VSOutputParserException("no candidate found", raw="hello")
        >>> isinstance(err, OutputParserException), err.llm_output
        (True, 'hello')
    """

    def __init__(
        self, message: str, raw: str, distribution: Distribution | None = None, *, calls: Sequence[CallRecord] = ()
    ) -> None:
        OutputParserException.__init__(self, message, llm_output=raw)
        self.raw = raw
        self.distribution = distribution
        self.calls = tuple(calls)


class VSContextTooLong(ContextTooLong, ContextOverflowError):
    """The prompt does not fit: our ``ContextTooLong`` and LangChain's ``ContextOverflowError``."""


class VSBackendUnreachable(BackendUnreachable, ModelConnectionError):
    """The model could not be reached: our ``BackendUnreachable`` and LangChain's ``ModelConnectionError``."""


class VSRequestRefused(RequestRefused, ModelError):
    """The model answered with an error status: our ``RequestRefused`` and LangChain's ``ModelError``."""


def as_framework_error(error: BaseException) -> BaseException | None:
    """The error to raise instead of ``error``, or None when ``error`` stands as it is.

    Ours become the dual classes above (same attributes); LangChain's model errors, and what
    :func:`~vs_integrations.backends.errors.classify_error` reads as ours (connection failures,
    timeouts, error statuses, context-length messages), become ours (the caller chains the original
    as cause); a context-length error carries the window and prompt size its message states.
    """
    if isinstance(error, (VSOutputParserException, VSContextTooLong, VSBackendUnreachable, VSRequestRefused)):
        return None
    if isinstance(error, ParseError):
        return VSOutputParserException.of(error)
    if isinstance(error, ContextTooLong):
        return VSContextTooLong(
            str(error), limit=error.limit, prompt_tokens=error.prompt_tokens, status=error.status, body=error.body
        )
    if isinstance(error, BackendUnreachable):
        return VSBackendUnreachable(str(error), status=error.status, body=error.body)
    if isinstance(error, RequestRefused):
        return VSRequestRefused(str(error), status=error.status, body=error.body)
    if isinstance(error, VSError):
        return None
    kind = classify_error(error)
    status, body = error_status(error), error_body(error)
    message = f"the inner model failed: {type(error).__name__}: {error}"
    if isinstance(error, ContextOverflowError) or kind == "context_too_long":
        limit, prompt_tokens = context_sizes(f"{error} {body}")
        return VSContextTooLong(message, limit=limit, prompt_tokens=prompt_tokens, status=status, body=body)
    if isinstance(error, (ModelConnectionError, ModelTimeoutError)) or kind in ("timeout", "unreachable"):
        return VSBackendUnreachable(message, status=status, body=body)
    if isinstance(error, (ModelInvalidRequestError, ModelAPIError)) or kind == "refused":
        return VSRequestRefused(message, status=status, body=body)
    return None


def raise_as_framework_error(error: BaseException) -> None:
    """Raise what :func:`as_framework_error` maps ``error`` to (chained), or return to let it stand."""
    mapped = as_framework_error(error)
    if mapped is None:
        return
    raise mapped from error


__all__ = [
    "VSBackendUnreachable",
    "VSContextTooLong",
    "VSOutputParserException",
    "VSRequestRefused",
    "as_framework_error",
    "raise_as_framework_error",
]
