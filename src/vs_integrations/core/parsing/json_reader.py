"""The lenient JSON reader: what models write around and inside JSON, read without recursion.

:class:`LenientJson` accepts fences, prose, trailing or missing commas, comments, single quotes,
Python literals, unquoted words and a cut-off end. It keeps no Python stack per nesting level
(containers nested beyond 64 are counted, not built), so no input can raise ``RecursionError``,
and its cost is linear in the length of the text. Every container that is strict JSON is read
whole by the C decoder ``json.loads`` uses; the token loop reads the rest. Fed a growing text,
it resumes where it stopped, which is how the stream reads JSON.
"""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable
from typing import Any

from .items import MAX_ITEMS

__all__ = [
    "BARE_BRACKET_OPEN",
    "BARE_VALUES_LENGTH",
    "LenientJson",
    "bare_bracket_end",
    "closer_outside_strings",
    "find_json_start",
    "find_json_value",
    "read_lenient",
]


def find_json_start(text: str, pos: int = 0) -> int:
    """Where the first ``{`` or ``[`` at or after ``pos`` is; -1 if there is none.

    ``str.find`` scans at memchr speed, ~25x faster than a regex character class, which the
    regex engine tries position by position. The windows double, so finding a bracket costs
    about its distance from ``pos`` however far the other kind of bracket is.
    """
    end = len(text)
    window = 256
    while pos < end:
        stop = min(end, pos + window)
        brace = text.find("{", pos, stop)
        bracket = text.find("[", pos, stop if brace == -1 else brace)
        if bracket != -1:
            return bracket
        if brace != -1:
            return brace
        pos = stop
        window *= 2
    return -1


# Unquoted words in brackets within a line ("Here are the answers [as requested]:", "[1]"), or
# numbers ("[0.2, 0.3]"): no comma between words, no quote, brace or nested bracket, so rarely
# the JSON a model meant; a later format goes first. "[Paris, London]" is a list of answers.
BARE_VALUES_LENGTH = 200  # past this many characters, a bracket holds more than a few words or numbers
_BARE_WORDS = rf"[^\[\]{{}}\"'\n,]{{0,{BARE_VALUES_LENGTH}}}+"
_BARE_NUMBERS = rf"[0-9 \t.,%+\-]{{0,{BARE_VALUES_LENGTH}}}+"
_BARE_VALUES = f"(?:{_BARE_WORDS}|{_BARE_NUMBERS})"
BARE_BRACKET_OPEN = re.compile(r"\[" + _BARE_VALUES + r"\Z")  # such a bracket not closed yet (streaming)
_BARE_RUNS = (re.compile(_BARE_WORDS), re.compile(_BARE_NUMBERS))
# A terminal escape's bracket ("\x1b[2J" clears the screen), or its residue once the ESC is lost:
# parameters, then a letter standing alone ("I refuse [2J", "[0m"). Never a list of answers.
_TERMINAL_ESCAPE = r"(?<=\x1b)\[|\[\??\d[0-9;]{0,16}[A-Za-z](?![^\s\x1b\[])"
_SKIPPED_BRACKET = re.compile(r"\[" + _BARE_VALUES + r"\]|" + _TERMINAL_ESCAPE)
# The first "{" or "[" that does not open such a bracket: one C search past any number of them.
_JSON_START_PAST_BARE = re.compile(r"\{|(?!" + _TERMINAL_ESCAPE + r")\[(?!" + _BARE_VALUES + r"\])")


def bare_bracket_end(text: str, at: int) -> int:
    """Where the ``[`` at ``at`` stops holding unquoted values only: a stream knows once the character there has come.

    Example:
        >>> bare_bracket_end('Red [a, "b"]', 4)
        6

    """
    return max(run.match(text, at + 1).end() for run in _BARE_RUNS)  # type: ignore[union-attr]  # match ""


def find_json_value(text: str, pos: int = 0) -> int:
    r""":func:`find_json_start`, past unquoted words or numbers in brackets (``[as requested]``, ``[0.2, 0.3]``).

    Such brackets within prose are rarely the JSON a model meant, and a terminal escape's
    (``\x1b[2J``, or ``[2J`` with its ESC lost) never is; one C search passes any number of them.
    """
    at = find_json_start(text, pos)
    if at == -1 or _SKIPPED_BRACKET.match(text, at) is None:
        return at
    past = _JSON_START_PAST_BARE.search(text, at)
    return -1 if past is None else past.start()


_MAX_DEPTH = 64  # candidates sit at depth <= 3; deeper containers are counted, not built
# One token per match, told apart by the group that matched (match.lastindex), with the stray
# characters before it and the separators after it (so code or prose between values costs no
# extra match); stray characters alone match no group. A quote whose string never closes matches
# _UNCLOSED. Comments (// or "# " to the line's end) are stray: their words are no values.
# A comment starts where a value may: at a line's start or after a space, a comma or an opener
# ("http://x" and "C#" are no comments).
_COMMENT = r"""(?<![^\s,\[{])(?://|\#[ \t])"""
# DSPy's field markers ("[[ ## candidates ## ]]") are stray text too.
_STRAY = r"""(?:[^\[\]{}"'A-Za-z_0-9.\-/#]++|""" + _COMMENT + r"""[^\n]*+|\[\[ \#\# \w{1,100}+ \#\# \]\]|[/#]++)"""
_OPEN_COMMENT = re.compile(_COMMENT + r"|[/#]\Z")  # streaming: a comment that may go on, or start, in the next piece
_TOKENS = re.compile(
    _STRAY + r"""*+(?:("[^"\\]*(?:\\.[^"\\]*)*")|([\[{]+)|([\]}]+)|('[^'\\]*(?:\\.[^'\\]*)*')"""
    r"""|(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?)|([A-Za-z_][A-Za-z_0-9]*)|(["']))"""
    r"""[\s:,]*|"""  # a token takes the separators after it
     + _STRAY + "++|.",
    re.DOTALL,
)
_STRING, _OPEN, _CLOSE, _QUOTED, _NUMBER, _WORD, _UNCLOSED = range(1, 8)
# What may still turn a number at the end of the text so far into a longer one ("1" -> "1/6").
_NUMBER_GROWS = re.compile(r"[\s/.eE+\-]{1,8}\Z")
_OVERFLOW_RUN = re.compile(r"""(?:[^\]}"']++|"[^"\\\[\]{}]*+"|'[^'\\\[\]{}]*+')*+""")
# Beyond the depth limit: everything up to the next bracket (strings skipped whole), then the
# brackets; group 3 is a quote whose string does not close.
_OVERFLOW_STEP = re.compile(
    r"""(?:[^\[\]{}"']+|"[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*')*(?:([\[{]+)|([\]}]+)|(["']))?""",
    re.DOTALL,
)
# A string's body up to (not including) its closing quote; stops before a lone trailing
# backslash, so where it ends is always a safe place to resume.
_DQ_BODY = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)
_SQ_BODY = re.compile(r"[^'\\]*(?:\\.[^'\\]*)*", re.DOTALL)


# The values the token loop reads at most: a record written loosely ({'text': 'a', 'p': 0.1})
# is 5 of them, so 4,000 such records (a VS reply holds a few hundred); a record or container
# in strict JSON, read by the C decoder, is one.
_MAX_VALUES = 2 * MAX_ITEMS
# What a refused try of the C decoder costs besides the characters it scanned (raising and
# catching its error), in characters scanned: many tiny containers that are not strict JSON
# ("[a] [a] ...") stop being tried after a few thousand.
_FAILED_TRY = 1024


class _ValuesCapped(Exception):
    """Raised inside LenientJson when it reaches _MAX_VALUES: reading stops there."""


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not strict JSON")  # the token loop reads it as the word it is


# The C scanner behind json.loads, strict: NaN and Infinity are refused like every non-JSON value.
_STRICT_SCAN: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder(parse_constant=_refuse_constant)  # type: ignore[arg-type]
)
_SEPARATORS = re.compile(r"[\s,:]*+")  # what the token loop skips after a value
_JSON_WORDS = frozenset(("true", "false", "null"))
_PYTHON_LITERALS = "Python literals (True, False, None)"
_UNQUOTED_WORDS = "unquoted words read as strings"
_WORDS: dict[str, object] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}


def _decode_dq(body: str) -> str:
    if "\\" not in body:
        return body
    try:
        value: str = json.loads('"' + body + '"', strict=False)
        return value
    except ValueError:
        return body.replace('\\"', '"').replace("\\\\", "\\")


def _decode_sq(body: str) -> str:
    inner = body.replace("\\'", "'")
    if "\\" not in inner and '"' not in inner:
        return inner
    try:
        value: str = json.loads('"' + inner.replace('"', '\\"') + '"', strict=False)
        return value
    except ValueError:
        return inner


def _json_number(token: str) -> object:
    if "/" in token:
        return token  # a fraction such as 1/6, read by read_probability
    try:
        return float(token) if "." in token or "e" in token or "E" in token else int(token)
    except (ValueError, OverflowError):
        return token


class LenientJson:
    """A resumable, recursion-free reader of JSON-ish text.

    Colons and commas are ignored (so trailing or missing commas do not matter), strings may be
    single-quoted, and text between top-level values is skipped. :meth:`feed` reads as far as the
    text allows and remembers where it stopped (inside a string it keeps the scan position), so
    feeding a text in pieces costs the same as reading it at once. A container that is strict
    JSON is read whole by the C decoder (in streaming, a record once its closer arrives); the
    token loop reads the rest.

    Args:
        start: Where reading starts in the texts fed (text before it is skipped).

    Attributes:
        roots: The top-level values read so far.
        stack: The containers still open, outermost first.
        repairs: What was read that strict JSON does not allow (single quotes, unquoted words,
            Python literals, line breaks inside strings), each named once.

    Example:
        >>> reader = LenientJson()
        >>> reader.feed("{'a': [1, 2,], 'b': tr", final=False)
        >>> reader.feed("{'a': [1, 2,], 'b': true}", final=True)
        >>> reader.roots
        [{'a': [1, 2], 'b': True}]

    """

    __slots__ = (
        "_budget",
        "_comment_scan",
        "_hopeless_check",
        "_overflow",
        "_pos",
        "_strict_misses",
        "_strict_refused",
        "_string_at",
        "_string_scan",
        "on_close",
        "repairs",
        "roots",
        "stack",
    )

    def __init__(self, start: int = 0) -> None:
        self.roots: list[Any] = []
        self.repairs: set[str] = set()  # what was read that strict JSON does not allow
        self.stack: list[list[Any]] = []  # frames: [container, pending_key]; the key only for dicts
        self._overflow = 0  # depth beyond _MAX_DEPTH, tracked as a count
        self._hopeless_check = 1024  # overflow depth at which to check that enough closers remain
        self._pos = start
        self._budget = _MAX_VALUES  # values the reader may still add (see capped)
        self._string_at = -1  # start of a string left open by the previous feed
        self._comment_scan = -1  # streaming: where a comment left open by the previous feed is searched on
        self._string_scan = 0  # where its body scan stopped
        self._strict_misses = 0  # characters the C decoder scanned in values that were not strict JSON
        self._strict_refused = -1  # where the C decoder last refused a value (not tried there again)
        # When set, each container is appended here as it closes, with its parent (None at the
        # top) and its position there (-1 in a dict): later siblings may be read in the same feed.
        self.on_close: list[tuple[Any, Any, int]] | None = None

    @property
    def open_ids(self) -> set[int]:
        """Ids of the containers left open (candidates cut off mid-way)."""
        return {id(frame[0]) for frame in self.stack}

    @property
    def inside_value(self) -> bool:
        """True when the text read so far ends inside a value."""
        return bool(self.stack or self._overflow or self._string_at != -1)

    def resume_state(self, text: str) -> tuple[int, str | None]:
        """Streaming: where the next feed reads on from, and what that position is inside.

        Args:
            text: The text last fed.

        Returns:
            The position, and the quote of the string it is inside (``'"'`` or ``"'"``), ``""``
            inside a container outside any string, or None between top-level values (where
            quotes delimit nothing and only an opening bracket starts a value).

        """
        if self._string_at != -1:
            return self._string_scan, text[self._string_at]
        if self.stack or self._overflow:
            return self._pos, ""
        return self._pos, None

    def _add(self, value: Any) -> None:
        self._budget -= 1
        if self._budget < 0:
            raise _ValuesCapped
        stack = self.stack
        if not stack:
            self.roots.append(value)
            return
        frame = stack[-1]
        container = frame[0]
        if type(container) is list:
            container.append(value)
        elif frame[1] is None:
            # A container (or a bool/None) cannot be a key; it is dropped.
            kind = type(value)
            frame[1] = str(value) if kind is str or kind is int or kind is float else None
        else:
            container[frame[1]] = value
            frame[1] = None

    @property
    def capped(self) -> bool:
        """True when the reader stopped at its limit of values (:data:`MAX_ITEMS` candidates' worth).

        The token loop costs Python work per value; past the limit the rest of the text is not read.
        """
        return self._budget < 0

    def feed(self, text: str, *, final: bool) -> None:
        """Read ``text`` (everything so far: the previous text plus what arrived) from where it stopped.

        Args:
            text: The whole text so far; earlier reads must have been given a prefix of it.
            final: True when no more text will come: a number or word at the end is complete.

        """
        if self._budget < 0:
            return
        try:
            self._feed(text, final)
        except _ValuesCapped:
            self._pos = len(text)

    def _feed(self, text: str, final: bool) -> None:
        pos = self._pos
        end = len(text)
        if self._comment_scan != -1:
            # Streaming, inside a comment: only the new text is searched for its line's end.
            newline = text.find("\n", self._comment_scan)
            if newline == -1 and not final:
                self._comment_scan = end
                return
            self._comment_scan = -1
            pos = end if newline == -1 else newline
        if self._string_at != -1:
            pos = self._finish_string(text, final)
            if pos == -1:
                return
        stack = self.stack
        add = self._add
        while pos < end:
            if self._overflow:
                pos = self._skip_overflow(text, pos, final)
                if pos == -1:
                    return
                continue
            if not stack:
                # After the first value, brackets of unquoted words in prose are no values
                # ("[these]" in a postscript), as format detection reads them.
                pos = find_json_value(text, pos) if self.roots else find_json_start(text, pos)
                if pos == -1:
                    pos = end
                    break
                if self.roots and not final and BARE_BRACKET_OPEN.match(text, pos) is not None:
                    break  # streaming: its "]" decides whether it is a value (at most 200 characters on)
            for match in _TOKENS.finditer(text, pos):
                kind = match.lastindex
                if kind is None:
                    if not final and match.end() == end:
                        if text[end - 1] in "-.":
                            # "-" or "-." at the end may start a number in the next piece.
                            self._pos = end - 2 if text[end - 2 : end] == "-." else end - 1
                            return
                        line = text.rfind("\n", match.start(), end) + 1 or match.start()
                        comment = _OPEN_COMMENT.search(text, line, end)
                        if comment is not None:
                            # A comment runs to its line's end, which may be in the next piece; a
                            # "/" or "#" at the end may start one.
                            self._pos = comment.start()
                            if comment.end() - comment.start() > 1:
                                self._comment_scan = end
                            return
                    continue  # separators and other characters
                if kind == _STRING:
                    at, stop = match.span(_STRING)
                    value = text[at + 1 : stop - 1]
                    if "\n" in value:
                        self.repairs.add("line breaks inside strings")
                    add(_decode_dq(value) if "\\" in value else value)
                elif kind == _OPEN:
                    at, stop = match.span(_OPEN)
                    resume = -1
                    while at < stop and len(stack) < _MAX_DEPTH:
                        in_list = bool(stack) and type(stack[-1][0]) is list
                        if self.on_close is None:
                            # Top-level values and records only: the containers around a cut-off
                            # record are not strict JSON, and each failed try costs ~10 µs.
                            resume = self._read_strict(text, at) if not stack or in_list else -1
                            if resume != -1:
                                if in_list:
                                    resume = self._read_strict_siblings(text, resume)
                                break
                        container: Any = [] if text[at] == "[" else {}
                        add(container)
                        stack.append([container, None])
                        at += 1
                    if resume != -1:
                        pos = resume  # read whole: go on after it
                        break
                    if at < stop:
                        self._overflow += stop - at  # deeper containers are counted, not built
                        pos = stop
                        break
                elif kind == _CLOSE:
                    self._close_run(text, *match.span(_CLOSE))
                    if not stack:
                        pos = match.end()
                        break  # back to skipping text up to the next value
                elif kind == _QUOTED:
                    at, stop = match.span(_QUOTED)
                    self.repairs.add("single-quoted strings")
                    add(_decode_sq(text[at + 1 : stop - 1]))
                elif kind == _UNCLOSED:
                    self._string_at = match.start(_UNCLOSED)
                    self._string_scan = self._string_at + 1
                    self._finish_string(text, final)
                    return
                elif not final and (
                    match.end() == end or (kind == _NUMBER and _NUMBER_GROWS.match(text, match.end(kind)) is not None)
                ):
                    self._pos = match.start(kind)  # a number or word that may go on in the next piece
                    return
                else:
                    token = match.group(kind)
                    if kind == _NUMBER:
                        add(_json_number(token))
                    else:
                        # At the end, a word may be a value cut off ("tr", the "e" of "1e-"): no repair.
                        if token not in _JSON_WORDS:
                            note = _PYTHON_LITERALS if token in _WORDS else _UNQUOTED_WORDS
                            if note not in self.repairs and not (
                                match.end() == end or _NUMBER_GROWS.match(text, match.end(kind)) is not None
                            ):
                                self.repairs.add(note)
                        add(_WORDS.get(token, token))
            else:
                pos = end
        self._pos = pos

    def _read_strict(self, text: str, at: int) -> int:
        """Read the container opening at ``at`` whole with the C decoder, if it is strict JSON.

        Returns where it ends, or -1 when it is not strict JSON (or would nest deeper than the
        depth limit): the token loop reads it then. A strict value reads the same either way, at
        C speed. The characters scanned in failed attempts are capped at 8 times the text length
        (a reply cut off inside 3 containers fails 3 times over its length, and each error
        counts the lines before it), so a text that is mostly not strict JSON costs at most
        that much more, in C.
        """
        if self._strict_misses > 8 * len(text) or at == self._strict_refused:
            return -1
        self._strict_misses += _FAILED_TRY  # counted now, taken back below if the value is read
        # No closer of its kind after it: cut off, the decoder could only fail (and a failure costs
        # more than this scan). The scan counts as missed work when no value is read.
        closer = text.find("}" if text[at] == "{" else "]", at)
        if closer == -1:
            self._strict_misses += len(text) - at
            self._strict_refused = at
            return -1
        try:
            value, end = _STRICT_SCAN(text, at)
        except json.JSONDecodeError as err:
            # The decoder scanned to err.pos (to the end for an unterminated string), and the
            # error counted the lines up to err.pos.
            scanned = len(text) if err.msg.startswith("Unterminated string") else err.pos
            self._strict_misses += err.pos + scanned + closer - 2 * at
            self._strict_refused = at
            return -1
        except (ValueError, RecursionError, StopIteration):  # NaN or Infinity, too deep, huge int
            self._strict_misses += len(text) + closer - 2 * at
            self._strict_refused = at
            return -1
        self._strict_misses -= _FAILED_TRY
        room = _MAX_DEPTH - len(self.stack)
        if text.count("[", at, end) + text.count("{", at, end) > room and not _nests_within(value, room):
            return -1
        self._add(value)
        return end

    def _read_strict_siblings(self, text: str, pos: int) -> int:
        """After a strict value in a list, read the strict containers that follow it, in C.

        Only separators the token loop skips (white space, commas, colons) may stand between them, so the values
        and their order are what the token loop would give, without a token per record. Returns
        where the token loop goes on.
        """
        while True:
            at = _SEPARATORS.match(text, pos).end()  # type: ignore[union-attr]  # matches the empty string
            char = text[at : at + 1]
            if char != "{" and char != "[":
                return pos
            end = self._read_strict(text, at)
            if end == -1:
                return pos
            pos = end

    def _close_run(self, text: str, start: int, end: int) -> None:
        """Close brackets ``text[start:end]``, each the innermost container of its own kind.

        A ``}`` met while a list is open closes the list too (a forgotten ``]``), so prose after
        a broken reply is not read into the object around it.
        """
        stack = self.stack
        for at in range(start, end):
            if self._overflow or not stack:
                self._close(end - at)
                return
            wanted = dict if text[at] == "}" else list
            depth = len(stack) - 1
            while depth >= 0 and type(stack[depth][0]) is not wanted:
                depth -= 1
            self._close(len(stack) - depth if depth >= 0 else 1)

    def _close(self, count: int) -> None:
        """Close ``count`` containers: counted ones first, then built ones (extra closers are ignored)."""
        if self._overflow:
            taken = min(self._overflow, count)
            self._overflow -= taken
            count -= taken
        stack = self.stack
        while count and stack:
            closed = stack.pop()[0]
            if self.on_close is not None:
                # A container is added to its parent when it opens, so it is the last one there.
                parent = stack[-1][0] if stack else None
                position = len(self.roots) - 1 if parent is None else len(parent) - 1 if type(parent) is list else -1
                self.on_close.append((closed, parent, position))
            count -= 1

    def _skip_overflow(self, text: str, pos: int, final: bool) -> int:
        """Skip the content of containers nested beyond the depth limit: only brackets count there.

        Returns where reading goes on, or -1 when the text ends inside a string.
        """
        end = len(text)
        while self._overflow and pos < end:
            if final and self._overflow >= self._hopeless_check:
                # Checked at doubling depths, so the counts cost O(n log n) at worst, and usually once.
                self._hopeless_check = 2 * self._overflow
                if text.count("]", pos) + text.count("}", pos) < self._overflow:
                    return end  # too few closers left to ever come back up: nothing more can be read
            # Opening brackets, other characters and plain strings up to the next closer, in one
            # match; its opening brackets are counted in C (the strings it took hold none).
            run = _OVERFLOW_RUN.match(text, pos, min(end, pos + 4096))  # bounded: depth is checked between runs
            assert run is not None  # the pattern can match the empty string
            if run.end() > pos:
                self._overflow += text.count("[", pos, run.end()) + text.count("{", pos, run.end())
                pos = run.end()
                continue
            step = _OVERFLOW_STEP.match(text, pos)
            assert step is not None  # every part of the pattern is optional
            kind = step.lastindex
            if kind is None:
                return step.end()  # the end of the text
            if kind == 1:
                self._overflow += step.end() - step.start(1)
            elif kind == 2:
                self._close(step.end() - step.start(2))
            else:
                self._string_at = step.start(3)
                self._string_scan = step.start(3) + 1
                self._finish_string(text, final)
                return -1
            pos = step.end()
        return pos

    def _finish_string(self, text: str, final: bool) -> int:
        """Read the open string to its closing quote; -1 (and remember the scan) if it has none yet."""
        start = self._string_at
        quote = text[start]
        body = (_DQ_BODY if quote == '"' else _SQ_BODY).match(text, self._string_scan)
        assert body is not None  # the pattern can match the empty string
        close = body.end()
        if close >= len(text) or text[close] != quote:
            self._string_scan = close
            self._pos = start
            if final:
                # The text ends inside this string: nothing after it can be read.
                self._pos = len(text)
            return -1
        self._string_at = -1
        if not self._overflow:
            raw = text[start + 1 : close]
            self._add(_decode_dq(raw) if quote == '"' else _decode_sq(raw))
        return close + 1


# Streaming: text outside strings, closed strings skipped whole (as the token loop reads them), up to
# a closer, or a quote whose string does not close yet.
_TO_CLOSER = re.compile(r"""(?:[^"'\]}]++|"[^"\\]*+(?:\\.[^"\\]*+)*+"|'[^'\\]*+(?:\\.[^'\\]*+)*+')*+""", re.DOTALL)


def closer_outside_strings(text: str, pos: int, quote: str) -> tuple[int, str | None]:
    """Streaming: look for a ``}`` or ``]`` outside strings in ``text[pos:]``, lexed as the token loop lexes it.

    Args:
        text: The text so far.
        pos: Where to start, inside a container.
        quote: The quote of the string ``pos`` is inside, or ``""`` when it is outside strings.

    Returns:
        The closer's position and None; or, when there is none, where to look on from next
        time (the end, or a trailing backslash whose escape is not known yet) and the quote of
        the string open there (``""`` when none).

    """
    end = len(text)
    while True:
        if quote:
            # A string still open at the end of the text so far may grow long: str.find crosses
            # it at memchr speed, and the next feed resumes inside it.
            close = text.find(quote, pos)
            if text.find("\\", pos, end if close == -1 else close) != -1:
                body = (_DQ_BODY if quote == '"' else _SQ_BODY).match(text, pos)  # escapes: the pattern knows them
                assert body is not None  # the pattern can match the empty string
                close = body.end()
                if close == end or text[close] != quote:
                    return close, quote  # still inside (before a lone trailing backslash at worst)
            elif close == -1:
                return end, quote
            pos = close + 1
        skipped = _TO_CLOSER.match(text, pos)
        assert skipped is not None  # the pattern can match the empty string
        pos = skipped.end()
        if pos == end:
            return end, ""
        quote = text[pos]
        if quote != '"' and quote != "'":
            return pos, None
        pos += 1


def _nests_within(value: Any, limit: int) -> bool:
    """Whether ``value``'s containers nest at most ``limit`` deep (itself counting as 1)."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            return False
        for child in node.values() if type(node) is dict else node:
            if type(child) is dict or type(child) is list:
                pending.append((child, depth + 1))
    return True


def read_lenient(text: str, start: int = 0) -> LenientJson:
    """Read JSON-ish ``text`` from ``start`` at once; the reader returned holds what it read.

    Example:
        >>> read_lenient("Sure: [{'a': 1,}, {b: [2 3]}").roots
        [[{'a': 1}, {'b': [2, 3]}]]

    """
    reader = LenientJson(start)
    reader.feed(text, final=True)
    return reader
