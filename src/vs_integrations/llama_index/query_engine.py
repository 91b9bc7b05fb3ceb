"""``VerbalizedQueryEngine``: retrieval plus :class:`VerbalizedSynthesizer`, ready made."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import RESPONSE_TYPE
from llama_index.core.callbacks import CallbackManager
from llama_index.core.indices.base import BaseIndex
from llama_index.core.llms import LLM
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import QueryBundle

from ..backends.response_format import SchemaStyle
from ..core.config import VSConfig, resolve_config
from ..core.distribution import ValidPredicate
from ..core.errors import SettingsError
from .synthesizer import _OWN_KEYWORDS, VerbalizedSynthesizer


class VerbalizedQueryEngine(CustomQueryEngine):
    """Retrieve, then answer with a VS distribution and one draw from it.

    Give either a ready ``synthesizer`` or what to build one from (the LLM, the VS settings,
    ``streaming``...), not both.

    Args:
        retriever: Where the context comes from.
        synthesizer: A ready :class:`VerbalizedSynthesizer`.
        config: A whole :class:`~vs_integrations.VSConfig` to start from.
        llm: The LLM (default ``Settings.llm``).
        text_qa_template: The QA template to wrap.
        schema_style: How the reply's schema reaches the LLM (see :class:`VerbalizedSynthesizer`;
            default ``auto``).
        streaming: Return streaming responses (see :class:`VerbalizedSynthesizer`; default off).
        callback_manager: LlamaIndex callbacks of the query engine.
        valid: ``valid(text) -> bool`` on a candidate answer (see :class:`VerbalizedSynthesizer`).
        **settings: Flat VS settings (``k``, ``tail``, ``on_failure``, ``seed``...); an unknown
            name raises :class:`~vs_integrations.SettingsError`.

    Example:
        >>> engine = VerbalizedQueryEngine.from_index(index, k=5, seed=0)  # doctest: +SKIP
        >>> response = engine.query("Why is the sky blue?")  # doctest: +SKIP
        >>> response.metadata["verbalized_distribution"]["candidates"]  # doctest: +SKIP
    """

    retriever: BaseRetriever
    synthesizer: VerbalizedSynthesizer

    def __init__(
        self,
        retriever: BaseRetriever,
        synthesizer: VerbalizedSynthesizer | None = None,
        *,
        config: VSConfig | None = None,
        llm: LLM | None = None,
        text_qa_template: BasePromptTemplate | None = None,
        schema_style: SchemaStyle | None = None,
        streaming: bool | None = None,
        callback_manager: CallbackManager | None = None,
        valid: ValidPredicate | None = None,
        **settings: Any,
    ) -> None:
        vs_config = resolve_config(
            config, owner="VerbalizedQueryEngine", own=(*_OWN_KEYWORDS, "retriever", "synthesizer"), **settings
        )
        if synthesizer is None:
            synthesizer = VerbalizedSynthesizer(
                llm,
                vs_config,
                text_qa_template=text_qa_template,
                schema_style=schema_style or "auto",
                streaming=bool(streaming),
                valid=valid,
            )
        else:
            given = {
                "config": config,
                "llm": llm,
                "text_qa_template": text_qa_template,
                "schema_style": schema_style,
                "streaming": streaming,
                "valid": valid,
                **settings,
            }
            clashing = sorted(name for name, value in given.items() if value is not None)
            if clashing:
                raise SettingsError(
                    f"VerbalizedQueryEngine got a synthesizer and {', '.join(clashing)}: "
                    "give these to the VerbalizedSynthesizer instead",
                    clashing,
                )
        super().__init__(  # type: ignore[call-arg]  # pydantic fields of this class
            retriever=retriever,
            synthesizer=synthesizer,
            callback_manager=callback_manager or CallbackManager([]),
        )

    @property
    def vs_config(self) -> VSConfig:
        """The VS settings (read-only; the synthesizer's)."""
        return self.synthesizer.vs_config

    @classmethod
    def from_index(
        cls,
        index: BaseIndex[Any],
        config: VSConfig | None = None,
        *,
        similarity_top_k: int = 4,
        retriever_kwargs: dict[str, Any] | None = None,
        llm: LLM | None = None,
        text_qa_template: BasePromptTemplate | None = None,
        schema_style: SchemaStyle | None = None,
        streaming: bool | None = None,
        valid: ValidPredicate | None = None,
        **settings: Any,
    ) -> VerbalizedQueryEngine:
        """Build from an index: its retriever (``similarity_top_k``, ``retriever_kwargs``) and a synthesizer.

        VS settings go only to the synthesizer; only ``similarity_top_k`` and ``retriever_kwargs``
        reach ``index.as_retriever``.
        """
        # Resolved before the retriever is built, so a misspelt setting fails first.
        vs_config = resolve_config(
            config,
            owner="VerbalizedQueryEngine.from_index",
            own=(*_OWN_KEYWORDS, "index", "similarity_top_k", "retriever_kwargs"),
            **settings,
        )
        retriever = index.as_retriever(similarity_top_k=similarity_top_k, **(retriever_kwargs or {}))
        return cls(
            retriever,
            config=vs_config,
            llm=llm,
            text_qa_template=text_qa_template,
            schema_style=schema_style,
            streaming=streaming,
            valid=valid,
        )

    def custom_query(self, query_str: str) -> RESPONSE_TYPE:
        """Retrieve and synthesize."""
        nodes = self.retriever.retrieve(query_str)
        return self.synthesizer.synthesize(QueryBundle(query_str), nodes)

    async def acustom_query(self, query_str: str) -> RESPONSE_TYPE:
        """Async twin of :meth:`custom_query`."""
        nodes = await self.retriever.aretrieve(query_str)
        return await self.synthesizer.asynthesize(QueryBundle(query_str), nodes)
