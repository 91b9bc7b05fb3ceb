"""The package's backends as LlamaIndex LLMs: the embedded model and any OpenAI-compatible server."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, TypeVar

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW, DEFAULT_NUM_OUTPUTS
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from pydantic import ConfigDict, Field, PrivateAttr, ValidationError

from ..backends.base import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, DEFAULT_TOP_P, Backend, ReplyStream
from ..backends.local import LocalModel
from ..backends.openai_compatible import OpenAICompatibleModel
from ..backends.response_format import schema_from_response_format
from ..core.calls import GenerationSettings, ModelRequest, Reply, Usage
from ..core.errors import InvalidSetting, SettingsError
from ._messages import to_core_messages

T = TypeVar("T")


class _BackendLLM(CustomLLM):
    """A backend of the package as a LlamaIndex chat LLM (what LocalLLM and OpenAICompatibleLLM share).

    Per-call ``temperature``, ``top_p``, ``max_tokens``, ``seed`` and ``stop`` keywords are checked
    and reach the backend as :class:`~vs_integrations.GenerationSettings`; ``response_format``
    carrying a JSON Schema (OpenAI or llama.cpp form) constrains the reply. Responses carry the
    tokens in ``raw["usage"]`` (what LlamaIndex's ``TokenCountingHandler`` reads) and in
    ``additional_kwargs``, and the finish reason and model in ``raw``.
    """

    # A misspelt keyword (or a VS setting such as k, which belongs to the VS objects) is refused.
    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    def __init__(self, **fields: Any) -> None:
        name = type(self).__name__
        own = sorted(set(type(self).model_fields) - set(CustomLLM.model_fields))
        unknown = sorted(set(fields) - set(type(self).model_fields))
        if unknown:
            # A VS setting (k, tail...) here is a common slip: it belongs to VerbalizedLLM or the synthesizer.
            raise SettingsError(
                f"{name} got unknown keyword(s) {', '.join(map(repr, unknown))}; its own: {', '.join(own)} "
                "(VS settings such as k go to VerbalizedLLM or VerbalizedSynthesizer)",
                unknown,
            )
        try:
            super().__init__(**fields)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(map(str, error["loc"]))
            # Named, with the value's type only: pydantic's own message would print whole objects.
            raise InvalidSetting(
                f"{name}: {field} {error['msg'].lower()}; got {type(error.get('input')).__name__}", field=field
            ) from None

    @abstractmethod
    def _backend(self) -> Backend:
        """The backend, built on first use."""

    def _request(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> ModelRequest:
        names = GenerationSettings.names()
        settings = GenerationSettings(**{name: kwargs[name] for name in names if kwargs.get(name) is not None})
        schema = schema_from_response_format(kwargs.get("response_format"))
        return ModelRequest(to_core_messages(messages), schema, settings)

    def _stream(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> Iterator[tuple[str, Reply | None]]:
        request = self._request(messages, kwargs)
        return _with_reply(self._backend().stream(request.messages, request.schema, request.settings))

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """One chat call through the model's chat template.

        Raises:
            ContextTooLong, BackendUnreachable, RequestRefused: The backend's typed errors.
        """
        return _chat_response(self._backend().generate(self._request(messages, kwargs)))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async twin of :meth:`chat`: the backend's ``agenerate``, off the event loop."""
        return _chat_response(await self._backend().agenerate(self._request(messages, kwargs)))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Stream the reply piece by piece (the messages go through the chat template as they are)."""
        pieces = self._stream(messages, kwargs)

        def generate() -> ChatResponseGen:
            text = ""
            for piece, reply in pieces:
                text += piece
                message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
                yield ChatResponse(message=message, delta=piece, **_reply_fields(reply))

        return generate()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        """Async twin of :meth:`stream_chat`: the stream is read in a worker thread."""
        pieces = _in_thread(self._stream(messages, kwargs))

        async def generate() -> ChatResponseAsyncGen:
            text = ""
            async for piece, reply in pieces:
                text += piece
                message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
                yield ChatResponse(message=message, delta=piece, **_reply_fields(reply))

        return generate()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """A completion, run as one user turn through the chat template."""
        request = self._request([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs)
        return _completion_response(self._backend().generate(request))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Async twin of :meth:`complete`."""
        request = self._request([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs)
        return _completion_response(await self._backend().agenerate(request))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        """Stream a completion piece by piece."""
        pieces = self._stream([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs)

        def generate() -> CompletionResponseGen:
            text = ""
            for piece, reply in pieces:
                text += piece
                yield CompletionResponse(text=text, delta=piece, **_reply_fields(reply))

        return generate()

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        """Async twin of :meth:`stream_complete`."""
        pieces = _in_thread(self._stream([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs))

        async def generate() -> CompletionResponseAsyncGen:
            text = ""
            async for piece, reply in pieces:
                text += piece
                yield CompletionResponse(text=text, delta=piece, **_reply_fields(reply))

        return generate()


class LocalLLM(_BackendLLM):
    """A GGUF chat model run in-process by llama.cpp (default: the embedded SmolLM2-135M), offline.

    Settings left unset take :class:`~vs_integrations.LocalModel`'s defaults (the backends'
    ``DEFAULT_SETTINGS`` and ``DEFAULT_N_CTX``); per-call keywords override them for that call. A
    prompt that does not fit the context window raises :class:`~vs_integrations.ContextTooLong`
    naming ``n_ctx`` and the prompt's token count, before anything is generated.

    Args:
        model_path: A GGUF file (default: the embedded model).
        n_threads: llama.cpp threads (default: half the cores).
        temperature: Sampling temperature.
        top_p: Nucleus sampling.
        max_tokens: Reply token cap (also the reply room LlamaIndex keeps when packing context).
        context_window: The model's ``n_ctx``.
        seed: Base seed of the model's sampling.

    Example:
        >>> from llama_index.core import Settings
        >>> Settings.llm = LocalLLM(seed=0)  # doctest: +SKIP
        >>> Settings.llm.complete("Name a US state.", max_tokens=8).text  # doctest: +SKIP
    """

    model_path: str | None = None
    n_threads: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    context_window: int | None = None
    seed: int | None = None

    _model: LocalModel | None = PrivateAttr(default=None)

    def __init__(self, model_path: str | None = None, **fields: Any) -> None:
        super().__init__(model_path=model_path, **fields)

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's registry name."""
        return "vs_local_llm"

    def _backend(self) -> LocalModel:
        if self._model is None:
            given: dict[str, Any] = {
                "n_threads": self.n_threads,
                "n_ctx": self.context_window,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "max_tokens": self.max_tokens,
                "seed": self.seed,
            }
            # Only what was set: the backend's own defaults are the one place they are written.
            chosen = {name: value for name, value in given.items() if value is not None}
            self._model = LocalModel(self.model_path, **chosen)
        return self._model

    @property
    def metadata(self) -> LLMMetadata:
        """The backend's context window and reply cap; a chat model."""
        backend = self._backend()
        return LLMMetadata(
            context_window=backend.n_ctx,
            num_output=backend.settings.max_tokens or DEFAULT_NUM_OUTPUTS,
            is_chat_model=True,
            model_name=backend.model_name,
        )


class OpenAICompatibleLLM(_BackendLLM):
    """Any ``/v1/chat/completions`` server (vLLM, Ollama, llama.cpp's server, OpenAI) as a LlamaIndex LLM.

    A thin layer over :class:`~vs_integrations.OpenAICompatibleModel`: no extra LlamaIndex
    package (``llama-index-llms-openai-like`` pins ``openai`` below 3, which the ``local``
    extra's ``llm`` package cannot take). Its failures are the package's typed errors
    (``BackendUnreachable``, ``ContextTooLong``, ``RequestRefused``...), and a ``response_format``
    schema goes through the backend's own form negotiation.

    Args:
        model: Model name (default ``$OPENAI_MODEL``).
        base_url: Server URL ending in ``/v1`` (default ``$OPENAI_BASE_URL``).
        api_key: Key (default ``$OPENAI_API_KEY``; a placeholder when a local server needs none).
        temperature: Sampling temperature.
        top_p: Nucleus sampling.
        max_tokens: Reply token cap (also the reply room LlamaIndex keeps when packing context).
        timeout: Seconds per request.
        max_retries: The ``openai`` client's retries.
        context_window: The served model's context size, for LlamaIndex's packing.

    Example:
        >>> llm = OpenAICompatibleLLM("qwen2.5", base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
        >>> VerbalizedLLM(llm, k=5).complete("Name a US state.").text  # doctest: +SKIP
    """

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = Field(default=None, exclude=True, repr=False)
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    max_tokens: int = DEFAULT_MAX_TOKENS
    timeout: float = 120.0
    max_retries: int = 2
    context_window: int = DEFAULT_CONTEXT_WINDOW

    _model: OpenAICompatibleModel | None = PrivateAttr(default=None)

    def __init__(self, model: str | None = None, **fields: Any) -> None:
        super().__init__(model=model, **fields)

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's registry name."""
        return "vs_openai_compatible_llm"

    def _backend(self) -> OpenAICompatibleModel:
        if self._model is None:
            self._model = OpenAICompatibleModel(
                self.model,
                base_url=self.base_url,
                api_key=self.api_key,
                temperature=self.temperature,
                top_p=self.top_p,
                max_tokens=self.max_tokens,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._model

    @property
    def metadata(self) -> LLMMetadata:
        """The configured context window and reply cap; a chat model."""
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_tokens,
            is_chat_model=True,
            model_name=self._backend().model_name,
        )


def openai_usage(reply: Reply | Usage) -> dict[str, int]:
    """A reply's (or a sum's) tokens in OpenAI's usage shape, which LlamaIndex's token counting reads."""
    return {
        "prompt_tokens": reply.prompt_tokens or 0,
        "completion_tokens": reply.completion_tokens or 0,
        "total_tokens": reply.total_tokens,
    }


def _raw(reply: Reply) -> dict[str, Any]:
    return {"usage": openai_usage(reply), "finish_reason": reply.finish_reason, "model": reply.model}


def _chat_response(reply: Reply) -> ChatResponse:
    return ChatResponse(
        message=ChatMessage(role=MessageRole.ASSISTANT, content=reply.text),
        raw=_raw(reply),
        additional_kwargs=openai_usage(reply),
    )


def _completion_response(reply: Reply) -> CompletionResponse:
    return CompletionResponse(text=reply.text, raw=_raw(reply), additional_kwargs=openai_usage(reply))


def _reply_fields(reply: Reply | None) -> dict[str, Any]:
    """A streamed response's ``raw`` and ``additional_kwargs``: the reply's, on the last response only."""
    return {} if reply is None else {"raw": _raw(reply), "additional_kwargs": openai_usage(reply)}


def _with_reply(stream: ReplyStream) -> Iterator[tuple[str, Reply | None]]:
    """The stream's pieces, the last one with the whole reply (LlamaIndex reads usage off the last response).

    Each piece goes out when the next arrives: one is held back to know which is the last.
    """
    held: str | None = None
    for piece in stream:
        if held is not None:
            yield held, None
        held = piece
    yield held or "", stream.reply


async def _in_thread(pieces: Iterator[T]) -> AsyncIterator[T]:
    """A blocking iterator read in a worker thread, one piece at a time, so the loop keeps running."""
    done = object()
    while True:
        piece = await asyncio.to_thread(next, pieces, done)
        if piece is done:
            return
        yield piece  # type: ignore[misc]  # not `done`: a T
