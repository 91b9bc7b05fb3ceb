"""How a reply's JSON Schema travels in a chat request's ``response_format``, in every dialect.

OpenAI (and vLLM) take ``{"type": "json_schema", "json_schema": {"schema": ...}}``; llama.cpp's
server takes ``{"type": "json_object", "schema": ...}``; DSPy's requests carry
``{"type": "json_schema", "schema": ...}``. This module is the one place that knows the order in
which the forms are tried, what counts as a server refusing a form, and which form each endpoint
accepted or refused (both remembered for the process, so a new sampler or CLI run does not spend a
rejected request, whatever later calls do). The backends and every adapter use it; ``schema_style="auto"`` means exactly
:class:`SchemaNegotiation`'s order with that memory.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Awaitable, Callable, Generator, Hashable, Iterator
from typing import Any, Literal, TypeVar

from ..core.driver import drive, run_sync
from ..core.errors import BackendError, ResponseFormatRefused

# Also imported from here (the Ray adapter): the classification itself lives in .errors.
from .errors import error_status as error_status
from .errors import is_context_length_error as is_context_length_error

T = TypeVar("T")
SchemaStyle = Literal["auto", "json_schema", "json_object", "none"]
SCHEMA_STYLES: tuple[str, ...] = ("json_schema", "json_object", "none")
"""The forms to try, most standard first; ``none`` sends no schema (prompt only)."""

_FORMAT_WORDS = re.compile(r"response_format|json_schema|json_object|\bschema\b|grammar|structured output", re.I)

_learnt: dict[Hashable, str] = {}
_refused: dict[Hashable, set[str]] = {}
_learnt_lock = threading.Lock()


def response_format(style: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The ``response_format`` carrying ``schema`` in ``style``; None for ``"none"``."""
    if style == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "verbalized_responses", "schema": schema, "strict": True},
        }
    if style == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


def schema_from_response_format(value: Any) -> dict[str, Any] | None:
    """The JSON Schema inside any of the ``response_format`` dialects; None when it carries none."""
    if not isinstance(value, dict):
        return None
    spec = value.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else value.get("schema")
    return schema if isinstance(schema, dict) else None


def refuses_response_format(status: int | None, message: str) -> bool:
    """Whether an error answer rejects the ``response_format`` rather than the request itself.

    A context-length error is never a refusal of the format. Otherwise a 4xx/5xx whose message
    names the format (servers do: OpenAI and vLLM answer 400, llama.cpp's server 400 or 500),
    or a bare 400/422 with no message, counts as one.

    Example:
        >>> refuses_response_format(400, "Unrecognized request argument: response_format")
        True
        >>> refuses_response_format(400, "maximum context length is 2048 tokens")
        False

    """
    if is_context_length_error(message):
        return False
    if status is not None and status < 400:
        return False
    if _FORMAT_WORDS.search(message):
        return True
    return status in (400, 422) and not message.strip()


def error_refuses_response_format(error: BaseException) -> bool:
    """:func:`refuses_response_format` applied to any exception (status read from its attributes).

    The package's own errors were classified when raised: only :class:`ResponseFormatRefused` is one.
    """
    if isinstance(error, BackendError):
        return isinstance(error, ResponseFormatRefused)
    return refuses_response_format(error_status(error), str(error))


def learnt_style(endpoint: Hashable) -> str | None:
    """The form ``endpoint`` accepted earlier in this process, if any."""
    with _learnt_lock:
        return _learnt.get(endpoint)


def refused_styles(endpoint: Hashable) -> frozenset[str]:
    """The forms ``endpoint`` refused earlier in this process."""
    with _learnt_lock:
        return frozenset(_refused.get(endpoint, ()))


def forget_learnt_styles() -> None:
    """Forget every learnt and refused form (for tests and long-lived processes whose servers change)."""
    with _learnt_lock:
        _learnt.clear()
        _refused.clear()


class SchemaNegotiation:
    """The forms to try for one request, and what to do when the server refuses one.

    One request's loop (what :func:`negotiate` and :func:`anegotiate` run)::

        negotiation = SchemaNegotiation(("http://host/v1", "qwen"), schema)
        for response_format in negotiation:
            try:
                result = call(response_format)   # None: send no schema
            except Exception as exc:
                if negotiation.refused(exc):
                    continue                      # try the next form
                raise
            negotiation.accepted()
            return result

    Args:
        endpoint: What identifies the server and model (e.g. ``(base_url, model)``); the form it
            accepts is remembered per endpoint for the process. None remembers nothing.
        schema: The reply's JSON Schema; None sends no ``response_format`` at all.
        style: ``"auto"`` tries the learnt form, else every form in :data:`SCHEMA_STYLES` order
            that the endpoint has not refused; any other style is used alone.

    Example:
        >>> negotiation = SchemaNegotiation(None, {"type": "object"}, style="json_object")
        >>> list(negotiation)
        [{'type': 'json_object', 'schema': {'type': 'object'}}]

    """

    def __init__(self, endpoint: Hashable | None, schema: dict[str, Any] | None, style: str = "auto") -> None:
        if style != "auto" and style not in SCHEMA_STYLES:
            raise ValueError(f"schema_style must be one of auto, {', '.join(SCHEMA_STYLES)}; got {style!r}")
        self.endpoint = endpoint
        self.schema = schema
        if schema is None:
            self.styles: list[str] = ["none"]
        elif style != "auto":
            self.styles = [style]
        else:
            learnt = learnt_style(endpoint) if endpoint is not None else None
            refused = refused_styles(endpoint) if endpoint is not None else frozenset()
            self.styles = [learnt] if learnt else [s for s in SCHEMA_STYLES if s not in refused]
        self.style: str | None = None

    def __iter__(self) -> Iterator[dict[str, Any] | None]:
        for style in self.styles:
            self.style = style
            yield response_format(style, self.schema) if self.schema is not None else None

    def refused(self, error: BaseException) -> bool:
        """True when ``error`` refuses the current form and another form is left to try.

        A refusal is remembered for the endpoint (and the form, if learnt, forgotten), so no
        later request sends that form again.
        """
        if not error_refuses_response_format(error):
            return False
        if self.endpoint is not None and self.style not in (None, "none"):  # "none" sends no format
            with _learnt_lock:
                _refused.setdefault(self.endpoint, set()).add(self.style)
                if _learnt.get(self.endpoint) == self.style:
                    del _learnt[self.endpoint]
        return self.style != self.styles[-1]

    def accepted(self) -> None:
        """Remember the current form for this endpoint."""
        if self.endpoint is not None and self.schema is not None and self.style is not None:
            with _learnt_lock:
                _learnt[self.endpoint] = self.style


def negotiate(negotiation: SchemaNegotiation, call: Callable[[dict[str, Any] | None], T]) -> T:
    """Run ``call`` with each ``response_format`` form until the server does not refuse one.

    Example:
        >>> negotiation = SchemaNegotiation(None, {"type": "object"}, style="json_object")
        >>> negotiate(negotiation, lambda form: form["type"])
        'json_object'

    """
    attempts: Generator[dict[str, Any] | None, T, T] = _attempts(negotiation)
    return run_sync(drive(call, attempts))


async def anegotiate(negotiation: SchemaNegotiation, call: Callable[[dict[str, Any] | None], Awaitable[T]]) -> T:
    """Async twin of :func:`negotiate` (the same loop, awaiting ``call``)."""
    attempts: Generator[dict[str, Any] | None, T, T] = _attempts(negotiation)
    return await drive(call, attempts)


def _attempts(negotiation: SchemaNegotiation) -> Generator[dict[str, Any] | None, T, T]:
    """The negotiation as steps for :func:`~vs_integrations.core.driver.drive`.

    Yields each form to send; is sent the call's result (returned, the form learnt) or thrown its
    error (the next form when the server refused this one, else the error goes on).
    """
    for form in negotiation:
        try:
            result = yield form
        except Exception as exc:
            if negotiation.refused(exc):
                continue
            raise
        negotiation.accepted()
        return result
    raise AssertionError("unreachable: SchemaNegotiation yields at least one form, and the last returns or raises")
