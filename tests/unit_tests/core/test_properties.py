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
    from vs_integrations.core.parsing.json_reader import LenientJson

    whole = LenientJson()
    whole.feed(text, final=True)
    pieces = LenientJson()
    for end in range(step, len(text) + step, step):
        pieces.feed(text[:end], final=end >= len(text))
    if not text:
        pieces.feed(text, final=True)
    assert pieces.roots == whole.roots
    assert pieces.inside_value == whole.inside_value


def test_the_usual_small_model_lists_are_read():
    for reply, texts in (
        ("1. Berlin\n2. Venice\n3. Paris", ["Berlin", "Venice", "Paris"]),
        ("1. *Apple*\n2. *Banana*\n", ["Apple", "Banana"]),
        ("1. New York\n2. Texas\n\nPlease pick one: 1. New York: 3. Texas", ["New York", "Texas"]),
    ):
        read = parse(reply)
        assert read.texts == texts and read.probabilities == [1 / len(texts)] * len(texts)
    # A number after a space is part of the text; after a colon, a stated probability.
    assert parse("1. Red 0.6\n2. Blue 0.4").texts == ["Red 0.6", "Blue 0.4"]
    assert parse("1. Red: 0.6\n2. Blue: 0.4").probabilities == [0.6, 0.4]
