"""The XML-ish scanner: ``<response>`` tags, closed or not, with text and probability inside.

Every search moves forward through the text (a search that finds no closing tag is not
repeated), so the cost is linear in the length of the reply whatever its tags.
"""

from __future__ import annotations

import html
import re

from .items import MAX_ITEMS, Extraction, Item, too_many_items
from .list_scanner import split_stated_probability

__all__ = ["XML_OPEN", "XmlStream", "extract_xml"]

XML_OPEN = re.compile(r"<(?i:response)(?=[\s>/])")
_XML_CLOSE = "</response>"
_ATTR_PROBABILITY = re.compile(r"""(?:probability|prob|p)\s*=\s*["']?([^"'\s>]*)""", re.IGNORECASE)
_OTHER_CASE: dict[str, re.Pattern[str]] = {}  # a needle in any case but as written


def _ifind(text: str, needle: str, start: int, stop: int) -> int:
    """Index of ``needle`` in any case in text[start:stop]; -1 if absent."""
    other_case = _OTHER_CASE.get(needle)
    if other_case is None:
        # It starts with the needle's first character, so sre finds where to try it fast.
        rest = re.escape(needle[1:])
        other_case = _OTHER_CASE[needle] = re.compile(f"{re.escape(needle[0])}(?!{rest})(?i:{rest})")
    hit = text.find(needle, start, stop)
    # Rare: the needle in upper or mixed case before its first appearance as written.
    other = other_case.search(text, start, stop if hit == -1 else hit)
    return hit if other is None else other.start()


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


def _xml_block_item(attributes: str, block: str, index: int) -> Item:
    """The candidate one ``<response>`` element holds, from its attributes and body."""
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
        if probability is None:
            # A bare body may state its probability as a list item does: "Red (Prob: 0.2)".
            body, probability = split_stated_probability(body)
    return Item(body, probability, index)


def extract_xml(text: str, start: int) -> Extraction | None:
    """The candidates of an XML-ish reply whose first ``<response>`` is at ``start``.

    A ``<response>`` left open ends where the next one opens. When the reply ends inside an
    open one, its text is kept (flagged as cut off) only if the reply never closes a
    ``<response>``: a model that closes its tags and stops inside one was cut off mid-candidate.
    """
    items: list[Item] = []
    warnings: list[str] = []
    truncated = False
    closed_any = False
    left_open = 0
    pos = start
    end = len(text)
    close_from, close_at = -1, -1  # the last search for a closing tag: from where, and its hit
    opened = XML_OPEN.search(text, pos)
    while opened is not None:
        if len(items) >= MAX_ITEMS:
            warnings.append(too_many_items())
            break
        tag_end = text.find(">", opened.end())
        if tag_end == -1:
            truncated = True
            break
        attributes = text[opened.end() : tag_end]
        body_start = tag_end + 1
        following = XML_OPEN.search(text, body_start)
        if attributes.rstrip().endswith("/"):
            opened = following
            continue
        if close_from == -1 or (close_at != -1 and close_at < body_start):
            close_from = body_start
            close_at = _find_outside_cdata(text, _XML_CLOSE, body_start, end)
        if close_at != -1 and (following is None or close_at < following.start()):
            items.append(_xml_block_item(attributes, text[body_start:close_at], len(items)))
            closed_any = True
            opened = XML_OPEN.search(text, close_at + len(_XML_CLOSE))
            continue
        if following is not None:
            left_open += 1
            items.append(_xml_block_item(attributes, text[body_start : following.start()], len(items)))
            opened = following
            continue
        # The reply ends inside this <response>.
        truncated = True
        if not closed_any:
            item = _xml_block_item(attributes, text[body_start:], len(items))
            if item.text:
                items.append(item)
                warnings.append(
                    f"candidate {item.index} is an unclosed <response> at the end of the reply; "
                    "kept its text, which may be cut off"
                )
        break
    if left_open:
        warnings.append(f"{left_open} <response> tag(s) were left open; each ended where the next <response> began")
    if not items and not truncated:
        return None
    return Extraction(items, _xml_reasoning(text, start), truncated, "xml", tuple(warnings))


def _xml_reasoning(text: str, start: int) -> str | None:
    """VS-CoT's ``<reasoning>`` element before the first ``<response>`` (at ``start``)."""
    return _xml_element(text[:start], "reasoning")[0]


_CLOSE_TAG = re.compile(r"</(?i:response)>")
_OVERLAP = 12  # longer than any tag, so one split across two chunks is still found


class XmlStream:
    """The candidates of a streaming XML-ish reply, each given at its ``</response>`` (or where the next one opens).

    Each element is read by :func:`_xml_block_item`, as the one-shot reader reads it. Every
    search resumes where the previous one stopped (less a few characters: a tag may be split
    across chunks), so streaming costs time linear in the reply's length.

    Args:
        start: Where the first ``<response`` is in the reply.

    Example:
        >>> stream = XmlStream(0)
        >>> stream.feed("<response>Red (p=0.6)</response><resp", "<response>Red (p=0.6)</response><resp")
        [Item(text='Red', probability='0.6', index=0)]

    """

    def __init__(self, start: int) -> None:
        self._scan = start
        self._tag = -1  # where the open <response>'s attributes start; -1 when none is open
        self._body = -1  # where its body starts; -1 while its ">" has not arrived
        self._count = 0

    def feed(self, text: str, chunk: str) -> list[Item]:
        """The items completed by ``chunk``, the end of ``text`` (everything so far)."""
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
            close = _CLOSE_TAG.search(text, scan)
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

    def _item(self, text: str, end: int) -> Item:
        attributes = text[self._tag : self._body - 1]
        item = _xml_block_item(attributes, text[self._body : end], self._count)
        self._count += 1
        self._tag = self._body = -1
        return item
