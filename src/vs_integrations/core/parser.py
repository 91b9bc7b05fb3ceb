"""Reading a verbalized distribution out of any model reply.

Three formats are auto-detected (whichever structure starts first is tried first): JSON
(strict, fenced, after a preamble, or broken: trailing commas, single quotes, cut off), XML-ish
``<response>`` tags, and bullet / numbered lists whose items end in ``(Prob: x)``. Every scanner
here is iterative and linear in the length of its input, so no reply can raise
``RecursionError`` or stall the parser.
"""

from __future__ import annotations

import html
import json
import json.scanner
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .config import VSConfig
from .distribution import Candidate, Distribution
from .errors import ParseError as ParseError  # re-exported: the parser's public error

TEXT_KEYS = ("text", "response", "answer", "content")
PROBABILITY_KEYS = ("probability", "prob", "p", "confidence", "weight")
LIST_KEYS = ("responses", "candidates", "answers", "samples", "outputs", "items")
_TEXT_KEY_SET = frozenset(TEXT_KEYS)


class Item(NamedTuple):
    """A candidate as found in the text, before its probability is interpreted."""

    text: str
    probability: object
    position: int


class Extraction(NamedTuple):
    """What one reply holds: the complete items, in order, and how the reply ended."""

    items: list[Item]
    reasoning: str | None
    truncated: bool
    format: str | None


# ----------------------------------------------------------------------------- JSON
_MAX_DEPTH = 64  # candidates sit at depth <= 3; deeper containers are counted, not built
_TOKEN = re.compile(
    r"""(?P<open>[\[{]+)|(?P<close>[\]}])|(?P<dq>")|(?P<sq>')|(?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?)"""
    r"""|(?P<word>[A-Za-z_][A-Za-z_0-9]*)|[\s:,]+|."""
)
_DQ_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SQ_STRING = re.compile(r"'[^'\\]*(?:\\.[^'\\]*)*'", re.DOTALL)
_WORDS: dict[str, object] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
_START = re.compile(r"[\[{]")


def _decode_dq(token: str) -> str:
    try:
        value: str = json.loads(token, strict=False)
        return value
    except ValueError:
        return token[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def _decode_sq(token: str) -> str:
    inner = token[1:-1].replace("\\'", "'")
    try:
        value: str = json.loads('"' + inner.replace('"', '\\"') + '"', strict=False)
        return value
    except ValueError:
        return inner


def _lenient_json(text: str) -> tuple[list[Any], set[int], bool]:
    """Parse JSON-ish text without recursion.

    Colons and commas are ignored (so trailing or missing commas do not matter), strings may be
    single-quoted, and text between top-level values is skipped.

    Returns:
        The top-level values, the ids of containers left open at the end, and whether the text
        ended inside a value.

    """
    roots: list[Any] = []
    stack: list[list[Any]] = []  # frames: [container, pending_key]; pending_key only for dicts
    overflow = 0  # depth beyond _MAX_DEPTH, tracked as a count
    pos = 0
    end = len(text)
    token_match = _TOKEN.match

    def add(value: Any) -> None:
        if not stack:
            roots.append(value)
            return
        frame = stack[-1]
        container = frame[0]
        if isinstance(container, list):
            container.append(value)
        elif frame[1] is None:
            # A container cannot be a key; it is dropped.
            frame[1] = value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
            if frame[1] is not None:
                frame[1] = str(frame[1])
        else:
            container[frame[1]] = value
            frame[1] = None

    while pos < end:
        if not stack and not overflow:
            found = _START.search(text, pos)
            if found is None:
                break
            pos = found.start()
        match = token_match(text, pos)
        assert match is not None  # the pattern ends in "." (any char), so it always matches
        kind = match.lastgroup
        if kind == "open":
            for bracket in match.group():
                if overflow or len(stack) >= _MAX_DEPTH:
                    overflow += 1
                    continue
                container: Any = [] if bracket == "[" else {}
                add(container)
                stack.append([container, None])
            pos = match.end()
        elif kind == "close":
            if overflow:
                overflow -= 1
            elif stack:
                stack.pop()
            pos = match.end()
        elif kind == "dq" or kind == "sq":
            string = (_DQ_STRING if kind == "dq" else _SQ_STRING).match(text, pos)
            if string is None:
                return roots, {id(frame[0]) for frame in stack}, True
            if not overflow:
                add(_decode_dq(string.group()) if kind == "dq" else _decode_sq(string.group()))
            pos = string.end()
        elif kind == "num":
            if not overflow:
                token = match.group()
                add(_json_number(token))
            pos = match.end()
        elif kind == "word":
            if not overflow:
                word = match.group()
                add(_WORDS.get(word, word))
            pos = match.end()
        else:
            pos = match.end()
    return roots, {id(frame[0]) for frame in stack}, bool(stack or overflow)


def _json_number(token: str) -> object:
    if "/" in token:
        return token  # a fraction such as 1/6, read by read_probability
    try:
        return float(token) if any(c in token for c in ".eE") else int(token)
    except (ValueError, OverflowError):
        return token


def _item_from_json(value: Any, position: int) -> Item | None:
    if isinstance(value, dict):
        if "text" in value and "probability" in value:  # the format we ask for
            return Item(_as_text(value["text"]), value["probability"], position)
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
            # (a multi-field record) are kept together as a JSON object.
            others = {k: v for k, v in value.items() if str(k).strip().lower() not in PROBABILITY_KEYS}
            if not others:
                return None
            text = next(iter(others.values())) if len(others) == 1 else others
        return Item(_as_text(text), probability, position)
    if isinstance(value, list) and len(value) == 2 and not isinstance(value[0], (list, dict)):
        return Item(_as_text(value[0]), value[1], position)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return Item(_as_text(value), None, position)
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _candidate_list(roots: list[Any]) -> tuple[list[Any] | None, str | None]:
    """Find the list of candidates (and a sibling reasoning text) breadth first, without recursion."""
    if len(roots) == 1 and isinstance(roots[0], dict) and isinstance(roots[0].get("responses"), list):
        reasoning = roots[0].get("reasoning")
        return roots[0]["responses"], reasoning if isinstance(reasoning, str) else None
    queue: list[Any] = list(roots)
    first_list_of_records: list[Any] | None = None
    head = 0
    while head < len(queue):
        node = queue[head]
        head += 1
        if isinstance(node, dict):
            lowered = {str(k).strip().lower(): v for k, v in node.items()}
            for key in LIST_KEYS:
                if isinstance(lowered.get(key), list):
                    reasoning = lowered.get("reasoning")
                    return lowered[key], reasoning if isinstance(reasoning, str) else None
            queue.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            if first_list_of_records is None and any(
                isinstance(v, dict) and _TEXT_KEY_SET.intersection(str(k).lower() for k in v) for v in node
            ):
                first_list_of_records = node
            queue.extend(v for v in node if isinstance(v, (dict, list)))
    if first_list_of_records is not None:
        return first_list_of_records, None
    records = [r for r in roots if isinstance(r, dict) and _TEXT_KEY_SET.intersection(str(k).lower() for k in r)]
    if records:
        return records, None
    if len(roots) == 1 and isinstance(roots[0], list):
        return roots[0], None
    return None, None


_NO_IDS: frozenset[int] = frozenset()


def _json_items(found: list[Any], open_ids: set[int] | frozenset[int]) -> list[Item]:
    items = []
    for position, entry in enumerate(found):
        if id(entry) in open_ids:
            continue  # cut off mid-candidate
        item = _item_from_json(entry, position)
        if item is not None:
            items.append(item)
    return items


_DECODER = json.JSONDecoder()
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(_DECODER)  # type: ignore[arg-type]


def _extract_json(text: str, start: int) -> Extraction | None:
    # Fast path: one well-formed value from ``start`` (prose or a fence may follow it).
    try:
        value, end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        pass
    else:
        if _START.search(text, end) is not None:
            value = None  # more values follow (JSON lines): the lenient scanner reads them all
        found, reasoning = _candidate_list([value])
        if found:
            items = _json_items(found, _NO_IDS)
            if items:
                return Extraction(items, reasoning, False, "json")
    # Fenced, preceded by prose, broken or cut off: the lenient scanner. An unterminated string
    # ends the scan, so every item it returns is complete.
    roots, open_ids, truncated = _lenient_json(text[start:] if start > 0 else text)
    found, reasoning = _candidate_list(roots)
    if found is None:
        return None
    return Extraction(_json_items(found, open_ids), reasoning, truncated, "json")


def extract_records(text: str) -> tuple[list[dict[str, Any]], bool]:
    """The complete candidate records of a JSON-ish reply, whole (every field kept).

    For callers whose candidates carry several named fields (e.g. a DSPy signature's outputs).

    Returns:
        The records in reply order, and whether the reply was cut off.
    """
    start = _START.search(text)
    if start is None:
        return [], False
    roots, open_ids, truncated = _lenient_json(text[start.start() :])
    found, _ = _candidate_list(roots)
    records = [r for r in found or [] if isinstance(r, dict) and id(r) not in open_ids]
    return records, truncated


# ----------------------------------------------------------------------------- XML
_XML_OPEN = re.compile(r"<(?i:response)(?=[\s>/])")
# The shape asked for, with no markup inside: read in one regex pass (linear: no nested
# quantifier can backtrack past a "<").
_XML_PLAIN_ITEM = re.compile(r"<response>\s*<text>([^<]*)</text>\s*<probability>([^<]*)</probability>\s*</response>")
_XML_CLOSE = "</response>"
_ATTR_PROBABILITY = re.compile(r"""(?:probability|prob|p)\s*=\s*["']?([^"'\s>]*)""", re.IGNORECASE)


def _find_outside_cdata(text: str, needle: str, start: int, stop: int) -> int:
    """Index of ``needle`` (case-insensitive) in text[start:stop], skipping CDATA; -1 if absent.

    Each stretch of text is searched once, so the cost is linear in ``stop - start``.
    """
    hit = _ifind(text, needle, start, stop)
    if hit == -1:
        return -1
    cdata = text.find("<![CDATA[", start, hit)
    while cdata != -1:
        cdata_end = text.find("]]>", cdata + 9, stop)
        if cdata_end == -1:
            return -1
        pos = cdata_end + 3
        if hit < pos:
            hit = _ifind(text, needle, pos, stop)
            if hit == -1:
                return -1
        cdata = text.find("<![CDATA[", pos, hit)
    return hit


_CASELESS: dict[str, re.Pattern[str]] = {}


def _ifind(text: str, needle: str, start: int, stop: int) -> int:
    hit = text.find(needle, start, stop)
    if hit != -1:
        return hit
    # Rare case: tags written in upper or mixed case.
    pattern = _CASELESS.get(needle)
    if pattern is None:
        pattern = _CASELESS[needle] = re.compile(re.escape(needle), re.IGNORECASE)
    match = pattern.search(text, start, stop)
    return match.start() if match else -1


def _xml_content(fragment: str) -> str:
    """Decode entities outside CDATA and keep CDATA sections verbatim."""
    if "<![CDATA[" not in fragment:
        return html.unescape(fragment).strip()
    out: list[str] = []
    pos = 0
    while True:
        start = fragment.find("<![CDATA[", pos)
        if start == -1:
            out.append(html.unescape(fragment[pos:]))
            break
        out.append(html.unescape(fragment[pos:start]))
        end = fragment.find("]]>", start + 9)
        if end == -1:
            out.append(fragment[start + 9 :])
            break
        out.append(fragment[start + 9 : end])
        pos = end + 3
    return "".join(out).strip()


def _xml_element(block: str, name: str) -> tuple[str | None, int, int]:
    """Content of the first ``<name>`` element in ``block`` and its span (CDATA-aware)."""
    open_tag = f"<{name}>"
    start = _find_outside_cdata(block, open_tag, 0, len(block))
    if start == -1:
        return None, -1, -1
    content_start = start + len(open_tag)
    end = _find_outside_cdata(block, f"</{name}>", content_start, len(block))
    if end == -1:
        return _xml_content(block[content_start:]), start, len(block)
    return _xml_content(block[content_start:end]), start, end + len(name) + 3


def _extract_plain_xml(text: str, start: int) -> Extraction | None:
    """Every ``<response>`` in the plain shape asked for; None if any is not (the scanner reads it)."""
    matches = _XML_PLAIN_ITEM.findall(text, start)
    if not matches or len(matches) != text.count("<response", start):
        return None
    items = [
        Item((html.unescape(body) if "&" in body else body).strip(), probability, position)
        for position, (body, probability) in enumerate(matches)
    ]
    return Extraction(items, _xml_reasoning(text, start), False, "xml")


def _extract_xml(text: str, start: int) -> Extraction | None:
    plain = _extract_plain_xml(text, start)
    if plain is not None:
        return plain
    items: list[Item] = []
    truncated = False
    pos = start
    position = 0
    while True:
        opened = _XML_OPEN.search(text, pos)
        if opened is None:
            break
        tag_end = text.find(">", opened.end())
        if tag_end == -1:
            truncated = True
            break
        attributes = text[opened.end() : tag_end]
        body_start = tag_end + 1
        if attributes.rstrip().endswith("/"):
            pos = body_start
            continue
        close = _find_outside_cdata(text, _XML_CLOSE, body_start, len(text))
        if close == -1:
            truncated = True
            break
        block = text[body_start:close]
        body, _, _ = _xml_element(block, "text")
        probability: object = None
        prob_text, prob_start, prob_end = _xml_element(block, "probability")
        if prob_text is not None:
            probability = prob_text
        else:
            attribute = _ATTR_PROBABILITY.search(attributes)
            if attribute:
                probability = attribute.group(1)
        if body is None:
            if prob_start != -1:
                block = block[:prob_start] + block[prob_end:]
            body = _xml_content(block)
        items.append(Item(body, probability, position))
        position += 1
        pos = close + len(_XML_CLOSE)
    if not items and not truncated:
        return None
    return Extraction(items, _xml_reasoning(text, start), truncated, "xml")


def _xml_reasoning(text: str, start: int) -> str | None:
    """VS-CoT's ``<reasoning>`` element before the first ``<response>`` (at ``start``)."""
    return _xml_element(text[:start], "reasoning")[0]


# ----------------------------------------------------------------------------- lists
# Case-insensitive only after the literal "(" so the regex engine can scan for it quickly.
_LIST_MARKER = re.compile(r"\((?i:\s*(?:prob(?:ability)?|p|confidence|weight)\s*[:=]\s*([^()\n]{0,40}?)\s*)\)")
_BULLET = re.compile(r"^[ \t]*(?:[•\-*+–]|\(?\d{1,3}[.):])[ \t]*", re.MULTILINE)
_ITEM_SEPARATORS = " \t\r\n,;."
_REASONING_LINE = re.compile(r"^\s*reasoning\s*:\s*", re.IGNORECASE)


def _extract_list(text: str, start: int) -> Extraction | None:
    items: list[Item] = []
    previous_end = start
    new_item = tuple.__new__  # skips NamedTuple's Python-level __new__ on this hot path
    for position, marker in enumerate(_LIST_MARKER.finditer(text, start)):
        segment = text[previous_end : marker.start()]
        previous_end = marker.end()
        if position == 0:
            first = _BULLET.search(segment)
            if first is not None:
                segment = segment[first.start() :]
        else:
            segment = segment.lstrip(_ITEM_SEPARATORS)  # what trailed the previous "(Prob: x)"
        bullet = _BULLET.match(segment)
        if bullet is not None:
            segment = segment[bullet.end() :]
        items.append(new_item(Item, (segment.strip().rstrip("-–:").strip(), marker.group(1), position)))
    if not items:
        return None
    # VS-CoT's reasoning paragraph comes before the list; other preambles are not reasoning.
    preamble = text[:start].strip()
    reasoning = _REASONING_LINE.sub("", preamble).strip() or None if _REASONING_LINE.match(preamble) else None
    # An item started after the last complete one: the reply was cut off inside it.
    truncated = _BULLET.search(text, previous_end) is not None
    return Extraction(items, reasoning, truncated, "list")


# ----------------------------------------------------------------------------- detection
_FIRST_CHAR = re.compile(r"\s*(\S)")


def _format_order(text: str, hint: str | None) -> list[tuple[str, int]]:
    positions: list[tuple[int, int, str]] = []
    json_at = _START.search(text)
    if json_at is not None:
        positions.append((json_at.start(), 0 if hint == "json" else 1, "json"))
    xml_at = _XML_OPEN.search(text) if "<" in text else None
    if xml_at is not None:
        positions.append((xml_at.start(), 0 if hint == "xml" else 1, "xml"))
    list_at = _LIST_MARKER.search(text) if "(" in text else None
    if list_at is not None:
        line_start = text.rfind("\n", 0, list_at.start()) + 1
        bullet = _BULLET.search(text, 0, list_at.start())
        positions.append((bullet.start() if bullet else line_start, 0 if hint == "list" else 1, "list"))
    positions.sort()
    return [(name, at) for at, _, name in positions]


_EXTRACTORS = {"json": _extract_json, "xml": _extract_xml, "list": _extract_list}


def extract(text: str, config: VSConfig | None = None) -> Extraction:
    """Find the complete candidates in ``text`` without interpreting their probabilities.

    Formats are tried in the order their structure starts in the text. An empty extraction
    (no items) means nothing usable was found.
    """
    hint = config.format if config is not None else None
    first = _FIRST_CHAR.match(text)
    if first is not None:
        # A reply that opens with a format's structure would be tried in that format first
        # anyway: skip measuring where the other formats start.
        at = first.start(1)
        line_start = text.rfind("\n", 0, at) + 1
        opening: str | None = None
        if first.group(1) in "{[":
            opening = "json"
        elif _XML_OPEN.match(text, at):
            opening = "xml"
        elif _BULLET.match(text, line_start):
            opening, at = "list", line_start
        if opening is not None:
            extraction = _EXTRACTORS[opening](text, at)
            if extraction is not None and extraction.items:
                return extraction
    for name, at in _format_order(text, hint):
        extraction = _EXTRACTORS[name](text, at)
        if extraction is not None and extraction.items:
            return extraction
    truncated = bool(_START.search(text) or _XML_OPEN.search(text))
    return Extraction([], None, truncated, None)


# ----------------------------------------------------------------------------- probabilities
_NUMBER = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:/\s*(\d+\.?\d*)|(%))?")
_NON_FINITE = re.compile(r"^\s*[-+]?(nan|inf|infinity)\s*$", re.IGNORECASE)


def read_probability(value: object) -> float | None:
    """The number a model stated, as a fraction where it says so.

    ``0.2`` and ``"0.2"`` -> 0.2, ``"20%"`` -> 0.2, ``"1/6"`` -> 0.1667, ``20`` -> 20.0.
    NaN, infinities, negative numbers and unreadable values -> None.
    """
    number: float
    kind = type(value)
    if kind is float or kind is int:
        number = float(value)  # type: ignore[arg-type]
    elif value is None or kind is bool:
        return None
    elif isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)  # the usual "0.25"; NaN and infinities are refused below
        except ValueError:
            return _read_probability_text(value)
    else:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number


def _read_probability_text(value: str) -> float | None:
    """The slow path of :func:`read_probability`: percentages, fractions, numbers inside text."""
    if _NON_FINITE.match(value):
        return None
    match = _NUMBER.search(value)
    if match is None:
        return None
    try:
        number = float(match.group(1))
        if match.group(2) is not None:
            denominator = float(match.group(2))
            if denominator == 0:
                return None
            number /= denominator
        elif match.group(3):
            number /= 100.0
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number


def _weights(stated: list[float | None], definition: str, warnings: list[str]) -> list[float]:
    if definition not in ("perplexity", "nll") and None not in stated:
        ready: list[float] = stated  # type: ignore[assignment]  # no None, checked above
        if max(ready) <= 1 and sum(ready) > 0:
            return ready  # the usual case: nothing to convert or fill
    present = [v for v in stated if v is not None]
    if definition == "perplexity":
        converted: list[float | None] = [1.0 / v if v is not None and v > 0 else None for v in stated]
        warnings.append("converted perplexities to weights (1 / perplexity)")
    elif definition == "nll":
        converted = [math.exp(-min(v, 700.0)) if v is not None else None for v in stated]
        warnings.append("converted negative log-likelihoods to weights (exp(-nll))")
    else:
        converted = list(stated)
        if present and max(present) > 1 and max(present) <= 100:
            converted = [v / 100.0 if v is not None else None for v in stated]
            warnings.append("read the probabilities as percentages (a value was above 1, none above 100)")
    known = [v for v in converted if v is not None]
    missing = len(converted) - len(known)
    if missing:
        if known and sum(known) > 0:
            fill = sum(known) / len(known)
            warnings.append(f"{missing} candidate(s) had no readable probability; gave them the mean {fill:.4g}")
        else:
            fill = 1.0
        converted = [fill if v is None else v for v in converted]
    weights: list[float] = [v for v in converted if v is not None]
    if sum(weights) <= 0:
        warnings.append("no candidate had a positive probability; used a uniform distribution")
        return [1.0] * len(weights)
    return weights


def build_distribution(
    items: Sequence[Item],
    config: VSConfig | None = None,
    *,
    raw: str = "",
    reasoning: str | None = None,
    truncated: bool = False,
    warnings: Sequence[str] = (),
) -> Distribution:
    """Interpret the stated probabilities, merge duplicates and normalise.

    Raises:
        ParseError: If no item has a non-empty text.

    """
    notes = list(warnings)
    kept: list[Item] = []
    stated: list[float | None] = []
    unreadable = 0
    for item in items:
        if item.text:
            value = read_probability(item.probability)
            unreadable += value is None and item.probability is not None
            kept.append(item)
            stated.append(value)
    if len(kept) < len(items):
        notes.append(f"dropped {len(items) - len(kept)} candidate(s) with empty text")
    if not kept:
        raise ParseError(_no_candidates_message(raw), raw)
    if unreadable:
        notes.append(f"{unreadable} stated probability value(s) were unreadable, NaN, infinite or negative")
    weights = _weights(stated, config.probability if config is not None else "explicit", notes)

    # One row per distinct text (first spelling, position and stated value kept), weights added.
    rows: dict[str, list[Any]] = {}
    for item, weight, value in zip(kept, weights, stated, strict=True):
        key = item.text.casefold()
        row = rows.get(key)
        if row is None:
            rows[key] = [item.text, weight, value, item.position]
        else:
            row[1] += weight
    if len(rows) < len(kept):
        notes.append(f"merged {len(kept) - len(rows)} duplicate candidate(s), adding their probabilities")
    total = sum(row[1] for row in rows.values())
    if abs(total - 1.0) > 1e-6:
        notes.append(f"probabilities summed to {total:.4g}; normalised to 1")
    new_candidate = tuple.__new__  # skips NamedTuple's Python-level __new__
    candidates = [
        new_candidate(Candidate, (text, weight / total, stated_value, index))
        for text, weight, stated_value, index in rows.values()
    ]
    return Distribution(candidates, raw=raw, warnings=notes, truncated=truncated, reasoning=reasoning)


def _no_candidates_message(text: str) -> str:
    preview = text.strip().replace("\n", " ")
    if len(preview) > 200:
        preview = preview[:200] + "..."
    return f"no candidates found in the model reply (looked for JSON, XML and list formats): {preview!r}"


def _parse_exact_format(text: str, config: VSConfig | None) -> Distribution | None:
    """The reply exactly as asked for (what constrained decoding produces), read in one pass.

    Returns None for anything that needs a repair (non-strict JSON, other keys, values outside
    [0, 1], empty or repeated texts, perplexity or NLL values); the general path reads those,
    and gives the same result for every reply this accepts.
    """
    if config is not None and config.probability in ("perplexity", "nll"):
        return None
    start = 0 if text[:1] == "{" else len(text) - len(text.lstrip())
    try:
        # The C scanner json.loads uses, without its wrapper's checks (about 0.5 µs a reply).
        value, end = _SCAN_ONCE(text, start)
    except (StopIteration, ValueError, RecursionError):
        return None
    if type(value) is not dict or (end != len(text) and not text[end:].isspace()):
        return None
    responses = value.get("responses")
    if type(responses) is not list or not responses:
        return None
    rows = []
    seen = set()
    total = 0.0
    for position, entry in enumerate(responses):
        if type(entry) is not dict:
            return None
        body = entry.get("text")
        stated = entry.get("probability")
        # NaN fails the range check, so it goes to the general path too.
        if type(body) is not str or (type(stated) is not float and type(stated) is not int):
            return None
        if not 0.0 <= stated <= 1.0:
            return None
        body = body.strip()
        key = body.casefold()
        if not body or key in seen:
            return None
        seen.add(key)
        total += stated
        rows.append((body, stated if type(stated) is float else float(stated), position))
    if total <= 0:
        return None
    notes = [] if abs(total - 1.0) <= 1e-6 else [f"probabilities summed to {total:.4g}; normalised to 1"]
    reasoning = value.get("reasoning")
    new_candidate = tuple.__new__  # skips NamedTuple's Python-level __new__ on this hot path
    candidates = tuple(
        [new_candidate(Candidate, (body, stated / total, stated, index)) for body, stated, index in rows]
    )
    return Distribution(candidates, raw=text, warnings=notes, reasoning=reasoning if type(reasoning) is str else None)


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

    """
    if not isinstance(text, str):
        raise TypeError(f"parse() needs the reply as a str; got {type(text).__name__}")
    distribution = _parse_exact_format(text, config)
    if distribution is None:
        distribution = _parse_general(text, config)
    expected = k if k is not None else (config.k if config is not None and config.variant != "multi" else None)
    if expected is not None and len(distribution) != expected:
        distribution.warnings.append(f"expected {expected} candidates, found {len(distribution)}")
    return distribution


def _parse_general(text: str, config: VSConfig | None) -> Distribution:
    extraction = extract(text, config)
    if not extraction.items:
        raise ParseError(_no_candidates_message(text), text)
    notes = ["the reply was cut off; kept the complete candidates"] if extraction.truncated else []
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
    stated); the normalised distribution comes from :meth:`close`.

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

    # Characters that can complete a candidate in one of the formats.
    _CLOSERS = frozenset("}]>)")

    def __init__(self, config: VSConfig | None = None) -> None:
        self.config = config
        self._chunks: list[str] = []
        self._emitted = 0
        self._seen: set[str] = set()
        self._closed = False

    @property
    def text(self) -> str:
        """Everything fed so far."""
        if len(self._chunks) > 1:
            self._chunks = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    def feed(self, chunk: str) -> list[Candidate]:
        """Add a chunk; return the candidates it completed, in reply order."""
        if self._closed:
            raise ValueError("StreamParser.feed() called after close()")
        if not isinstance(chunk, str):
            raise TypeError(f"StreamParser.feed() needs a str chunk; got {type(chunk).__name__}")
        self._chunks.append(chunk)
        if not self._CLOSERS.intersection(chunk):
            return []
        items = extract(self.text, self.config).items
        fresh: list[Candidate] = []
        for item in items[self._emitted :]:
            key = item.text.casefold()
            if not item.text or key in self._seen:
                continue
            self._seen.add(key)
            stated = read_probability(item.probability)
            provisional = 0.0 if stated is None else min(stated, 1.0)
            fresh.append(Candidate(item.text, provisional, stated, item.position))
        self._emitted = max(self._emitted, len(items))
        return fresh

    def close(self) -> Distribution:
        """End of reply: the normalised distribution over everything fed.

        Raises:
            ParseError: If the reply holds no candidate.

        """
        self._closed = True
        return parse(self.text, self.config)
