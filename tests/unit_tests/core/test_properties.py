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

    from vs_integrations.core.parser import _parse_exact_format, _parse_general

    body = {"responses": [{"text": t, "probability": p} for t, p in pairs]}
    if with_reasoning:
        body = {"reasoning": "r", **body}
    reply = json.dumps(body)
    fast = _parse_exact_format(reply, None)
    if fast is None:
        return
    assert fast == _parse_general(reply, None)
