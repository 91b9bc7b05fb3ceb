"""How a reply's JSON Schema travels in a chat request's ``response_format``, in every dialect.

OpenAI (and vLLM) take ``{"type": "json_schema", "json_schema": {"schema": ...}}``; llama.cpp's
server takes ``{"type": "json_object", "schema": ...}``; DSPy's requests carry
``{"type": "json_schema", "schema": ...}``. This module is the one place that knows the order in
which the forms are tried, what counts as a server refusing a form, and which form each endpoint
accepted or refused for each shape of schema (both remembered for the process, so a new sampler
or CLI run does not spend a rejected request, whatever later calls do). The memory is per shape
(:func:`schema_shape`) because a server may refuse one schema in a form and take another: a
strict server refusing the judge's schema must not cost the VS reply its schema. The backends
and every adapter use it; ``schema_style="auto"`` means exactly :class:`SchemaNegotiation`'s
order with that memory.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Awaitable, Callable, Generator, Hashable, Iterator
from typing import Any, Literal, TypeVar

from ..core.driver import drive, run_sync
from ..core.errors import InvalidSetting, ResponseFormatRefused, VSError

# Also imported from here (the Ray adapter): the classification itself lives in .errors.
from .errors import error_status as error_status
from .errors import is_context_length_error as is_context_length_error

T = TypeVar("T")
SchemaStyle = Literal["auto", "json_schema", "json_object", "none"]
SCHEMA_STYLES: tuple[str, ...] = ("json_schema", "json_object", "none")
"""The forms to try, most standard first; ``none`` sends no schema (prompt only)."""

_FORMAT_WORDS = re.compile(r"response_format|json_schema|json_object|\bschema\b|grammar|structured output", re.I)

# endpoint -> {schema shape: form}; the form accepted last is the dict's last entry.
_learnt: dict[Hashable, dict[str, str]] = {}
# endpoint -> {schema shape: forms refused}
_refused: dict[Hashable, dict[str, set[str]]] = {}
_learnt_lock = threading.Lock()
# Keywords whose numbers follow the candidate count asked for in a call (list sizes, the judge's ids):
# schemas differing only there have one shape, so a count change does not negotiate again.
_COUNT_KEYWORDS = frozenset({"minItems", "maxItems", "minimum", "maximum"})


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


def check_schema_style(style: str) -> None:
    """Refuse an unknown ``schema_style`` with :class:`~vs_integrations.InvalidSetting` (a ``ValueError``)."""
    if style != "auto" and style not in SCHEMA_STYLES:
        choices = ", ".join(SCHEMA_STYLES)
        raise InvalidSetting(f"schema_style must be one of auto, {choices}; got {style!r}", field="schema_style")


def error_refuses_response_format(error: BaseException) -> bool:
    """:func:`refuses_response_format` applied to any exception (status read from its attributes).

    The package's own errors were classified when raised: only :class:`ResponseFormatRefused` is one
    (a :class:`~vs_integrations.SettingsError` listing ``response_format`` among its keywords is not).
    """
    if isinstance(error, VSError):
        return isinstance(error, ResponseFormatRefused)
    return refuses_response_format(error_status(error), str(error))


def schema_shape(schema: dict[str, Any]) -> str:
    """What the form memory keys a schema by: its canonical JSON, with counts and enum values blanked.

    Example:
        >>> schema_shape({"type": "array", "maxItems": 3}) == schema_shape({"maxItems": 5, "type": "array"})
        True
    """

    def blanked(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                # an enum's values (the judge's candidate letters) are not what a server accepts or refuses
                key: "#"
                if (key in _COUNT_KEYWORDS and isinstance(item, int)) or (key == "enum" and isinstance(item, list))
                else blanked(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [blanked(item) for item in value]
        return value

    return json.dumps(blanked(schema), sort_keys=True, default=str)


def learnt_style(endpoint: Hashable, schema: dict[str, Any] | None = None) -> str | None:
    """The form ``endpoint`` accepted earlier in this process for a schema of ``schema``'s shape.

    Without ``schema``: the form it accepted last, for any schema; None if none yet.
    """
    with _learnt_lock:
        forms = _learnt.get(endpoint, {})
        if schema is not None:
            return forms.get(schema_shape(schema))
        return next(reversed(forms.values()), None)


def refused_styles(endpoint: Hashable, schema: dict[str, Any] | None = None) -> frozenset[str]:
    """The forms ``endpoint`` refused earlier in this process for a schema of ``schema``'s shape.

    Without ``schema``: the forms it refused for any schema.
    """
    with _learnt_lock:
        refused = _refused.get(endpoint, {})
        if schema is not None:
            return frozenset(refused.get(schema_shape(schema), ()))
        return frozenset().union(*refused.values())


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
        endpoint: What identifies the server and model (e.g. ``(base_url, model)``); the forms it
            accepts and refuses are remembered per endpoint and schema shape for the process.
            None remembers nothing.
        schema: The reply's JSON Schema; None sends no ``response_format`` at all.
        style: ``"auto"`` tries the learnt form first, then every other form in
            :data:`SCHEMA_STYLES` order that the endpoint has not refused for this schema's
            shape (so a learnt form refused later still leaves the others); any other style is
            used alone.

    Example:
        >>> negotiation = SchemaNegotiation(None, {"type": "object"}, style="json_object")
        >>> list(negotiation)
        [{'type': 'json_object', 'schema': {'type': 'object'}}]

    """

    def __init__(self, endpoint: Hashable | None, schema: dict[str, Any] | None, style: str = "auto") -> None:
        check_schema_style(style)
        self.endpoint = endpoint
        self.schema = schema
        self.shape = schema_shape(schema) if schema is not None else ""
        if schema is None:
            self.styles: list[str] = ["none"]
        elif style != "auto":
            self.styles = [style]
        else:
            learnt = learnt_style(endpoint, schema) if endpoint is not None else None
            refused = refused_styles(endpoint, schema) if endpoint is not None else frozenset()
            first = [learnt] if learnt else []
            self.styles = first + [s for s in SCHEMA_STYLES if s not in refused and s not in first]
        self.style: str | None = None

    def __iter__(self) -> Iterator[dict[str, Any] | None]:
        for style in self.styles:
            self.style = style
            yield response_format(style, self.schema) if self.schema is not None else None

    def refused(self, error: BaseException) -> bool:
        """True when ``error`` refuses the current form and another form is left to try.

        A refusal is remembered for the endpoint and this schema's shape (and the form, if
        learnt for them, forgotten), so no later request sends that form with such a schema again.
        """
        if not error_refuses_response_format(error):
            return False
        if self.endpoint is not None and self.style not in (None, "none"):  # "none" sends no format
            with _learnt_lock:
                _refused.setdefault(self.endpoint, {}).setdefault(self.shape, set()).add(self.style)
                learnt = _learnt.get(self.endpoint, {})
                if learnt.get(self.shape) == self.style:
                    del learnt[self.shape]
        return self.style != self.styles[-1]

    def accepted(self) -> None:
        """Remember the current form for this endpoint and schema shape."""
        if self.endpoint is not None and self.schema is not None and self.style is not None:
            with _learnt_lock:
                learnt = _learnt.setdefault(self.endpoint, {})
                learnt.pop(self.shape, None)  # re-inserted last: the form accepted last
                learnt[self.shape] = self.style


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
