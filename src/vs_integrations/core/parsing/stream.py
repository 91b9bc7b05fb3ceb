"""Reading a reply as it streams: each candidate as soon as it is complete.

The format is detected once, from the first structure that appears; from then on only that
format's closer is acted on, and every scan resumes where the previous chunk's scan stopped.
A chunk that cannot complete a candidate is checked with a few ``str.find`` calls and left
unread (JSON: no closer outside strings, strings lexed across chunks; XML: no ``<response`` or
``</response>``; lists: no newline and no marker's ``)``); the next chunk that can resumes the
scan and reads all the text since at once. Each part of a reply is read a bounded number of
times, so streaming costs time linear in its length whatever its texts hold; each candidate
emitted adds a few microseconds of Python work that a one-shot parse does in C or in one pass.
A JSON, list or XML reply exactly as asked for is read by :class:`_ExactJsonItems`,
:class:`_ExactListItems` or :class:`_ExactXmlItems` (one regex a record or line), which give
candidates themselves and keep what the one-shot parse reads from it, so the stream's end
costs no second parse.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from json.decoder import scanstring  # type: ignore[attr-defined]  # the C string decoder json.loads uses
from typing import Any

from ..config import VSConfig
from ..distribution import Candidate, Distribution
from .detect import (
    NON_SPACE,
    REASONING_CLOSE,
    REASONING_OPENERS,
    reasoning_ending,
)
from .items import Item
from .items import new_tuple as _new
from .json_scanner import (
    BARE_BRACKET_OPEN,
    LIST_KEYS,
    STRICT_SCAN,
    LenientJson,
    bracket_outside_strings,
    closer_outside_strings,
    find_json_start,
    find_json_value,
    is_record,
    item_from_json,
    pair_texts,
)
from .list_scanner import (
    BULLET,
    BULLET_AFTER_INDENT,
    ITEM_BREAK,
    MARKER_LENGTH,
    PLAIN_LINE,
    PROBABILITY_MARKER,
    extract_list,
    marked_line_item,
    search_bullet,
)
from .normalise import build_distribution, converts_numbers, exact_distribution, read_probability
from .xml_scanner import XML_OPEN, xml_block_item

__all__ = ["IncrementalScanner"]

_XML_CLOSE = re.compile(r"</(?i:response)>")
_OVERLAP = 12  # longer than any opener or closer, so one split across two chunks is still found
# On the paths run at every chunk, "a if a > b else b" stands for max(a, b): the builtin call
# costs more than the rest of such a line.
_LIST_KEY_SET = frozenset(LIST_KEYS)
# Characters after a line's indent that settle whether it starts with a bullet (BULLET reads at most 13).
_BULLET_DECIDED = 16
_BLANKS = re.compile(r"[ \t]*+")
_LONGEST_OPENER = max(map(len, REASONING_OPENERS))
_LONGEST_CLOSER = _LONGEST_OPENER + 1  # "</reasoning>": a tag's closer is one longer than its opener
_PARAGRAPH_OPENING = re.compile(r"(?i:reasoning)[ \t]{0,64}\Z")  # "Reasoning  " may still get its ":"


class _JsonItems:
    """Candidates of a JSON reply, each emitted when its record's closing bracket arrives."""

    def __init__(self, start: int) -> None:
        self._reader = LenientJson(start)  # as parse reads it: from the structure detected, not an earlier bracket
        self._closed: list[tuple[Any, Any, int]] = []
        self._reader.on_close = self._closed
        self._candidates: list[Any] | None = None  # the list the candidates are in, once known
        # The text from _unread on has not been looked at; _quote says what it starts inside:
        # a string ('"' or "'"), a container outside strings (""), or nothing (None: top level).
        self._unread = start
        self._quote: str | None = None

    def feed(self, text: str, chunk: str) -> list[Item]:
        if self._cannot_complete(text, chunk):
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

    def _cannot_complete(self, text: str, chunk: str) -> bool:
        """Whether the text not read yet cannot complete a container, so the reader need not read it yet.

        A container completes only at a closer outside strings (at the top level, only after an
        opening bracket). Until one arrives the reader is not called; then it reads all the text
        it has not read at once. The text before ``chunk`` held no closer outside strings.
        """
        if self._reader.record_pending:
            # The reader resumes lexing the record itself, as cheaply as this would.
            return "}" not in chunk and "]" not in chunk
        if self._quote is None:
            if text.find("{", self._unread) == -1 and text.find("[", self._unread) == -1:
                self._unread = len(text)
                return True
            return False
        if "}" not in chunk and "]" not in chunk:
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
                # {"responses": ["a", "b"]}: the strings are complete when their list closes (a list
                # of their probabilities after it is not read yet: parse pairs them, by text alike).
                values = pair_texts(closed, {})
                return [item for index, value in enumerate(values) if (item := item_from_json(value, index))]
            elif parent is None and is_record(closed):
                # A record on its own (JSON lines); parse reads no other object as one.
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
        # Whether the list is the value of a candidate-list key. Keys may have followed it by the
        # time its close is handled (one feed reads on past it), so every key is looked at.
        return type(parent) is dict and any(
            value is closed and str(key).strip().lower() in _LIST_KEY_SET for key, value in parent.items()
        )


_JSON_SPACE = re.compile(r"[ \t\n\r]*+")  # JSON's white space only: the C decoder takes no other
# The asked reply's head, up to its list's "[" (with the CoT variant's reasoning first).
_EXACT_HEAD = re.compile(
    r'\{[ \t\n\r]*+(?:"reasoning"[ \t\n\r]*+:[ \t\n\r]*+("[^"\\\x00-\x1f]*+(?:\\.[^"\\\x00-\x1f]*+)*+")'
    r'[ \t\n\r]*+,[ \t\n\r]*+)?"responses"[ \t\n\r]*+:[ \t\n\r]*+\['
)
_NEXT_OPENER = re.compile(r"[ \t\n\r]*+,[ \t\n\r]*+\{")  # between two records
# A record exactly as asked for: a text without escapes and a number with a fraction or an
# exponent (a float to the C decoder), then the "," before the next record if one follows. The
# C decoder reads such a record as {"text": group 1, "probability": float(group 2)}. The record's
# start up to its text, and the characters that text may hold, are also matched on their own:
# a record whose text is still arriving is read on from where that text goes on.
_ASKED_TEXT_OPEN = r'\{[ \t\n\r]*+"text"[ \t\n\r]*+:[ \t\n\r]*+"'
# No escape, quote or control character. Written as the ranges it holds: sre reads a class of
# ranges twice as fast as a negated one.
_ASKED_TEXT_CHARS = r"[ !#-\[\]-\U0010ffff]*+"
_ASKED_RECORD = re.compile(
    _ASKED_TEXT_OPEN + "(" + _ASKED_TEXT_CHARS + r')"[ \t\n\r]*+,'
    r'[ \t\n\r]*+"probability"[ \t\n\r]*+:[ \t\n\r]*+'
    r"(-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++(?:[eE][-+]?[0-9]++)?|[eE][-+]?[0-9]++))"
    r"[ \t\n\r]*+\}(?:[ \t\n\r]*+,[ \t\n\r]*+(?=\{))?+"
)
_ASKED_OPEN = re.compile(_ASKED_TEXT_OPEN + _ASKED_TEXT_CHARS)
_ASKED_TEXT = re.compile(_ASKED_TEXT_CHARS)
# Where _ExactJsonItems is: lexing the head or a record up to its bracket, or expecting, after
# white space, a record, a "," or "]" after one, the "}" after the list, nothing after that.
_HEAD, _RECORD, _NEXT_RECORD, _AFTER_RECORD, _AFTER_LIST, _DONE = range(6)


class _Given:
    """The texts of the candidates given so far: the stream gives each text once (case-insensitively)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def candidates(self, items: list[Item]) -> list[Candidate]:
        """The candidates of ``items`` not given yet, with the probability each states (clipped to [0, 1])."""
        if not items:
            return []
        fresh: list[Candidate] = []
        seen = self.seen
        for body, probability, index in items:
            key = body.casefold()
            if not body or key in seen:
                continue
            seen.add(key)
            if type(probability) is float and 0.0 <= probability <= 1.0:  # what read_probability gives it
                fresh.append(_new(Candidate, (body, probability, probability, index)))
                continue
            stated = read_probability(probability)
            provisional = 0.0 if stated is None else min(stated, 1.0)
            fresh.append(_new(Candidate, (body, provisional, stated, index)))
        return fresh


class _KeptCandidates:
    """The candidates the one-shot exact path builds, kept while streaming a reply exactly as asked for.

    ``exact`` turns False at the first candidate that path refuses (then :meth:`distribution`
    gives None and ``close()`` parses the reply). With ``keep=False`` it only gives them.
    """

    def __init__(self, given: _Given, *, keep: bool = True) -> None:
        self.exact = keep
        self.given = given
        self._candidates: list[Candidate] = []
        self._total = 0.0

    def give(self, body: str, stated: float, index: int, fresh: list[Candidate]) -> None:
        """Give and keep a candidate: its trimmed text and its stated probability, a float in [0, 1].

        While the reply is exact, every text given was kept, so the texts given are the kept ones.
        """
        key = body.casefold()
        seen = self.given.seen
        if body and key not in seen:
            seen.add(key)
            candidate = _new(Candidate, (body, stated, stated, index))
            fresh.append(candidate)
            if self.exact:
                self._total += stated
                self._candidates.append(candidate)
        else:
            self.exact = False  # the exact path refuses an empty or repeated text

    def give_stated(self, body: str, stated_text: str, index: int, fresh: list[Candidate]) -> None:
        """Give a candidate whose probability is written out: kept if it reads as a float in [0, 1]."""
        try:
            stated: float | None = float(stated_text)  # what read_probability reads from it, when in [0, 1]
        except ValueError:
            stated = None
        if stated is not None and 0.0 <= stated <= 1.0:
            self.give(body, stated, index, fresh)
        else:
            self.give_other(_new(Item, (body, stated_text, index)), fresh)

    def give_other(self, item: Item | None, fresh: list[Candidate]) -> None:
        """Give the candidate of a record or line the exact path refuses (the general reader's item)."""
        self.exact = False
        if item is not None:
            fresh.extend(self.given.candidates([item]))

    def distribution(self, text: str, reasoning: str | None, config: VSConfig | None) -> Distribution | None:
        """What the one-shot exact path builds from the kept candidates; None where it refuses the reply."""
        if not self.exact or not self._candidates or converts_numbers(config):
            return None
        return exact_distribution(self._candidates, self._total, text, reasoning)


class _ExactReader:
    """What the readers of a reply exactly as asked for share: the candidates they give, and keep.

    At the first text that leaves the asked shape, the general reader takes over from the start
    of the reply: it gives the candidates read so far again (dropped, as given already).
    """

    def __init__(self, given: _Given, *, keep: bool = True) -> None:
        self._kept = _KeptCandidates(given, keep=keep)
        self._general: _JsonItems | _XmlItems | _ListItems | None = None

    def _forward(self, text: str, chunk: str) -> list[Candidate]:
        """After a hand-over: what the general reader gives."""
        return self._kept.given.candidates(self._general.feed(text, chunk))  # type: ignore[union-attr]  # handed over

    def _hand_over(
        self, general: _JsonItems | _XmlItems | _ListItems, text: str, fresh: list[Candidate]
    ) -> list[Candidate]:
        self._general = general
        return fresh + self._forward(text, text)  # the general reader has read nothing yet


def _exact_json_at(text: str, at: int) -> bool:
    """Whether the JSON value at ``at`` may be the reply exactly as asked for (only white space before its "{")."""
    return text[at] == "{" and _JSON_SPACE.match(text).end() == at  # type: ignore[union-attr]  # matches ""


def _exact_list_at(text: str, at: int) -> bool:
    """Whether the list at ``at`` may be the reply exactly as asked for (it opens the reply, numbered)."""
    return at == 0 and text[:1].isdigit()


def _decode_to_first_closer(text: str, pos: int) -> tuple[Any, int]:
    """The record at ``pos`` and its end, if the C decoder reads it up to the first "}" after it; else (None, 0).

    Most records end there. Not tried when a string is open there (an odd number of quotes, no
    escapes): the decoder would fail, and a failure costs ten times a success. Nor when a list
    is inside: the general reader reads it (its depth limit included).
    """
    close = text.find("}", pos)
    if (
        close != -1
        and text.find("[", pos, close) == -1
        and (text.count('"', pos, close) % 2 == 0 or text.find("\\", pos, close) != -1)
    ):
        try:
            value, stop = STRICT_SCAN(text[pos : close + 1], 0)  # an error counts lines: a slice
            return value, stop + pos
        except (ValueError, RecursionError, StopIteration):
            pass
    return None, 0


class _ExactJsonItems(_ExactReader):
    """The reply exactly as asked for, ``{"responses": [{"text": ..., "probability": ...}, ...]}``.

    That is what constrained decoding streams. Each record is read when its closer arrives (by
    one regex in the usual shape, else by the C decoder) and also kept as the candidate the
    one-shot exact path builds, so that :meth:`distribution` need not parse the reply again. A
    record whose text is still coming is tried again once that text has ended and a closer
    follows it: closers inside texts cost no lexing.
    """

    def __init__(self, start: int, given: _Given) -> None:
        super().__init__(given)
        self._state = _HEAD
        self._pos = start  # where reading goes on: the head's or the record's "{" while lexing one
        self._scan = start + 1  # where lexing it resumes, and the quote of the string open there
        self._quote = ""
        self._decode_tried = False  # whether the record at _pos has been tried whole
        # While the record at _pos, as asked so far, is inside its text: where that text goes on.
        self._text_scan = 0
        self._count = 0
        self._reasoning: str | None = None

    def feed(self, text: str, chunk: str) -> list[Candidate]:
        if self._general is not None:
            return self._forward(text, chunk)
        if self._state == _RECORD and (not self._decode_tried or self._text_scan):
            # A record opens at _pos. It completes only at a closer after its text: then one
            # regex reads it as asked, else _read reads it. No closer was after _pos (or, inside
            # its text, after its end) before this chunk.
            if not self._decode_tried:
                if "}" not in chunk and "]" not in chunk:
                    return []
            else:
                # Inside its text, which may hold closers: only its end, then a closer after it.
                at = self._text_scan = _ASKED_TEXT.match(text, self._text_scan).end()  # type: ignore[union-attr]  # matches ""
                if at == len(text):
                    return []
                fed = len(text) - len(chunk)
                after = text[at if at > fed else fed :]
                if "}" not in after and "]" not in after:
                    return []
            record = _ASKED_RECORD.match(text, self._pos)
            if record is not None:
                return self._read_asked(record, text)
            if not self._decode_tried and self._wait_in_text(text, self._pos):
                return []
            return self._read(text, tried=True)
        # Only a closer completes a record (or makes the general reader give one, after a hand
        # over); the head's "[" is lexed when one comes, from where lexing stopped.
        if "}" not in chunk and "]" not in chunk:
            return []
        return self._read(text)

    def distribution(self, text: str, config: VSConfig | None) -> Distribution | None:
        """What the one-shot exact path reads from ``text``; None where it would refuse it."""
        if self._general is not None or self._state != _DONE:
            return None
        if _JSON_SPACE.match(text, self._pos).end() != len(text):  # type: ignore[union-attr]  # matches ""
            return None
        return self._kept.distribution(text, self._reasoning, config)

    def _wait_in_text(self, text: str, pos: int) -> bool:
        """Whether the record at ``pos``, as asked so far, is inside its text or no closer follows its text.

        If so it is tried again once its text has ended and a closer follows (from _text_scan).
        """
        opened = _ASKED_OPEN.match(text, pos)
        if opened is None:
            return False
        at = opened.end()
        after = text[at:]
        if at == len(text) or ("}" not in after and "]" not in after):
            self._decode_tried, self._text_scan = True, at
            return True
        return False

    def _read_asked(self, record: re.Match[str], text: str) -> list[Candidate]:
        """Give ``record``, the record at _pos as asked, and those following it as asked; then read on."""
        fresh: list[Candidate] = []
        self._decode_tried, self._text_scan = False, 0
        while True:
            self._give(record[1], float(record[2]), fresh)
            pos = record.end()
            if text[pos - 1] == "}":  # the regex did not read a "," after it: no record follows at once
                self._state, self._pos = _AFTER_RECORD, pos
                return fresh + self._read(text)
            # A record opens at pos (the regex reads the "," only before a "{").
            self._pos, self._scan = pos, pos + 1
            rest = text[pos:]  # a slice and two "in" cost less than two finds from pos
            if "}" not in rest and "]" not in rest:
                return fresh  # it is read once a closer comes
            record = _ASKED_RECORD.match(text, pos)  # type: ignore[assignment]  # checked below
            if record is None:
                return fresh if self._wait_in_text(text, pos) else fresh + self._read(text, tried=True)

    def _read(self, text: str, *, tried: bool = False) -> list[Candidate]:
        """Read on from _pos in the state the reader is in.

        ``tried``: the record at _pos was tried (the regex did not read it, nor is it waiting in its text).
        """
        fresh: list[Candidate] = []
        state, pos, end = self._state, self._pos, len(text)
        while True:
            if state == _RECORD:
                record = None
                value: Any = None
                if not self._decode_tried:
                    # One try a record whole, so texts holding closers cost one failed try a
                    # record, not one a chunk: the usual record by one regex, else the C decoder.
                    self._decode_tried = True
                    if tried:
                        record = None  # nor is it inside its text
                    else:
                        record = _ASKED_RECORD.match(text, pos)
                        if record is None and self._wait_in_text(text, pos):
                            break
                    if record is None:
                        value, stop = _decode_to_first_closer(text, pos)
                elif self._text_scan:
                    # Its text has ended (or holds what the asked shape does not): tried again
                    # whole, else lexed on from inside that text.
                    record = None if tried else _ASKED_RECORD.match(text, pos)
                    self._scan, self._quote, self._text_scan = self._text_scan, '"', 0
                tried = False
                if record is None and value is None:
                    at, quote = bracket_outside_strings(text, self._scan, self._quote)
                    if quote is not None:
                        self._scan, self._quote = at, quote
                        break
                    if text[at] != "}":
                        return self._hand_over(_JsonItems(0), text, fresh)  # a container inside the record
                    # Strict JSON has no "}" outside strings before its end: it ends at at.
                    record = _ASKED_RECORD.match(text, pos)
                    if record is None:
                        try:
                            value = STRICT_SCAN(text[pos : at + 1], 0)[0]
                        except (ValueError, RecursionError, StopIteration):
                            return self._hand_over(_JsonItems(0), text, fresh)
                        stop = at + 1
                if record is not None:
                    self._give(record[1], float(record[2]), fresh)
                    pos = record.end()
                    if text[pos - 1] == "}":
                        state = _AFTER_RECORD
                        continue
                    # The regex read the "," too: the next record opens at pos.
                else:
                    self._take(value, fresh)
                    state, pos = _AFTER_RECORD, stop
                    following = _NEXT_OPENER.match(text, pos)
                    if following is None:
                        continue
                    pos = following.end() - 1  # the usual ", {" at once
            elif state == _HEAD:
                at, quote = bracket_outside_strings(text, self._scan, self._quote)
                if quote is not None:
                    self._scan, self._quote = at, quote
                    break
                head = _EXACT_HEAD.fullmatch(text, pos, at + 1)
                if head is None:
                    return self._hand_over(_JsonItems(0), text, fresh)
                if head.group(1) is not None:
                    try:
                        self._reasoning = scanstring(head.group(1), 1)[0]
                    except ValueError:  # an escape JSON does not have
                        return self._hand_over(_JsonItems(0), text, fresh)
                state, pos = _NEXT_RECORD, at + 1
                continue
            else:
                pos = _JSON_SPACE.match(text, pos).end()  # type: ignore[union-attr]  # matches ""
                if pos == end:
                    break
                char = text[pos]
                if state == _AFTER_RECORD and char == ",":
                    state, pos = _NEXT_RECORD, pos + 1
                    continue
                if state == _AFTER_RECORD and char == "]":
                    state, pos = _AFTER_LIST, pos + 1
                    continue
                if state == _AFTER_LIST and char == "}":
                    state, pos = _DONE, pos + 1
                    continue
                if state != _NEXT_RECORD or char != "{":
                    return self._hand_over(_JsonItems(0), text, fresh)
            # A record opens at pos.
            state, self._scan, self._quote, self._decode_tried = _RECORD, pos + 1, "", False
            if text.find("}", pos) == -1 and text.find("]", pos) == -1:
                break  # it cannot be complete: it is read once a closer comes
        self._state, self._pos = state, pos
        return fresh

    def _give(self, body: str, stated: float, fresh: list[Candidate]) -> None:
        """Give the candidate of ``{"text": body, "probability": stated}``; keep it if the exact path would."""
        if 0.0 <= stated <= 1.0:
            self._kept.give(body.strip(), stated, self._count, fresh)
        else:
            self._kept.give_other(_new(Item, (body.strip(), stated, self._count)), fresh)
        self._count += 1

    def _take(self, record: dict[str, Any], fresh: list[Candidate]) -> None:
        """Give the candidate of any record the C decoder read, and keep it if the exact path would."""
        body = record.get("text")
        stated = record.get("probability")
        if type(body) is str and (type(stated) is float or (type(stated) is int and 0 <= stated <= 1)):
            self._give(body, float(stated), fresh)  # (an int out of range may be too large for a float)
        else:
            self._kept.give_other(item_from_json(record, self._count), fresh)
            self._count += 1


# Where a ``<response`` or ``</response>`` tag may start: "<r" or "</r" in any case. Searched
# for before a chunk is read (one search costs less than four finds).
_MAY_BE_TAG = re.compile(r"</?[rR]")


class _XmlItems:
    """Candidates of an XML-ish reply, each emitted at its ``</response>`` (or where the next one opens)."""

    def __init__(self, start: int) -> None:
        self._scan = start
        self._tag = -1  # where the open <response>'s attributes start; -1 when none is open
        self._body = -1  # where its body starts; -1 while its ">" has not arrived
        self._count = 0

    def feed(self, text: str, chunk: str) -> list[Item]:
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
        if _MAY_BE_TAG.search(text, scan) is not None:
            return False
        tail = len(text) - _OVERLAP
        self._scan = scan if scan > tail else tail
        return True

    def _item(self, text: str, end: int) -> Item:
        attributes = text[self._tag : self._body - 1]
        item = xml_block_item(attributes, text[self._body : end], self._count)
        self._count += 1
        self._tag = self._body = -1
        return item


# A record exactly as asked for (its text may hold entities; its probability none): what the
# one-shot parse reads from it, and the item the general reader gives at its "</response>".
_ASKED_XML_RECORD = re.compile(
    r"<response>\s*+<text>([^<]*+)</text>\s*+<probability>([^<&]*+)</probability>\s*+</response>"
)
_SPACE = re.compile(r"\s*+")
_XML_TAG = re.compile(r"</(?i:response)>|<(?i:response)(?=[\s>/])")  # a closing tag, or XML_OPEN


def _exact_xml_at(text: str, at: int) -> bool:
    """Whether the XML reply at ``at`` may be exactly as asked for (only white space before its "<response>")."""
    return text.startswith("<response>", at) and (at == 0 or text[:at].isspace())


class _ExactXmlItems(_ExactReader):
    """An XML reply exactly as asked for: ``<response><text>...</text><probability>...</probability></response>``.

    Each record is read by one regex at its ``</response>``, the moment the general reader
    gives it. The items are kept as the one-shot parse reads them, so that :meth:`distribution`
    need not read the reply again. At the first text that does not fit (once the general
    reader would give a candidate from it), the general reader takes over from the start.
    """

    def __init__(self, start: int, given: _Given) -> None:
        super().__init__(given, keep=False)  # gives only: close() reads the items below
        self._pos = start  # where the next record (or the white space before it) starts
        self._scan = start + 1  # no "</response>" before it, and no "<response" after the record's own
        self._items: list[Item] = []

    def feed(self, text: str, chunk: str) -> list[Candidate]:
        if self._general is not None:
            return self._forward(text, chunk)
        # The general reader gives a candidate only at a closing tag or an opening one after the
        # record's own.
        scan = self._scan
        if _MAY_BE_TAG.search(text, scan) is None:
            tail = len(text) - _OVERLAP
            self._scan = scan if scan > tail else tail
            return []
        fresh: list[Candidate] = []
        pos, end = self._pos, len(text)
        while True:
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]  # matches ""
            if pos == end:
                break
            scan = self._scan if self._scan > pos else pos + 1
            tag = _XML_TAG.search(text, scan)
            if tag is None:
                tail = end - _OVERLAP
                self._scan = scan if scan > tail else tail
                break
            record = _ASKED_XML_RECORD.match(text, pos)
            # The record ends at the first tag after it opens; a second opening tag would end it.
            if record is None or record.end() != tag.end():
                return self._hand_over(_XmlItems(0), text, fresh)
            # The item the general reader gives (entities decoded, trimmed), kept for close().
            body, stated_text, index = record[1], record[2], len(self._items)
            body = (html.unescape(body) if "&" in body else body).strip()
            self._items.append(_new(Item, (body, stated_text, index)))
            self._kept.give_stated(body, stated_text.strip(), index, fresh)
            pos = self._scan = record.end()
        self._pos = pos
        return fresh

    def distribution(self, text: str, config: VSConfig | None) -> Distribution | None:
        """What the one-shot parse reads from ``text``; None if it reads it otherwise than record by record."""
        if self._general is not None or not self._items:
            return None
        if _SPACE.match(text, self._pos).end() != len(text):  # type: ignore[union-attr]  # matches ""
            return None  # a record not read, or other text after the last one
        return build_distribution(self._items, config, raw=text, warnings=[])


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
        # Whether the previous feed searched for markers up to its end, and the bullet-ness of
        # its last line cannot change: then only a newline or a marker's ")" can complete an item.
        self._settled = False
        self._number: int | None = None  # the last numbered bullet's number, up to the current block
        self._second_list = False  # a second list began: parse reads the first only, so nothing more comes

    def feed(self, text: str, chunk: str) -> list[Item]:
        if self._cannot_complete(text, chunk):
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
            if bullet is not None:
                self._markers(text, bullet.start(), fresh)
                if not self._marked:
                    fresh.extend(self._items(text[self._block : bullet.start()], first=True))
                if self._restarts(text, bullet):
                    self._second_list = True
                    return fresh
                self._block = self._segment = self._marker_scan = bullet.start()
                self._marked = False
            newline = text.find("\n", self._line if self._line > self._newline_scan else self._newline_scan)
            # The markers up to this line's end belong to the current block; a later line may
            # start the next one (it is checked for a bullet first, in the next turn).
            self._markers(text, end if newline == -1 else newline + 1, fresh)
            if newline == -1:
                self._newline_scan = end
                # A line that is no bullet with that many characters after its indent never becomes one.
                self._settled = bullet is None and (
                    self._line <= self._block
                    or len(text[self._line : self._line + 64 + _BULLET_DECIDED].lstrip(" \t")) >= _BULLET_DECIDED
                )
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
        return ITEM_BREAK.search(text, self._block, bullet.start()) is not None

    def _cannot_complete(self, text: str, chunk: str) -> bool:
        """Whether ``chunk`` can complete no item (a newline or a marker's ")" is needed); if so, skip it."""
        if self._second_list:
            return True
        if not self._settled or "\n" in chunk:
            return False
        if ")" in chunk:
            scan = self._segment if self._segment > self._marker_scan else self._marker_scan
            if text.find("(", scan) != -1:
                return False
        end = len(text)
        # What the scan in feed does when nothing completes.
        tail = end - MARKER_LENGTH
        if tail > self._marker_scan:
            self._marker_scan = tail
        self._newline_scan = end
        return True

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
        item = marked_line_item(block, self._count)
        if item is not None:
            self._count += 1
            return [item]
        extraction = extract_list(block, 0)
        if extraction is None:
            return []
        items = [item._replace(index=self._count + position) for position, item in enumerate(extraction.items)]
        self._count += len(items)
        return items


class _ExactListItems(_ExactReader):
    """A list reply exactly as asked for, one ``N. text (Probability: p)`` a line.

    Each line is read by one regex when its marker's ")" arrives (the item the general reader
    gives at that moment), and kept as the candidate the one-shot exact path builds, so that
    :meth:`distribution` need not parse the reply again. At the first line that does not fit,
    the general reader takes over from the start of the reply, as :class:`_ExactJsonItems` does.
    """

    def __init__(self, given: _Given) -> None:
        super().__init__(given)
        self._line = 0  # where the next line starts (or, after a line's ")", where it goes on)
        self._after_item = False  # whether _line is just after a line's ")"
        self._scan = 0  # where the search for the line's "(" resumes
        self._count = 0

    def feed(self, text: str, chunk: str) -> list[Candidate]:
        if self._general is not None:
            return self._forward(text, chunk)
        scan = self._line if self._line > self._scan else self._scan
        if "\n" not in chunk and (")" not in chunk or text.find("(", scan) == -1):
            return []  # an item completes at its marker's ")" (after its "("), or (not as asked) at a line's end
        fresh: list[Candidate] = []
        pos, end = self._line, len(text)
        while True:
            if self._after_item:
                if pos == end:
                    break
                if text[pos] != "\n":
                    return self._hand_over(_ListItems(0), text, fresh)  # text after the marker: not the asked line
                pos += 1
                self._after_item = False
            # The line's first "(" opens its marker (a ")" before it is text); the ")" after it,
            # or a line's end, settles whether the line is as asked. _scan: no "(" before it on
            # the line.
            scan = pos if pos > self._scan else self._scan
            opener = text.find("(", scan)
            if opener == -1:
                if text.find("\n", scan) != -1:
                    return self._hand_over(
                        _ListItems(0), text, fresh
                    )  # a line without a marker: the general reader gives it
                self._scan = end
                break
            # The asked line has no "(" before its marker's and no line break: a match is that line.
            line = PLAIN_LINE.match(text, pos) if text.startswith("(Probability: ", opener) else None
            if line is None:
                close = text.find(")", opener)
                if close == -1 and text.find("\n", scan) == -1:
                    self._scan = opener
                    break
                # Another marker ("(Prob: x)") that ends the line: the item the general reader
                # gives (the candidates are not the one-shot exact path's then).
                marker = PROBABILITY_MARKER.match(text, opener) if close != -1 else None
                item = None if marker is None else marked_line_item(text[pos : marker.end()], self._count)
                if item is None or text.find("\n", scan, opener) != -1:
                    return self._hand_over(_ListItems(0), text, fresh)  # its marker has come, or its end: not as asked
                self._kept.give_other(item, fresh)
                self._count += 1
                pos, self._after_item = marker.end(), True  # type: ignore[union-attr]  # an item has a marker
                continue
            self._kept.give_stated(line[1].strip(), line[2], self._count, fresh)
            self._count += 1
            pos, self._after_item = line.end(), True
        self._line = pos
        return fresh

    def distribution(self, text: str, config: VSConfig | None) -> Distribution | None:
        """What the one-shot exact path reads from ``text``; None where it would refuse it."""
        if self._general is not None:
            return None
        if self._line != len(text) and not text[self._line :].isspace():
            return None  # a line not read (no ")"), or text after the last one
        return self._kept.distribution(text, None, config)


_Reader = _ExactJsonItems | _JsonItems | _ExactXmlItems | _XmlItems | _ExactListItems | _ListItems
_ExactReaders = _ExactJsonItems | _ExactXmlItems | _ExactListItems
_GeneralReader = _JsonItems | _XmlItems | _ListItems


class IncrementalScanner:
    """Finds the complete candidates of a growing reply, reading each part of it about once.

    Each candidate's text is given once (case-insensitively), with the probability it states.

    Example:
        >>> scanner = IncrementalScanner()
        >>> scanner.feed("1. Red (Prob: 0.5) 2. Bl", "1. Red (Prob: 0.5) 2. Bl")
        [Candidate(text='Red', probability=0.5, raw_probability=0.5, index=0)]

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
        self._bracket_open = -1  # a bracket that may still hold unquoted values only (see _detect)
        self._opening = -1  # where the reply's first non-blank after the reasoning is, once found
        self._exact: _ExactReaders | None = None
        self._general: _GeneralReader | None = None
        self._given = _Given()
        # Candidates completed by ``chunk``, the text added since the last call (``text`` is
        # everything so far, ``chunk`` its end). Once the format is known this is its reader's
        # feed (an exact reader gives candidates itself): a call less per chunk.
        self.feed: Callable[[str, str], list[Candidate]] = self._detect_then_feed

    def _detect_then_feed(self, text: str, chunk: str) -> list[Candidate]:
        if not self._opening_known and self._in_reasoning(text):
            return []
        reader = self._detect(text)
        if reader is None:
            return []
        if isinstance(reader, _ExactReader):
            self._exact = reader
            self.feed = reader.feed
        else:
            self._general = reader
            self.feed = self._general_feed
        return self.feed(text, text)  # the reader has read nothing yet

    def _general_feed(self, text: str, chunk: str) -> list[Candidate]:
        return self._given.candidates(self._general.feed(text, chunk))  # type: ignore[union-attr]  # set with this

    def distribution(self, text: str, config: VSConfig | None) -> Distribution | None:
        """The distribution of the whole reply ``text``, if known without parsing it again (else None).

        It is known when the reply was exactly the asked JSON, list or XML: the records or lines
        read while streaming then give what :func:`~vs_integrations.core.parser.parse` would build.
        """
        return None if self._exact is None else self._exact.distribution(text, config)

    def _in_reasoning(self, text: str) -> bool:
        """Whether the reply so far opens with reasoning not yet ended (or may still).

        It ends where :func:`~vs_integrations.core.parsing.detect.reasoning_end` says (a reasoning
        element left open is waited for to the end: a closing tag may still come). A second one
        may follow the first (a reasoning model's ``<think>``, then VS-CoT's), as parse reads it.
        """
        while True:
            opening = NON_SPACE.search(text, self._reasoning_scan)
            if opening is None:
                self._reasoning_scan = len(text)  # blanks so far
                return False
            at = opening.start()
            ending = reasoning_ending(text, at)
            if ending is None:
                opened = text[at : at + _LONGEST_OPENER].lower()
                if (
                    len(opened) < _LONGEST_OPENER and any(opener.startswith(opened) for opener in REASONING_OPENERS)
                ) or _PARAGRAPH_OPENING.match(text, at):
                    self._reasoning_scan = at
                    return True  # it may still open the reasoning
                self._opening_known = True
                return False
            scan = self._reasoning_end_scan or at
            end = ending.search(text, scan)
            if end is None:
                if ending is REASONING_CLOSE:
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

    def _detect(self, text: str) -> _Reader | None:
        # Read again from a bracket that may still hold unquoted values only: what follows it
        # counts only once it is known (at most 200 characters, so this stays linear).
        scanned = self._detect_from if self._bracket_open == -1 else self._bracket_open
        self._bracket_open = -1
        start = max(self._floor, scanned - _OVERLAP)
        found: list[tuple[int, str]] = []
        json_at = find_json_start(text, start)
        if json_at != -1:
            # As parse reads it (detect.format_order): unquoted values in brackets within the
            # text are not its JSON, unless they open it.
            if self._opening == -1:  # found once: blanks before it are not searched again at each chunk
                self._opening = NON_SPACE.search(text, self._floor).start()  # type: ignore[union-attr]  # the bracket is one
            opening = self._opening
            if json_at != opening:
                json_at = find_json_value(text, json_at)
            if json_at != -1 and json_at != opening and BARE_BRACKET_OPEN.match(text, json_at):
                self._bracket_open = json_at
            elif json_at != -1:
                found.append((json_at, "json"))
        xml_at = XML_OPEN.search(text, start)
        if xml_at is not None:
            found.append((xml_at.start(), "xml"))
        bullet = search_bullet(text, start)
        if bullet is not None and bullet.end() < len(text):  # its lookahead needs the next character
            found.append((bullet.start(), "list"))
        if self._last_line_bullet(text):
            found.append((self._line, "list"))  # a bullet padded past the overlap, come in pieces
        # A marker is longer than the overlap: one split across chunks is found from further back.
        marker = PROBABILITY_MARKER.search(text, max(self._floor, scanned - MARKER_LENGTH))
        if marker is not None:
            # Its line starts after the reasoning at the latest ("</think> Red (Prob: 0.6)").
            found.append(((text.rfind("\n", self._floor, marker.start()) + 1) or self._floor, "list"))
        newline = text.rfind("\n", self._detect_from)
        if newline != -1:
            self._line = newline + 1
            self._indent_end = _BLANKS.match(text, self._line).end()  # type: ignore[union-attr]  # matches ""
            self._line_decided = False
        self._detect_from = len(text)
        if self._bracket_open != -1:
            found = [(at, name) for at, name in found if at < self._bracket_open]
        if not found:
            return None
        at, name = min(found)
        if name == "list" and (at, "xml") in found and not text[:at].strip():
            name = "xml"  # a reply that opens with a tag is XML, as parse reads it (detect.opening_format)
        if name == "json":
            return _ExactJsonItems(at, self._given) if _exact_json_at(text, at) else _JsonItems(at)
        if name == "xml":
            return _ExactXmlItems(at, self._given) if _exact_xml_at(text, at) else _XmlItems(at)
        return _ExactListItems(self._given) if _exact_list_at(text, at) else _ListItems(at)
