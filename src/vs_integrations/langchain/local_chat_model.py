"""The embedded model (:mod:`vs_integrations.backends.local`) as a LangChain chat model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from ..backends.local import LocalModel
from ..backends.response_format import schema_from_response_format
from ._messages import to_core_messages


def _usage(prompt_tokens: int, completion_tokens: int) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=prompt_tokens, output_tokens=completion_tokens, total_tokens=prompt_tokens + completion_tokens
    )


class ChatLocalModel(BaseChatModel):
    """A GGUF model run in-process by llama.cpp (default: the embedded SmolLM2-135M), offline.

    Accepts ``response_format`` (OpenAI's ``json_schema`` form or llama.cpp's ``json_object`` +
    ``schema`` form) as a call keyword and decodes under that schema.

    Example:
        >>> from vs_integrations.langchain import ChatLocalModel
        >>> ChatLocalModel(seed=0).invoke("Say hi.").content  # doctest: +SKIP
        'Hi there!'
    """

    model_path: str | None = None
    """A GGUF file; default ``$VS_MODEL_PATH`` or the embedded SmolLM2-135M."""
    n_threads: int | None = None
    """CPU threads; default ``$VS_THREADS`` or half the cores."""
    temperature: float = 0.7
    """Sampling temperature."""
    max_tokens: int = 1024
    """Cap on generated tokens per call."""
    seed: int | None = None
    """Base seed (call ``i`` uses ``seed + i``)."""

    _model: LocalModel | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "vs-local-gguf"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": str(self._backend().model_path), "temperature": self.temperature, "seed": self.seed}

    def _backend(self) -> LocalModel:
        if self._model is None:
            self._model = LocalModel(
                self.model_path,
                n_threads=self.n_threads,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                seed=self.seed,
            )
        return self._model

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        backend = self._backend()
        completion = backend.complete(
            to_core_messages(messages), schema_from_response_format(kwargs.get("response_format"))
        )
        message = AIMessage(
            content=completion.text,
            usage_metadata=_usage(completion.prompt_tokens, completion.completion_tokens),
            response_metadata={"model_name": backend.model_name},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        backend = self._backend()
        pieces = 0
        for piece in backend.stream(
            to_core_messages(messages), schema_from_response_format(kwargs.get("response_format"))
        ):
            pieces += 1
            if run_manager is not None:
                run_manager.on_llm_new_token(piece)
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=_usage(0, pieces),
                response_metadata={"model_name": backend.model_name},
                chunk_position="last",
            )
        )
