"""``VerbalizedOutputParser``: a LlamaIndex output parser producing a VS ``Distribution``."""

from __future__ import annotations

from typing import Any

from llama_index.core.types import BaseOutputParser

from ..core.config import VSConfig, resolve_config
from ..core.distribution import Distribution, ValidPredicate
from ..core.engine import check_valid
from ..core.errors import ParseError
from ..core.parser import read_reply
from ..core.prompts import format_instructions
from ._driver import VerbalizedParseError


class VerbalizedOutputParser(BaseOutputParser):
    r"""Parse a VS reply into a :class:`~vs_integrations.Distribution`; attach it to any template.

    ``format`` appends the reply-format instructions to the already formatted prompt (so braces
    reach the model single, not doubled). ``on_failure`` decides what a reply with fewer
    candidates than asked for gives, as the engine does after its last retry and as LangChain's
    ``VerbalizedOutputParser`` does: ``partial`` (default) the candidates read, ``raise`` an
    error, ``fallback`` the raw reply as one candidate (with a warning). A reply with no
    candidate raises unless ``on_failure="fallback"``. The error is a
    :class:`VerbalizedParseError`: both :class:`~vs_integrations.ParseError` (``.raw`` keeps the
    reply) and LlamaIndex's ``OutputParserException``.

    Args:
        config: A whole :class:`~vs_integrations.VSConfig` to start from.
        valid: Optional ``valid(text) -> bool``: the candidates it refuses are dropped before
            normalisation, as the engine drops them (a warning names them, ``raw`` keeps them);
            they count as missing for ``on_failure``.
        **settings: Flat VS settings (``k``, ``format``, ``probability``...) overriding
            ``config``; an unknown name raises :class:`~vs_integrations.SettingsError`.

    Example:
        >>> VerbalizedOutputParser(k=2).parse("1. tea (Prob: 0.5)\n2. coffee (Prob: 0.5)").texts
        ['tea', 'coffee']
    """

    def __init__(self, config: VSConfig | None = None, *, valid: ValidPredicate | None = None, **settings: Any) -> None:
        self._vs_config = resolve_config(config, owner="VerbalizedOutputParser", own=("valid",), **settings)
        self._valid = check_valid(valid, "VerbalizedOutputParser")

    @property
    def vs_config(self) -> VSConfig:
        """The VS settings (read-only)."""
        return self._vs_config

    def parse(self, output: str) -> Distribution:
        """Parse one reply.

        Raises:
            VerbalizedParseError: If the reply holds no candidate, or fewer than asked for with
                ``on_failure="raise"``.
        """
        try:
            return read_reply(output, self._vs_config, self._valid)
        except ParseError as exc:
            raise VerbalizedParseError.of(exc) from exc

    def format(self, query: str) -> str:
        """Append the reply-format instructions to a formatted prompt."""
        return f"{query}\n\n{format_instructions(self._vs_config)}"
