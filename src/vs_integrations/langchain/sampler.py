"""``VerbalizedSampler``: a Runnable from chat-model input to a VS ``Distribution``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
    patch_config,
)
from pydantic import Field

from ..core.distribution import Candidate, Distribution
from ..core.parser import StreamParser
from ._common import VSSettings, default_llm, to_core_messages, to_langchain_messages


class VerbalizedSampler(VSSettings, RunnableSerializable[LanguageModelInput, Distribution]):
    """Sits where a chat model sits and returns the verbalized distribution.

    Input is whatever a chat model takes (a str, a ``PromptValue`` or messages), so
    ``prompt | VerbalizedSampler(k=5)`` works. ``invoke`` returns the core
    :class:`~vs_integrations.Distribution`; ``stream`` yields each
    :class:`~vs_integrations.Candidate` as soon as the inner model's stream completes it. The
    inner model's runs nest under the sampler's run in callbacks and traces.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.prompts import ChatPromptTemplate
        >>> reply = '{"responses": [{"text": "Ohio", "probability": 0.5}, {"text": "Utah", "probability": 0.5}]}'
        >>> sampler = VerbalizedSampler(llm=GenericFakeChatModel(messages=iter([reply])), k=2)
        >>> chain = ChatPromptTemplate.from_messages([("human", "Name a {thing}.")]) | sampler
        >>> chain.invoke({"thing": "US state"}).texts
        ['Ohio', 'Utah']
    """

    llm: BaseChatModel = Field(default_factory=default_llm)
    """The inner chat model (default: the embedded SmolLM2-135M)."""

    def model_post_init(self, context: Any) -> None:
        """Validate the VS settings now, not at the first call."""
        super().model_post_init(context)
        self.vs_config()

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """The sampler's settings serialise; the inner model serialises if it can."""
        return True

    @property
    def InputType(self) -> Any:
        """Chat-model input."""
        return LanguageModelInput

    @property
    def OutputType(self) -> type[Distribution]:
        """A :class:`~vs_integrations.Distribution`."""
        return Distribution

    # -- invoke ------------------------------------------------------------------------------
    def _run(
        self, input: LanguageModelInput, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Distribution:
        child = patch_config(config, callbacks=run_manager.get_child())

        def call(messages: list[dict[str, str]], schema: dict[str, Any] | None) -> str:
            return self.call_inner(self.llm, messages, schema, config=child).text

        return self.vs_engine().run(call, to_core_messages(to_langchain_messages(input)))

    async def _arun(
        self, input: LanguageModelInput, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> Distribution:
        child = patch_config(config, callbacks=run_manager.get_child())

        async def call(messages: list[dict[str, str]], schema: dict[str, Any] | None) -> str:
            return (await self.acall_inner(self.llm, messages, schema, config=child)).text

        return await self.vs_engine().arun(call, to_core_messages(to_langchain_messages(input)))

    def invoke(self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any) -> Distribution:
        """Ask for the distribution; raises ``ParseError`` (carrying ``.raw``) on failure."""
        return self._call_with_config(self._run, input, config, run_type="chain")

    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Distribution:
        """Async twin of :meth:`invoke`."""
        return await self._acall_with_config(self._arun, input, config, run_type="chain")

    # -- stream ------------------------------------------------------------------------------
    def _candidates(
        self, input: LanguageModelInput, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Generator[Candidate, None, Distribution]:
        child = patch_config(config, callbacks=run_manager.get_child())
        steps = self.vs_engine().steps(to_core_messages(to_langchain_messages(input)))
        request = next(steps)
        seen: set[str] = set()
        while True:
            messages, schema = request
            parser = StreamParser(self.vs_config())
            reply: list[str] = []
            for chunk in self.llm.stream(messages, config=child, **self._schema_kwargs(schema)):
                reply.append(chunk.text)
                yield from _fresh(parser.feed(chunk.text), seen)
            try:
                request = steps.send("".join(reply))
            except StopIteration as done:
                distribution: Distribution = done.value
                return distribution

    async def _acandidates(
        self, input: LanguageModelInput, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> AsyncIterator[Candidate | Distribution]:
        """Yields the candidates, then the distribution (async generators cannot return it)."""
        child = patch_config(config, callbacks=run_manager.get_child())
        steps = self.vs_engine().steps(to_core_messages(to_langchain_messages(input)))
        request = next(steps)
        seen: set[str] = set()
        while True:
            messages, schema = request
            parser = StreamParser(self.vs_config())
            reply: list[str] = []
            async for chunk in self.llm.astream(messages, config=child, **self._schema_kwargs(schema)):
                reply.append(chunk.text)
                for candidate in _fresh(parser.feed(chunk.text), seen):
                    yield candidate
            try:
                request = steps.send("".join(reply))
            except StopIteration as done:
                yield done.value
                return

    def _schema_kwargs(self, schema: dict[str, Any] | None) -> dict[str, Any]:
        # A stream cannot retry a refused response_format mid-way: use the learnt or chosen form.
        if schema is None:
            return {}
        attempts = self._attempts(schema, {})
        return attempts[0][1] if self._learnt_style or self.schema_style != "auto" else attempts[-1][1]

    # Streams candidates, not partial distributions: the contract, so the override's
    # return type differs from Runnable's.
    def stream(  # type: ignore[override]
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Candidate]:
        """Yield each candidate once the inner model's stream completes it (retries included).

        The run's traced output is the final distribution.
        """
        config = ensure_config(config)
        run_manager = get_callback_manager_for_config(config).on_chain_start(
            None, input, name=config.get("run_name") or self.get_name(), run_id=config.pop("run_id", None)
        )
        try:
            distribution = yield from self._candidates(input, run_manager, config)
        except BaseException as exc:
            run_manager.on_chain_error(exc)
            raise
        run_manager.on_chain_end(distribution)

    async def astream(  # type: ignore[override]
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Candidate]:
        """Async twin of :meth:`stream`."""
        config = ensure_config(config)
        run_manager = await get_async_callback_manager_for_config(config).on_chain_start(
            None, input, name=config.get("run_name") or self.get_name(), run_id=config.pop("run_id", None)
        )
        try:
            async for item in self._acandidates(input, run_manager, config):
                if isinstance(item, Distribution):
                    await run_manager.on_chain_end(item)
                else:
                    yield item
        except BaseException as exc:
            await run_manager.on_chain_error(exc)
            raise


def _fresh(candidates: list[Candidate], seen: set[str]) -> Iterator[Candidate]:
    """Candidates not yielded before (retries and later turns repeat some)."""
    for candidate in candidates:
        key = candidate.text.casefold()
        if key not in seen:
            seen.add(key)
            yield candidate
