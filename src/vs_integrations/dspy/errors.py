"""Errors both ways: the module's errors are also DSPy's, and DSPy's LM errors become ours.

Each class here is one exception caught by either family: ``except vs_integrations.ParseError``
and ``except dspy.utils.exceptions.AdapterParseError`` both catch :class:`VSAdapterParseError`.
DSPy's own errors of the inner LM (``ContextWindowExceededError``, ``LMTransportError``,
``LMTimeoutError``, and the provider's refusals: ``LMInvalidRequestError``, ``LMServerError``,
``LMRateLimitError``, any other ``LMProviderError``), and a connection error, timeout or error
status that reached the module unwrapped (read by
:func:`~vs_integrations.backends.errors.classify_error`: LiteLLM's, ``openai``'s, ``httpx``'s,
Python's), are re-raised as the matching class here, with the original as the cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dspy.signatures.signature import make_signature
from dspy.utils.exceptions import (
    AdapterParseError,
    ContextWindowExceededError,
    DSPyError,
    LMInvalidRequestError,
    LMProviderError,
    LMRateLimitError,
    LMServerError,
    LMTimeoutError,
    LMTransportError,
)

from ..backends.errors import causes, classify_error, context_sizes, error_status
from ..core.errors import BackendUnreachable, ContextTooLong, ParseError, RequestRefused

if TYPE_CHECKING:
    from dspy.signatures.signature import Signature

    from ..core.calls import CallRecord
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
        self,
        message: str,
        raw: str,
        distribution: Distribution | None = None,
        *,
        signature: type[Signature],
        calls: Sequence[CallRecord] = (),
    ) -> None:
        ParseError.__init__(self, message, raw, distribution, calls=calls)
        DSPyError.__init__(self, message)
        self.adapter_name = "VerbalizedSampling"
        self.signature = signature
        self.lm_response = raw
        self.parsed_result = None

    def __reduce__(self) -> tuple[Any, ...]:
        # A signature built from a string is a class made at run time, which pickle cannot name:
        # it travels as its fields and instructions and is rebuilt as an equal signature.
        rebuild, (cls, args, state) = super().__reduce__()
        signature = self.signature
        portable = (dict(signature.fields), signature.instructions, signature.__name__)
        return (_rebuild_parse_error, (rebuild, cls, args, {**state, "signature": portable}))


def _rebuild_parse_error(
    rebuild: Callable[..., VSAdapterParseError],
    cls: type[VSAdapterParseError],
    args: tuple[Any, ...],
    state: dict[str, Any],
) -> VSAdapterParseError:
    fields, instructions, name = state["signature"]
    return rebuild(cls, args, {**state, "signature": make_signature(fields, instructions, name)})


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


class VSLMRequestRefused(RequestRefused, LMProviderError):
    """The provider refused the request: a :class:`~vs_integrations.RequestRefused` and DSPy's ``LMProviderError``.

    What a refusal of DSPy's (an authentication or billing error) becomes; a bad request, a rate
    limit and a server failure (DSPy's, or an error status that reached the module unwrapped, such
    as ``openai.APIStatusError``) have the subclasses below, which keep DSPy's narrower class.

    Example:
        >>> err = VSLMRequestRefused("rate limited", status=429)
        >>> isinstance(err, LMProviderError), err.status
        (True, 429)
    """

    def __init__(
        self, message: str, *, model: str | None = None, status: int | None = None, retry_after: float | None = None
    ) -> None:
        _init_both(self, message, model=model, status=status, retry_after=retry_after)


class VSLMInvalidRequestError(VSLMRequestRefused, LMInvalidRequestError):
    """The provider rejected the request (4xx): a ``RequestRefused`` and DSPy's ``LMInvalidRequestError``.

    Example:
        >>> isinstance(VSLMInvalidRequestError("bad request", status=400), LMInvalidRequestError)
        True
    """


class VSLMRateLimitError(VSLMRequestRefused, LMRateLimitError):
    """The provider rate-limited the request (429): a ``RequestRefused`` and DSPy's ``LMRateLimitError``.

    Example:
        >>> VSLMRateLimitError("slow down", status=429, retry_after=2.0).retry_after
        2.0
    """


class VSLMServerError(VSLMRequestRefused, LMServerError):
    """The provider failed on the request (5xx): a ``RequestRefused`` and DSPy's ``LMServerError``.

    Example:
        >>> isinstance(VSLMServerError("upstream 500", status=500), LMServerError)
        True
    """


def _init_both(
    error: DSPyError, message: str, *, model: str | None, status: int | None, retry_after: float | None = None
) -> None:
    """Initialise a class that is both a :class:`~vs_integrations.BackendError` and a ``DSPyError``.

    DSPy's constructors take keywords only past the message, so the package's cooperative
    ``super().__init__(message)`` chain cannot reach them: DSPy's sets the message and metadata,
    and the package's attributes are set here.
    """
    DSPyError.__init__(error, message, model=model, status=status, retry_after=retry_after)
    error.body = message


def _ours(exc: BaseException) -> Exception | None:
    """The error of the package's own family for DSPy's ``exc``, or None to let it pass unchanged."""
    if isinstance(exc, (ContextTooLong, BackendUnreachable, RequestRefused)) and isinstance(exc, DSPyError):
        return None  # already both
    model = getattr(exc, "model", None)
    status = error_status(exc)
    # DSPy's own message, without the "[model] " prefix its str() adds (ours adds it again).
    message = getattr(exc, "message", None) or str(exc)
    kind = classify_error(exc)
    if isinstance(exc, ContextWindowExceededError) or kind == "context_too_long":
        # The embedded model's own ContextTooLong (under LocalEngine's lm15 error) knows the sizes.
        # A server's error states them in its message.
        sizes = next((e for e in causes(exc) if isinstance(e, ContextTooLong)), None)
        limit, prompt_tokens = (sizes.limit, sizes.prompt_tokens) if sizes is not None else context_sizes(message)
        return VSContextWindowExceeded(message, limit=limit, prompt_tokens=prompt_tokens, model=model, status=status)
    if isinstance(exc, LMTimeoutError) or kind == "timeout":
        return VSLMTimeoutError(message, model=model, status=status)
    if isinstance(exc, LMTransportError) or kind == "unreachable":
        return VSLMTransportError(message, model=model, status=status)
    if isinstance(exc, LMProviderError) or kind == "refused":
        return _refused_class(exc, status)(message, model=model, status=status, retry_after=_retry_after(exc))
    return None


def _refused_class(exc: BaseException, status: int | None) -> type[VSLMRequestRefused]:
    """The refusal class keeping DSPy's class of ``exc``, or matching a foreign error's status."""
    foreign = not isinstance(exc, LMProviderError)
    if isinstance(exc, LMServerError) or (foreign and (status or 0) >= 500):
        return VSLMServerError
    if isinstance(exc, LMRateLimitError) or (foreign and status == 429):
        return VSLMRateLimitError
    if isinstance(exc, LMInvalidRequestError) or foreign:
        return VSLMInvalidRequestError
    return VSLMRequestRefused


def _retry_after(exc: BaseException) -> float | None:
    """The delay ``exc`` asks for (DSPy's ``retry_after``), if a number."""
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@contextmanager
def lm_errors_as_ours() -> Iterator[None]:
    """Re-raise DSPy's context-window, transport, timeout and refusal errors as the classes above (cause kept).

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
    "VSLMInvalidRequestError",
    "VSLMRateLimitError",
    "VSLMRequestRefused",
    "VSLMServerError",
    "VSLMTimeoutError",
    "VSLMTransportError",
    "lm_errors_as_ours",
]
