"""The embedded model (:mod:`vs_integrations.backends.local`) as a LlamaIndex LLM."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from pydantic import ConfigDict, PrivateAttr

from ..backends.local import LocalModel
from ..backends.response_format import schema_from_response_format
from ..core.errors import ContextTooLong
from ..core.prompts import Message
from ._messages import to_core_messages

# llama-cpp-python checks the tokenized prompt against n_ctx before generating anything.
_LLAMA_CPP_OVERFLOW = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


class LocalLLM(CustomLLM):
    """A GGUF chat model run in-process by llama.cpp (default: the embedded SmolLM2-135M), offline.

    ``chat`` sends the messages through the model's own chat template; a ``response_format``
    keyword carrying a JSON Schema (OpenAI or llama.cpp form) constrains decoding. A prompt that
    does not fit the context window raises :class:`~vs_integrations.ContextTooLong` naming the
    model's ``n_ctx`` and the prompt's token count, before anything is generated.

    Example:
        >>> from llama_index.core import Settings
        >>> Settings.llm = LocalLLM(seed=0)  # doctest: +SKIP
    """

    # A misspelt keyword (or a VS setting such as k, which belongs to the synthesizer) is refused.
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    model_path: str | None = None
    n_threads: int | None = None
    temperature: float = 0.7
    max_tokens: int = 1024
    context_window: int = 2048
    seed: int | None = None

    _model: LocalModel | None = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's registry name."""
        return "vs_local_llm"

    def _backend(self) -> LocalModel:
        if self._model is None:
            self._model = LocalModel(
                self.model_path,
                n_threads=self.n_threads,
                n_ctx=self.context_window,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                seed=self.seed,
            )
        return self._model

    @property
    def metadata(self) -> LLMMetadata:
        """Context window, output cap, and that this is a chat model."""
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_tokens,
            is_chat_model=True,
            model_name=self._backend().model_name,
        )

    @contextmanager
    def _overflow_as_context_too_long(self) -> Iterator[None]:
        """Turn llama.cpp's context-overflow ``ValueError`` into the typed error naming the limit."""
        try:
            yield
        except ValueError as exc:
            match = _LLAMA_CPP_OVERFLOW.search(str(exc))
            if match is None:
                raise
            prompt_tokens, limit = int(match.group(1)), int(match.group(2))
            raise ContextTooLong(
                f"the prompt is {prompt_tokens} tokens; {self._backend().model_name} has a context window of "
                f"{limit} tokens (n_ctx; LocalLLM(context_window=...) sets it)",
                limit=limit,
                prompt_tokens=prompt_tokens,
                body=str(exc),
            ) from exc

    def _stream(self, messages: list[Message], response_format: Any) -> Iterator[str]:
        with self._overflow_as_context_too_long():
            yield from self._backend().stream(messages, schema_from_response_format(response_format))

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """One chat call; ``response_format`` with a schema constrains the reply.

        Raises:
            ContextTooLong: If the prompt does not fit the context window.
        """
        schema = schema_from_response_format(kwargs.get("response_format"))
        with self._overflow_as_context_too_long():
            completion = self._backend().complete(to_core_messages(messages), schema)
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=completion.text),
            additional_kwargs={
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
            },
        )

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """A completion, run as one user turn through the chat template."""
        response = self.chat([ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs)
        return CompletionResponse(text=response.message.content or "", additional_kwargs=response.additional_kwargs)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        """Stream a completion token by token."""
        pieces = self._stream([{"role": "user", "content": prompt}], kwargs.get("response_format"))

        def generate() -> CompletionResponseGen:
            text = ""
            for piece in pieces:
                text += piece
                yield CompletionResponse(text=text, delta=piece)

        return generate()
