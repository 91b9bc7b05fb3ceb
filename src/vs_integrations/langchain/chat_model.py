"""``VerbalizedChatModel``: any chat model, answering with one VS-sampled candidate."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, NoReturn

from langchain_core.caches import BaseCache
from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    BaseCallbackHandler,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.callbacks.manager import AsyncRunManager, RunManager
from langchain_core.callbacks.usage import UsageMetadataCallbackHandler
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, patch_config
from langchain_core.tracers.langchain import LangChainTracer
from pydantic import Field, model_validator

from ..core.calls import GenerationSettings, Reply
from ..core.distribution import Distribution
from ..core.engine import VSEngine
from ._common import (
    InnerModelSettings,
    amapped_errors,
    child_callbacks,
    mapped_errors,
    split_call_keywords,
    total_usage,
)
from ._messages import to_core_messages
from .draw import drawn_message

# The config of the invoke/ainvoke running now, by model: LangChain hands _generate only the
# callbacks, and the inner model needs the rest (configurable, recursion_limit, tags, metadata).
_CALLER_CONFIG: ContextVar[tuple[int, RunnableConfig] | None] = ContextVar("vs_chat_model_config", default=None)
# Handlers that add up the usage of every LLM run they see, nested ones included: they get each
# inner call's usage, so the wrapper's sum on its own run would count every token twice.
_USAGE_COUNTERS = (UsageMetadataCallbackHandler, LangChainTracer)


class VerbalizedChatModel(InnerModelSettings, BaseChatModel):
    """A drop-in chat model: asks the inner model for k candidates and answers with one draw.

    The ``AIMessage`` content is the sampled candidate's text; the whole distribution (its
    ``to_dict()`` form) is in ``response_metadata["verbalized_distribution"]``, the drawn
    position in ``response_metadata["sampled_index"]`` and the inner calls' summed usage in
    ``response_metadata["verbalized_usage"]``. ``usage_metadata`` carries that sum too (in a
    LangGraph graph as well), unless a handler that adds up every run's usage is attached
    (``get_usage_metadata_callback``'s, LangSmith's tracer): it already receives each inner
    call's usage, so the wrapper does not report it twice.

    The call's config reaches the inner model (``configurable``, ``recursion_limit``,
    ``max_concurrency``, tags and metadata), its runs nested under this one, so ``llm`` may be a
    configurable Runnable configured per call.

    ``llm`` is any chat model or chat-model Runnable (``bind``, ``with_retry``,
    ``with_fallbacks``, configurable). It does not offer tool calling or structured output
    (``bind_tools`` and ``with_structured_output`` raise, saying what to use instead); an agent's
    history (tool calls, tool results, custom roles) is rendered as text (see the LangChain page
    of the docs).

    Settings: the VS keywords (``k``, ``variant``, ``per_turn``, ``tail``, ``probability``,
    ``format``, ``max_retries``, ``on_failure``, ``seed``) or ``config=VSConfig(...)``, shown
    as :attr:`vs_config`; an unknown keyword raises :class:`~vs_integrations.SettingsError`.
    VS keywords given to a call (or ``bind``) apply to that call and never reach the inner
    model; ``temperature``, ``top_p``, ``max_tokens``, ``stop`` (checked by
    :class:`~vs_integrations.GenerationSettings`) and any other keyword go to the inner model.
    ``seed`` seeds the draw: ``Distribution.sample(seed)``, so the same seed picks the same
    candidate of the same distribution; None draws afresh.
    ``valid=fn`` (a ``valid(text) -> bool`` on a candidate's text; also per call or ``bind``)
    drops the candidates it refuses before the draw: a warning names them, the distribution's
    ``raw`` keeps them, and the top-up asks for more, naming them.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> reply = '{"responses": [{"text": "Espresso yourself.", "probability": 1.0}]}'
        >>> chat = VerbalizedChatModel(llm=GenericFakeChatModel(messages=iter([reply])), k=1)
        >>> chat.invoke("Tell a joke about coffee.").content
        'Espresso yourself.'
    """

    cache: BaseCache | bool | None = Field(default=False, exclude=True)
    """Off by default: a cached answer would freeze one draw. The inner model's replies still
    go through the LLM cache, and each call draws afresh from them."""
    temperature: float | None = None
    """Passed to the inner model on each call when set."""
    top_p: float | None = None
    """Passed to the inner model on each call when set."""
    max_tokens: int | None = None
    """Passed to the inner model on each call when set."""
    timeout: float | None = None
    """Passed to the inner model on each call when set."""
    stop: list[str] | None = None
    """Stop sequences passed to the inner model when set."""
    streaming: bool = False
    """LangChain's flag for running ``invoke`` through ``_stream``; the answer is one buffered
    chunk either way (the draw needs the whole distribution)."""

    @model_validator(mode="after")
    def _generation_settings_in_range(self) -> VerbalizedChatModel:
        GenerationSettings(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            stop=tuple(self.stop) if self.stop is not None else None,
        )
        return self

    @property
    def _llm_type(self) -> str:
        return "verbalized-sampling"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        chat = self.chat_model
        inner = getattr(chat, "_identifying_params", {}) if chat is not None else {}
        # ``valid`` by name (a function has no stable value): a cache keyed on these tells checks apart.
        valid = self.valid
        name = None if valid is None else getattr(valid, "__qualname__", type(valid).__qualname__)
        where = getattr(valid, "__module__", None)
        return {
            "llm": self.llm.get_name(),
            "llm_params": inner,
            **self.vs_config.to_dict(),
            "valid": f"{where}.{name}" if where and name else name,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        chat = self.chat_model
        inner = chat._get_ls_params(stop=stop) if chat is not None else {}
        params["ls_provider"] = "verbalized_sampling"
        params["ls_model_name"] = kwargs.get("model") or inner.get("ls_model_name") or self.llm.get_name()
        return params

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> NoReturn:
        """Refused: a VS answer is a drawn text, never a tool call.

        Raises:
            NotImplementedError: Saying what to do instead.
        """
        raise NotImplementedError(
            "VerbalizedChatModel does not call tools: a VS answer is one text drawn from k candidates. "
            "Bind the tools to the inner model and use it for the tool-calling steps "
            "(e.g. llm.bind_tools(tools)); use VerbalizedChatModel (or VerbalizedSampler) for the steps "
            "whose text answer should be diverse. Agent histories with tool calls and results are accepted "
            "as input."
        )

    def with_structured_output(self, schema: Any, *, include_raw: bool = False, **kwargs: Any) -> NoReturn:
        """Refused: a VS answer is one text drawn from k candidates, not an object of a schema.

        Raises:
            NotImplementedError: Saying what to do instead.
        """
        raise NotImplementedError(
            "VerbalizedChatModel does not offer with_structured_output: its answer is one text drawn from k "
            "verbalized candidates. For structured answers, either call with_structured_output on the inner "
            "model (llm.with_structured_output(schema)) for the steps that need an object, or sample texts with "
            "VerbalizedSampler and parse the drawn one yourself (VerbalizedSampler(llm=llm, k=5) | draw | "
            "PydanticOutputParser(pydantic_object=schema)), asking for the object's JSON in the prompt."
        )

    def _prepare(
        self, stop: list[str] | None, kwargs: dict[str, Any], run_manager: RunManager | AsyncRunManager | None
    ) -> tuple[VSEngine, RunnableConfig, dict[str, Any]]:
        """The engine for this call, the inner calls' config and the inner calls' keywords."""
        valid = kwargs.pop("valid", None)
        vs, generation, rest = split_call_keywords(type(self).__name__, kwargs)
        options = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "timeout": self.timeout,
            "stop": stop if stop is not None else self.stop,
        }
        forwarded = {key: value for key, value in options.items() if value is not None and value != []}
        held = _CALLER_CONFIG.get()
        caller: RunnableConfig = held[1] if held is not None and held[0] == id(self) else {}
        # As LangChain's get_child: the caller's config with this run's child callbacks (run_name
        # and run_id name this run only, so patch_config drops them). Without a run manager
        # (LangChain's _stream path) the inner runs report to the caller's callbacks.
        callbacks = child_callbacks(run_manager) if run_manager is not None else None
        config = patch_config(caller, callbacks=callbacks)
        return self.vs_engine(valid, **vs), config, {**forwarded, **generation, **rest}

    def _result(
        self,
        engine: VSEngine,
        distribution: Distribution,
        replies: list[AIMessage],
        run_manager: RunManager | AsyncRunManager | None,
    ) -> ChatResult:
        picked = distribution.sample(engine.config.seed)
        model_name = replies[-1].response_metadata.get("model_name") if replies else None
        usage = total_usage(replies)
        counted = any(isinstance(handler, _USAGE_COUNTERS) for handler in self._handlers(run_manager))
        message = drawn_message(
            distribution,
            picked,
            usage_metadata=None if counted else usage,
            response_metadata={
                "model_name": model_name or self.llm.get_name(),
                "verbalized_usage": dict(usage) if usage is not None else None,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _handlers(self, run_manager: RunManager | AsyncRunManager | None) -> list[BaseCallbackHandler]:
        """The handlers this run reports to.

        Its run manager's, else (LangChain streams through ``_stream`` without one) those LangChain
        configures from the caller's config (context hooks such as ``get_usage_metadata_callback``
        and tracing included), which the inner runs get too.
        """
        if run_manager is not None:
            return list(run_manager.inheritable_handlers)
        held = _CALLER_CONFIG.get()
        callbacks = held[1].get("callbacks") if held is not None and held[0] == id(self) else None
        return list(CallbackManager.configure(inheritable_callbacks=callbacks).handlers)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        engine, config, invoke = self._prepare(stop, kwargs, run_manager)
        replies: list[AIMessage] = []

        def call(core_messages: list[dict[str, str]], schema: dict[str, Any] | None) -> Reply:
            message, reply = self.call_inner(core_messages, schema, config, **invoke)
            replies.append(message)
            return reply

        distribution = mapped_errors(lambda: engine.run(call, to_core_messages(messages)))
        return self._result(engine, distribution, replies, run_manager)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        engine, config, invoke = self._prepare(stop, kwargs, run_manager)
        replies: list[AIMessage] = []

        async def call(core_messages: list[dict[str, str]], schema: dict[str, Any] | None) -> Reply:
            message, reply = await self.acall_inner(core_messages, schema, config, **invoke)
            replies.append(message)
            return reply

        distribution = await amapped_errors(lambda: engine.arun(call, to_core_messages(messages)))
        return self._result(engine, distribution, replies, run_manager)

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """LangChain's ``invoke``, keeping ``config`` for the inner calls (see the class docstring)."""
        held = _CALLER_CONFIG.set((id(self), ensure_config(config)))
        try:
            return super().invoke(input, config, stop=stop, **kwargs)
        finally:
            _CALLER_CONFIG.reset(held)

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Async twin of :meth:`invoke`."""
        held = _CALLER_CONFIG.set((id(self), ensure_config(config)))
        try:
            return await super().ainvoke(input, config, stop=stop, **kwargs)
        finally:
            _CALLER_CONFIG.reset(held)

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """The answer as one chunk (the draw needs the whole distribution).

        It runs as :meth:`invoke` does: LangChain's ``stream`` gives ``_stream`` no run manager,
        so the inner calls would not nest under this run, nor would attached callbacks see
        their usage once. Streaming callbacks (``astream_events``, LangGraph's message stream)
        still receive the answer as a token.
        """
        yield _as_chunk(self.invoke(input, config, stop=stop, **kwargs))

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """Async twin of :meth:`stream`."""
        yield _as_chunk(await self.ainvoke(input, config, stop=stop, **kwargs))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # The draw needs the whole distribution, so the answer arrives as one buffered chunk.
        result = self._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        chunk = _one_chunk(result)
        if run_manager is not None:
            run_manager.on_llm_new_token(chunk.text, chunk=chunk)
        yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        result = await self._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)
        chunk = _one_chunk(result)
        if run_manager is not None:
            await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
        yield chunk


def _as_chunk(message: BaseMessage) -> AIMessageChunk:
    """``message`` as the one, last chunk of a stream."""
    return AIMessageChunk(
        content=message.content,
        id=message.id,
        usage_metadata=getattr(message, "usage_metadata", None),
        response_metadata=message.response_metadata,
        chunk_position="last",
    )


def _one_chunk(result: ChatResult) -> ChatGenerationChunk:
    """The answer of ``result`` as the one, last generation chunk of a stream."""
    return ChatGenerationChunk(message=_as_chunk(result.generations[0].message))
