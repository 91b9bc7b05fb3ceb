"""The JSON scanner: which values of a JSON-ish reply are its candidates.

:mod:`.json_reader` reads the values; this module finds the candidate list among them (breadth
first, without recursion) and reads each record into an :class:`Item`, for a whole reply
(:func:`read_json`) or as it streams (:class:`JsonStream`).
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Iterator
from typing import Any

from .items import MAX_ITEMS, Extraction, Item, too_many_items
from .json_reader import LenientJson, closer_outside_strings, find_json_start, read_lenient
from .list_scanner import split_stated_probability

__all__ = [
    "LIST_KEYS",
    "PROBABILITY_KEYS",
    "TEXT_KEYS",
    "JsonStream",
    "extract_records",
    "item_from_json",
    "read_json",
]

TEXT_KEYS = ("text", "response", "answer", "content")
PROBABILITY_KEYS = ("probability", "prob", "p", "confidence", "weight")
LIST_KEYS = ("responses", "candidates", "answers", "samples", "outputs", "items")
# Keys whose value is about a candidate, never its text.
_NOT_TEXT_KEYS = frozenset(
    (
        *PROBABILITY_KEYS,
        "probabilities",
        "likelihood",
        "score",
        "perplexity",
        "nll",
        "reasoning",
        "reason",
        "rationale",
        "explanation",
        "thinking",
        "thought",
        "thoughts",
        "justification",
    )
)
_TEXT_KEY_SET = frozenset(TEXT_KEYS)


def _is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float


def _is_number_list(value: Any) -> bool:
    """Whether ``value`` is a list of numbers and lists of them, at any depth (read without recursion)."""
    if type(value) is not list:
        return False
    pending = [value]
    while pending:
        for child in pending.pop():
            if type(child) is list:
                pending.append(child)
            elif not _is_number(child):
                return False
    return True


def item_from_json(value: Any, index: int) -> Item | None:
    """The candidate a JSON value stands for, or None if it holds no candidate text.

    A record's text is its ``text`` (``response``, ``answer``, ``content``) field, else its one
    other field, else all its other fields as a JSON object; fields about the candidate
    (probability, confidence, reasoning...) and numbers are never its text.

    Example:
        >>> item_from_json({"answer": "Paris", "prob": "20%"}, 0)
        Item(text='Paris', probability='20%', index=0)

    """
    if type(value) is dict:
        if "text" in value and "probability" in value:  # the format we ask for
            return Item(_as_text(value["text"]), value["probability"], index)
        lowered = {str(k).strip().lower(): v for k, v in value.items()}
        text: Any = None
        for key in TEXT_KEYS:
            if key in lowered:
                text = lowered[key]
                break
        probability: Any = None
        for key in PROBABILITY_KEYS:
            if key in lowered:
                probability = lowered[key]
                break
        if text is None:
            # One unnamed field (e.g. {"joke": ..., "probability": ...}) is the text; several
            # (a multi-field record) are kept together as a JSON object. A number or a list
            # of numbers is a value about the candidate, not its text.
            others = {
                k: v
                for k, v in value.items()
                if str(k).strip().lower() not in _NOT_TEXT_KEYS and not _is_number(v) and not _is_number_list(v)
            }
            if not others:
                return None
            text = next(iter(others.values())) if len(others) == 1 else others
        if _is_number_list(text):
            return None
        return Item(_as_text(text), probability, index)
    if type(value) is list:
        if len(value) == 2 and type(value[0]) is str:
            return Item(value[0].strip(), value[1], index)  # a [text, probability] pair
        return None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return Item(_as_text(value), None, index)
    return None


def _as_text(value: Any) -> str:
    if type(value) is str or isinstance(value, str):
        return value.strip()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _lowered_keys(record: dict[Any, Any]) -> set[str]:
    return {str(k).strip().lower() for k in record}


def _is_record(value: Any) -> bool:
    """Whether ``value`` is an object holding a candidate's text under a text key (a record on its own)."""
    return type(value) is dict and not _TEXT_KEY_SET.isdisjoint(_lowered_keys(value))


def _breadth_first(roots: list[Any]) -> Iterator[tuple[Any, dict[str, Any] | None]]:
    """Each dict (with its keys trimmed and lower-cased) and list under ``roots``, breadth first, without recursion.

    A dict is given as ``(dict, lowered)``, a list as ``(list, None)``. Values about a candidate
    (``_NOT_TEXT_KEYS``) are not descended into.
    """
    queue: list[Any] = list(roots)
    head = 0
    while head < len(queue):
        node = queue[head]
        head += 1
        if type(node) is dict:
            lowered = {str(k).strip().lower(): v for k, v in node.items()}
            yield node, lowered
            queue.extend(v for k, v in lowered.items() if k not in _NOT_TEXT_KEYS and type(v) in (dict, list))
        elif type(node) is list:
            yield node, None
            queue.extend(v for v in node if type(v) in (dict, list))


def _candidate_list(roots: list[Any]) -> tuple[list[Any] | None, str | None]:
    """Find the list of candidates (and a sibling reasoning text) breadth first, without recursion."""
    found = roots[0].get("responses") if len(roots) == 1 and type(roots[0]) is dict else None
    if type(found) is list and not _wraps_lists(found):
        if found and type(found[0]) is str:
            found = _pair_texts(found, {str(k).strip().lower(): v for k, v in roots[0].items()})
        reasoning = roots[0].get("reasoning")
        return found, reasoning if isinstance(reasoning, str) else None
    first_list_of_records: list[Any] | None = None
    for node, lowered in _breadth_first(roots):
        if lowered is not None:
            for key in LIST_KEYS:
                if type(lowered.get(key)) is list:
                    if _wraps_lists(lowered[key]):
                        break  # the candidates are in the lists inside it, further down
                    reasoning = lowered.get("reasoning")
                    return _pair_texts(lowered[key], lowered), reasoning if isinstance(reasoning, str) else None
        elif first_list_of_records is None and any(_is_record(v) for v in node):
            first_list_of_records = node
    if first_list_of_records is not None:
        return first_list_of_records, None
    records = [r for r in roots if _is_record(r)]
    if records:
        return records, None
    if len(roots) == 1 and type(roots[0]) is list:
        return _pair_texts(roots[0], {}), None
    return None, None


def _wraps_lists(found: list[Any]) -> bool:
    """Whether the first entry of ``found`` holds no candidate text but a candidate list of its own.

    A weak model nests the asked shape: ``{"responses": [{"reasoning": ..., "responses": [records]}]}``.
    The candidates are then the first list inside (the stream gives that list's records as they close).
    """
    first = found[0] if found else None
    return (
        type(first) is dict
        and not _is_record(first)
        and any(type(value) is list and str(key).strip().lower() in LIST_KEYS for key, value in first.items())
    )


# Keys of a list of probabilities beside a list of texts ({"responses": ["a", "b"], "probabilities": [0.7, 0.3]}).
_PARALLEL_KEYS = ("probabilities", "probability", "probs", "confidences", "confidence", "weights", "scores")


def _pair_texts(found: list[Any], lowered: dict[str, Any]) -> list[Any]:
    """Texts with their probabilities as ``[text, probability]`` pairs, if known; else ``found``.

    The probabilities come from a list of the same length beside the texts (under a key of
    ``lowered``, the parent object with its keys lower-cased), or from the texts themselves when
    every one states one as a list item does (``"Red (Probability: 0.6)"``, ``"Blue: 40%"``).

    Example:
        >>> _pair_texts(["Red (p=0.6)", "Blue (p=0.4)"], {})
        [['Red', '0.6'], ['Blue', '0.4']]

    """
    if not found or any(type(text) is not str for text in found):
        return found
    for key in _PARALLEL_KEYS:
        stated = lowered.get(key)
        if type(stated) is list and len(stated) == len(found):
            return [[text, probability] for text, probability in zip(found, stated, strict=True)]
    pairs = []
    for text in found[: MAX_ITEMS + 1]:  # the items past MAX_ITEMS are not read
        body, probability = split_stated_probability(text)
        if probability is None or not body:
            return found  # "-0.5", "Windows - 3.1" among texts that state none: content
        pairs.append([body, probability])
    if len({body.casefold() for body, _ in pairs}) < len(pairs):
        return found  # "Rate it: 9/10", "Rate it: 7/10": the numbers tell the texts apart
    return pairs


def _json_items(found: list[Any], open_ids: set[int] | frozenset[int]) -> list[Item]:
    """The candidates among the entries of a candidate list, skipping those cut off mid-way."""
    items = []
    for index, entry in enumerate(found[: MAX_ITEMS + 1]):  # one past the cap: the caller notes it
        if id(entry) in open_ids:
            continue
        item = item_from_json(entry, index)
        if item is not None:
            items.append(item)
    return items


def read_json(text: str, start: int) -> tuple[Extraction | None, str | None]:
    """The candidates of a JSON-ish reply whose structure starts at ``start``, and the text a candidate key holds.

    The text (else None) is given only when no candidate is read; both come from one read of the reply.
    """
    # Fenced, preceded by prose, broken or cut off alike: the lenient reader reads each strict
    # container in C. An unterminated string ends the scan, so every item it returns is complete.
    reader = read_lenient(text, start)
    found, reasoning = _candidate_list(reader.roots)
    if found is None:
        return None, _text_under_key(reader.roots)
    items = _json_items(found, reader.open_ids)
    notes = _cap(items, reader.capped)
    if reader.repairs:
        notes = (f"read JSON that is not strict: {', '.join(sorted(reader.repairs))}", *notes)
    extraction = Extraction(items, reasoning, reader.inside_value, "json", notes)
    return extraction, None if items else _text_under_key(reader.roots)


def _cap(items: list[Item], capped: bool) -> tuple[str, ...]:
    """Cut ``items`` to MAX_ITEMS in place; the warning when any were cut or the reader was ``capped``."""
    if not capped and len(items) <= MAX_ITEMS:
        return ()
    del items[MAX_ITEMS:]
    return (too_many_items(),)


def _text_under_key(roots: list[Any]) -> str | None:
    """The text a candidate key holds (``{"candidates": "1. A (Probability: 0.6) ..."}``), if any.

    Weak models put the whole list in one string; None when no candidate key holds a string.
    """
    for _, lowered in _breadth_first(roots):
        if lowered is not None:
            for key in LIST_KEYS:
                if type(lowered.get(key)) is str:
                    return lowered[key]  # type: ignore[no-any-return]  # a str
    return None


def extract_records(text: str) -> tuple[list[dict[str, Any]], bool]:
    """The complete candidate records of a JSON-ish reply, whole (every field kept).

    For callers whose candidates carry several named fields (e.g. a DSPy signature's outputs).

    Returns:
        The records in reply order, and whether the reply was cut off.

    Example:
        >>> extract_records('[{"answer": "30", "probability": 0.5}, {"answer": "2')
        ([{'answer': '30', 'probability': 0.5}], True)

    """
    start = find_json_start(text)
    if start == -1:
        return [], False
    reader = read_lenient(text, start)
    found, _ = _candidate_list(reader.roots)
    records = [r for r in found or [] if type(r) is dict and id(r) not in reader.open_ids]
    return records, reader.inside_value


_LIST_KEY_SET = frozenset(LIST_KEYS)


class JsonStream:
    """The candidates of a streaming JSON reply, each given when its record's closing bracket arrives.

    :class:`LenientJson` reads the text as it grows and reports each container as it closes;
    a closed record is read by :func:`item_from_json`, as the one-shot reader reads it. A chunk
    that cannot close a container (no closer outside strings) is not read: the next one that can
    reads all the text since at once, so a long word or string costs time linear in its length.

    Args:
        start: Where the JSON structure starts in the reply.

    Example:
        >>> stream = JsonStream(0)
        >>> stream.feed('[{"text": "a", "p": 0.6}, {"te', '[{"text": "a", "p": 0.6}, {"te')
        [Item(text='a', probability=0.6, index=0)]

    """

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
        """The items completed by ``chunk``, the end of ``text`` (everything so far)."""
        if self._cannot_complete(text, chunk):
            return []
        # The reader skips to the first bracket itself, and resumes where it stopped.
        reader = self._reader
        reader.feed(text, final=False)
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
                values = _pair_texts(closed, {})
                return [item for index, value in enumerate(values) if (item := item_from_json(value, index))]
            elif parent is None and _is_record(closed):
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
