"""What a format scanner hands on: the items it found, before their probabilities are read."""

from __future__ import annotations

from typing import NamedTuple, Protocol

__all__ = ["MAX_ITEMS", "Extraction", "FormatStream", "Item", "too_many_items"]

# A VS reply holds at most a few hundred candidates (k <= 100, plus repeats); the scanners stop
# reading items here, so a reply of millions of tiny items cannot cost more than a large normal
# one. The raw reply is kept whole either way.
MAX_ITEMS = 10_000


def too_many_items() -> str:
    """The warning added when a scanner stops at :data:`MAX_ITEMS`."""
    return f"the reply held more than {MAX_ITEMS} items; read the first {MAX_ITEMS}"


class Item(NamedTuple):
    """A candidate as found in the reply, before its probability is interpreted.

    Attributes:
        text: The candidate's text, trimmed.
        probability: What the model wrote as its probability (a number, a string such as
            ``"20%"``, or ``None`` when it wrote none).
        index: Position of the item among the items of the reply (0-based), as in
            :attr:`Candidate.index`.

    Example:
        >>> Item("Paris", "20%", 0).text
        'Paris'

    """

    text: str
    probability: object
    index: int  # type: ignore[assignment]  # shadows tuple.index like Candidate.index: one name for both


class Extraction(NamedTuple):
    """What one reply holds: the items in reply order, and how the reply was read.

    Attributes:
        items: The candidates found (complete ones, plus any rescued partial one).
        reasoning: The VS-CoT reasoning written before the candidates, if any.
        truncated: True when the reply was cut off (or a tag was left open).
        format: ``"json"``, ``"xml"``, ``"list"``, or ``None`` when nothing was found.
        warnings: The repairs the scanner made to read the items.

    Example:
        >>> Extraction([Item("a", 0.5, 0)], None, False, "json").items[0].text
        'a'

    """

    items: list[Item]
    reasoning: str | None
    truncated: bool
    format: str | None
    warnings: tuple[str, ...] = ()


class FormatStream(Protocol):
    """A format's streaming reader: finds where each record of a growing reply ends, and reads it.

    Example:
        >>> from vs_integrations.core.parsing.list_scanner import ListStream
        >>> stream: FormatStream = ListStream(0)
        >>> stream.feed("- Red (p=0.6)", "- Red (p=0.6)")[0].text
        'Red'

    """

    def feed(self, text: str, chunk: str) -> list[Item]:
        """The items completed by ``chunk``, the end of ``text`` (everything fed so far)."""
        ...
