"""Any server speaking ``/v1/chat/completions`` (OpenAI, vLLM, Ollama, llama.cpp's server...).

The reply's JSON Schema is sent as ``response_format`` in the forms
:class:`~vs_integrations.backends.response_format.SchemaNegotiation` tries (OpenAI's ``json_schema``,
llama.cpp's ``json_object`` + ``schema``, then none: the parser reads prompt-only replies); the
form an endpoint accepted is remembered for the process.

Every failure is one of the package's typed errors, keeping what the server sent:
:class:`~vs_integrations.BackendUnreachable` (connection refused, timeout),
:class:`~vs_integrations.ContextTooLong` (with the limit when the message gives it),
:class:`~vs_integrations.ResponseFormatRefused`, :class:`~vs_integrations.RequestRefused` (any
other error status) and :class:`~vs_integrations.MalformedResponse` (an answer that is not a
chat completion: HTML, JSON without ``choices``...).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

from ..core.errors import (
    BackendError,
    BackendUnreachable,
    ContextTooLong,
    MalformedResponse,
    RequestRefused,
    ResponseFormatRefused,
)
from ..core.prompts import Message
from .base import Backend, Completion, Schema
from .response_format import (
    SchemaNegotiation,
    is_context_length_error,
    learnt_style,
    negotiate,
    refuses_response_format,
)

_INSTALL_HINT = "install the 'cli' extra: pip install 'vs-integrations[cli]'"
# The context size and the prompt's size, as OpenAI, vLLM and llama.cpp's servers word them.
_LIMIT = re.compile(
    r"maximum context length is (\d+)|context (?:window|size|length) (?:of |is )?\(?(\d+)|n_ctx\D{0,4}(\d+)", re.I
)
_PROMPT_TOKENS = re.compile(
    r"requested (\d+) tokens|n_prompt_tokens\D{0,4}(\d+)|prompt (?:has|is|of) (\d+) tokens", re.I
)
_SHOWN = 300  # characters of a body quoted in a message (the whole body stays on the error)


class OpenAICompatibleModel(Backend):
    """A chat model behind an OpenAI-compatible endpoint.

    Args:
        model: Model name; default ``$OPENAI_MODEL``.
        base_url: Server URL ending in ``/v1``; default ``$OPENAI_BASE_URL`` or OpenAI's.
        api_key: Key; default ``$OPENAI_API_KEY`` (a placeholder is sent when a local server
            needs none).
        temperature: Sampling temperature (the paper uses 0.7).
        top_p: Nucleus sampling (the paper uses 1.0).
        max_tokens: Cap on generated tokens per call.
        timeout: Seconds per request.
        max_retries: The ``openai`` client's own retries (connection errors, 408/409/429/5xx).

    Raises (from calls):
        BackendUnreachable, ContextTooLong, ResponseFormatRefused, RequestRefused,
        MalformedResponse: see the module's docstring.

    Example:
        >>> from vs_integrations import VSEngine
        >>> model = OpenAICompatibleModel("qwen2.5", base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
        >>> VSEngine().run(model, "Tell a joke about coffee.")  # doctest: +SKIP
    """

    name = "openai-compatible"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.7,
        top_p: float = 1.0,
        max_tokens: int = 1024,
        timeout: float = 120.0,
        max_retries: int = 2,
    ) -> None:
        super().__init__()
        try:
            import openai
        except ImportError as exc:
            raise ImportError(f"the openai package is not installed: {_INSTALL_HINT}") from exc
        resolved = model or os.environ.get("OPENAI_MODEL")
        if not resolved:
            raise ValueError("no model name: pass model= (or --model), or set OPENAI_MODEL")
        self.model_name = resolved
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.timeout = timeout
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
            timeout=timeout,
            max_retries=max_retries,
        )

    @property
    def base_url(self) -> str:
        """The endpoint's base URL."""
        return str(self._client.base_url)

    @property
    def endpoint(self) -> tuple[str, str]:
        """``(base_url, model)``: the key under which the accepted reply-schema form is remembered."""
        return (self.base_url, self.model_name)

    @property
    def schema_style(self) -> str | None:
        """The ``response_format`` form this endpoint accepted in this process (None: not learnt yet)."""
        return learnt_style(self.endpoint)

    def _request(self, messages: list[Message], response_format: dict[str, Any] | None) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model_name,
            "messages": messages,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        if response_format is not None:
            request["response_format"] = response_format
        return request

    def _negotiate(self, schema: Schema | None, call: Any) -> Any:
        """``call(response_format)`` in each form the negotiation offers, as typed errors."""
        negotiation = SchemaNegotiation(self.endpoint, schema)
        try:
            return negotiate(negotiation, call)
        except self._openai.APIError as exc:
            raise self._typed(exc, negotiation.style != "none") from exc

    def _complete(self, messages: list[Message], schema: Schema | None) -> Completion:
        # The raw response: the client would hand back a bare str for an HTML body, or a
        # completion with choices=None for JSON without them, and lose the body either way.
        # Read inside the negotiation: a form is remembered only once a real completion came back.
        create = self._client.chat.completions.with_raw_response.create

        def call(form: dict[str, Any] | None) -> Completion:
            response = create(**self._request(messages, form)).http_response
            return self._completion(response.status_code, response.text)

        result: Completion = self._negotiate(schema, call)
        return result

    def _completion(self, status: int, body: str) -> Completion:
        where = f"{self.base_url} (model {self.model_name})"
        try:
            data = json.loads(body)
        except ValueError:
            raise MalformedResponse(
                f"{where} answered HTTP {status} with a body that is not JSON: {_quote(body)}", status=status, body=body
            ) from None
        choices = data.get("choices") if isinstance(data, dict) else None
        message = (
            choices[0].get("message")
            if isinstance(choices, list) and choices and isinstance(choices[0], dict)
            else None
        )
        if not isinstance(message, dict):
            said = _error_message(data)
            detail = f" (it says: {said})" if said else ""
            raise MalformedResponse(
                f"{where} answered HTTP {status} with JSON that is not a chat completion "
                f"(no choices[0].message){detail}: {_quote(body)}",
                status=status,
                body=body,
            )
        content = message.get("content")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return Completion(
            content if isinstance(content, str) else "",
            _int(usage.get("prompt_tokens")),
            _int(usage.get("completion_tokens")),
        )

    def stream(self, messages: list[Message], schema: Schema | None = None) -> Iterator[str]:
        """Yield the reply as the server streams it.

        Raises:
            MalformedResponse: If the server answers with something other than an event stream.
        """
        create: Any = self._client.chat.completions.create
        stream = self._negotiate(schema, lambda form: create(stream=True, **self._request(messages, form)))
        content_type = stream.response.headers.get("content-type", "")
        if "text/event-stream" not in content_type:
            status = stream.response.status_code
            body = stream.response.read().decode("utf-8", "replace")
            stream.close()
            raise MalformedResponse(
                f"{self.base_url} answered a streaming request with {content_type or 'no content type'}, "
                f"not an event stream: {_quote(body)}",
                status=status,
                body=body,
            )
        pieces = 0
        try:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces += 1
                    yield chunk.choices[0].delta.content
        except self._openai.APIError as exc:
            raise self._typed(exc, schema is not None) from exc
        with self._usage_lock:
            self.usage.add(Completion("", 0, pieces))

    def _typed(self, exc: Exception, sent_schema: bool) -> BackendError:
        """The package's error for an ``openai`` exception, keeping the server's body."""
        where = f"{self.base_url} (model {self.model_name})"
        if isinstance(exc, self._openai.APITimeoutError):
            return BackendUnreachable(f"{where} did not answer within {self.timeout:g} s")
        if isinstance(exc, self._openai.APIConnectionError):
            return BackendUnreachable(f"could not reach {where}: {exc.__cause__ or exc}")
        if not isinstance(exc, self._openai.APIStatusError):
            return MalformedResponse(f"{where} sent an answer the client could not read: {exc}", body=str(exc))
        status = exc.status_code
        body = exc.response.text
        message = _error_message(exc.body) or body.strip() or exc.message
        described = f"{where} refused the request with HTTP {status}: {_quote(message)}"
        if is_context_length_error(message) or is_context_length_error(body):
            limit = _first_number(_LIMIT, message + " " + body)
            return ContextTooLong(
                f"the prompt does not fit the model's context"
                f"{f' of {limit} tokens' if limit else ''}: {where} answered HTTP {status}: {_quote(message)}",
                limit=limit,
                prompt_tokens=_first_number(_PROMPT_TOKENS, message + " " + body),
                status=status,
                body=body,
            )
        if sent_schema and refuses_response_format(status, message):
            return ResponseFormatRefused(described, status=status, body=body)
        return RequestRefused(described, status=status, body=body)


def _error_message(data: Any) -> str:
    """The human message inside an error body: ``{"error": {"message"}}``, ``{"message"}``, ``{"detail"}``."""
    if not isinstance(data, dict):
        return ""
    inner = data.get("error", data)
    if isinstance(inner, str):
        return inner
    if isinstance(inner, dict):
        for key in ("message", "detail", "msg"):
            value = inner.get(key)
            if isinstance(value, str) and value:
                return value
    detail = data.get("detail")
    return json.dumps(detail) if detail else ""


def _first_number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    if match is None:
        return None
    return int(next(group for group in match.groups() if group))


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SHOWN else flat[:_SHOWN] + "…"
