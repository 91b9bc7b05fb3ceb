"""Format detection: which scanner reads a reply, and from where.

:func:`extract` reads a whole reply: one that opens with a format's structure is read in that
format first; otherwise the formats are tried in the order their structure first appears
(``config.format`` breaks ties). :class:`StreamDetector` picks, as the reply streams, the format
:func:`extract` would read it in, and returns that format's stream reader.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..config import VSConfig
from .items import Extraction
from .json_reader import BARE_BRACKET_OPEN, BARE_VALUES_LENGTH, bare_bracket_end, find_json_start, find_json_value
from .json_scanner import JsonStream, read_json
from .list_scanner import (
    BULLET,
    BULLET_AFTER_INDENT,
    MARKER_LENGTH,
    MARKER_OPENING,
    PROBABILITY_MARKER,
    ListStream,
    extract_list,
    list_start,
    search_bullet,
)
from .xml_scanner import XML_OPEN, XmlStream, extract_xml

__all__ = ["StreamDetector", "extract", "opening_format"]


def _extract_json_or_its_text(text: str, start: int) -> Extraction | None:
    """The JSON reply's candidates; when it has none, those of the text a candidate key holds, read as a reply."""
    extraction, inner = read_json(text, start)
    if inner is not None and len(inner) < len(text):
        nested = extract(inner)
        if nested.items:
            note = "read the candidates from the text under the reply's candidate key"
            return nested._replace(warnings=(*nested.warnings, note))
    return extraction


_EXTRACTORS: dict[str, Callable[[str, int], Extraction | None]] = {
    "json": _extract_json_or_its_text,
    "xml": extract_xml,
    "list": extract_list,
}
_NON_SPACE = re.compile(r"\S")
# VS-CoT's <reasoning>, and the <think> block reasoning models (DeepSeek-R1, Qwen3) open with.
_REASONING_TAGS = ("reasoning", "thinking", "think")
_REASONING_OPEN = re.compile(f"<(?i:{'|'.join(_REASONING_TAGS)})>")
_REASONING_CLOSE = re.compile(f"</(?i:{'|'.join(_REASONING_TAGS)})>")
# What opens reasoning, lower-cased as written: the tags, and VS-CoT's paragraph label.
_REASONING_OPENERS = (*(f"<{tag}>" for tag in _REASONING_TAGS), "reasoning:")
_REASONING_PARAGRAPH = re.compile(r"(?i:reasoning)[ \t]*:")
_PARAGRAPH_END = re.compile(r"\n[ \t]*\n")
# Numbers in brackets ("[3, 7, 42]"): the bare bracket read when nothing else holds a candidate.
_NUMBERS_LIST = re.compile(r"\[[0-9 \t.%+\-]{0,200}+,[0-9 \t.,%+\-]{0,200}+\]")


def opening_format(text: str) -> tuple[str, int] | None:
    """The format whose structure opens the reply, and where; None if the reply opens with prose."""
    first = _NON_SPACE.search(text)
    return None if first is None else _opening_at(text, first.start())


def _opening_at(text: str, at: int) -> tuple[str, int] | None:
    """:func:`opening_format` given where the reply's first non-space character is."""
    char = text[at]
    if char == "{" or char == "[":
        return "json", at
    if char == "<" and XML_OPEN.match(text, at):
        return "xml", at
    line_start = text.rfind("\n", 0, at) + 1
    if BULLET.match(text, line_start):
        return "list", line_start
    return None


def _format_order(text: str, hint: str | None, start: int = 0) -> list[tuple[str, int]]:
    """Every format whose structure appears in ``text`` from ``start`` on, with where it starts, earliest first.

    JSON starts at the first bracket that does not hold unquoted words or numbers only
    (:func:`~vs_integrations.core.parsing.json_scanner.find_json_value`).
    """
    positions: list[tuple[int, int, str]] = []
    json_at = find_json_value(text, start)
    if json_at != -1:
        positions.append((json_at, hint != "json", "json"))
    xml_at = XML_OPEN.search(text, start) if "<" in text else None
    if xml_at is not None:
        positions.append((xml_at.start(), hint != "xml", "xml"))
    list_at = list_start(text, start)
    if list_at != -1:
        positions.append((list_at, hint != "list", "list"))
    if len(positions) > 1:
        positions.sort()
    return [(name, at) for at, _, name in positions]


def extract(text: str, config: VSConfig | None = None) -> Extraction:
    """Find the candidates in ``text`` without interpreting their probabilities.

    An empty extraction (no items) means nothing usable was found.

    Example:
        >>> [item.text for item in extract("1. Red, 2. Blue").items]
        ['Red', 'Blue']

    """
    first = _NON_SPACE.search(text)
    if first is None:
        return Extraction([], None, False, None, ())
    # Steps in the reasoning ("1. ...", "- ...", "[a, b]") are not candidates: the formats after
    # it are read first, the whole reply only if they hold none. A reasoning model's <think> may
    # come before VS-CoT's own reasoning: two in a row are skipped.
    insides: list[str] = []
    following: re.Match[str] | None = first
    while following is not None and len(insides) < 2:
        after = _reasoning_end(text, following.start())
        if after == following.start():
            break
        insides.append(_reasoning_inside(text, following.start(), after))
        following = _NON_SPACE.search(text, after)
    if insides and following is not None:
        # What follows is read as a reply of its own, so a list may start on the reasoning's
        # last line ("</think>1. Red").
        rest = text if "\n" in text[after : following.start()] else text[after:]
        extraction = _extract_from(rest, following.start() - len(text) + len(rest), config)
        if extraction.items:
            if extraction.reasoning is None:
                return extraction._replace(reasoning="\n\n".join(filter(None, insides)) or None)
            return extraction
    return _extract_from(text, first.start(), config)


def _reasoning_end(text: str, at: int) -> int:
    """Where VS-CoT's reasoning ends when it opens the reply at ``at``; ``at`` if none does (or its end is unknown).

    The reasoning is a ``<reasoning>`` element (XML) or a paragraph starting ``Reasoning:`` (a
    list), as the CoT prompt asks (JSON holds it in a key of its own), or the ``<think>`` block
    a reasoning model opens its reply with.
    """
    ending = _reasoning_ending(text, at)
    if ending is None:
        return at
    end = ending.search(text, at)
    if end is None and ending is _REASONING_CLOSE:  # left open: it ends where the first response opens
        response = XML_OPEN.search(text, at)
        return at if response is None else response.start()
    return at if end is None else end.end()


def _reasoning_inside(text: str, at: int, end: int) -> str:
    """The text of the reasoning opening at ``at`` and ending at ``end``, without its tags or label."""
    opener = _REASONING_OPEN.match(text, at) or _REASONING_PARAGRAPH.match(text, at)
    inside = text[at if opener is None else opener.end() : end]
    closer = _REASONING_CLOSE.search(inside)
    return (inside if closer is None else inside[: closer.start()]).strip()


def _reasoning_ending(text: str, at: int) -> re.Pattern[str] | None:
    """What ends VS-CoT's reasoning opening the reply at ``at``: its closing tag, or a blank line; None if none."""
    if _REASONING_OPEN.match(text, at):
        return _REASONING_CLOSE
    if _REASONING_PARAGRAPH.match(text, at):
        return _PARAGRAPH_END
    return None


def _extract_from(text: str, at: int, config: VSConfig | None) -> Extraction:
    """:func:`extract` from ``at``, the first non-space character read."""
    opening = _opening_at(text, at)
    truncated = False
    if opening is not None:
        # A reply that opens with a format's structure would be tried in that format first
        # anyway: skip measuring where the other formats start.
        name, at = opening
        extraction = _EXTRACTORS[name](text, at)
        if extraction is not None:
            if extraction.items:
                return extraction
            truncated = extraction.truncated
    order = _format_order(text, config.format if config is not None else None, at)
    for name, start in order:
        if (name, start) == opening:
            continue  # read above
        extraction = _EXTRACTORS[name](text, start)
        if extraction is not None:
            if extraction.items:
                return extraction
            truncated |= extraction.truncated
    # Unquoted words or numbers in brackets, skipped by _format_order: when nothing else holds a
    # candidate, the first list of numbers ("[3, 7, 42]") is read; words ("[date]", a placeholder)
    # are prose.
    if "[" in text:
        past = find_json_value(text, at)
        numbers = _NUMBERS_LIST.search(text, at, len(text) if past == -1 else past)
        if numbers is not None and ("json", numbers.start()) != opening:
            extraction = _EXTRACTORS["json"](text, numbers.start())
            if extraction is not None:
                if extraction.items:
                    return extraction
                truncated |= extraction.truncated
    # A bracket or tag with nothing read from it: the reply was probably cut off.
    truncated = truncated or any(name != "list" for name, _ in order)
    return Extraction([], None, truncated, None, ())


_OVERLAP = 12  # longer than any opener, so one split across two chunks is still found
# Characters after a line's indent that settle whether it starts with a bullet (BULLET reads at most 13).
_BULLET_DECIDED = 16
_BLANKS = re.compile(r"[ \t]*+")
_LONGEST_OPENER = max(map(len, _REASONING_OPENERS))
_LONGEST_CLOSER = _LONGEST_OPENER + 1  # "</reasoning>": a tag's closer is one longer than its opener
_PARAGRAPH_OPENING = re.compile(r"(?i:reasoning)[ \t]{0,64}\Z")  # "Reasoning  " may still get its ":"


class StreamDetector:
    r"""Finds the format of a streaming reply, and where it starts, as :func:`extract` would read it.

    Reasoning that opens the reply is waited out first; then the first structure that appears
    (a JSON bracket, a ``<response`` tag, a bullet line or a probability marker) gives the
    reader. Every search resumes where the previous chunk's stopped, so detection costs time
    linear in the reply's length.

    Example:
        >>> detector = StreamDetector()
        >>> detector.detect("Sure! Here") is None
        True
        >>> type(detector.detect("Sure! Here:\n1. Red")).__name__
        'ListStream'

    """

    def __init__(self) -> None:
        self._detect_from = 0
        # The reply's last line, while no format is detected: where it starts, where its indent
        # ends (as far as read: final once a non-blank has come), and whether it is known to
        # start with a bullet or not. Its bullet may lie before the text the next search reads.
        self._line = self._indent_end = 0
        self._line_decided = False
        # Reasoning at the reply's opening (VS-CoT's <reasoning> element or paragraph starting
        # "Reasoning:", a reasoning model's <think> block): nothing is detected before its end
        # (_floor), as parse reads the formats after it first. _opening_known: whether the
        # opening is read; the two scans: where the search for the opening, then for the
        # reasoning's end, resumes.
        self._opening_known = False
        self._reasoning_scan = self._reasoning_end_scan = 0
        self._reasonings = 0  # how many have ended
        self._floor = 0
        # Where something still undecided starts (see _detect): a bracket that may still hold
        # unquoted values only, or a probability marker still arriving. The next search reads again from there.
        self._undecided = -1
        self._opening = -1  # where the reply's first non-blank after the reasoning is, once found

    def detect(self, text: str) -> JsonStream | XmlStream | ListStream | None:
        """The reader of the reply ``text`` (everything so far), once its format is known; else None."""
        if not self._opening_known and self._in_reasoning(text):
            return None
        return self._detect(text)

    def _in_reasoning(self, text: str) -> bool:
        """Whether the reply so far opens with reasoning not yet ended (or may still).

        It ends where :func:`_reasoning_end` says (a reasoning
        element left open is waited for to the end: a closing tag may still come). A second one
        may follow the first (a reasoning model's ``<think>``, then VS-CoT's), as parse reads it.
        """
        while True:
            opening = _NON_SPACE.search(text, self._reasoning_scan)
            if opening is None:
                self._reasoning_scan = len(text)  # blanks so far
                return False
            at = opening.start()
            ending = _reasoning_ending(text, at)
            if ending is None:
                opened = text[at : at + _LONGEST_OPENER].lower()
                if (
                    len(opened) < _LONGEST_OPENER and any(opener.startswith(opened) for opener in _REASONING_OPENERS)
                ) or _PARAGRAPH_OPENING.match(text, at):
                    self._reasoning_scan = at
                    return True  # it may still open the reasoning
                self._opening_known = True
                return False
            scan = self._reasoning_end_scan or at
            end = ending.search(text, scan)
            if end is None:
                if ending is _REASONING_CLOSE:
                    self._reasoning_end_scan = max(at, len(text) - _LONGEST_CLOSER)
                else:  # a blank line of any length: it starts at the last line break, if any
                    newline = text.rfind("\n", scan)
                    self._reasoning_end_scan = len(text) if newline == -1 else newline
                return True
            self._floor = self._detect_from = self._line = self._indent_end = end.end()
            self._reasonings += 1
            if self._reasonings == 2:
                self._opening_known = True
                return False
            self._reasoning_scan, self._reasoning_end_scan = end.end(), 0

    def _last_line_bullet(self, text: str) -> bool:
        """Whether the last line starts with a bullet (``BULLET`` at its start) whose end has come.

        Read incrementally: the indent once, then the bullet only when a chunk brings more than
        blanks, so a line padded with any number of blanks costs time linear in its length.
        """
        if self._line_decided:
            return False
        if self._indent_end >= self._detect_from:  # the indent may go on in the new text
            self._indent_end = _BLANKS.match(text, self._indent_end).end()  # type: ignore[union-attr]  # matches ""
            if self._indent_end == len(text):
                return False  # blanks so far
        elif _BLANKS.match(text, self._detect_from).end() == len(text):  # type: ignore[union-attr]  # matches ""
            return False  # only blanks came: they decide nothing
        bullet = BULLET_AFTER_INDENT.match(text, self._indent_end)
        if bullet is not None and bullet.end() < len(text):  # its lookahead needs the next character
            self._line_decided = True
            return True
        if bullet is None and len(text) - self._indent_end >= _BULLET_DECIDED:
            self._line_decided = True
        return False

    def _bracket_seen(self, text: str, at: int, bracket: int) -> int:
        """Where fed a character at a time the structure at ``at`` shows, as far as a ``[`` holds it back.

        ``bracket`` is the ``[`` or ``{`` found at ``at``, or -1 for another structure, which the
        last ``[`` before it holds back while that may still hold unquoted values only.
        """
        if bracket == -1:
            bracket = text.rfind("[", max(self._floor, at - BARE_VALUES_LENGTH - 1), at)
            if bracket == -1:
                return 0
        if text[bracket] == "{" or bracket == self._opening:
            return bracket + 1
        end = bare_bracket_end(text, bracket)
        return end + 1 if end >= at else 0

    def _detect(self, text: str) -> JsonStream | XmlStream | ListStream | None:
        # Read again from a bracket that may still hold unquoted values only, or a marker still
        # arriving: what follows it counts only once it is known (at most 200 characters, so this
        # stays linear).
        scanned = self._detect_from if self._undecided == -1 else self._undecided
        self._undecided = -1
        start = max(self._floor, scanned - _OVERLAP)
        found: list[tuple[int, str]] = []
        seen: list[tuple[int, int]] = []  # (where, seen at) for JSON and XML: where fed a character at a time shows it
        json_at = find_json_start(text, start)
        if json_at != -1:
            # As parse reads it (_format_order): unquoted values in brackets within the
            # text are not its JSON, unless they open it.
            if self._opening == -1:  # found once: blanks before it are not searched again at each chunk
                self._opening = _NON_SPACE.search(text, self._floor).start()  # type: ignore[union-attr]  # the bracket is one
            opening = self._opening
            if json_at != opening:
                json_at = find_json_value(text, json_at)
            if json_at != -1 and json_at != opening and BARE_BRACKET_OPEN.match(text, json_at):
                self._undecided = json_at
            elif json_at != -1:
                found.append((json_at, "json"))
                seen.append((json_at, self._bracket_seen(text, json_at, json_at)))
        xml_at = XML_OPEN.search(text, start)
        if xml_at is not None:
            found.append((xml_at.start(), "xml"))
            # Its lookahead needs the character after it; inside a bracket that may hold unquoted
            # values only, it waits for that bracket.
            seen.append((xml_at.start(), max(xml_at.end() + 1, self._bracket_seen(text, xml_at.start(), -1))))
        bullet = search_bullet(text, start)
        if bullet is not None and bullet.end() < len(text):  # its lookahead needs the next character
            found.append((bullet.start(), "list"))
        if self._last_line_bullet(text):
            found.append((self._line, "list"))  # a bullet padded past the overlap, come in pieces
        # A marker is longer than the overlap: one split across chunks is found from further back.
        marker = PROBABILITY_MARKER.search(text, max(self._floor, scanned - MARKER_LENGTH))
        if marker is not None:
            # Its line starts after the reasoning at the latest ("</think> Red (Prob: 0.6)").
            line = (text.rfind("\n", self._floor, marker.start()) + 1) or self._floor
            # A bracket or tag before it on its line that shows before the marker has ended is
            # read first, as when fed a character at a time (``Red ["warm"] (Prob: 0.5)``).
            if not any(line <= at < marker.start() and shown < marker.end() for at, shown in seen):
                found.append((line, "list"))
        newline = text.rfind("\n", self._detect_from)
        if newline != -1:
            self._line = newline + 1
            self._indent_end = _BLANKS.match(text, self._line).end()  # type: ignore[union-attr]  # matches ""
            self._line_decided = False
        self._detect_from = len(text)
        if self._undecided != -1:
            found = [(at, name) for at, name in found if at < self._undecided]
        if not found:
            return None
        at, name = min(found)
        # A structure inside a marker still arriving ("Red (Prob: {" before its ")"): once the
        # ")" comes, parse reads the marker's line as a list item. Only the last "(" can open one.
        marker_open = text.rfind("(", max(self._floor, len(text) - MARKER_LENGTH))
        if marker_open != -1 and at > marker_open and MARKER_OPENING.match(text, marker_open):
            self._undecided = marker_open
            return None
        if name == "json":
            return JsonStream(at)
        return XmlStream(at) if name == "xml" else ListStream(at)
