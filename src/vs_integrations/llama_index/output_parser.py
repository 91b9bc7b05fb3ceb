"""``VerbalizedOutputParser``: a LlamaIndex output parser producing a VS ``Distribution``."""

from __future__ import annotations

from llama_index.core.types import BaseOutputParser

from ..core.config import VSConfig
from ..core.distribution import Distribution
from ..core.parser import parse
from ..core.prompts import format_instructions


class VerbalizedOutputParser(BaseOutputParser):
    r"""Parse a VS reply into a :class:`~vs_integrations.Distribution`; attach it to any template.

    ``format`` appends the reply-format instructions to the already formatted prompt (so braces
    reach the model single, not doubled). A reply with no candidate raises
    :class:`~vs_integrations.ParseError` carrying ``.raw``.

    Args:
        config: The VS settings the prompt asked with.

    Example:
        >>> VerbalizedOutputParser(VSConfig(k=2)).parse("1. tea (Prob: 0.5)\\n2. coffee (Prob: 0.5)").texts
        ['tea', 'coffee']
    """

    def __init__(self, config: VSConfig | None = None) -> None:
        self.config = config or VSConfig()

    def parse(self, output: str) -> Distribution:
        """Parse one reply."""
        return parse(output, self.config)

    def format(self, query: str) -> str:
        """Append the reply-format instructions to a formatted prompt."""
        return f"{query}\n\n{format_instructions(self.config)}"
