"""What LangGraph's checkpointers need to store the package's results in graph state.

A :class:`~vs_integrations.Distribution` (a ``DistributionChunk`` too) and its
:class:`~vs_integrations.Candidate` s round-trip through LangGraph's default serializer
(``JsonPlusSerializer``: the distribution rebuilds from its constructor's arguments, the trace's
records are dataclasses). LangGraph warns when it rebuilds a type it was not told about, and
refuses under ``LANGGRAPH_STRICT_MSGPACK=true``: name these types to it.

Example:
    >>> from langgraph.checkpoint.memory import InMemorySaver  # doctest: +SKIP
    >>> from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer  # doctest: +SKIP
    >>> saver = InMemorySaver(serde=JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES))  # doctest: +SKIP
"""

from __future__ import annotations

from ..core import calls
from ..core.distribution import Candidate, Distribution
from .sampler import DistributionChunk

CHECKPOINT_TYPES: tuple[tuple[str, str], ...] = tuple(
    (kind.__module__, kind.__qualname__)
    for kind in (Candidate, Distribution, DistributionChunk, calls.CallRecord, calls.Usage)
)
"""``(module, class)`` pairs for ``JsonPlusSerializer(allowed_msgpack_modules=...)``."""
