"""Reading a reply as it streams: each candidate as soon as it is complete.

The format is detected once, from the first structure that appears; from then on only that
format's closer is acted on, and every scan resumes where the previous chunk's scan stopped.
A chunk that cannot complete a candidate is checked with a few ``str.find`` calls and left
unread (JSON: no closer outside strings, strings lexed across chunks; XML: no ``<response`` or
``</response>``; lists: no newline and no marker's ``)``); the next chunk that can resumes the
scan and reads all the text since at once. Each part of a reply is read a bounded number of
times, so streaming costs time linear in its length whatever its texts hold; each candidate
emitted adds a few microseconds of Python work that a one-shot parse does in C or in one pass.
"""

from __future__ import annotations

import re
from typing import Any

from .items import Item
from .json_scanner import LIST_KEYS, LenientJson, closer_outside_strings, find_json_start, item_from_json
from .list_scanner import BULLET, PROBABILITY_MARKER, extract_list, search_bullet
from .xml_scanner import XML_OPEN, xml_block_item

__all__ = ["IncrementalScanner"]

_XML_CLOSE = re.compile(r"</(?i:response)>")
_OVERLAP = 12  # longer than any opener or closer, so one split across two chunks is still found
_LIST_KEY_SET = frozenset(LIST_KEYS)
_MARKER_REACH = 60  # a "(Prob: x)" marker is at most about this long: older text cannot start one
# Characters after a line's indent that settle whether it starts with a bullet (BULLET reads at most 6).
_BULLET_DECIDED = 16


class _JsonItems:
    """Candidates of a JSON reply, each emitted when its record's closing bracket arrives."""

    def __init__(self) -> None:
        self._reader = LenientJson()
        self._closed: list[tuple[Any, Any, int]] = []
        self._reader.on_close = self._closed
        self._candidates: list[Any] | None = None  # the list the candidates are in, once known
        # The text from _unread on has not been looked at; _quote says what it starts inside:
        # a string ('"' or "'"), a container outside strings (""), or nothing (None: top level).
        self._unread = 0
        self._quote: str | None = None
        self._fed = 0  # the length of the text at the previous feed

    def feed(self, text: str) -> list[Item]:
        if self._cannot_complete(text):
            return []
        # The reader skips to the first bracket itself, and resumes where it stopped.
        reader = self._reader
        reader.feed(text, final=False)
        if not reader.record_pending:
            self._unread, self._quote = reader.resume_state(text)
        if not self._closed:
            return []
        fresh: list[Item] = []
        for closed, parent, position in self._closed:
            if parent is self._candidates and parent is not None:  # the common case, once that list is known
                item = item_from_json(closed, position)
                if item is not None:
                    fresh.append(item)
            else:
                fresh.extend(self._candidates_in(closed, parent, position))
        self._closed.clear()
        return fresh

    def _cannot_complete(self, text: str) -> bool:
        """Whether the text not read yet cannot complete a container, so the reader need not read it yet.

        A container completes only at a closer outside strings (at the top level, only after an
        opening bracket). Until one arrives the reader is not called; then it reads all the text
        it has not read at once. The text before this chunk held no closer outside strings.
        """
        fed, self._fed = self._fed, len(text)
        if self._reader.record_pending:
            # The reader resumes lexing the record itself, as cheaply as this would.
            return text.find("}", fed) == -1 and text.find("]", fed) == -1
        if self._quote is None:
            if text.find("{", self._unread) == -1 and text.find("[", self._unread) == -1:
                self._unread = len(text)
                return True
            return False
        if text.find("}", fed) == -1 and text.find("]", fed) == -1:
            return True
        self._unread, quote = closer_outside_strings(text, self._unread, self._quote)
        if quote is None:
            return False
        self._quote = quote
        return True

    def _candidates_in(self, closed: Any, parent: Any, position: int) -> list[Item]:
        if self._candidates is None:
            if type(closed) is dict and type(parent) is list and item_from_json(closed, 0) is not None:
                self._candidates = parent
            elif type(closed) is list and (parent is None or self._named_list(closed, parent)):
                # {"responses": ["a", "b"]}: the strings are complete when their list closes.
                return [item for index, value in enumerate(closed) if (item := item_from_json(value, index))]
            elif parent is None and type(closed) is dict:
                item = item_from_json(closed, position)
                return [item] if item is not None else []
            else:
                return []
        if parent is not self._candidates:
            return []
        item = item_from_json(closed, position)
        return [item] if item is not None else []

    @staticmethod
    def _named_list(closed: list[Any], parent: Any) -> bool:
        # The list just closed is the value of its parent's last key (no key can follow while it is open).
        if type(parent) is not dict or not parent:
            return False
        key = next(reversed(parent))
        return parent[key] is closed and str(key).strip().lower() in _LIST_KEY_SET


class _XmlItems:
    """Candidates of an XML-ish reply, each emitted at its ``</response>`` (or where the next one opens)."""

    def __init__(self, start: int) -> None:
        self._scan = start
        self._tag = -1  # where the open <response>'s attributes start; -1 when none is open
        self._body = -1  # where its body starts; -1 while its ">" has not arrived
        self._count = 0

    def feed(self, text: str) -> list[Item]:
        if self._cannot_complete(text):
            return []
        scan = self._scan
        fresh: list[Item] = []
        while True:
            if self._tag == -1:
                opener = XML_OPEN.search(text, scan)
                if opener is None:
                    scan = max(scan, len(text) - _OVERLAP)
                    break
                self._tag, self._body = opener.end(), -1
                scan = opener.end()
            if self._body == -1:
                gt = text.find(">", scan)
                if gt == -1:
                    scan = len(text)
                    break
                self._body = scan = gt + 1
                if text[self._tag : gt].rstrip().endswith("/"):  # <response/>: nothing inside
                    self._tag = -1
                    continue
            close = _XML_CLOSE.search(text, scan)
            opener = XML_OPEN.search(text, scan, close.start() if close is not None else len(text))
            if opener is not None:
                fresh.append(self._item(text, opener.start()))  # left open: it ends where the next one opens
                scan = opener.start()
                continue
            if close is not None:
                fresh.append(self._item(text, close.start()))
                scan = close.end()
                continue
            scan = max(scan, len(text) - _OVERLAP)
            break
        self._scan = scan
        return fresh

    def _cannot_complete(self, text: str) -> bool:
        """Whether the text from the scan position on holds nothing the scan below acts on (and skip it then)."""
        scan = self._scan
        if self._tag != -1 and self._body == -1:
            if text.find(">", scan) != -1:
                return False
            self._scan = len(text)  # the open tag's ">" has not come
            return True
        # An opening or a closing tag starts with "<r" or "</r" (in any case).
        if (
            text.find("<r", scan) != -1
            or text.find("</r", scan) != -1
            or text.find("<R", scan) != -1
            or text.find("</R", scan) != -1
        ):
            return False
        self._scan = max(scan, len(text) - _OVERLAP)
        return True

    def _item(self, text: str, end: int) -> Item:
        attributes = text[self._tag : self._body - 1]
        item = xml_block_item(attributes, text[self._body : end], self._count)
        self._count += 1
        self._tag = self._body = -1
        return item


class _ListItems:
    """Candidates of a list reply: an item is complete at its ``(Prob: x)`` or when the next bullet line starts."""

    def __init__(self, start: int) -> None:
        self._block = start  # where the current item's block starts (its bullet)
        self._segment = start  # where its text not yet emitted starts (after a marker)
        self._marked = False  # whether the current block has had a marker
        self._line = start  # start of the line not yet known to hold a bullet or not
        self._newline_scan = start  # no newline before this was missed
        self._marker_scan = start
        self._count = 0
        self._fed = 0  # the length of the text at the previous feed
        # Whether the previous feed searched for markers up to its end, and the bullet-ness of
        # its last line cannot change: then only a newline or a marker's ")" can complete an item.
        self._settled = False

    def feed(self, text: str) -> list[Item]:
        if self._cannot_complete(text):
            return []
        end = len(text)
        fresh: list[Item] = []
        self._settled = False
        while True:
            bullet = None
            if self._line > self._block:
                bullet = BULLET.match(text, self._line)
                if bullet is not None and bullet.end() >= end:
                    return self._markers(text, end, fresh)  # its lookahead needs the next character
            stop = bullet.start() if bullet is not None else end
            self._markers(text, stop, fresh)
            if bullet is not None:
                if not self._marked:
                    fresh.extend(self._items(text[self._block : bullet.start()], first=True))
                self._block = self._segment = self._marker_scan = bullet.start()
                self._marked = False
            newline = text.find("\n", max(self._line, self._newline_scan))
            if newline == -1:
                self._newline_scan = end
                # A line that is no bullet with that many characters after its indent never becomes one.
                self._settled = bullet is None and (
                    self._line <= self._block
                    or len(text[self._line : self._line + 64 + _BULLET_DECIDED].lstrip(" \t")) >= _BULLET_DECIDED
                )
                return fresh
            self._line = self._newline_scan = newline + 1

    def _cannot_complete(self, text: str) -> bool:
        """Whether the new text can complete no item (a newline or a marker's ")" is needed); if so, skip it."""
        end = len(text)
        fed, self._fed = self._fed, end
        if not (
            self._settled
            and text.find("\n", fed) == -1
            and (text.find(")", fed) == -1 or text.find("(", max(self._marker_scan, self._segment)) == -1)
        ):
            return False
        # What the scan in feed does when nothing completes.
        self._marker_scan = max(self._marker_scan, end - _MARKER_REACH)
        self._newline_scan = end
        return True

    def _markers(self, text: str, stop: int, fresh: list[Item]) -> list[Item]:
        """Emit the items ended by a ``(Prob: x)`` marker before ``stop``."""
        while True:
            marker = PROBABILITY_MARKER.search(text, max(self._marker_scan, self._segment), stop)
            if marker is None:
                self._marker_scan = max(self._marker_scan, stop - _MARKER_REACH)
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


class IncrementalScanner:
    """Finds the complete candidates of a growing reply, reading each part of it about once.

    Example:
        >>> scanner = IncrementalScanner()
        >>> scanner.feed("1. Red (Prob: 0.5) 2. Bl")
        [Item(text='Red', probability='0.5', index=0)]

    """

    def __init__(self) -> None:
        self._detect_from = 0
        self._format: _JsonItems | _XmlItems | _ListItems | None = None

    def feed(self, text: str) -> list[Item]:
        """Candidates completed by the text added since the last call (``text`` is everything so far)."""
        if self._format is None:
            self._format = self._detect(text)
            if self._format is None:
                return []
        return self._format.feed(text)

    def _detect(self, text: str) -> _JsonItems | _XmlItems | _ListItems | None:
        start = max(0, self._detect_from - _OVERLAP)
        found: list[tuple[int, str]] = []
        json_at = find_json_start(text, start)
        if json_at != -1:
            found.append((json_at, "json"))
        xml_at = XML_OPEN.search(text, start)
        if xml_at is not None:
            found.append((xml_at.start(), "xml"))
        bullet = search_bullet(text, start)
        if bullet is not None and bullet.end() < len(text):  # its lookahead needs the next character
            found.append((bullet.start(), "list"))
        marker = PROBABILITY_MARKER.search(text, start)
        if marker is not None:
            found.append((text.rfind("\n", 0, marker.start()) + 1, "list"))
        self._detect_from = len(text)
        if not found:
            return None
        at, name = min(found)
        if name == "json":
            return _JsonItems()
        if name == "xml":
            return _XmlItems(at)
        return _ListItems(at)
