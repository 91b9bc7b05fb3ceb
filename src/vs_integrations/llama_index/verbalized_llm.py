"""``VerbalizedLLM``: any LlamaIndex LLM as one that answers with a draw from a VS distribution."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, Self

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
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import LLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.types import PydanticProgramMode
from pydantic import PrivateAttr

from ..backends.response_format import SchemaStyle, check_schema_style
from ..core.calls import GenerationSettings, ModelRequest, Reply
from ..core.config import VSConfig, resolve_config, split_settings
from ..core.distribution import Distribution, ValidPredicate
from ..core.engine import VSEngine, check_valid
from ..core.errors import SettingsError
from ._driver import adrive, check_llm, drive, engine_calls
from ._messages import to_core_messages
from .llm import openai_usage

Steps = Generator[ModelRequest, "str | Reply", Distribution]
_OWN_KEYWORDS = ("llm", "schema_style", "callback_manager", "valid")


class VerbalizedLLM(LLM):
    """Wraps a LlamaIndex LLM so every answer is one draw from a verbalized distribution.

    Each ``chat``/``complete`` asks the inner LLM for ``k`` answers with probabilities (the core
    engine: retries, top-ups, ``on_failure``), draws one, and answers with it. Chat engines
    (``SimpleChatEngine``, ``CondensePlusContextChatEngine``, ``index.as_chat_engine(llm=...)``),
    ``structured_predict`` and text agents use it as any LLM; it calls no tools.

    Where the distribution is: ``ChatResponse.additional_kwargs`` (and
    ``CompletionResponse.additional_kwargs``) hold ``verbalized_distribution``
    (``Distribution.to_dict()``) and ``sampled_index``; the drawn answer alone is the message,
    so chat memories stay small. ``raw["verbalized_usage"]`` holds the tokens of every inner call
    together and ``raw["calls"]`` one entry per inner call (``CallRecord.to_dict()``). The sum is
    also ``raw["usage"]`` (what LlamaIndex's ``TokenCountingHandler`` reads) unless a callback
    handler of this LLM is also the inner LLM's (``Settings.callback_manager`` on both): that
    handler already counted each inner call. Inside a chat engine or agent, read the response
    from LlamaIndex's instrumentation (an event handler on ``LLMChatEndEvent``).

    Per call, ``chat(messages, k=3, temperature=0.2, max_tokens=200)``: VS keywords override the
    settings for that call; ``temperature``, ``top_p``, ``max_tokens``, ``seed`` and ``stop`` are
    checked and passed to every inner call, with any other keyword. A per-call ``seed`` seeds
    both the inner calls and the draw; a per-call ``valid`` replaces this LLM's.

    Args:
        llm: The LLM that writes the candidates.
        config: A whole :class:`~vs_integrations.VSConfig` to start from.
        schema_style: How the reply's JSON Schema reaches the inner LLM as ``response_format``
            (see :class:`VerbalizedSynthesizer`; default ``auto``).
        callback_manager: LlamaIndex callbacks of this LLM (one LLM event per VS call).
        valid: Optional ``valid(text) -> bool`` on a candidate: a refused candidate is never
            drawn; it is dropped before normalisation (a warning names it, the distribution's
            ``raw`` keeps it) and counts as missing, so the top-up asks for more, naming it.
        **settings: Flat VS settings (``k``, ``tail``, ``on_failure``, ``seed``...); ``seed``
            seeds the draw (``Distribution.sample(seed)``: the same distribution and seed, the
            same answer) and the inner calls. An unknown name raises :class:`~vs_integrations.SettingsError`.

    Raises (from calls):
        VerbalizedParseError: No candidate read (a ``ParseError`` and LlamaIndex's ``OutputParserException``).
        ContextTooLong, BackendUnreachable: The inner LLM's errors saying so (the original is the cause).

    Example:
        >>> from llama_index.core.chat_engine import SimpleChatEngine
        >>> server = OpenAICompatibleLLM("qwen2.5", base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
        >>> llm = VerbalizedLLM(server, k=5)  # doctest: +SKIP
        >>> response = llm.complete("Name a US state.")  # doctest: +SKIP
        >>> response.text, response.additional_kwargs["verbalized_distribution"]["candidates"]  # doctest: +SKIP
        >>> SimpleChatEngine.from_defaults(llm=llm).chat("Tell me a joke.")  # doctest: +SKIP
    """

    llm: LLM
    schema_style: str = "auto"

    _vs_config: VSConfig = PrivateAttr()
    _valid: ValidPredicate | None = PrivateAttr(default=None)

    def __init__(
        self,
        llm: LLM,
        config: VSConfig | None = None,
        *,
        schema_style: SchemaStyle = "auto",
        callback_manager: CallbackManager | None = None,
        valid: ValidPredicate | None = None,
        **settings: Any,
    ) -> None:
        vs_config = resolve_config(config, owner="VerbalizedLLM", own=_OWN_KEYWORDS, **settings)
        check_llm("VerbalizedLLM", llm)
        check_schema_style(schema_style)
        super().__init__(  # type: ignore[call-arg]  # pydantic fields of this class
            llm=llm, schema_style=schema_style, callback_manager=callback_manager or CallbackManager([])
        )
        self._vs_config = vs_config
        self._valid = check_valid(valid, "VerbalizedLLM")

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's registry name."""
        return "verbalized_llm"

    def to_dict(self, **kwargs: Any) -> dict[str, Any]:
        """LlamaIndex's dict of this LLM, with the VS settings under ``vs_config`` (``valid`` is not kept)."""
        return {**super().to_dict(**kwargs), "vs_config": self._vs_config.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> Self:
        """Rebuild from :meth:`to_dict`'s dict; pass the inner LLM as ``llm=`` (a dict cannot rebuild it).

        Raises:
            SettingsError: When ``vs_config`` is missing (a dict not from :meth:`to_dict`: the VS
                settings would silently be the defaults) or ``llm`` is not a LlamaIndex LLM.

        Example:
            >>> data = VerbalizedLLM(inner, k=3).to_dict()  # doctest: +SKIP
            >>> VerbalizedLLM.from_dict(data, llm=inner).vs_config.k  # doctest: +SKIP
            3
        """
        data = {**data, **kwargs}
        data.pop("class_name", None)
        settings = data.pop("vs_config", None)
        if not isinstance(settings, dict):
            raise SettingsError(
                "VerbalizedLLM.from_dict: the data has no 'vs_config' (VerbalizedLLM.to_dict() writes it); "
                "without it every VS setting would silently be the default",
                field="vs_config",
            )
        system_prompt = data.pop("system_prompt", None)
        mode = data.pop("pydantic_program_mode", None)
        llm = data.pop("llm", None)
        check_llm("VerbalizedLLM.from_dict (pass the inner LLM as llm=...)", llm)
        rebuilt = cls(llm, VSConfig(**settings), **data)
        rebuilt.system_prompt = system_prompt
        if mode is not None:
            rebuilt.pydantic_program_mode = PydanticProgramMode(mode)
        return rebuilt

    @property
    def vs_config(self) -> VSConfig:
        """The VS settings (read-only)."""
        return self._vs_config

    @property
    def metadata(self) -> LLMMetadata:
        """The inner LLM's window and model name; a chat model that calls no tools."""
        inner = self.llm.metadata
        return LLMMetadata(
            context_window=inner.context_window,
            num_output=inner.num_output,
            is_chat_model=True,
            is_function_calling_model=False,
            model_name=inner.model_name,
            system_role=inner.system_role,
        )

    def _plan(
        self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]
    ) -> tuple[Steps, dict[str, Any], int | None]:
        """The engine steps, the inner calls' keywords and the draw's seed (the call's, else the LLM's)."""
        vs, rest = split_settings(kwargs)
        valid = rest.pop("valid", None) or self._valid
        config = resolve_config(vs.pop("config", None) or self._vs_config, owner="VerbalizedLLM call", **vs)
        names = GenerationSettings.names()
        settings = GenerationSettings(**{name: rest.pop(name) for name in names if name in rest})
        if "seed" in vs:
            settings = settings.updated(seed=vs["seed"])
        steps = VSEngine(config, valid=valid).steps(to_core_messages(messages), settings=settings)
        return steps, rest, config.seed

    def _chat_response(self, distribution: Distribution, seed: int | None) -> ChatResponse:
        picked = distribution.sample(seed)
        total = openai_usage(distribution.usage)  # always under a key no handler reads
        raw: dict[str, Any] = {"verbalized_usage": total, "calls": [record.to_dict() for record in distribution.calls]}
        # A handler on both LLMs already counted each inner call: the sum again under "usage"
        # (what TokenCountingHandler reads) would count every token twice.
        if not self._shares_handlers():
            raw["usage"] = total
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=picked.text),
            raw=raw,
            additional_kwargs={"verbalized_distribution": distribution.to_dict(), "sampled_index": picked.index},
        )

    def _shares_handlers(self) -> bool:
        """Whether a callback handler of this LLM also gets the inner LLM's events."""
        inner = {id(handler) for handler in self.llm.callback_manager.handlers}
        return any(id(handler) in inner for handler in self.callback_manager.handlers)

    def _sample(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> ChatResponse:
        steps, call_kwargs, seed = self._plan(messages, kwargs)
        distribution = drive(self.llm, engine_calls(self.llm, steps, self.schema_style, call_kwargs))
        return self._chat_response(distribution, seed)

    async def _asample(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> ChatResponse:
        steps, call_kwargs, seed = self._plan(messages, kwargs)
        distribution = await adrive(self.llm, engine_calls(self.llm, steps, self.schema_style, call_kwargs))
        return self._chat_response(distribution, seed)

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Ask for the distribution over replies to ``messages``; answer with one draw."""
        return self._sample(messages, kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async twin of :meth:`chat` (the inner LLM's ``achat``)."""
        return await self._asample(messages, kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """:meth:`chat` as a stream of one chunk: the draw needs the whole distribution first."""

        def one_chunk() -> ChatResponseGen:
            response = self._sample(messages, kwargs)
            yield response.model_copy(update={"delta": response.message.content})

        return one_chunk()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        """Async twin of :meth:`stream_chat`."""

        async def one_chunk() -> ChatResponseAsyncGen:
            response = await self._asample(messages, kwargs)
            yield response.model_copy(update={"delta": response.message.content})

        return one_chunk()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """:meth:`chat` with ``prompt`` as one user turn."""
        return _completion(self._sample([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Async twin of :meth:`complete`."""
        return _completion(await self._asample([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        """:meth:`complete` as a stream of one chunk."""

        def one_chunk() -> CompletionResponseGen:
            response = _completion(self._sample([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs))
            yield response.model_copy(update={"delta": response.text})

        return one_chunk()

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        """Async twin of :meth:`stream_complete`."""

        async def one_chunk() -> CompletionResponseAsyncGen:
            chat = await self._asample([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs)
            response = _completion(chat)
            yield response.model_copy(update={"delta": response.text})

        return one_chunk()


def _completion(response: ChatResponse) -> CompletionResponse:
    return CompletionResponse(
        text=response.message.content or "", raw=response.raw, additional_kwargs=response.additional_kwargs
    )
