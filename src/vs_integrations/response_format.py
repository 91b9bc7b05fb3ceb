"""How a reply's JSON Schema travels in a chat request's ``response_format``, in every dialect.

OpenAI (and vLLM) take ``{"type": "json_schema", "json_schema": {"schema": ...}}``; llama.cpp's
server takes ``{"type": "json_object", "schema": ...}``; DSPy's requests carry
``{"type": "json_schema", "schema": ...}``. Shared by the backends and the adapters.
"""

from __future__ import annotations

from typing import Any, Literal

SchemaStyle = Literal["json_schema", "json_object", "none"]
SCHEMA_STYLES: tuple[SchemaStyle, ...] = ("json_schema", "json_object", "none")
"""The forms to try, most standard first; ``none`` sends no schema (prompt only)."""


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


def refused_response_format(error: BaseException) -> bool:
    """Whether a server's error rejects the ``response_format`` (servers name the field).

    OpenAI and vLLM answer 400, llama.cpp's server 500 with a validation message.
    """
    return "response_format" in str(error)
