import math

from hypothesis import given, settings
from hypothesis import strategies as st

from vs_integrations import ParseError, StreamParser, VSConfig, parse

STRUCTURE = st.sampled_from(
    [
        "{",
        "}",
        "[",
        "]",
        '"',
        "'",
        ",",
        ":",
        "<response>",
        "</response>",
        "<text>",
        "</text>",
        "<probability>",
        "</probability>",
        "<![CDATA[",
        "]]>",
        "(Prob: ",
        ")",
        "\n- ",
        "\n1. ",
        "responses",
        "text",
        "probability",
        "0.2",
        "20%",
        "1/6",
        "-3",
        "NaN",
        "1e400",
        "&amp;",
        "```json",
        # the list rules: items without probabilities, "Name: p%", "(p)", several items on a line
        "\n2. ",
        ", 3. ",
        ": 20%",
        " (0.3)",
        " - 0.4",
        "\nProbability: ",
        "**",
        "\n\n",
        "<response>a",
    ]
)
TEXTS = st.one_of(st.text(), st.lists(st.one_of(STRUCTURE, st.text(max_size=5)), max_size=40).map("".join))


def check(text: str, config: VSConfig | None = None) -> None:
    try:
        dist = parse(text, config)
    except ParseError as err:
        assert err.raw == text
        return
    assert dist.raw == text
    assert len(dist) >= 1
    assert all(math.isfinite(c.probability) and c.probability >= 0 for c in dist)
    assert math.isclose(sum(dist.probabilities), 1.0, rel_tol=1e-9)
    assert all(c.text for c in dist)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_any_text_gives_a_valid_distribution_or_parse_error(text):
    check(text)


@settings(max_examples=150, deadline=None)
@given(TEXTS, st.sampled_from(["perplexity", "nll", "percentage", "explicit"]))
def test_any_text_with_any_probability_definition(text, definition):
    check(text, VSConfig(probability=definition))


@settings(max_examples=150, deadline=None)
@given(TEXTS, st.integers(min_value=1, max_value=9))
def test_streaming_never_crashes_and_close_matches_parse(text, step):
    parser = StreamParser()
    for start in range(0, len(text), step):
        for candidate in parser.feed(text[start : start + step]):
            assert candidate.text and 0 <= candidate.probability <= 1
    try:
        streamed = parser.close()
    except ParseError as err:
        assert err.raw == text
    else:
        assert streamed == parse(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1), st.floats(min_value=0, max_value=1)), min_size=1, max_size=8))
def test_json_round_trip_of_any_texts(pairs):
    import json

    reply = json.dumps({"responses": [{"text": t, "probability": p} for t, p in pairs]})
    try:
        dist = parse(reply)
    except ParseError:
        assert all(not t.strip() for t, _ in pairs)
        return
    expected = []
    for text, _ in pairs:
        if text.strip() and text.strip().casefold() not in {e.casefold() for e in expected}:
            expected.append(text.strip())
    assert dist.texts == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.text(max_size=8), st.integers(), st.none()),
            st.one_of(st.floats(allow_nan=True), st.integers(-5, 150), st.booleans(), st.text(max_size=4)),
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_exact_format_fast_path_agrees_with_the_general_path(pairs, with_reasoning):
    import json

    from vs_integrations.core.parser import _parse_general
    from vs_integrations.core.parsing.normalise import parse_exact_json

    body = {"responses": [{"text": t, "probability": p} for t, p in pairs]}
    if with_reasoning:
        body = {"reasoning": "r", **body}
    reply = json.dumps(body)
    fast = parse_exact_json(reply, None)
    if fast is None:
        return
    assert fast == _parse_general(reply, None)


LIST_TEXT = st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(LIST_TEXT, st.one_of(st.none(), st.integers(0, 100))), min_size=1, max_size=6),
    st.sampled_from(["{i}. {t}", "- {t}", "{i}) {t}"]),
    st.sampled_from([" (Prob: {p})", ": {p}%", " ({p}%)"]),
    st.integers(min_value=1, max_value=9),
)
def test_list_replies_streamed_or_not_give_one_valid_distribution(items, bullet, stated, step):
    lines = [
        bullet.format(i=i, t=text) + ("" if p is None else stated.format(p=p)) for i, (text, p) in enumerate(items, 1)
    ]
    reply = "\n".join(lines)
    check(reply)
    parser = StreamParser()
    emitted = []
    for start in range(0, len(reply), step):
        emitted.extend(c.text for c in parser.feed(reply[start : start + step]))
    try:
        streamed = parser.close()
    except ParseError as err:
        assert err.raw == reply
        return
    assert streamed == parse(reply)
    # Whatever was emitted while streaming is a candidate of the final distribution.
    assert {t.casefold() for t in emitted} <= {t.casefold() for t in streamed.texts}


@settings(max_examples=150, deadline=None)
@given(TEXTS, st.integers(min_value=1, max_value=9))
def test_the_json_reader_gives_the_same_values_fed_in_pieces(text, step):
    from vs_integrations.core.parsing.json_scanner import LenientJson

    whole = LenientJson()
    whole.feed(text, final=True)
    pieces = LenientJson()
    for end in range(step, len(text) + step, step):
        pieces.feed(text[:end], final=end >= len(text))
    if not text:
        pieces.feed(text, final=True)
    assert pieces.roots == whole.roots
    assert pieces.inside_value == whole.inside_value


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.text(max_size=8), st.floats(0, 1)), min_size=1, max_size=5),
    st.integers(min_value=1, max_value=400),
    st.sampled_from(["", "```json\n", "Sure:\n"]),
)
def test_the_cut_off_fast_path_agrees_with_the_lenient_reader(pairs, cut, before):
    import json

    from vs_integrations.core.parsing import json_scanner

    reply = before + json.dumps({"responses": [{"text": t, "probability": p} for t, p in pairs]}, indent=1)
    reply = reply[: min(cut, len(reply) - 1)]
    start = reply.find("{")
    if start == -1:
        return
    fast = json_scanner._extract_cut_off(reply, start)
    if fast is None:
        return
    reader = json_scanner._lenient_json(reply[start:])
    found, _ = json_scanner._candidate_list(reader.roots)
    assert found is not None
    assert fast.items == json_scanner._json_items(found, reader.open_ids) and reader.inside_value
    assert not reader.repairs  # the fast path notes no repair: there must be none


# Item texts rich in what the general path trims or unwraps at a text's ends (emphasis, dashes, colons, quotes).
EDGY_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), st.sampled_from(list(' *_-–—:,;"“”'))
    ),
    max_size=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            EDGY_TEXT,
            st.sampled_from(["0.2", "0.5", "1", "1.0", "0", ".5", "1.5", "50", "0.", "1.2.3", "9" * 400]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["", "\n", "  "]),
)
def test_exact_list_fast_path_agrees_with_the_general_path(pairs, after):
    from vs_integrations.core.parser import _parse_general
    from vs_integrations.core.parsing.normalise import parse_exact_list

    reply = "\n".join(f"{i}. {t} (Probability: {p})" for i, (t, p) in enumerate(pairs, 1)) + after
    fast = parse_exact_list(reply, None)
    if fast is None:
        return
    assert fast == _parse_general(reply, None)


NUMBERED_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)),
        st.sampled_from(list(" \t\r\xa0*_-:,;.%()[]0123456789")),
    ),
    max_size=12,
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 120), NUMBERED_TEXT), min_size=1, max_size=6),
    st.sampled_from(
        [
            "",
            "\n",
            "\n\n",
            "  \n",
            "\r\n",
            "\n\nThey are all colours.",
            "\nmore",
            "\n\n- and a bullet",
            "\n\nsaid (Prob: 0.2)",
            "\n\n(an aside)",
            "\n \n2. again",
            "\n```\ncode",
        ]
    ),
)
def test_numbered_list_fast_path_agrees_with_the_general_path(lines, after):
    from vs_integrations.core.parser import _parse_general
    from vs_integrations.core.parsing.normalise import parse_numbered_list

    reply = "\n".join(f"{number}. {text}" for number, text in lines) + after
    fast = parse_numbered_list(reply, None)
    if fast is None:
        return
    general = _parse_general(reply, None)
    assert general is not None
    assert [tuple(c) for c in fast] == [tuple(c) for c in general]
    assert (fast.warnings, fast.truncated, fast.reasoning, fast.raw) == (
        general.warnings,
        general.truncated,
        general.reasoning,
        general.raw,
    )


def test_numbered_list_fast_path_reads_the_usual_small_model_lists():
    from vs_integrations.core.parser import _parse_general
    from vs_integrations.core.parsing.normalise import parse_numbered_list

    for reply in (
        "1. Berlin\n2. Venice\n3. Paris",
        "1. *Apple*\n2. *Banana*\n",
        "1. New York\n2. Texas\n\nPlease pick one: 1. New York: 3. Texas",
    ):
        read = parse_numbered_list(reply, None)
        assert read is not None and read == _parse_general(reply, None)
    # A reply the fast path leaves to the general one: a probability at an item's end.
    assert parse_numbered_list("1. Red 0.6\n2. Blue 0.4", None) is None


XML_PIECE = st.lists(
    st.sampled_from(["a", " ", "\n", "0.5", "&", "&amp;", "&#48;", ";", "<", "]]>", "%", "é"]), max_size=6
).map("".join)


@settings(max_examples=300, deadline=None)
@given(XML_PIECE, XML_PIECE, st.sampled_from(["", " ", "\n  "]), st.sampled_from(["", ' probability="0.9"']))
def test_xml_plain_element_fast_path_agrees_with_the_general_rules(body, probability, space, attributes):
    import re
    from unittest import mock

    from vs_integrations.core.parsing import xml_scanner

    block = f"{space}<text>{body}</text>{space}<probability>{probability}</probability>{space}"
    fast = xml_scanner.xml_block_item(attributes, block, 3)
    with mock.patch.object(xml_scanner, "_PLAIN_BLOCK", re.compile(r"(?!)")):  # matches nothing
        assert xml_scanner.xml_block_item(attributes, block, 3) == fast


TAIL_PIECE = st.sampled_from(
    [
        *("p", "P", ":", "=", " ", "\t", "prob", "PROB", "confidence", "confıdence", "WEİGHT", "weight"),
        *("0", "5", ".", "%", "/", ")", "]", "a", "\n", "ſ", "é", ","),
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(TAIL_PIECE, max_size=40).map("".join))
def test_the_stated_probability_check_agrees_with_its_regex(text):
    from vs_integrations.core.parsing import list_scanner

    # The check as one regex search over the item's last 80 characters: what the str methods replace.
    by_regex = (
        text.rstrip(list_scanner._TAIL_TRIM)[-1:] in list_scanner._TAIL_ENDS
        and list_scanner._TAIL_HINT.search(text, max(0, len(text) - 80)) is not None
    )
    assert list_scanner._may_state_probability(text) == by_regex


LINE_PIECE = st.sampled_from(
    [
        *("1. ", "10) ", "- ", "* ", "• ", "(a) ", "b) ", " ", "\t", "\u3000", "\n", "a", "Red", "**", "_", "-", "–"),
        *(":", ";", ","),
        *("(", ")", "(Prob: 0.5)", "(p=.2)", "(confidence: 20%)", "(Probability: 0.3)", " (Probability: 0.3)"),
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(LINE_PIECE, max_size=8).map("".join))
def test_a_marked_line_is_read_as_the_list_scanner_reads_it(block):
    from vs_integrations.core.parsing import list_scanner

    item = list_scanner.marked_line_item(block, 0)
    if item is not None:  # else the scanner reads the block itself
        extraction = list_scanner.extract_list(block, 0)
        assert extraction is not None and extraction.items == [item]
