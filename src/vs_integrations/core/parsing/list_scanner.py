"""The list scanner: bullet, numbered and lettered items, with or without a stated probability.

An item runs from its bullet to the next bullet line. Its probability is what it states at its
end: ``(Prob: 0.2)``, ``(Probability 20%)``, ``(0.2)``, ``: 20%``, ``- 0.2``, or a
``Probability: 0.2`` line. Several numbered items may share one line (``1. X, 2. Y``).
Every pattern here is anchored on a literal or bounded in length, so the scan is linear.
"""

from __future__ import annotations

import re
from itertools import islice

from .items import MAX_ITEMS, Extraction, Item, too_many_items

__all__ = [
    "BULLET",
    "BULLET_AFTER_INDENT",
    "MARKER_LENGTH",
    "MARKER_OPENING",
    "PROBABILITY_MARKER",
    "ListStream",
    "extract_list",
    "list_start",
    "search_bullet",
    "split_stated_probability",
]

# Case-insensitive only after the literal "(" so the regex engine can scan for it quickly. Its
# white space is bounded, so a marker is at most MARKER_LENGTH characters long: a stream knows how
# far back one that is still arriving can start.
_MARKER_BODY = (
    r"\((?i:\s{0,10}(?:(?:prob(?:ability)?|confidence|weight)\s{0,10}[:=]?|p\s{0,10}[:=])"
    r"\s{0,10}([^()\n]{0,40}?)\s{0,10})"
)
PROBABILITY_MARKER = re.compile(_MARKER_BODY + r"\)")
# A marker still arriving: matched from its "(" to the end of the text, it ends where its ")" may come.
MARKER_OPENING = re.compile(_MARKER_BODY + r"\Z")
MARKER_LENGTH = len("(") + 4 * 10 + len("probability:") + 40 + len(")")
# "(1.)" as well as "1.", "2)", "(3)", "4:"; after a Markdown heading's "#"s too ("### 1. Red").
# At most 13 characters after the indent (the stream decides a line's bullet from 16).
_BULLET_BODY = (
    r"[ \t]*(?:\#{1,6}[ \t])?(?:•|[\-*+–](?=[ \t])|\(?(\d{1,3})(?:\.\)|[.):])(?!\d)|\(?[A-Za-z]\)(?=[ \t]))[ \t]*"
)
BULLET = re.compile(_BULLET_BODY)  # matched at a line start
# A line that starts (after its indent) the way a bullet starts. Searching for this first and
# then matching BULLET is ~10x faster than searching "\n" + BULLET, where the regex engine
# backtracks through the indent of every line into each bullet alternative. The indent is
# possessive since no bullet starts with a space or tab.
_BULLET_LINE = re.compile(r"\n[ \t]*+(?:[•\-*+–(\d#]|[A-Za-z]\))")
# A newline and the bullet after it, in one match: finding every bullet after the first is one
# ``finditer``. The same possessive indent keeps it linear.
_NEXT_BULLET = re.compile(r"\n[ \t]*+" + _BULLET_BODY.removeprefix("[ \t]*"))
BULLET_AFTER_INDENT = re.compile(_BULLET_BODY.removeprefix("[ \t]*"))  # BULLET from a line's first non-blank
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?:\s*%|\s*/\s*\d+(?:\.\d+)?)?"
# What an unlabelled number must look like to be read as a probability: 0.2, .2, 20%, 1/6.
_STATED = r"(?:\d*\.\d+|\d+(?:\.\d*)?\s*%|\d+\s*/\s*\d+)"
# A probability stated at the very end of an item (its tail, a bounded window, is searched).
_TAIL = re.compile(
    r"(?:"
    rf"[\s,;:\-–—(\[]\s*(?i:(?:prob(?:ability)?|confidence|weight)\s*[:=]?|p\s*[:=])\s*({_NUMBER})\s*[)\]]?"
    rf"|\(\s*({_STATED})\s*\)"
    rf"|\s*[:=\-–—]\s*({_STATED})"
    rf"|,\s*(\d+(?:\.\d*)?\s*%)"
    r")[\s,;.]*\Z"
)
_TAIL_WINDOW = 80
# Every form _TAIL reads holds a label (prob, p:, confidence, weight) or a stated number's ".", "%" or "/".
_TAIL_HINT = re.compile(r"[.%/]|(?i:prob|confidence|weight|p\s*[:=])")
_TAIL_ENDS = frozenset("0123456789%)]")  # the last character of any stated probability above
_TAIL_TRIM = " \t\r\n,;."  # what may follow a stated probability at the end of an item
_ITEM_BREAK = re.compile(r"\n[ \t]*(?:\n|```)")  # a blank line or a fence line ends an item's text
_TRIM = " \t\r\n-–—:,;"
_BLANKS = re.compile(r"[ \t]*+")
_REASONING_LINE = re.compile(r"^\s*reasoning\s*:\s*", re.IGNORECASE)
_CLOSING_QUOTE = {'"': '"', "“": "”"}


def _may_state_probability(text: str) -> bool:
    """Whether ``text`` ends as a stated probability does, with a label or a number's ".", "%" or "/" near its end."""
    return (
        text.rstrip(_TAIL_TRIM)[-1:] in _TAIL_ENDS
        and _TAIL_HINT.search(text, max(0, len(text) - _TAIL_WINDOW)) is not None
    )


def split_stated_probability(text: str) -> tuple[str, str | None]:
    """Split a probability stated at the end of ``text`` from the text itself.

    Example:
        >>> split_stated_probability("Black: 20%")
        ('Black', '20%')
        >>> split_stated_probability("New York (the city)")
        ('New York (the city)', None)

    """
    if not _may_state_probability(text):
        # No stated probability can end here (no label and no ".", "%" or "/" near the end:
        # a plain number is not a probability): skip the regex.
        return _clean(text), None
    tail = _TAIL.search(text, max(0, len(text) - _TAIL_WINDOW))
    if tail is None:
        return _clean(text), None
    value = next(group for group in tail.groups() if group is not None)
    return _clean(text[: tail.start()]), value


def _clean(text: str) -> str:
    text = text.strip(_TRIM)
    if text[:1] in "*_":
        # Markdown emphasis around the whole text is formatting, not content.
        for mark in ("**", "__", "*"):
            if len(text) > 2 * len(mark) and text.startswith(mark) and text.endswith(mark):
                text = text[len(mark) : -len(mark)].strip()
                break
    closing = _CLOSING_QUOTE.get(text[:1])
    # So are quotes around the whole text ("Red"), when it holds no other of them.
    if closing is not None and len(text) > 2 and text[-1] == closing and text.count(closing) == 1 + (closing == '"'):
        return text[1:-1].strip()
    return text


_INLINE_NUMBER = re.compile(r"(?:[,;]\s*|\s)(\d{1,3})[.)][ \t]+")
_INLINE_MISSES = 1000  # numbers that are not the next item's: past this many, the line is content


def _split_inline(line: str, number: int) -> list[str]:
    """``X, 2. Y, 3. Z`` after item ``number``'s bullet: the items that share its line.

    A following number splits the line when it is the next one and comes after a comma or
    semicolon, or after a space when the one after it follows too or the line was split already
    (so "I rolled a 2. Then" stays whole).
    """
    pieces: list[str] = []
    previous = 0
    expected = number + 1
    misses = 0
    followed = True  # whether item expected + 1 may still follow a space-separated cut
    for cut in _INLINE_NUMBER.finditer(line):
        if int(cut.group(1)) != expected:
            misses += 1
            if misses > _INLINE_MISSES:
                break
            continue
        if not pieces and line[cut.start()] not in ",;":
            # Searched at most once: if it is not after this cut, it is not after a later one.
            followed = followed and re.compile(rf"\s{expected + 1}[.)][ \t]+").search(line, cut.end()) is not None
            if not followed:
                continue
        pieces.append(line[previous : cut.start()])
        previous = cut.end()
        expected += 1
        if len(pieces) >= MAX_ITEMS:
            break
    if not pieces:
        return [line]
    pieces.append(line[previous:])
    return pieces


def search_bullet(text: str, pos: int = 0, endpos: int | None = None) -> re.Match[str] | None:
    """The first bullet that starts a line at or after ``pos`` (before ``endpos``), or None."""
    end = len(text) if endpos is None else endpos
    if pos == 0 or text[pos - 1 : pos] == "\n":
        bullet = BULLET.match(text, pos, end)
        if bullet is not None:
            return bullet
    while (line := _BULLET_LINE.search(text, pos, end)) is not None:
        bullet = BULLET.match(text, line.start() + 1, end)
        if bullet is not None:
            return bullet
        pos = line.start() + 1
    return None


def list_start(text: str, start: int = 0) -> int:
    """Where a list starts from ``start`` on: its first bullet line, or its first marker's line; -1 if none."""
    bullet = search_bullet(text, start)
    marker = PROBABILITY_MARKER.search(text, start, bullet.start() if bullet else len(text)) if "(" in text else None
    if marker is not None:
        line = text.rfind("\n", start, marker.start()) + 1
        return line if line else start
    return bullet.start() if bullet is not None else -1


def _block_items(block: str, number: int | None, items: list[Item]) -> tuple[bool, bool]:
    """Append the items of one bullet's block; returns (stated a probability, ends in a break).

    :func:`extract_list` reads the usual block (one line, no marker) itself.
    """
    markers = list(PROBABILITY_MARKER.finditer(block)) if "(" in block else []
    if len(markers) == 1 and not _clean(block[: markers[0].start()]):
        # "1. (Probability: 0.6) Paris": the probability comes first, the text after it.
        rest = block[markers[0].end() :]
        broken = _ITEM_BREAK.search(rest)
        items.append(Item(_clean(rest[: broken.start()] if broken else rest), markers[0].group(1), len(items)))
        return True, broken is not None
    if markers:
        previous = 0
        for marker in markers:
            segment = block[previous : marker.start()]
            if previous:
                segment = segment.lstrip(" \t\r\n,;.")
                bullet = BULLET.match(segment)
                if bullet is not None:
                    segment = segment[bullet.end() :]
            items.append(Item(_clean(segment), marker.group(1), len(items)))
            previous = marker.end()
        return True, _ITEM_BREAK.search(block, previous) is not None
    broken = _ITEM_BREAK.search(block)
    paragraph = (block[: broken.start()] if broken else block).rstrip()
    first_line_end = paragraph.find("\n")
    first_line = paragraph if first_line_end == -1 else paragraph[:first_line_end]
    pieces = _split_inline(first_line, number) if number is not None else [first_line]
    if len(pieces) > 1 and first_line_end == -1:
        stated = False
        for piece in pieces:
            text, probability = split_stated_probability(piece)
            stated |= probability is not None
            items.append(Item(text, probability, len(items)))
        return stated, broken is not None
    text, probability = split_stated_probability(paragraph)
    if probability is None and first_line_end != -1:
        # "1. Red: 20%" followed by lines about it: the item is its first line.
        head, head_probability = split_stated_probability(first_line)
        if head_probability is not None:
            text, probability = head, head_probability
    items.append(Item(text, probability, len(items)))
    return probability is not None, broken is not None


def extract_list(text: str, start: int) -> Extraction | None:
    """The candidates of a list reply whose first item starts at ``start``.

    Returns:
        The items, or None when there is no item. When most items state a probability and the
        reply ends inside a last item that states none, that item was cut off: it is dropped
        and the extraction is marked truncated.

    """
    bullet = search_bullet(text, start)
    if bullet is None:
        bullets: list[tuple[int, int, str | None]] = []  # (start, end, number) of each bullet
    else:
        # One bullet past MAX_ITEMS, to mark where the last kept item ends.
        following = islice(_NEXT_BULLET.finditer(text, bullet.end()), MAX_ITEMS)
        bullets = [(bullet.start(), bullet.end(), bullet.group(1))]
        bullets += [(match.start() + 1, match.end(), match.group(1)) for match in following]
    first = bullets[0][0] if bullets else len(text)
    # Text before the first bullet that holds a marker is an item of its own ("Red (Prob: 0.2), ...").
    lead = start < first and PROBABILITY_MARKER.search(text, start, first) is not None
    if not bullets and not lead:
        return None
    capped = len(bullets) > MAX_ITEMS
    read = min(len(bullets), MAX_ITEMS)
    items: list[Item] = []
    last_stated = last_broken = restarted = False
    stated_count = 0
    if lead:
        last_stated, last_broken = _block_items(text[start:first], None, items)
        stated_count = last_stated
    previous_number = None
    ends = [bullet[0] for bullet in bullets[1:]]
    ends.append(len(text))
    for (_, block_start, digits), block_end in zip(bullets[:read], ends, strict=False):
        number = None
        if digits is not None:
            number = int(digits)
            if last_broken and previous_number is not None and number <= previous_number:
                # After a break, numbering starts again: a second list (models repeat themselves); stop.
                restarted = True
                break
            previous_number = number
        block = text[block_start:block_end]
        paragraph = block.rstrip() if "(" not in block else "\n"
        if "\n" not in paragraph and (number is None or _INLINE_NUMBER.search(paragraph) is None):
            # The usual block: one line, no marker, no second item on it, read without the
            # searches of _block_items. A break can only be in its trailing whitespace.
            last_broken = len(block) - len(paragraph) > 1 and _ITEM_BREAK.search(block, len(paragraph)) is not None
            body, probability = split_stated_probability(paragraph)
            last_stated = probability is not None
            items.append(Item(body, probability, len(items)))
        else:
            last_stated, last_broken = _block_items(block, number, items)
        stated_count += last_stated
        if len(items) >= MAX_ITEMS:
            capped = True
            del items[MAX_ITEMS:]
            break
    truncated = False
    warnings: list[str] = [too_many_items()] if capped else []
    if restarted:
        warnings.append("read the first numbered list only; a second one restarted its numbering after a break")
    elif not capped and not last_stated and not last_broken and stated_count and stated_count >= lead + read - 1:
        # The others state a probability and the reply stops inside this one: cut off.
        items.pop()
        truncated = True
    kept = [item for item in items if item[0]]
    if not kept:
        return None if not truncated else Extraction([], None, True, "list")
    if len(kept) < len(items):
        warnings.append(f"skipped {len(items) - len(kept)} list item(s) with no text")
        kept = [Item(item[0], item[1], index) for index, item in enumerate(kept)]
    reasoning = None
    if start:
        # VS-CoT's reasoning paragraph comes before the list; other preambles are not reasoning.
        preamble = text[:start].strip()
        if _REASONING_LINE.match(preamble):
            reasoning = _REASONING_LINE.sub("", preamble).strip() or None
    return Extraction(kept, reasoning, truncated, "list", tuple(warnings))


class ListStream:
    r"""The candidates of a streaming list reply: an item ends at its ``(Prob: x)`` or at the next bullet line.

    Each finished block is read by :func:`extract_list`, as the one-shot reader reads it. The
    searches for line breaks and markers resume where the previous ones stopped (less a
    marker's length), so streaming costs time linear in the reply's length.

    Args:
        start: Where the list starts in the reply.

    Example:
        >>> stream = ListStream(0)
        >>> stream.feed("1. Red (Prob: 0.6)\n2. Bl", "1. Red (Prob: 0.6)\n2. Bl")
        [Item(text='Red', probability='0.6', index=0)]

    """

    def __init__(self, start: int) -> None:
        self._block = start  # where the current item's block starts (its bullet)
        self._segment = start  # where its text not yet emitted starts (after a marker)
        self._marked = False  # whether the current block has had a marker
        self._line = start  # start of the line not yet known to hold a bullet or not
        self._indent_end = start  # how far the blanks opening that line are read (read once each)
        self._newline_scan = start  # no newline before this was missed
        self._marker_scan = start
        self._count = 0
        self._number: int | None = None  # the last numbered bullet's number, up to the current block
        self._second_list = False  # a second list began: parse reads the first only, so nothing more comes

    def feed(self, text: str, chunk: str) -> list[Item]:
        """The items completed by ``chunk``, the end of ``text`` (everything so far)."""
        if self._second_list:
            return []
        end = len(text)
        fresh: list[Item] = []
        while True:
            bullet = None
            if self._line > self._block:
                # BULLET at the line's start; its indent, which may grow, is read once.
                self._indent_end = _BLANKS.match(text, max(self._indent_end, self._line)).end()  # type: ignore[union-attr]  # matches ""
                bullet = BULLET_AFTER_INDENT.match(text, self._indent_end)
                if bullet is not None and bullet.end() >= end:
                    return self._markers(text, end, fresh)  # its lookahead needs the next character
            if bullet is not None:
                self._markers(text, self._line, fresh)
                if not self._marked:
                    fresh.extend(self._items(text[self._block : self._line], first=True))
                if self._restarts(text, bullet):
                    self._second_list = True
                    return fresh
                self._block = self._segment = self._marker_scan = self._line
                self._marked = False
            newline = text.find("\n", self._line if self._line > self._newline_scan else self._newline_scan)
            # The markers up to this line's end belong to the current block; a later line may
            # start the next one (it is checked for a bullet first, in the next turn).
            self._markers(text, end if newline == -1 else newline + 1, fresh)
            if newline == -1:
                self._newline_scan = end
                return fresh
            self._line = self._newline_scan = newline + 1

    def _restarts(self, text: str, bullet: re.Match[str]) -> bool:
        """Whether ``bullet`` starts a second list, as extract_list decides: its numbering starts again after a break.

        A block ends in a break when it holds a blank line or a fence.
        """
        previous = BULLET.match(text, self._block)
        if previous is not None and previous[1] is not None:
            self._number = int(previous[1])
        if bullet[1] is None or self._number is None or int(bullet[1]) > self._number:
            return False
        return _ITEM_BREAK.search(text, self._block, self._line) is not None

    def _markers(self, text: str, stop: int, fresh: list[Item]) -> list[Item]:
        """Emit the items ended by a ``(Prob: x)`` marker before ``stop``."""
        while True:
            marker = PROBABILITY_MARKER.search(
                text, self._segment if self._segment > self._marker_scan else self._marker_scan, stop
            )
            if marker is None:
                tail = stop - MARKER_LENGTH
                if tail > self._marker_scan:
                    self._marker_scan = tail
                return fresh
            fresh.extend(self._items(text[self._segment : marker.end()], first=not self._marked))
            self._marked = True
            self._segment = self._marker_scan = marker.end()

    def _items(self, block: str, *, first: bool) -> list[Item]:
        if not first:
            block = block.lstrip(" \t\r\n,;.")
        extraction = extract_list(block, 0)
        if extraction is None:
            return []
        items = [item._replace(index=self._count + position) for position, item in enumerate(extraction.items)]
        self._count += len(items)
        return items
