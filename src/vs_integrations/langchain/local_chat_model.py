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

from ..backends.base import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE
from ..backends.local import LocalModel
from ..backends.response_format import schema_from_response_format
from ..core.calls import GenerationSettings, ModelRequest
from ..core.errors import SettingsError
from ._errors import raise_as_framework_error
from ._messages import to_core_messages


def _usage(prompt_tokens: int, completion_tokens: int) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=prompt_tokens, output_tokens=completion_tokens, total_tokens=prompt_tokens + completion_tokens
    )


class ChatLocalModel(BaseChatModel):
    """A GGUF model run in-process by llama.cpp (default: the embedded SmolLM2-135M), offline.

    Accepts ``response_format`` (OpenAI's ``json_schema`` form or llama.cpp's ``json_object`` +
    ``schema`` form) as a call keyword and decodes under that schema, and per-call
    ``temperature``, ``top_p``, ``max_tokens``, ``seed`` and ``stop`` (over the fields below),
    sent to :meth:`LocalModel.generate <vs_integrations.LocalModel.generate>` as
    :class:`~vs_integrations.GenerationSettings`; ``timeout`` is accepted and means nothing for
    an in-process call. Any other call keyword is refused by name. Its errors are the package's
    and LangChain's (``ContextTooLong`` is also a ``ContextOverflowError``...).

    Example:
        >>> from vs_integrations.langchain import ChatLocalModel
        >>> ChatLocalModel(seed=0).invoke("Say hi.").content  # doctest: +SKIP
        'Hi there!'
    """

    model_path: str | None = None
    """A GGUF file; default ``$VS_MODEL_PATH`` or the embedded SmolLM2-135M."""
    n_threads: int | None = None
    """CPU threads; default ``$VS_THREADS`` or half the cores."""
    temperature: float = DEFAULT_TEMPERATURE
    """Sampling temperature."""
    max_tokens: int = DEFAULT_MAX_TOKENS
    """Cap on generated tokens per call."""
    seed: int | None = None
    """Base seed (call ``i`` uses ``call_seed(seed, i)``; see :class:`~vs_integrations.LocalModel`)."""

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

    def _settings(self, stop: list[str] | None, kwargs: dict[str, Any]) -> GenerationSettings:
        """The call's generation settings (per-call keywords over the model's own)."""
        # ``timeout`` is accepted for drop-in use (VerbalizedChatModel forwards it) and means
        # nothing for an in-process call.
        unknown = sorted(set(kwargs) - {"response_format", "timeout", *GenerationSettings.names()})
        if unknown:
            raise SettingsError(
                f"ChatLocalModel got unknown call keyword(s) {', '.join(map(repr, unknown))}; "
                f"accepted: response_format, timeout, {', '.join(GenerationSettings.names())}",
                unknown,
            )
        values = {name: kwargs.get(name) for name in GenerationSettings.names()}
        values["stop"] = stop if stop is not None else values["stop"]
        return GenerationSettings(**{name: value for name, value in values.items() if value is not None})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        backend = self._backend()
        schema = schema_from_response_format(kwargs.get("response_format"))
        request = ModelRequest(to_core_messages(messages), schema, self._settings(stop, kwargs))
        try:
            reply = backend.generate(request)
        except Exception as exc:
            raise_as_framework_error(exc)
            raise
        message = AIMessage(
            content=reply.text,
            usage_metadata=_usage(reply.prompt_tokens or 0, reply.completion_tokens or 0),
            response_metadata={"model_name": reply.model or backend.model_name, "finish_reason": reply.finish_reason},
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
        schema = schema_from_response_format(kwargs.get("response_format"))
        stream = backend.stream(to_core_messages(messages), schema, self._settings(stop, kwargs))
        try:
            for piece in stream:
                if run_manager is not None:
                    run_manager.on_llm_new_token(piece)
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        except Exception as exc:
            raise_as_framework_error(exc)
            raise
        reply = stream.reply
        assert reply is not None  # set when the stream ends
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=_usage(reply.prompt_tokens or 0, reply.completion_tokens or 0),
                response_metadata={
                    "model_name": reply.model or backend.model_name,
                    "finish_reason": reply.finish_reason,
                },
                chunk_position="last",
            )
        )
