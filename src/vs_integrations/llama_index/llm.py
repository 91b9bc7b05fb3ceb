"""The embedded model (:mod:`vs_integrations.local`) as a LlamaIndex LLM."""

from __future__ import annotations

from collections.abc import Sequence
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
from pydantic import PrivateAttr

from ..local import LocalModel
from ..response_format import schema_from_response_format
from ._messages import to_core_messages


class LocalLLM(CustomLLM):
    """A GGUF chat model run in-process by llama.cpp (default: the embedded SmolLM2-135M), offline.

    ``chat`` sends the messages through the model's own chat template; a ``response_format``
    keyword carrying a JSON Schema (OpenAI or llama.cpp form) constrains decoding.

    Example:
        >>> from llama_index.core import Settings
        >>> Settings.llm = LocalLLM(seed=0)  # doctest: +SKIP
    """

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

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """One chat call; ``response_format`` with a schema constrains the reply."""
        backend = self._backend()
        completion = backend.complete(
            to_core_messages(messages), schema_from_response_format(kwargs.get("response_format"))
        )
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
        backend = self._backend()
        messages = [{"role": "user", "content": prompt}]
        schema = schema_from_response_format(kwargs.get("response_format"))

        def generate() -> CompletionResponseGen:
            text = ""
            for piece in backend.stream(messages, schema):
                text += piece
                yield CompletionResponse(text=text, delta=piece)

        return generate()
