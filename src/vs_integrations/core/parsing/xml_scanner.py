"""The XML-ish scanner: ``<response>`` tags, closed or not, with text and probability inside.

Every search moves forward through the text (a search that finds no closing tag is not
repeated), so the cost is linear in the length of the reply whatever its tags.
"""

from __future__ import annotations

import html
import re

from .items import MAX_ITEMS, Extraction, Item, too_many_items
from .items import new_tuple as _new
from .list_scanner import split_stated_probability

__all__ = ["XML_OPEN", "extract_xml", "xml_block_item"]

XML_OPEN = re.compile(r"<(?i:response)(?=[\s>/])")
# The shape asked for, with no markup inside: read in one regex pass (linear: no nested
# quantifier can backtrack past a "<").
_XML_PLAIN_ITEM = re.compile(
    r"<response>\s*+<text>([^<]*+)</text>\s*+<probability>([^<]*+)</probability>\s*+</response>"
)
# An opening tag in another case than the plain shape's (<RESPONSE>, <Response>).
_OTHER_CASE_OPEN = re.compile(r"<(?!response)(?i:response)")
# One element's body as asked for, without entities, CDATA or other tags.
_PLAIN_BLOCK = re.compile(r"\s*<text>([^<&]*)</text>\s*<probability>([^<&]*)</probability>\s*")
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


def xml_block_item(attributes: str, block: str, index: int) -> Item:
    """The candidate one ``<response>`` element holds, from its attributes and body."""
    plain = _PLAIN_BLOCK.fullmatch(block)
    if plain is not None:  # the body asked for, with nothing to decode: what the lines below give
        return _new(Item, (plain.group(1).strip(), plain.group(2).strip(), index))
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


def _extract_plain_xml(text: str, start: int) -> Extraction | None:
    """Every ``<response>`` in the plain shape asked for; None if any is not (the scanner reads it)."""
    matches = _XML_PLAIN_ITEM.findall(text, start)
    if not matches or len(matches) != text.count("<response", start) or _OTHER_CASE_OPEN.search(text, start):
        return None  # a record not in the plain shape, or one whose tag the count above misses
    items = [
        Item((html.unescape(body) if "&" in body else body).strip(), probability, index)
        for index, (body, probability) in enumerate(matches)
    ]
    return Extraction(items, _xml_reasoning(text, start), False, "xml")


def extract_xml(text: str, start: int) -> Extraction | None:
    """The candidates of an XML-ish reply whose first ``<response>`` is at ``start``.

    A ``<response>`` left open ends where the next one opens. When the reply ends inside an
    open one, its text is kept (flagged as cut off) only if the reply never closes a
    ``<response>``: a model that closes its tags and stops inside one was cut off mid-candidate.
    """
    plain = _extract_plain_xml(text, start)
    if plain is not None:
        return plain
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
            items.append(xml_block_item(attributes, text[body_start:close_at], len(items)))
            closed_any = True
            opened = XML_OPEN.search(text, close_at + len(_XML_CLOSE))
            continue
        if following is not None:
            left_open += 1
            items.append(xml_block_item(attributes, text[body_start : following.start()], len(items)))
            opened = following
            continue
        # The reply ends inside this <response>.
        truncated = True
        if not closed_any:
            item = xml_block_item(attributes, text[body_start:], len(items))
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
