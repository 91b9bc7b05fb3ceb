"""Reading a verbalized distribution out of any model reply: the public facade.

:func:`parse` reads a whole reply, :class:`StreamParser` a reply as it streams. The stages live
in :mod:`vs_integrations.core.parsing`: format detection, one scanner per reply format (JSON,
XML-ish tags, lists) and normalisation of the items into a :class:`Distribution`. Every stage is
iterative and linear in the length of the reply, so no input can raise ``RecursionError`` or
stall the parser.
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import VSConfig
from .distribution import Candidate, Distribution, ValidPredicate
from .errors import ParseError
from .parsing import (
    Extraction,
    FormatStream,
    Item,
    StreamDetector,
    build_distribution,
    extract,
    extract_records,
    no_candidates_message,
    read_probability,
)

__all__ = [
    "Extraction",
    "Item",
    "ParseError",
    "StreamParser",
    "build_distribution",
    "drop_invalid",
    "extract",
    "extract_records",
    "parse",
    "read_probability",
    "read_reply",
    "refusal_note",
    "shown",
]


def parse(
    text: str, config: VSConfig | None = None, *, k: int | None = None, valid: ValidPredicate | None = None
) -> Distribution:
    """Read a verbalized distribution from a model reply.

    Args:
        text: The model's reply.
        config: The settings the reply was asked with (format hint, probability definition).
        k: If given, a warning is added when the number of candidates differs from ``k``.
        valid: Optional ``valid(text) -> bool``: the candidates it refuses are dropped before
            normalisation, as :class:`~vs_integrations.VSEngine` drops them (a warning lists
            them; ``raw`` keeps them).

    Returns:
        A normalised :class:`Distribution` that keeps ``text`` as ``raw``.

    Raises:
        ParseError: If the reply holds no candidate (or ``valid`` refused every one). ``err.raw`` is ``text``.

    Example:
        >>> parse("1. Red: 60%, 2. Blue: 40%").texts
        ['Red', 'Blue']

    """
    if not isinstance(text, str):
        raise TypeError(f"parse() needs the reply as a str; got {type(text).__name__}")
    extraction = extract(text, config)
    if not extraction.items:
        raise ParseError(no_candidates_message(text), text)
    items, refused = drop_invalid(extraction.items, valid)
    notes = list(extraction.warnings)
    if refused:
        notes.append(refusal_note(refused))
        if not items:
            raise ParseError("; ".join(notes), text)
    if extraction.truncated:
        notes.append("the reply was cut off; kept the complete candidates")
    distribution = build_distribution(
        items,
        config,
        raw=text,
        reasoning=extraction.reasoning,
        truncated=extraction.truncated,
        warnings=notes,
    )
    return _check_count(distribution, config, k)


def drop_invalid(items: Sequence[Item], valid: ValidPredicate | None) -> tuple[list[Item], list[str]]:
    """``items`` without the ones ``valid`` refuses, and the refused texts in reply order.

    The one place a candidate is judged, for :func:`parse` and the engine's loop. Items with
    empty text are kept without asking ``valid`` (the caller drops them with its own note).

    Example:
        >>> kept, refused = drop_invalid([Item("Ohio", 0.5, 0), Item("Houston", 0.5, 1)], lambda t: t != "Houston")
        >>> [item.text for item in kept], refused
        (['Ohio'], ['Houston'])

    """
    if valid is None:
        return list(items), []
    kept: list[Item] = []
    refused: list[str] = []
    for item in items:
        if item.text and not valid(item.text):
            refused.append(item.text)
        else:
            kept.append(item)
    return kept, refused


def refusal_note(refused: Sequence[str]) -> str:
    """The warning naming the candidates ``valid`` refused."""
    return f"valid() refused {len(refused)} candidate(s), dropped (still in raw): " + ", ".join(
        shown(text) for text in refused
    )


def shown(text: str, limit: int = 60) -> str:
    """``text`` on one line, cut to ``limit`` characters, quoted: how warnings name a candidate."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def read_reply(text: str, config: VSConfig, valid: ValidPredicate | None = None) -> Distribution:
    """Read one reply and apply ``config.on_failure`` to it, as the engine does after its last retry.

    What an output parser does (both frameworks' use this, so they behave alike). A reply with
    fewer than the asked-for candidates (``config.turn_size``) gives: ``partial`` the candidates
    read, ``raise`` a :class:`ParseError` carrying them, ``fallback`` the raw reply as one
    candidate (a warning names the shortfall). A reply with no candidate raises
    :class:`ParseError` unless ``on_failure="fallback"``. ``valid`` drops refused candidates as
    :func:`parse` does.

    Example:
        >>> read_reply("1. tea (Prob: 0.5)", VSConfig(k=2, on_failure="fallback")).warnings
        ('the reply held 1 distinct candidate(s); wanted 2; fell back to the raw reply',)

    Raises:
        ParseError: As said above; ``err.raw`` is ``text``.
    """
    try:
        distribution = parse(text, config, valid=valid)
    except ParseError as exc:
        if config.on_failure != "fallback":
            raise
        return _fallback(text, f"no candidate found; fell back to the raw reply ({exc})")
    wanted = config.turn_size
    if len(distribution) >= wanted or config.on_failure == "partial":
        return distribution
    shortfall = f"the reply held {len(distribution)} distinct candidate(s); wanted {wanted}"
    if config.on_failure == "fallback":
        return _fallback(text, f"{shortfall}; fell back to the raw reply")
    raise ParseError(shortfall, text, distribution)


def _fallback(text: str, warning: str) -> Distribution:
    return Distribution([Candidate(text.strip(), 1.0, None, 0)], raw=text, warnings=[warning])


def _check_count(distribution: Distribution, config: VSConfig | None, k: int | None) -> Distribution:
    """Add a warning when the number of candidates is not the one asked for."""
    expected = k if k is not None else (config.k if config is not None and config.variant != "multi" else None)
    if expected is None or len(distribution) == expected:
        return distribution
    note = f"expected {expected} candidates, found {len(distribution)}"
    return distribution.replace(warnings=[*distribution.warnings, note])


class StreamParser:
    """Incremental parser: feed the reply as it streams, get each candidate once it is complete.

    The stream detects the reply's format once (:class:`StreamDetector`); that format's reader
    then finds where each record ends and reads the finished record as :func:`parse` reads it.
    Candidates returned by :meth:`feed` carry the probability the model stated, read as a
    fraction (``raw_probability``, and ``probability`` clipped to [0, 1], 0.0 when none was
    stated); each text is given once (case-insensitively). :meth:`close` parses the whole reply:
    the normalised distribution is exactly what :func:`parse` gives. Every scan resumes where
    the previous chunk's stopped, so streaming costs time linear in the reply's length.

    Args:
        config: The settings the reply was asked with.

    Example:
        >>> parser = StreamParser()
        >>> parser.feed('{"responses": [{"text": "a", "probability": 0.6}')
        [Candidate(text='a', probability=0.6, raw_probability=0.6, index=0)]
        >>> parser.feed(', {"text": "b", "probability": 0.4}]}')[0].text
        'b'
        >>> len(parser.close())
        2

    """

    def __init__(self, config: VSConfig | None = None) -> None:
        self.config = config
        self._text = ""
        self._detector = StreamDetector()
        self._reader: FormatStream | None = None  # once the format is known
        self._given: set[str] = set()  # the texts given so far, case-folded
        self._closed = False

    @property
    def text(self) -> str:
        """Everything fed so far."""
        return self._text

    def feed(self, chunk: str) -> list[Candidate]:
        """Add a chunk; return the candidates it completed, in reply order."""
        if self._closed:
            raise ValueError("StreamParser.feed() called after close()")
        if not isinstance(chunk, str):
            raise TypeError(f"StreamParser.feed() needs a str chunk; got {type(chunk).__name__}")
        # Detach the text first: with a single reference CPython extends it in place, so a
        # reply fed in many small chunks is not copied once per chunk.
        text = self._text
        self._text = ""
        text += chunk
        self._text = text
        if self._reader is None:
            self._reader = self._detector.detect(text)
            if self._reader is None:
                return []
            chunk = text  # the reader has read nothing yet
        fresh: list[Candidate] = []
        for body, probability, index in self._reader.feed(text, chunk):
            if body and body.casefold() not in self._given:
                self._given.add(body.casefold())
                stated = read_probability(probability)
                fresh.append(Candidate(body, 0.0 if stated is None else min(stated, 1.0), stated, index))
        return fresh

    def close(self) -> Distribution:
        """End of reply: the normalised distribution over everything fed.

        Raises:
            ParseError: If the reply holds no candidate.

        """
        self._closed = True
        return parse(self._text, self.config)
