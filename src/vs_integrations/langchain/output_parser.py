"""``VerbalizedOutputParser``: a LangChain output parser producing a VS ``Distribution``."""

from __future__ import annotations

from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.output_parsers import BaseOutputParser

from ..core.config import VSConfig
from ..core.distribution import Distribution
from ..core.parser import ParseError, parse
from ..core.prompts import system_prompt


class VerbalizedOutputParser(BaseOutputParser[Distribution]):
    r"""Parse a VS reply (JSON, XML-ish or list) into a :class:`~vs_integrations.Distribution`.

    For users who write their own prompts: put :meth:`get_format_instructions` in the prompt.
    Failures raise ``OutputParserException`` with the raw reply as ``llm_output``.

    Example:
        >>> parser = VerbalizedOutputParser(k=2)
        >>> parser.parse("1. Ohio (Prob: 0.5)\\n2. Utah (Prob: 0.5)").texts
        ['Ohio', 'Utah']
    """

    k: int = 5
    """Candidates the prompt asks for (a different count adds a warning)."""
    probability: str = "explicit"
    """What the stated numbers mean (``perplexity`` and ``nll`` are converted)."""
    reply_format: str = "json"
    """The format the instructions ask for; every format is parsed."""

    def _config(self) -> VSConfig:
        return VSConfig(k=self.k, probability=self.probability, format=self.reply_format)  # type: ignore[arg-type]

    def model_post_init(self, context: Any) -> None:
        """Validate the settings now."""
        super().model_post_init(context)
        self._config()

    def parse(self, text: str) -> Distribution:
        """Parse one reply.

        Raises:
            OutputParserException: If the reply holds no candidate.
        """
        try:
            return parse(text, self._config())
        except ParseError as exc:
            raise OutputParserException(str(exc), llm_output=exc.raw) from exc

    def get_format_instructions(self) -> str:
        """The VS instruction (count, probabilities, format) to put in a prompt."""
        return system_prompt(self._config())

    @property
    def _type(self) -> str:
        return "verbalized_sampling"
