"""``VerbalizedSynthesizer``: RAG answers as a VS distribution; the response is one draw."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Literal

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.base.response.schema import RESPONSE_TYPE, Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import LLM
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.prompts.default_prompt_selectors import DEFAULT_TEXT_QA_PROMPT_SEL
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.response_synthesizers import BaseSynthesizer
from llama_index.core.schema import NodeWithScore

from ..core.config import VSConfig
from ..core.distribution import Distribution
from ..core.engine import OnFailure, VSEngine
from ..core.prompts import Message
from ..response_format import response_format
from ._messages import from_core_messages
from .llm import LocalLLM
from .prompt import VerbalizedPromptTemplate

SchemaStyle = Literal["auto", "json_schema", "json_object", "none"]


class SampledAnswer(str):
    """The drawn answer's text, carrying the distribution it was drawn from."""

    distribution: Distribution
    sampled_index: int


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
        config: The VS settings (default ``VSConfig()``).
        text_qa_template: The QA template to wrap (default: LlamaIndex's text-QA template).
        seed: Seed of the draws.
        max_retries: Extra calls when a reply does not parse or holds fewer than ``k`` candidates.
        on_failure: ``raise`` (a ``ParseError`` with ``.raw``), ``partial`` or ``fallback``.
        schema_style: How the reply schema reaches the LLM: ``auto`` (constrained decoding for
            :class:`LocalLLM`, prompt-only otherwise), ``json_schema``, ``json_object`` or ``none``.
        callback_manager: LlamaIndex callbacks.

    Example:
        >>> from llama_index.core import VectorStoreIndex  # doctest: +SKIP
        >>> engine = index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm))  # doctest: +SKIP
    """

    def __init__(
        self,
        llm: LLM | None = None,
        config: VSConfig | None = None,
        *,
        text_qa_template: BasePromptTemplate | None = None,
        seed: int | None = None,
        max_retries: int = 2,
        on_failure: OnFailure = "raise",
        schema_style: SchemaStyle = "auto",
        callback_manager: CallbackManager | None = None,
    ) -> None:
        super().__init__(llm=llm, callback_manager=callback_manager)
        self._config = config or VSConfig()
        self._engine = VSEngine(self._config, max_retries=max_retries, on_failure=on_failure)
        self._text_qa_template = VerbalizedPromptTemplate(text_qa_template or DEFAULT_TEXT_QA_PROMPT_SEL, self._config)
        self._rng = random.Random(seed)
        if schema_style == "auto":
            schema_style = "json_object" if isinstance(self._llm, LocalLLM) else "none"
        self._schema_style = schema_style

    @property
    def config(self) -> VSConfig:
        """The VS settings."""
        return self._config

    def _get_prompts(self) -> PromptDictType:
        return {"text_qa_template": self._text_qa_template}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        if "text_qa_template" in prompts:
            self._text_qa_template = VerbalizedPromptTemplate(prompts["text_qa_template"], self._config)

    def _instruction(self, query_str: str, text_chunks: Sequence[str]) -> list[Message]:
        chunks = self._prompt_helper.truncate(self._text_qa_template, list(text_chunks), llm=self._llm)
        return self._text_qa_template.inner_messages(self._llm, context_str="\n\n".join(chunks), query_str=query_str)

    def _chat_kwargs(self, schema: dict[str, Any] | None, response_kwargs: dict[str, Any]) -> dict[str, Any]:
        format_ = response_format(self._schema_style, schema) if schema is not None else None
        return {**response_kwargs, "response_format": format_} if format_ else dict(response_kwargs)

    def _answer(self, distribution: Distribution) -> SampledAnswer:
        picked = distribution.sample(self._rng)
        answer = SampledAnswer(picked.text)
        answer.distribution = distribution
        answer.sampled_index = picked.index
        return answer

    def get_response(self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any) -> SampledAnswer:
        """Ask for the distribution over answers and draw one."""

        def call(messages: list[Message], schema: dict[str, Any] | None) -> str:
            chat: list[ChatMessage] = from_core_messages(messages)
            return self._llm.chat(chat, **self._chat_kwargs(schema, response_kwargs)).message.content or ""

        return self._answer(self._engine.run(call, self._instruction(query_str, text_chunks)))

    async def aget_response(self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any) -> SampledAnswer:
        """Async twin of :meth:`get_response`."""

        async def call(messages: list[Message], schema: dict[str, Any] | None) -> str:
            chat: list[ChatMessage] = from_core_messages(messages)
            reply = await self._llm.achat(chat, **self._chat_kwargs(schema, response_kwargs))
            return reply.message.content or ""

        return self._answer(await self._engine.arun(call, self._instruction(query_str, text_chunks)))

    def _prepare_response_output(self, response_str: Any, source_nodes: list[NodeWithScore]) -> RESPONSE_TYPE:
        if not isinstance(response_str, SampledAnswer):
            return super()._prepare_response_output(response_str, source_nodes)
        metadata = self._get_metadata_for_response([n.node for n in source_nodes]) or {}
        metadata["verbalized_distribution"] = response_str.distribution.to_dict()
        metadata["sampled_index"] = response_str.sampled_index
        return Response(str(response_str), source_nodes=source_nodes, metadata=metadata)
