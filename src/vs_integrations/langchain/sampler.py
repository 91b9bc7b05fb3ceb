"""``VerbalizedSampler``: a Runnable from chat-model input to a VS ``Distribution``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import partial, reduce
from itertools import chain
from operator import add
from typing import Any, TypeVar

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessageChunk, BaseMessage, BaseMessageChunk
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from pydantic import ValidationInfo, field_validator, model_validator

from ..backends.response_format import anegotiate, negotiate
from ..core.calls import CallRecord, ModelRequest, Reply
from ..core.config import VSConfig, refuse_unknown
from ..core.distribution import Candidate, Distribution, ValidPredicate
from ..core.engine import VSEngine
from ..core.errors import InvalidSetting
from ..core.parser import Item, StreamParser, build_distribution
from ._common import (
    GENERATION_KEYWORDS,
    InnerModelSettings,
    amapped_errors,
    inner_config,
    mapped_errors,
    reply_of,
    split_call_keywords,
    with_response_format,
)
from ._errors import raise_as_framework_error
from ._messages import from_core_messages, to_core_messages, to_langchain_messages

T = TypeVar("T")


class DistributionChunk(Distribution):
    """One streamed state of a sampler's distribution: every candidate completed so far.

    Chunks are cumulative: each is a normalised :class:`~vs_integrations.Distribution` over the
    candidates the inner model's stream has completed (retries and VS-Multi turns included,
    each text once), and the last one is the distribution ``invoke`` returns (same candidates,
    ``raw`` and ``warnings``). ``new`` lists the candidates this chunk added. Adding two chunks,
    which is how LCEL folds a stream, gives the later state with both chunks' new candidates, so
    a folded stream equals its last chunk.

    Example:
        >>> from vs_integrations import Candidate
        >>> first = DistributionChunk([Candidate("a", 1.0, 0.5, 0)], new=[Candidate("a", 1.0, 0.5, 0)])
        >>> both = [Candidate("a", 0.5, 0.5, 0), Candidate("b", 0.5, 0.5, 1)]
        >>> folded = first + DistributionChunk(both, new=both[1:])
        >>> folded.texts, [c.text for c in folded.new]
        (['a', 'b'], ['a', 'b'])
    """

    __slots__ = ("new",)

    def __init__(
        self,
        candidates: Sequence[Candidate],
        *,
        new: Sequence[Candidate] = (),
        raw: str = "",
        warnings: Sequence[str] = (),
        truncated: bool = False,
        reasoning: str | None = None,
        calls: Sequence[CallRecord] = (),
    ) -> None:
        super().__init__(candidates, raw=raw, warnings=warnings, truncated=truncated, reasoning=reasoning, calls=calls)
        self.new: tuple[Candidate, ...] = tuple(new)

    @classmethod
    def of(cls, distribution: Distribution, new: Iterable[Candidate]) -> DistributionChunk:
        """``distribution`` (all it holds, trace included) as a chunk whose new candidates are ``new``."""
        return cls(**{**distribution._asdict(), "new": tuple(new)})

    def __add__(self, other: object) -> DistributionChunk:
        if not isinstance(other, DistributionChunk):
            return NotImplemented
        return DistributionChunk.of(other, self.new + other.new)

    def __repr__(self) -> str:
        inner = ", ".join(f"{c.text[:30]!r}: {c.probability:.3f}" for c in self)
        return f"DistributionChunk({inner}; new={[c.text[:30] for c in self.new]!r})"


def _added_up(chunks: list[BaseMessageChunk]) -> BaseMessageChunk:
    """The chunks of one reply as one message, added once at its end.

    Adding each chunk as it came copied the growing message every time (quadratic in the chunks).
    """
    if not chunks:
        return AIMessageChunk(content="")
    first, *rest = chunks
    if isinstance(first, AIMessageChunk) and all(isinstance(chunk, AIMessageChunk) for chunk in rest):
        return first + rest  # AIMessageChunk adds a whole list in one pass
    return reduce(add, rest, first)


class _StreamRun:
    """One streamed sampling run: the engine's steps and the chunks read so far.

    Sync and async drivers share it; they only open the inner streams and pass the chunks on.
    """

    def __init__(
        self, steps: Generator[ModelRequest, str | Reply, Distribution], config: VSConfig, valid: ValidPredicate | None
    ) -> None:
        self._steps = steps
        self._config = config
        self._valid = valid
        self._request: ModelRequest = next(steps)
        self._replies: list[str] = []
        self._pieces: list[str] = []
        self._chunks: list[BaseMessageChunk] = []  # the reply's chunks, added up once it ends, for their metadata
        self._started = time.perf_counter()
        self._parser = StreamParser(config)
        self._items: list[Item] = []
        self._seen: set[str] = set()
        self.done = False
        """Whether the engine ended the run (:meth:`end_reply` returned the final chunk)."""

    @property
    def request(self) -> ModelRequest:
        """The request to stream next (until :attr:`done`)."""
        return self._request

    def feed(self, piece: BaseMessage) -> list[DistributionChunk]:
        """Add a streamed chunk; the new state (one, or none) when it completed a candidate not seen before."""
        text = piece.text
        self._pieces.append(text)
        if isinstance(piece, BaseMessageChunk):
            self._chunks.append(piece)
        # Only candidates valid accepts are shown; the engine judges (and names) them again at the end.
        fresh = [
            c
            for c in self._parser.feed(text)
            if c.text.casefold() not in self._seen and (self._valid is None or self._valid(c.text))
        ]
        if not fresh:
            return []
        for candidate in fresh:
            self._seen.add(candidate.text.casefold())
            self._items.append(Item(candidate.text, candidate.raw_probability, len(self._items)))
        raw = "\n\n".join([*self._replies, "".join(self._pieces)])
        state = build_distribution(self._items, self._config, raw=raw)
        added = {c.text.casefold() for c in fresh}
        return [DistributionChunk.of(state, [c for c in state if c.text.casefold() in added])]

    def end_reply(self, schema_form: str | None) -> list[DistributionChunk]:
        """The reply is complete: send it to the engine; the final chunk (alone) when the run is over.

        The engine gets the chunks' text with their summed usage, finish reason and model (see
        :func:`~._common.reply_of`), timed from the request to the last chunk.
        """
        seconds = time.perf_counter() - self._started
        text = "".join(self._pieces)
        reply = replace(reply_of(_added_up(self._chunks), seconds, schema_form), text=text)
        self._replies.append(text)
        self._pieces = []
        self._chunks = []
        self._parser = StreamParser(self._config)
        try:
            self._request = self._steps.send(reply)
            self._started = time.perf_counter()
        except StopIteration as done:
            self.done = True
            result: Distribution = done.value
            return [DistributionChunk.of(result, [c for c in result if c.text.casefold() not in self._seen])]
        return []


class VerbalizedSampler(InnerModelSettings, RunnableSerializable[LanguageModelInput, Distribution]):
    """Sits where a chat model sits and returns the verbalized distribution.

    Input is whatever a chat model takes (a str, a ``PromptValue`` or messages), so
    ``prompt | VerbalizedSampler(k=5)`` works. ``invoke`` returns the core
    :class:`~vs_integrations.Distribution`; ``stream`` yields :class:`DistributionChunk` states
    as the inner model's stream completes candidates, the last one equal to what ``invoke``
    returns, so the step after the sampler receives the distribution when the chain is
    streamed. Append :func:`draw` for one drawn answer. The inner model's runs nest under the
    sampler's run in callbacks and traces, tagged ``nostream`` (LangGraph's message stream leaves
    their raw replies out).

    Settings: the VS keywords (``k``, ``variant``, ``per_turn``, ``tail``, ``probability``,
    ``format``, ``max_retries``, ``on_failure``, ``seed``) or ``config=VSConfig(...)``, shown
    as :attr:`vs_config`; an unknown keyword raises :class:`~vs_integrations.SettingsError`.
    VS keywords given to ``invoke``/``stream`` (or ``bind``) apply to that call, and so do
    ``temperature``, ``top_p``, ``max_tokens`` and ``stop``, sent to the inner model (checked
    by :class:`~vs_integrations.GenerationSettings`); any other keyword is refused by name.
    ``valid=fn`` (a ``valid(text) -> bool`` on a candidate's text, also per call) drops the
    candidates it refuses: a warning names them, ``raw`` keeps them, and the top-up asks for
    more, naming them; ``k`` and ``distinct`` then count valid candidates. A stream shows only
    valid candidates.

    ``distinct=N`` runs :meth:`VSEngine.distinct <vs_integrations.VSEngine.distinct>` instead of
    one VS call: it keeps asking (``k`` a call, each later call listing the candidates held) until
    ``N`` distinct candidates are held, within ``max_calls`` (default ``2 * ceil(N / k) + 1``),
    and returns them as one merged distribution; ``batch`` and ``stream`` do the same, the stream
    yielding a chunk as each new candidate completes, across the calls.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.prompts import ChatPromptTemplate
        >>> reply = '{"responses": [{"text": "Ohio", "probability": 0.5}, {"text": "Utah", "probability": 0.5}]}'
        >>> sampler = VerbalizedSampler(llm=GenericFakeChatModel(messages=iter([reply])), k=2)
        >>> chain = ChatPromptTemplate.from_messages([("human", "Name a {thing}.")]) | sampler
        >>> chain.invoke({"thing": "US state"}).texts
        ['Ohio', 'Utah']
        >>> more = '{"responses": [{"text": "Iowa", "probability": 1.0}]}'
        >>> pooled = VerbalizedSampler(llm=GenericFakeChatModel(messages=iter([reply, more])), k=2, distinct=3)
        >>> pooled.invoke("Name a US state.").texts
        ['Ohio', 'Utah', 'Iowa']
    """

    distinct: int | None = None
    """Collect this many distinct candidates over several calls (None: one VS call)."""
    max_calls: int | None = None
    """The call budget of ``distinct`` (None: ``2 * ceil(distinct / k) + 1``)."""

    @field_validator("distinct", "max_calls", mode="before")
    @classmethod
    def _positive_or_none(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            name = str(info.field_name)
            raise InvalidSetting(f"{name} must be a positive integer or None; got {value!r}", field=name)
        return value

    @model_validator(mode="after")
    def _max_calls_needs_distinct(self) -> VerbalizedSampler:
        if self.max_calls is not None and self.distinct is None:
            raise InvalidSetting(
                "max_calls applies only with distinct=N (one VS call's budget is max_retries)", field="max_calls"
            )
        return self

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
    def _prepare(self, kwargs: dict[str, Any]) -> tuple[VSEngine, dict[str, Any]]:
        """The engine for a call's VS keywords (and ``valid``) and the inner calls' generation keywords."""
        valid = kwargs.pop("valid", None)
        vs, generation, rest = split_call_keywords(type(self).__name__, kwargs)
        refuse_unknown(rest, type(self).__name__, (*GENERATION_KEYWORDS, "valid"))
        return self.vs_engine(valid, **vs), generation

    def _run(
        self, input: LanguageModelInput, run_manager: CallbackManagerForChainRun, config: RunnableConfig, **kwargs: Any
    ) -> Distribution:
        engine, generation = self._prepare(kwargs)
        child = patch_config(config, callbacks=run_manager.get_child())

        def call(messages: list[dict[str, str]], schema: dict[str, Any] | None) -> Reply:
            return self.call_inner(messages, schema, child, **generation)[1]

        messages = to_core_messages(to_langchain_messages(input))
        wanted = self.distinct
        if wanted is None:
            return mapped_errors(lambda: engine.run(call, messages))
        return mapped_errors(lambda: engine.distinct(call, messages, wanted, max_calls=self.max_calls))

    async def _arun(
        self,
        input: LanguageModelInput,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Distribution:
        engine, generation = self._prepare(kwargs)
        child = patch_config(config, callbacks=run_manager.get_child())

        async def call(messages: list[dict[str, str]], schema: dict[str, Any] | None) -> Reply:
            return (await self.acall_inner(messages, schema, child, **generation))[1]

        messages = to_core_messages(to_langchain_messages(input))
        wanted = self.distinct
        if wanted is None:
            return await amapped_errors(lambda: engine.arun(call, messages))
        return await amapped_errors(lambda: engine.adistinct(call, messages, wanted, max_calls=self.max_calls))

    def invoke(self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any) -> Distribution:
        """Ask for the distribution; ``kwargs`` are VS and generation settings for this call only.

        Raises:
            ParseError: When no reply held a candidate (carrying ``.raw``), or fewer than ``k``
                with ``on_failure="raise"``; it is also LangChain's ``OutputParserException``.
            SettingsError: When a keyword is not a VS or generation setting.
        """
        return self._call_with_config(self._run, input, config, run_type="chain", **kwargs)

    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Distribution:
        """Async twin of :meth:`invoke`."""
        return await self._acall_with_config(self._arun, input, config, run_type="chain", **kwargs)

    # -- stream ------------------------------------------------------------------------------
    def _start(self, inputs: Iterable[LanguageModelInput], engine: VSEngine) -> _StreamRun:
        messages = to_core_messages(to_langchain_messages(_fold(inputs)))
        steps = engine.steps(messages, distinct=self.distinct, max_calls=self.max_calls)
        return _StreamRun(steps, engine.config, engine.valid)

    def _open(
        self,
        messages: list[BaseMessage],
        config: RunnableConfig,
        generation: dict[str, Any],
        form: dict[str, Any] | None,
    ) -> Iterator[BaseMessage]:
        """Start an inner stream, its first chunk read already (so a refused form raises here)."""
        iterator = iter(self.llm.stream(messages, config, **with_response_format(generation, form)))
        first = next(iterator, None)
        return iterator if first is None else chain([first], iterator)

    async def _aopen(
        self,
        messages: list[BaseMessage],
        config: RunnableConfig,
        generation: dict[str, Any],
        form: dict[str, Any] | None,
    ) -> AsyncIterator[BaseMessage]:
        """Async twin of :meth:`_open`."""
        iterator = aiter(self.llm.astream(messages, config, **with_response_format(generation, form)))
        try:
            first = await anext(iterator)
        except StopAsyncIteration:
            return iterator
        return _prepended(first, iterator)

    def _chunks(
        self,
        inputs: Iterator[LanguageModelInput],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[DistributionChunk]:
        engine, generation = self._prepare(kwargs)
        child = inner_config(patch_config(config, callbacks=run_manager.get_child()))
        try:
            run = self._start(inputs, engine)
            while not run.done:
                messages, schema = run.request
                opener = partial(self._open, from_core_messages(messages), child, generation)
                negotiation = self.negotiation(schema)
                for piece in negotiate(negotiation, opener):
                    yield from run.feed(piece)
                yield from run.end_reply(negotiation.style)
        except Exception as exc:
            raise_as_framework_error(exc)
            raise

    async def _achunks(
        self,
        inputs: AsyncIterator[LanguageModelInput],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[DistributionChunk]:
        engine, generation = self._prepare(kwargs)
        child = inner_config(patch_config(config, callbacks=run_manager.get_child()))
        try:
            run = self._start([item async for item in inputs], engine)
            while not run.done:
                messages, schema = run.request
                opener = partial(self._aopen, from_core_messages(messages), child, generation)
                negotiation = self.negotiation(schema)
                async for piece in await anegotiate(negotiation, opener):
                    for state in run.feed(piece):
                        yield state
                for state in run.end_reply(negotiation.style):
                    yield state
        except Exception as exc:
            raise_as_framework_error(exc)
            raise

    def transform(
        self, input: Iterator[LanguageModelInput], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Distribution]:
        """Stream :class:`DistributionChunk` states for the (folded) input chunks."""
        yield from self._transform_stream_with_config(input, self._chunks, config, run_type="chain", **kwargs)

    async def atransform(
        self, input: AsyncIterator[LanguageModelInput], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Distribution]:
        """Async twin of :meth:`transform`."""
        async for chunk in self._atransform_stream_with_config(
            input, self._achunks, config, run_type="chain", **kwargs
        ):
            yield chunk

    def stream(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Distribution]:
        """Yield a :class:`DistributionChunk` each time a new candidate is complete, then the final one.

        Each chunk is the distribution of every candidate completed so far (``chunk.new`` lists
        the ones it added); the last is what :meth:`invoke` returns. The first request of a
        fresh sampler negotiates the reply-schema form like :meth:`invoke` does: a form the
        model refuses before its first token is replaced by the next one.
        """
        return self.transform(iter([input]), config, **kwargs)

    async def astream(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Distribution]:
        """Async twin of :meth:`stream`."""

        async def one() -> AsyncIterator[LanguageModelInput]:
            yield input

        async for chunk in self.atransform(one(), config, **kwargs):
            yield chunk


async def _prepended(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    yield first
    async for item in rest:
        yield item


def _fold(inputs: Iterable[T]) -> T:
    """Streamed input chunks added up the way LCEL does (the last one when they do not add)."""
    folded: Any = None
    for position, item in enumerate(inputs):
        if position == 0:
            folded = item
            continue
        try:
            folded = folded + item
        except TypeError:
            folded = item
    return folded  # type: ignore[no-any-return]
