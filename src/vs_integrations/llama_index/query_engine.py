"""``VerbalizedQueryEngine``: retrieval plus :class:`VerbalizedSynthesizer`, ready made."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import RESPONSE_TYPE
from llama_index.core.indices.base import BaseIndex
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import QueryBundle

from .synthesizer import VerbalizedSynthesizer


class VerbalizedQueryEngine(CustomQueryEngine):
    """Retrieve, then answer with a VS distribution and one draw from it.

    Example:
        >>> engine = VerbalizedQueryEngine.from_index(index, k=5, seed=0)  # doctest: +SKIP
        >>> response = engine.query("Why is the sky blue?")  # doctest: +SKIP
        >>> response.metadata["verbalized_distribution"]["candidates"]  # doctest: +SKIP
    """

    retriever: BaseRetriever
    synthesizer: VerbalizedSynthesizer

    @classmethod
    def from_index(
        cls, index: BaseIndex[Any], *, similarity_top_k: int = 4, **synthesizer_kwargs: Any
    ) -> VerbalizedQueryEngine:
        """Build from an index; ``synthesizer_kwargs`` go to :class:`VerbalizedSynthesizer`."""
        return cls(
            retriever=index.as_retriever(similarity_top_k=similarity_top_k),
            synthesizer=VerbalizedSynthesizer(**synthesizer_kwargs),
        )

    def custom_query(self, query_str: str) -> RESPONSE_TYPE:
        """Retrieve and synthesize."""
        nodes = self.retriever.retrieve(query_str)
        return self.synthesizer.synthesize(QueryBundle(query_str), nodes)

    async def acustom_query(self, query_str: str) -> RESPONSE_TYPE:
        """Async twin of :meth:`custom_query`."""
        nodes = await self.retriever.aretrieve(query_str)
        return await self.synthesizer.asynthesize(QueryBundle(query_str), nodes)
