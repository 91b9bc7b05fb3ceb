"""``VerbalizedSynthesizer``: RAG answers as a VS distribution; the response is one draw."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatResponse
from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.callbacks import CallbackManager
from llama_index.core.indices.prompt_helper import PromptHelper
from llama_index.core.llms import LLM
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.prompts.default_prompt_selectors import DEFAULT_TEXT_QA_PROMPT_SEL
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.response_synthesizers import BaseSynthesizer
from llama_index.core.schema import NodeWithScore

from ..backends.response_format import SchemaStyle, check_schema_style
from ..core.config import VSConfig, resolve_config
from ..core.distribution import Distribution, ValidPredicate
from ..core.engine import VSEngine, check_valid
from ..core.errors import ContextTooLong
from ..core.prompts import Message
from ._driver import LLMCall, adrive, check_llm, drive, engine_calls, model_name
from .prompt import VerbalizedPromptTemplate

# `as_query_engine(..., streaming=True)` ends in this function, which hands `streaming` only to
# synthesizers it builds itself (see VerbalizedSynthesizer.__bool__).
_FROM_ARGS_CODE = RetrieverQueryEngine.__dict__["from_args"].__func__.__code__


class SampledAnswer(str):
    """The drawn answer's text, carrying the distribution it was drawn from."""

    distribution: Distribution
    sampled_index: int
    asynchronous: bool


_OWN_KEYWORDS = ("llm", "text_qa_template", "schema_style", "streaming", "callback_manager", "prompt_helper", "valid")
"""The synthesizer's own keywords, named when a misspelt one is refused."""


class VerbalizedSynthesizer(BaseSynthesizer):
    """Answer from the retrieved context with k candidates and probabilities; return one draw.

    Pass it as ``response_synthesizer=`` to ``index.as_query_engine(...)`` or
    ``RetrieverQueryEngine``. The ``Response`` text is the drawn answer;
    ``Response.metadata["verbalized_distribution"]`` is the whole distribution
    (``Distribution.to_dict()``) and ``["sampled_index"]`` the drawn position; source nodes are
    kept. ``get_prompts()`` / ``update_prompts()`` expose ``text_qa_template`` (a
    :class:`VerbalizedPromptTemplate`; a plain template given to ``update_prompts`` is wrapped).

    Args:
        llm: The LLM (default ``Settings.llm``).
        config: A whole :class:`~vs_integrations.VSConfig` to start from.
        text_qa_template: The QA template to wrap (default: LlamaIndex's text-QA template).
        schema_style: How the reply's JSON Schema reaches the LLM as ``response_format``:
            ``auto`` tries ``json_schema``, then ``json_object``, then none, moving on when the
            LLM refuses a form and remembering per model what it accepted; or one fixed form.
        streaming: Return a ``StreamingResponse`` (``AsyncStreamingResponse`` from ``aquery``)
            whose generator yields the drawn answer; the distribution is in its metadata. The
            whole reply is read before the draw, so the answer arrives as one chunk.
        callback_manager: LlamaIndex callbacks.
        prompt_helper: LlamaIndex's context packing (default: from the LLM's metadata).
        valid: Optional ``valid(text) -> bool`` on a candidate answer: a refused answer is dropped
            before normalisation (a warning names it, the distribution's ``raw`` keeps it) and
            counts as missing, so the top-up asks for more, naming it; ``k`` counts valid answers.
        **settings: Flat VS settings (``k``, ``variant``, ``tail``, ``max_retries``,
            ``on_failure``, ``seed``...) overriding ``config``; an unknown name raises
            :class:`~vs_integrations.SettingsError`. ``seed`` seeds the draw
            (``Distribution.sample(seed)``: the same distribution and seed, the same answer).

    Raises:
        ContextTooLong: From a query whose prompt does not fit the LLM's context window.
        ParseError: From a query whose replies held no candidate at all (``on_failure``
            ``"partial"``, the default, keeps a shorter distribution with a warning).

    Example:
        >>> from llama_index.core import VectorStoreIndex  # doctest: +SKIP
        >>> engine = index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, k=3))  # doctest: +SKIP
        >>> engine.query("Why is the sky blue?").metadata["verbalized_distribution"]  # doctest: +SKIP
    """

    def __init__(
        self,
        llm: LLM | None = None,
        config: VSConfig | None = None,
        *,
        text_qa_template: BasePromptTemplate | None = None,
        schema_style: SchemaStyle = "auto",
        streaming: bool = False,
        callback_manager: CallbackManager | None = None,
        prompt_helper: PromptHelper | None = None,
        valid: ValidPredicate | None = None,
        **settings: Any,
    ) -> None:
        vs_config = resolve_config(config, owner="VerbalizedSynthesizer", own=_OWN_KEYWORDS, **settings)
        check_schema_style(schema_style)
        check_valid(valid, "VerbalizedSynthesizer")
        if llm is not None:
            check_llm("VerbalizedSynthesizer", llm)
        super().__init__(llm=llm, callback_manager=callback_manager, prompt_helper=prompt_helper, streaming=streaming)
        self._vs_config = vs_config
        self._engine = VSEngine(vs_config, valid=valid)
        self._text_qa_template = VerbalizedPromptTemplate(text_qa_template or DEFAULT_TEXT_QA_PROMPT_SEL, vs_config)
        self._schema_style = schema_style

    def __bool__(self) -> bool:
        # RetrieverQueryEngine.from_args (behind index.as_query_engine) reads
        # `response_synthesizer or get_response_synthesizer(..., streaming=streaming)`: a synthesizer
        # passed in never sees `streaming`. That `or` is the one moment it can, so a streaming
        # request it cannot honour is refused there instead of being silently dropped.
        caller = sys._getframe(1)
        if caller.f_code is _FROM_ARGS_CODE and caller.f_locals.get("streaming") and not self._streaming:
            raise ValueError(
                "streaming=True does not reach a response_synthesizer passed to as_query_engine() or "
                "RetrieverQueryEngine.from_args() (LlamaIndex gives it only to synthesizers it builds); "
                "build it as VerbalizedSynthesizer(..., streaming=True) instead"
            )
        return True

    @property
    def vs_config(self) -> VSConfig:
        """The VS settings (read-only)."""
        return self._vs_config

    @property
    def streaming(self) -> bool:
        """Whether responses are ``StreamingResponse`` objects."""
        return self._streaming

    def _get_prompts(self) -> PromptDictType:
        return {"text_qa_template": self._text_qa_template}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        if "text_qa_template" in prompts:
            self._text_qa_template = VerbalizedPromptTemplate(prompts["text_qa_template"], self._vs_config)

    def _instruction(self, query_str: str, text_chunks: Sequence[str]) -> list[Message]:
        # The query is filled in first so LlamaIndex's packing counts it, as its own synthesizers do.
        template = self._text_qa_template.partial_format(query_str=query_str)
        try:
            chunks = self._prompt_helper.truncate(template, list(text_chunks), llm=self._llm)
        except ValueError as exc:  # PromptHelper's "available context size ... not non-negative"
            limit = self._prompt_helper.context_window
            raise ContextTooLong(
                f"the query and the QA template do not fit {model_name(self._llm)}: its context window is "
                f"{limit} tokens, {self._prompt_helper.num_output} of them kept for the reply ({exc})",
                limit=limit,
                body=str(exc),
            ) from exc
        return template.inner_messages(self._llm, context_str="\n\n".join(chunks))

    def _answer(self, distribution: Distribution, *, asynchronous: bool) -> SampledAnswer:
        picked = distribution.sample(self._vs_config.seed)
        answer = SampledAnswer(picked.text)
        answer.distribution = distribution
        answer.sampled_index = picked.index
        answer.asynchronous = asynchronous
        return answer

    def _calls(
        self, query_str: str, text_chunks: Sequence[str], response_kwargs: dict[str, Any]
    ) -> Generator[LLMCall, ChatResponse, Distribution]:
        steps = self._engine.steps(self._instruction(query_str, text_chunks))
        return engine_calls(self._llm, steps, self._schema_style, response_kwargs)

    def get_response(self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any) -> SampledAnswer:
        """Ask for the distribution over answers and draw one.

        Raises:
            ContextTooLong, BackendUnreachable: The LLM's errors saying so (the original is the cause).
            VerbalizedParseError: When no reply held a candidate (a ``ParseError`` and LlamaIndex's
                ``OutputParserException``).
        """
        return self._answer(drive(self._llm, self._calls(query_str, text_chunks, response_kwargs)), asynchronous=False)

    async def aget_response(self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any) -> SampledAnswer:
        """Async twin of :meth:`get_response`."""
        distribution = await adrive(self._llm, self._calls(query_str, text_chunks, response_kwargs))
        return self._answer(distribution, asynchronous=True)

    def _prepare_response_output(self, response_str: Any, source_nodes: list[NodeWithScore]) -> RESPONSE_TYPE:
        if not isinstance(response_str, SampledAnswer):
            return super()._prepare_response_output(response_str, source_nodes)
        metadata = self._get_metadata_for_response([n.node for n in source_nodes]) or {}
        metadata["verbalized_distribution"] = response_str.distribution.to_dict()
        metadata["sampled_index"] = response_str.sampled_index
        text = str(response_str)
        if not self._streaming:
            return Response(text, source_nodes=source_nodes, metadata=metadata)
        if response_str.asynchronous:
            return AsyncStreamingResponse(_one_chunk_async(text), source_nodes=source_nodes, metadata=metadata)
        return StreamingResponse(_one_chunk(text), source_nodes=source_nodes, metadata=metadata)


def _one_chunk(text: str) -> Generator[str, None, None]:
    yield text


async def _one_chunk_async(text: str) -> AsyncGenerator[str, None]:
    yield text
