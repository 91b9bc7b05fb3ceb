"""``VerbalizedChatModel``: any chat model, answering with one VS-sampled candidate."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

from ..core.config import split_settings
from ..core.distribution import Distribution
from ..core.engine import VSEngine
from ._common import InnerModelSettings, child_callbacks, total_usage
from ._messages import to_core_messages
from .draw import drawn_message


class VerbalizedChatModel(InnerModelSettings, BaseChatModel):
    """A drop-in chat model: asks the inner model for k candidates and answers with one draw.

    The ``AIMessage`` content is the sampled candidate's text; the whole distribution (its
    ``to_dict()`` form) is in ``response_metadata["verbalized_distribution"]`` and the drawn
    position in ``response_metadata["sampled_index"]``. Usage metadata adds up the inner calls.
    It does not offer tool calling or structured output.

    Settings: the VS keywords (``k``, ``variant``, ``per_turn``, ``tail``, ``probability``,
    ``format``, ``max_retries``, ``on_failure``, ``seed``) or ``config=VSConfig(...)``, shown
    as :attr:`vs_config`; an unknown keyword raises :class:`~vs_integrations.SettingsError`.
    VS keywords given to a call (or ``bind``) apply to that call and never reach the inner model.

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
    max_tokens: int | None = None
    """Passed to the inner model on each call when set."""
    timeout: float | None = None
    """Passed to the inner model on each call when set."""
    stop: list[str] | None = None
    """Stop sequences passed to the inner model when set."""
    streaming: bool = False
    """LangChain's flag for running ``invoke`` through ``_stream``; the answer is one buffered
    chunk either way (the draw needs the whole distribution)."""

    _rng: random.Random = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        """Seed the draw."""
        super().model_post_init(context)
        self._rng = random.Random(self.vs_config.seed)

    @property
    def _llm_type(self) -> str:
        return "verbalized-sampling"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        inner = getattr(self.llm, "_identifying_params", {})
        return {"llm": type(self.llm).__name__, "llm_params": inner, **self.vs_config.to_dict()}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        inner = self.llm._get_ls_params(stop=stop)
        params["ls_provider"] = "verbalized_sampling"
        params["ls_model_name"] = kwargs.get("model") or inner.get("ls_model_name") or type(self.llm).__name__
        return params

    def _prepare(self, stop: list[str] | None, kwargs: dict[str, Any]) -> tuple[VSEngine, dict[str, Any]]:
        """The engine for this call (per-call VS settings applied) and the inner call's keywords."""
        vs, own = split_settings(kwargs)
        options = {"temperature": self.temperature, "max_tokens": self.max_tokens, "timeout": self.timeout}
        forwarded: dict[str, Any] = {key: value for key, value in options.items() if value is not None}
        stops = stop if stop is not None else self.stop
        if stops:
            forwarded["stop"] = stops
        return self.vs_engine(**vs), {**forwarded, **own}

    def _result(self, distribution: Distribution, replies: list[AIMessage]) -> ChatResult:
        picked = distribution.sample(self._rng)
        model_name = replies[-1].response_metadata.get("model_name") if replies else None
        message = drawn_message(
            distribution,
            picked,
            usage_metadata=total_usage(replies),
            response_metadata={"model_name": model_name or type(self.llm).__name__},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        engine, invoke = self._prepare(stop, kwargs)
        if run_manager is not None:
            invoke["config"] = {"callbacks": child_callbacks(run_manager)}
        replies: list[AIMessage] = []

        def call(core_messages: list[dict[str, str]], schema: dict[str, Any] | None) -> str:
            replies.append(self.call_inner(core_messages, schema, **invoke))
            return replies[-1].text

        distribution = engine.run(call, to_core_messages(messages))
        return self._result(distribution, replies)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        engine, invoke = self._prepare(stop, kwargs)
        if run_manager is not None:
            invoke["config"] = {"callbacks": child_callbacks(run_manager)}
        replies: list[AIMessage] = []

        async def call(core_messages: list[dict[str, str]], schema: dict[str, Any] | None) -> str:
            replies.append(await self.acall_inner(core_messages, schema, **invoke))
            return replies[-1].text

        distribution = await engine.arun(call, to_core_messages(messages))
        return self._result(distribution, replies)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # The draw needs the whole distribution, so the answer arrives as one buffered chunk.
        result = self._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        message = result.generations[0].message
        if run_manager is not None:
            run_manager.on_llm_new_token(message.text)
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content=message.content,
                usage_metadata=getattr(message, "usage_metadata", None),
                response_metadata=message.response_metadata,
                chunk_position="last",
            )
        )
