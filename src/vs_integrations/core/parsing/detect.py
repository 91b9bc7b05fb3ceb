"""Format detection: which scanner reads a reply, and from where.

A reply that opens with a format's structure is read in that format first; otherwise the
formats are tried in the order their structure first appears (``config.format`` breaks ties).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..config import VSConfig
from .items import Extraction
from .items import new_tuple as _new
from .json_scanner import find_json_value, read_json
from .list_scanner import BULLET, extract_list, list_start, search_bullet
from .xml_scanner import XML_OPEN, extract_xml

__all__ = [
    "EXTRACTORS",
    "NON_SPACE",
    "REASONING_CLOSE",
    "REASONING_OPENERS",
    "extract",
    "format_order",
    "may_hold_candidates",
    "opening_format",
    "reasoning_end",
    "reasoning_ending",
]


def _extract_json_or_its_text(text: str, start: int) -> Extraction | None:
    """The JSON reply's candidates; when it has none, those of the text a candidate key holds, read as a reply."""
    extraction, inner = read_json(text, start)
    if inner is not None and len(inner) < len(text):
        nested = extract(inner)
        if nested.items:
            note = "read the candidates from the text under the reply's candidate key"
            return nested._replace(warnings=(*nested.warnings, note))
    return extraction


EXTRACTORS: dict[str, Callable[[str, int], Extraction | None]] = {
    "json": _extract_json_or_its_text,
    "xml": extract_xml,
    "list": extract_list,
}
NON_SPACE = re.compile(r"\S")
# VS-CoT's <reasoning>, and the <think> block reasoning models (DeepSeek-R1, Qwen3) open with.
_REASONING_TAGS = ("reasoning", "thinking", "think")
_REASONING_OPEN = re.compile(f"<(?i:{'|'.join(_REASONING_TAGS)})>")
REASONING_CLOSE = re.compile(f"</(?i:{'|'.join(_REASONING_TAGS)})>")
# What opens reasoning, lower-cased as written: the tags, and VS-CoT's paragraph label.
REASONING_OPENERS = (*(f"<{tag}>" for tag in _REASONING_TAGS), "reasoning:")
_REASONING_PARAGRAPH = re.compile(r"(?i:reasoning)[ \t]*:")
_PARAGRAPH_END = re.compile(r"\n[ \t]*\n")
# Numbers in brackets ("[3, 7, 42]"): the bare bracket read when nothing else holds a candidate.
_NUMBERS_LIST = re.compile(r"\[[0-9 \t.%+\-]{0,200}+,[0-9 \t.,%+\-]{0,200}+\]")


def opening_format(text: str) -> tuple[str, int] | None:
    """The format whose structure opens the reply, and where; None if the reply opens with prose."""
    first = NON_SPACE.search(text)
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


def format_order(text: str, hint: str | None, start: int = 0) -> list[tuple[str, int]]:
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


def may_hold_candidates(text: str) -> bool:
    """Whether any format's structure appears in ``text``; False means no candidate can be read.

    Prose, mostly: without a bracket, a tag or a parenthesis, only a bullet line can start a
    format (a list). A few C scans, so :func:`~vs_integrations.core.parser.parse` refuses a
    reply of prose before :func:`extract` measures where each format starts.
    """
    if "{" in text or "[" in text or "<" in text or "(" in text:
        return True
    return search_bullet(text) is not None


def extract(text: str, config: VSConfig | None = None) -> Extraction:
    """Find the candidates in ``text`` without interpreting their probabilities.

    An empty extraction (no items) means nothing usable was found.

    Example:
        >>> [item.text for item in extract("1. Red, 2. Blue").items]
        ['Red', 'Blue']

    """
    first = NON_SPACE.search(text)
    if first is None:
        return _new(Extraction, ([], None, False, None, ()))
    # Steps in the reasoning ("1. ...", "- ...", "[a, b]") are not candidates: the formats after
    # it are read first, the whole reply only if they hold none. A reasoning model's <think> may
    # come before VS-CoT's own reasoning: two in a row are skipped.
    insides: list[str] = []
    following: re.Match[str] | None = first
    while following is not None and len(insides) < 2:
        after = reasoning_end(text, following.start())
        if after == following.start():
            break
        insides.append(_reasoning_inside(text, following.start(), after))
        following = NON_SPACE.search(text, after)
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


def reasoning_end(text: str, at: int) -> int:
    """Where VS-CoT's reasoning ends when it opens the reply at ``at``; ``at`` if none does (or its end is unknown).

    The reasoning is a ``<reasoning>`` element (XML) or a paragraph starting ``Reasoning:`` (a
    list), as the CoT prompt asks (JSON holds it in a key of its own), or the ``<think>`` block
    a reasoning model opens its reply with.
    """
    ending = reasoning_ending(text, at)
    if ending is None:
        return at
    end = ending.search(text, at)
    if end is None and ending is REASONING_CLOSE:  # left open: it ends where the first response opens
        response = XML_OPEN.search(text, at)
        return at if response is None else response.start()
    return at if end is None else end.end()


def _reasoning_inside(text: str, at: int, end: int) -> str:
    """The text of the reasoning opening at ``at`` and ending at ``end``, without its tags or label."""
    opener = _REASONING_OPEN.match(text, at) or _REASONING_PARAGRAPH.match(text, at)
    inside = text[at if opener is None else opener.end() : end]
    closer = REASONING_CLOSE.search(inside)
    return (inside if closer is None else inside[: closer.start()]).strip()


def reasoning_ending(text: str, at: int) -> re.Pattern[str] | None:
    """What ends VS-CoT's reasoning opening the reply at ``at``: its closing tag, or a blank line; None if none."""
    if _REASONING_OPEN.match(text, at):
        return REASONING_CLOSE
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
        extraction = EXTRACTORS[name](text, at)
        if extraction is not None:
            if extraction.items:
                return extraction
            truncated = extraction.truncated
    order = format_order(text, config.format if config is not None else None, at)
    for name, start in order:
        if (name, start) == opening:
            continue  # read above
        extraction = EXTRACTORS[name](text, start)
        if extraction is not None:
            if extraction.items:
                return extraction
            truncated |= extraction.truncated
    # Unquoted words or numbers in brackets, skipped by format_order: when nothing else holds a
    # candidate, the first list of numbers ("[3, 7, 42]") is read; words ("[date]", a placeholder)
    # are prose.
    if "[" in text:
        past = find_json_value(text, at)
        numbers = _NUMBERS_LIST.search(text, at, len(text) if past == -1 else past)
        if numbers is not None and ("json", numbers.start()) != opening:
            extraction = EXTRACTORS["json"](text, numbers.start())
            if extraction is not None:
                if extraction.items:
                    return extraction
                truncated |= extraction.truncated
    # A bracket or tag with nothing read from it: the reply was probably cut off.
    truncated = truncated or any(name != "list" for name, _ in order)
    return _new(Extraction, ([], None, truncated, None, ()))
