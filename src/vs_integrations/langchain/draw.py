"""``draw()``: the LCEL step that turns a distribution into one drawn answer."""

from __future__ import annotations

import random
import threading
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import PrivateAttr

from ..core.distribution import Candidate, Distribution


def drawn_message(distribution: Distribution, picked: Candidate, **fields: Any) -> AIMessage:
    """The answer as an ``AIMessage``: the drawn text, the distribution in ``response_metadata``.

    ``response_metadata`` holds ``verbalized_distribution`` (``Distribution.to_dict()``) and
    ``sampled_index`` (the drawn candidate's position); ``fields`` are added to the message.
    """
    metadata = {"verbalized_distribution": distribution.to_dict(), "sampled_index": picked.index}
    extra = fields.pop("response_metadata", {})
    return AIMessage(content=picked.text, response_metadata={**metadata, **extra}, **fields)


class Draw(RunnableSerializable[Distribution, AIMessage]):
    """Draws one candidate from a :class:`~vs_integrations.Distribution` and answers with it.

    Place it after a ``VerbalizedSampler`` to get what a chat model returns: an ``AIMessage``
    whose content is the drawn text, with the distribution and the drawn position in its
    ``response_metadata`` (as :class:`VerbalizedChatModel` does). When the chain is streamed it
    waits for the sampler's last chunk (the whole distribution) and draws once.

    Args:
        seed: ``None`` draws afresh every time; an integer makes the sequence of draws of this
            step reproducible (one generator per step, shared by its calls under a lock).

    Example:
        >>> from langchain_core.output_parsers import StrOutputParser
        >>> from vs_integrations import Candidate, Distribution
        >>> dist = Distribution([Candidate("heads", 0.5, 0.5, 0), Candidate("tails", 0.5, 0.5, 1)])
        >>> (draw(seed=1) | StrOutputParser()).invoke(dist) in {"heads", "tails"}
        True
    """

    seed: int | None = None
    """Seed of this step's draws (None: fresh draws)."""

    _rng: random.Random = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def model_post_init(self, context: Any) -> None:
        """Seed this step's generator."""
        super().model_post_init(context)
        self._rng = random.Random(self.seed)

    @property
    def InputType(self) -> type[Distribution]:
        """A :class:`~vs_integrations.Distribution`."""
        return Distribution

    @property
    def OutputType(self) -> type[AIMessage]:
        """An ``AIMessage`` holding the drawn candidate."""
        return AIMessage

    def _draw(self, distribution: Distribution) -> AIMessage:
        if not isinstance(distribution, Distribution):
            raise TypeError(
                f"Draw needs a Distribution (put it after a VerbalizedSampler); got {type(distribution).__name__}"
            )
        with self._lock:
            picked = distribution.sample(self._rng)
        return drawn_message(distribution, picked)

    async def _adraw(self, distribution: Distribution) -> AIMessage:
        return self._draw(distribution)

    def invoke(self, input: Distribution, config: RunnableConfig | None = None, **kwargs: Any) -> AIMessage:
        """Draw one candidate from ``input``."""
        return self._call_with_config(self._draw, input, config)

    async def ainvoke(self, input: Distribution, config: RunnableConfig | None = None, **kwargs: Any) -> AIMessage:
        """Async twin of :meth:`invoke`."""
        return await self._acall_with_config(self._adraw, input, config)


def draw(seed: int | None = None) -> Draw:
    """The LCEL step drawing one answer from a distribution (a :class:`Draw`).

    Use it as ``prompt | VerbalizedSampler(k=5) | draw() | StrOutputParser()``.

    Args:
        seed: None draws afresh every time; an integer gives a reproducible sequence of draws.
    """
    return Draw(seed=seed)
