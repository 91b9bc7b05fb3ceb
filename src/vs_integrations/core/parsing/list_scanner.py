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
from .items import new_tuple as _new

__all__ = [
    "BULLET",
    "BULLET_AFTER_INDENT",
    "CLEAN_EDGE",
    "ITEM_BREAK",
    "MARKER_LENGTH",
    "PLAIN_LINE",
    "PROBABILITY_MARKER",
    "extract_list",
    "list_start",
    "marked_line_item",
    "numbered_list_items",
    "plain_list_pairs",
    "search_bullet",
    "split_stated_probability",
]

# Case-insensitive only after the literal "(" so the regex engine can scan for it quickly. Its
# white space is bounded, so a marker is at most MARKER_LENGTH characters long: a stream knows how
# far back one that is still arriving can start.
PROBABILITY_MARKER = re.compile(
    r"\((?i:\s{0,10}(?:(?:prob(?:ability)?|confidence|weight)\s{0,10}[:=]?|p\s{0,10}[:=])"
    r"\s{0,10}([^()\n]{0,40}?)\s{0,10})\)"
)
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
_P_LABEL = re.compile(r"p\s*[:=]")
_TAIL_ENDS = frozenset("0123456789%)]")  # the last character of any stated probability above
_TAIL_TRIM = " \t\r\n,;."  # what may follow a stated probability at the end of an item
ITEM_BREAK = re.compile(r"\n[ \t]*(?:\n|```)")  # a blank line or a fence line ends an item's text
_TRIM = " \t\r\n-–—:,;"
_REASONING_LINE = re.compile(r"^\s*reasoning\s*:\s*", re.IGNORECASE)
# The shape asked for, one item per line: read in one pass when the whole reply is like it.
# Greedy: the text runs to the line's end and backs off to the marker, a few characters at most.
# The text holds no "(": "1. Red (Probability: 0.5) 2. Blue (Probability: 0.5)" is two items.
_PLAIN_ITEM = re.compile(r"^\d{1,3}\. ([^\n(]*) \(Probability: ([0-9.]+)\)$", re.MULTILINE)
# What _clean removes at a text's ends besides white space (dashes, colons, emphasis, quotes): a
# text that neither starts nor ends with one is read alike by the one-pass paths and the
# general path; the one-pass paths leave any other text to it.
CLEAN_EDGE = '-–—:,;*_"“”'
_CLOSING_QUOTE = {'"': '"', "“": "”"}
# One line of that shape up to its marker's ")", its text holding no "(": the marker is then the
# line's first "(", so streaming reads the line as the item _PLAIN_ITEM reads. The probability is
# at most as long as PROBABILITY_MARKER reads one, so the general reader sees the same marker.
# The text: no line break and no "(", written as the ranges it holds (faster in sre than a negated class).
PLAIN_LINE = re.compile(
    rf"\d{{1,3}}\. [ \t]*+(?![{CLEAN_EDGE}\s])([\x00-\t\x0b-'\)-\U0010ffff]*[^{CLEAN_EDGE}\s(])[ \t]*"
    r" \(Probability: ([0-9.]{1,40})\)"
)


def _may_state_probability(text: str) -> bool:
    """Whether :func:`split_stated_probability` would look for a probability at the end of ``text``."""
    if text.rstrip(_TAIL_TRIM)[-1:] not in _TAIL_ENDS:
        return False
    # _TAIL_HINT's search, with str methods (each a C scan; the regex tries every position).
    tail = text[-_TAIL_WINDOW:]
    if "." in tail or "%" in tail or "/" in tail:
        return True
    if not tail.isascii():
        # The regex's case folding also takes a few other letters (the dotless "ı" for "i").
        return _TAIL_HINT.search(tail) is not None
    tail = tail.lower()
    return (
        "prob" in tail
        or "confidence" in tail
        or "weight" in tail
        or ("p" in tail and _P_LABEL.search(tail) is not None)
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


def plain_list_pairs(text: str) -> list[tuple[str, str]] | None:
    """(text, probability) of each line when every line is ``N. text (Probability: p)``, else None.

    The texts are trimmed; None too when one starts or ends with what :func:`_clean` removes.
    """
    stripped = text.strip()
    if _PLAIN_ITEM.match(stripped) is None:
        return None  # the first line is not of the shape: no need to look at the others
    matches: list[tuple[str, str]] = _PLAIN_ITEM.findall(stripped)
    if not matches or len(matches) != stripped.count("\n") + 1:
        return None
    pairs = []
    for body, probability in matches:
        body = body.strip()
        if body and (body[0] in CLEAN_EDGE or body[-1] in CLEAN_EDGE):
            return None
        pairs.append((body, probability))
    return pairs


# The fallback shape of small models: a numbered list, one item a line, no probabilities, maybe
# prose after a blank line. _NUMBERED_BLOCK spans the item lines; no "(" (no marker) in them.
_NUMBERED_BLOCK = re.compile(r"(?:\d{1,3}\.[ \t]+[^\s(][^\n(]*(?:\n|\Z))+")
_NUMBERED_LINE = re.compile(r"\d{1,3}\.[ \t]+([^\n]*)")


def numbered_list_items(text: str) -> list[Item] | None:
    r"""The items of a numbered list without probabilities, read in one pass; None if it is not one.

    The list opens the reply, has one item per line, states no probability and holds no second
    item on a line; prose may follow after a blank line. For every reply it accepts, this gives
    the items :func:`extract_list` reads (a property test holds it to that); None sends anything
    else to it.

    Example:
        >>> [item.text for item in numbered_list_items("1. Red\n2. Blue\n\nBoth are colours.")]
        ['Red', 'Blue']

    """
    block = _NUMBERED_BLOCK.match(text)
    if block is None:
        return None
    end = block.end()
    rest = text[end:]
    if rest and not rest.isspace():
        # Prose after the list: it must start after a break (else it would belong to the last
        # item) and hold no bullet line or marker (else more items would be read).
        if text[end - 1] != "\n" or ITEM_BREAK.match(text, end - 1) is None:
            return None
        if search_bullet(text, end) is not None or ("(" in rest and PROBABILITY_MARKER.search(rest) is not None):
            return None
    lines = list(map(str.rstrip, _NUMBERED_LINE.findall(text, 0, end)))
    if len(lines) >= MAX_ITEMS:
        return None  # extract_list warns at the cap
    if _INLINE_NUMBER.search("\x00".join(lines)) is not None:  # the pattern cannot match across \x00
        return None
    if any(map(_may_state_probability, lines)):
        return None
    texts = list(map(_clean, lines))
    if "" in texts:
        return None
    return [_new(Item, (body, None, index)) for index, body in enumerate(texts)]


def _plain_list(text: str) -> Extraction | None:
    matches = plain_list_pairs(text)
    if matches is None:
        return None
    items = [_new(Item, (body, probability, index)) for index, (body, probability) in enumerate(matches)]
    return _new(Extraction, (items, None, False, "list", ()))


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
        broken = ITEM_BREAK.search(rest)
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
        return True, ITEM_BREAK.search(block, previous) is not None
    broken = ITEM_BREAK.search(block)
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


def marked_line_item(block: str, index: int) -> Item | None:
    """The item :func:`extract_list` reads from ``block`` when it is one bullet line ending in its only marker.

    That is most of what a list reply streams: ``- Red (Prob: 0.5)``. Returns None for any other
    block (:func:`extract_list` reads it then): several lines, no bullet, no marker at the end, an
    empty text, or the asked shape (read by the one-pass path, which trims less).

    Example:
        >>> marked_line_item("1. **Red** (Prob: 0.5)", 0)
        Item(text='Red', probability='0.5', index=0)

    """
    if "\n" in block:
        return None
    bullet = BULLET.match(block)
    if bullet is None:
        return None
    marker = PROBABILITY_MARKER.search(block, bullet.end())
    if marker is None or marker.end() != len(block):
        return None
    if "(Probability: " in block and _PLAIN_ITEM.match(block.strip()) is not None:
        return None
    text = _clean(block[bullet.end() : marker.start()])
    return _new(Item, (text, marker.group(1), index)) if text else None


def extract_list(text: str, start: int) -> Extraction | None:
    """The candidates of a list reply whose first item starts at ``start``.

    Returns:
        The items, or None when there is no item. When most items state a probability and the
        reply ends inside a last item that states none, that item was cut off: it is dropped
        and the extraction is marked truncated.

    """
    if start == 0:
        plain = _plain_list(text)
        if plain is not None:
            return plain
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
            last_broken = len(block) - len(paragraph) > 1 and ITEM_BREAK.search(block, len(paragraph)) is not None
            body, probability = split_stated_probability(paragraph)
            last_stated = probability is not None
            items.append(_new(Item, (body, probability, len(items))))
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
        kept = [_new(Item, (item[0], item[1], index)) for index, item in enumerate(kept)]
    reasoning = None
    if start:
        # VS-CoT's reasoning paragraph comes before the list; other preambles are not reasoning.
        preamble = text[:start].strip()
        if _REASONING_LINE.match(preamble):
            reasoning = _REASONING_LINE.sub("", preamble).strip() or None
    return _new(Extraction, (kept, reasoning, truncated, "list", tuple(warnings)))
