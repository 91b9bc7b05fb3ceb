"""``VerbalizedOutputParser``: a LangChain output parser producing a VS ``Distribution``."""

from __future__ import annotations

from langchain_core.output_parsers import BaseOutputParser

from ..core.distribution import Distribution
from ..core.errors import ParseError
from ..core.parser import read_reply
from ..core.prompts import system_prompt
from ._common import VSSettings
from ._errors import VSOutputParserException


class VerbalizedOutputParser(VSSettings, BaseOutputParser[Distribution]):
    r"""Parse a VS reply (JSON, XML-ish or list) into a :class:`~vs_integrations.Distribution`.

    For users who write their own prompts: put :meth:`get_format_instructions` in the prompt.
    It takes the same settings as the other adapters (the VS keywords or ``config=VSConfig``,
    shown as :attr:`vs_config`). ``k``, ``variant``, ``per_turn``, ``tail``, ``probability`` and
    ``format`` shape the instructions and how the reply is read; ``on_failure`` decides what a
    reply with fewer than the asked-for candidates gives, as the engine does after its last
    retry: ``partial`` (default) the candidates read (a warning names the shortfall), ``raise``
    an error that is both our ``ParseError`` and LangChain's ``OutputParserException``,
    ``fallback`` the raw reply as one candidate. A reply with no candidate raises that error
    too (the raw reply as ``raw`` and ``llm_output``) unless ``on_failure="fallback"``.
    ``max_retries`` and ``seed`` are accepted so one ``VSConfig`` fits every adapter; a parser
    makes no call and draws nothing. ``valid(text) -> bool`` drops the candidates it refuses
    before normalisation, as the engine does (a warning names them, ``raw`` keeps them); they
    count as missing for ``on_failure``.

    Example:
        >>> parser = VerbalizedOutputParser(k=2)
        >>> parser.parse("1. Ohio (Prob: 0.5)\n2. Utah (Prob: 0.5)").texts
        ['Ohio', 'Utah']
    """

    def parse(self, text: str) -> Distribution:
        """Parse one reply.

        Raises:
            VSOutputParserException: If the reply holds no candidate, or fewer than asked for
                with ``on_failure="raise"``: both a ``ParseError`` (``raw``, ``distribution``)
                and LangChain's ``OutputParserException`` (``llm_output`` is the reply).
        """
        try:
            return read_reply(text, self.vs_config, self.valid)
        except ParseError as exc:
            raise VSOutputParserException.of(exc) from exc

    def get_format_instructions(self) -> str:
        """The VS instruction (count, probabilities, format) to put in a prompt."""
        return system_prompt(self.vs_config)

    @property
    def _type(self) -> str:
        return "verbalized_sampling"
