"""The package's typed errors: one hierarchy for parsing, settings and model backends.

Every error keeps what the model or server sent (``raw`` for a reply, ``body`` for an HTTP
response), so nothing is lost when a call fails. Callers catch by class; nothing matches class
names as strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .calls import CallRecord
    from .distribution import Distribution


_ParseErrorT = TypeVar("_ParseErrorT", bound="ParseError")


class VSError(Exception):
    """Base class of every error this package raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce calls cls(*args), which misses our keyword and extra arguments
        # (raw, limit...); rebuilding from args and __dict__ pickles every subclass (Ray, processes).
        return (_rebuild_error, (type(self), self.args, self.__dict__))


def _rebuild_error(cls: type[VSError], args: tuple[Any, ...], state: dict[str, Any]) -> VSError:
    """An unpickled error: ``cls`` built without its ``__init__``, its arguments and attributes restored."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class SettingsError(VSError, TypeError):
    """A setting was unknown (misspelt) or had a bad value; the message names the field.

    Attributes:
        unknown: The unknown keywords (empty for a bad value).
        field: The setting whose value was refused, or None.

    Example:
        >>> from vs_integrations import resolve_config
        >>> try:
        ...     resolve_config(kk=3)
        ... except SettingsError as err:
        ...     err.unknown
        ['kk']

    """

    def __init__(self, message: str, unknown: list[str] | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.unknown = unknown or []
        self.field = field


class InvalidSetting(SettingsError, ValueError):
    """A setting's value was refused: a :class:`SettingsError` that is also a ``ValueError``.

    Example:
        >>> from vs_integrations import GenerationSettings
        >>> try:
        ...     GenerationSettings(temperature=float("nan"))
        ... except ValueError as err:
        ...     err.field
        'temperature'

    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)


class ParseError(VSError, ValueError):
    """Nothing usable was found in a model reply.

    Attributes:
        raw: The full text that failed to parse.
        distribution: The best partial distribution, when one was read but judged too small
            (set by the engine), else None.
        calls: The engine's trace of the calls made before giving up (one
            :class:`~vs_integrations.core.calls.CallRecord` each; empty from :func:`parse`).

    Example:
        >>> from vs_integrations import parse
        >>> try:
        ...     parse("no candidates here")
        ... except ParseError as err:
        ...     err.raw
        'no candidates here'

    """

    def __init__(
        self,
        message: str,
        raw: str,
        distribution: Distribution | None = None,
        *,
        calls: Sequence[CallRecord] = (),
    ) -> None:
        super().__init__(message)
        self.raw = raw
        self.distribution = distribution
        self.calls: tuple[CallRecord, ...] = tuple(calls)

    @classmethod
    def of(cls: type[_ParseErrorT], error: ParseError) -> _ParseErrorT:
        """``error`` as this class (a framework's twin), its message, ``raw``, ``distribution`` and ``calls`` kept."""
        if isinstance(error, cls):
            return error
        return cls(str(error), error.raw, error.distribution, calls=error.calls)


class BackendError(VSError):
    """A model backend (embedded model or server) failed to produce a reply.

    Attributes:
        status: The HTTP status, when a server answered; None otherwise.
        body: What the server sent (or the local error's text), kept whole.
        retry_after: Seconds the server asked to wait before retrying (its ``Retry-After``), or None.
        calls: When the engine made the failed call, its trace of the calls answered before it
            (one :class:`~vs_integrations.core.calls.CallRecord` each); else empty.
        distribution: When the engine made the failed call, the candidates it held by then (a
            :class:`~vs_integrations.core.distribution.Distribution`), or None.

    Example:
        >>> err = RequestRefused("bad request", status=400, body='{"error": "bad"}')
        >>> isinstance(err, BackendError), err.status, err.calls
        (True, 400, ())

    """

    # Set by the engine on an error it passes on, so what the earlier calls brought is not lost.
    # Class-level defaults: subclasses that are also a framework's error skip this __init__.
    calls: tuple[CallRecord, ...] = ()
    distribution: Distribution | None = None

    def __init__(
        self, message: str, *, status: int | None = None, body: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.retry_after = retry_after


class BackendUnreachable(BackendError):
    """The server could not be reached (refused, DNS, timeout), or the embedded model not loaded.

    A rerun may succeed once it is back.
    """


class BackendTimeout(BackendUnreachable):
    """The server accepted the request but did not answer within the timeout: busy or hung.

    A :class:`BackendUnreachable` (``except BackendUnreachable`` still catches it), told apart
    from a server that is not there: a server that serves few requests at a time queues the
    rest, and the queued ones run out of time while it works. Fewer requests at once (the
    backend's ``max_in_flight``) or a longer ``timeout`` helps; a rerun of a hung server does not.

    Attributes:
        timeout: The timeout that passed, in seconds (None when unknown).
        in_flight: The requests the backend had in flight when it gave up (None when unknown).

    Example:
        >>> err = BackendTimeout("no answer within 120 s", timeout=120.0, in_flight=100)
        >>> isinstance(err, BackendUnreachable), err.in_flight
        (True, 100)

    """

    def __init__(self, message: str, *, timeout: float | None = None, in_flight: int | None = None) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.in_flight = in_flight


class RequestRefused(BackendError):
    """The server answered this request with an error status (4xx/5xx) it did not recover from."""


class ResponseFormatRefused(RequestRefused):
    """The server rejected the ``response_format`` carrying the reply's JSON Schema."""


class ContextTooLong(RequestRefused):
    """The prompt does not fit the model's context window.

    Attributes:
        limit: The context size in tokens, when known.
        prompt_tokens: The prompt's size in tokens, when known.

    Example:
        >>> ContextTooLong("prompt too long", limit=2048, prompt_tokens=5000).limit
        2048

    """

    def __init__(
        self,
        message: str,
        *,
        limit: int | None = None,
        prompt_tokens: int | None = None,
        status: int | None = None,
        body: str = "",
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.limit = limit
        self.prompt_tokens = prompt_tokens


class MalformedResponse(BackendError):
    """The server answered, but not with a chat completion (HTML, no ``choices``...)."""
