"""Any server speaking ``/v1/chat/completions`` (OpenAI, vLLM, Ollama, llama.cpp's server...).

The reply's JSON Schema is sent as ``response_format``: first in OpenAI's ``json_schema`` form,
then in the ``json_object`` + ``schema`` form llama.cpp's server takes, then not at all (the
parser reads prompt-only replies). What the server accepted is remembered.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from .backend import Backend, Completion, Schema
from .core.prompts import Message
from .response_format import SCHEMA_STYLES, error_refuses_response_format, response_format

_INSTALL_HINT = "install the 'cli' extra: pip install 'vs-integrations[cli]'"


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
        max_retries: The ``openai`` client's retries on connection errors.

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
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
            timeout=timeout,
            max_retries=max_retries,
        )
        self.schema_style: str | None = None  # learnt on the first call with a schema

    @property
    def base_url(self) -> str:
        """The endpoint's base URL."""
        return str(self._client.base_url)

    def _create(self, messages: list[Message], schema: Schema | None, **extra: Any) -> Any:
        request: dict[str, Any] = {
            "model": self.model_name,
            "messages": messages,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            **extra,
        }
        create: Any = self._client.chat.completions.create  # the request is built as a plain dict
        if schema is None:
            return create(**request)
        styles = [self.schema_style] if self.schema_style else list(SCHEMA_STYLES)
        for style in styles:
            format_ = response_format(style, schema)
            try:
                if format_ is None:
                    result = create(**request)
                else:
                    result = create(response_format=format_, **request)
            except self._openai.APIStatusError as exc:
                refused = exc.status_code in (400, 422) or error_refuses_response_format(exc)
                if not refused or style == styles[-1]:
                    raise
                continue
            self.schema_style = style
            return result
        raise AssertionError("unreachable: the last style either returns or raises")

    def _complete(self, messages: list[Message], schema: Schema | None) -> Completion:
        result = self._create(messages, schema)
        usage = result.usage
        return Completion(
            result.choices[0].message.content or "",
            int(usage.prompt_tokens) if usage else 0,
            int(usage.completion_tokens) if usage else 0,
        )

    def stream(self, messages: list[Message], schema: Schema | None = None) -> Iterator[str]:
        """Yield the reply as the server streams it."""
        pieces = 0
        for chunk in self._create(messages, schema, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces += 1
                yield chunk.choices[0].delta.content
        with self._usage_lock:
            self.usage.add(Completion("", 0, pieces))
