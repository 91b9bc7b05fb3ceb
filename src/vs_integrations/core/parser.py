"""Reading a verbalized distribution out of any model reply: the public facade.

:func:`parse` reads a whole reply, :class:`StreamParser` a reply as it streams. The stages live
in :mod:`vs_integrations.core.parsing`: format detection, one scanner per reply format (JSON,
XML-ish tags, lists) and normalisation of the items into a :class:`Distribution`. Every stage is
iterative and linear in the length of the reply, so no input can raise ``RecursionError`` or
stall the parser.
"""

from __future__ import annotations

from .config import VSConfig
from .distribution import Candidate, Distribution
from .errors import ParseError
from .parsing import Extraction, Item, build_distribution, extract, extract_records, read_probability
from .parsing.detect import may_hold_candidates
from .parsing.normalise import no_candidates_message, parse_exact_json, parse_exact_list, parse_numbered_list
from .parsing.stream import IncrementalScanner

__all__ = [
    "Extraction",
    "Item",
    "ParseError",
    "StreamParser",
    "build_distribution",
    "extract",
    "extract_records",
    "parse",
    "read_probability",
]


def parse(text: str, config: VSConfig | None = None, *, k: int | None = None) -> Distribution:
    """Read a verbalized distribution from a model reply.

    Args:
        text: The model's reply.
        config: The settings the reply was asked with (format hint, probability definition).
        k: If given, a warning is added when the number of candidates differs from ``k``.

    Returns:
        A normalised :class:`Distribution` that keeps ``text`` as ``raw``.

    Raises:
        ParseError: If the reply holds no candidate. ``err.raw`` is ``text``.

    Example:
        >>> parse("1. Red: 60%, 2. Blue: 40%").texts
        ['Red', 'Blue']

    """
    if not isinstance(text, str):
        raise TypeError(f"parse() needs the reply as a str; got {type(text).__name__}")
    # The shapes asked for first, read in one pass; they give what the general path would.
    head = text[:1]
    distribution = None
    if head == "{" or (head.isspace() and text.lstrip()[:1] == "{"):
        distribution = parse_exact_json(text, config)
    elif head.isdigit():
        distribution = parse_exact_list(text, config) or parse_numbered_list(text, config)
    if distribution is None:
        # Prose is refused before the general path. The error is raised here, not deeper: each
        # frame an exception leaves costs it a traceback entry.
        if not may_hold_candidates(text) or (distribution := _parse_general(text, config)) is None:
            raise ParseError(no_candidates_message(text), text)
    if config is None and k is None:
        return distribution  # no count to check (a call less on the hot path)
    return _check_count(distribution, config, k)


def _check_count(distribution: Distribution, config: VSConfig | None, k: int | None) -> Distribution:
    """Add a warning when the number of candidates is not the one asked for."""
    expected = k if k is not None else (config.k if config is not None and config.variant != "multi" else None)
    if expected is not None and len(distribution) != expected:
        note = f"expected {expected} candidates, found {len(distribution)}"
        distribution = distribution.replace(warnings=[*distribution.warnings, note])
    return distribution


def _parse_general(text: str, config: VSConfig | None) -> Distribution | None:
    """The distribution the general path reads from ``text``; None if it holds no candidate."""
    extraction = extract(text, config)
    if not extraction.items:
        return None
    notes = list(extraction.warnings)
    if extraction.truncated:
        notes.append("the reply was cut off; kept the complete candidates")
    return build_distribution(
        extraction.items,
        config,
        raw=text,
        reasoning=extraction.reasoning,
        truncated=extraction.truncated,
        warnings=notes,
    )


class StreamParser:
    """Incremental parser: feed the reply as it streams, get each candidate once it is complete.

    Candidates returned by :meth:`feed` carry the probability the model stated, read as a
    fraction (``raw_probability``, and ``probability`` clipped to [0, 1], 0.0 when none was
    stated); the normalised distribution comes from :meth:`close`, which parses the whole reply
    once (a JSON, list or XML reply exactly as asked for is not parsed again: the records or
    lines read while streaming give it). A feed that cannot complete a candidate costs a few string
    searches; the others read only the text not read yet (plus a few characters of overlap), so
    streaming costs time linear in the reply's length, a few times one parse of it: each chunk
    and each candidate costs some Python work that a one-shot parse does in C or in one pass.

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
        self._scanner = IncrementalScanner()
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
        return self._scanner.feed(text, chunk)

    def close(self) -> Distribution:
        """End of reply: the normalised distribution over everything fed.

        Raises:
            ParseError: If the reply holds no candidate.

        """
        self._closed = True
        distribution = self._scanner.distribution(self._text, self.config)
        if distribution is None:
            return parse(self._text, self.config)
        return _check_count(distribution, self.config, None)
