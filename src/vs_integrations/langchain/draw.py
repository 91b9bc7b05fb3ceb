"""``draw()``: the LCEL step that turns a distribution into one drawn answer."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig, RunnableSerializable

from ..core.distribution import Candidate, Distribution


def drawn_message(distribution: Distribution, picked: Candidate, **fields: Any) -> AIMessage:
    """The answer as an ``AIMessage``: the drawn text, the distribution in ``response_metadata``.

    ``response_metadata`` holds ``verbalized_distribution`` (``Distribution.to_dict()``) and
    ``sampled_index`` (the drawn candidate's position); ``fields`` are added to the message.
    """
    metadata = {"verbalized_distribution": distribution.to_dict(), "sampled_index": picked.index}
    extra = fields.pop("response_metadata", {})
    return AIMessage(content=picked.text, response_metadata={**metadata, **extra}, **fields)


class _DrawStep(RunnableSerializable[Distribution, AIMessage]):
    """The Runnable :func:`draw` returns (build it with :func:`draw`)."""

    seed: int | None = None

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
                f"draw() needs a Distribution (put it after a VerbalizedSampler); got {type(distribution).__name__}"
            )
        return drawn_message(distribution, distribution.sample(self.seed))

    async def _adraw(self, distribution: Distribution) -> AIMessage:
        return self._draw(distribution)

    def invoke(self, input: Distribution, config: RunnableConfig | None = None, **kwargs: Any) -> AIMessage:
        """Draw one candidate from ``input``."""
        return self._call_with_config(self._draw, input, config)

    async def ainvoke(self, input: Distribution, config: RunnableConfig | None = None, **kwargs: Any) -> AIMessage:
        """Async twin of :meth:`invoke`."""
        return await self._acall_with_config(self._adraw, input, config)


def draw(seed: int | None = None) -> RunnableSerializable[Distribution, AIMessage]:
    """The LCEL step drawing one candidate from a :class:`~vs_integrations.Distribution`.

    Place it after a ``VerbalizedSampler`` to get what a chat model returns: an ``AIMessage``
    whose content is the drawn text, with the distribution and the drawn position in its
    ``response_metadata`` (as :class:`VerbalizedChatModel` does). When the chain is streamed it
    waits for the sampler's last chunk (the whole distribution) and draws once.

    Args:
        seed: The draw's seed, used as ``Distribution.sample(seed)`` (the package's one seeding
            rule): the same seed picks the same candidate of the same distribution. None draws
            afresh every time.

    Example:
        >>> from langchain_core.output_parsers import StrOutputParser
        >>> from vs_integrations import Candidate, Distribution
        >>> dist = Distribution([Candidate("heads", 0.5, 0.5, 0), Candidate("tails", 0.5, 0.5, 1)])
        >>> step = draw(seed=1) | StrOutputParser()
        >>> step.invoke(dist) == step.invoke(dist)
        True
    """
    return _DrawStep(seed=seed)
