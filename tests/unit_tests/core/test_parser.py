import math

import pytest

from vs_integrations import Candidate, ParseError, StreamParser, VSConfig, parse


def probs(dist):
    return [round(c.probability, 4) for c in dist]


# --- JSON -----------------------------------------------------------------------------------
STRICT = '{"responses": [{"text": "Paris", "probability": 0.5}, {"text": "Lyon", "probability": 0.3}, {"text": "Nice", "probability": 0.2}]}'


def test_strict_json():
    dist = parse(STRICT)
    assert dist.texts == ["Paris", "Lyon", "Nice"]
    assert probs(dist) == [0.5, 0.3, 0.2]
    assert [c.raw_probability for c in dist] == [0.5, 0.3, 0.2]
    assert [c.index for c in dist] == [0, 1, 2]
    assert dist.raw == STRICT
    assert dist.warnings == ()
    assert not dist.truncated


def test_bare_list_and_alternative_keys():
    dist = parse('[{"response": "a", "prob": 1}, {"answer": "b", "p": 1}, {"content": "c", "weight": 2}]')
    assert dist.texts == ["a", "b", "c"]
    assert probs(dist) == [0.25, 0.25, 0.5]


def test_confidence_key_and_capitalised_keys():
    dist = parse('{"Responses": [{"Text": "x", "Confidence": 0.9}, {"Text": "y", "Confidence": 0.1}]}')
    assert dist.texts == ["x", "y"] and probs(dist) == [0.9, 0.1]


def test_fenced_json_after_preamble():
    text = "Sure! Here's what I came up with:\n```json\n" + STRICT + "\n```\nHope that helps, it's fun."
    dist = parse(text)
    assert dist.texts == ["Paris", "Lyon", "Nice"]
    assert dist.raw == text


def test_trailing_commas_and_single_quotes():
    dist = parse(
        "{'responses': [{'text': 'it\\'s a \"joke\"', 'probability': 0.6,}, {'text': 'b', 'probability': 0.4,},],}"
    )
    assert dist.texts == ['it\'s a "joke"', "b"]
    assert probs(dist) == [0.6, 0.4]


def test_non_string_texts_become_strings():
    dist = parse('{"responses": [{"text": 3, "probability": 0.5}, {"text": 4.5, "probability": 0.5}]}')
    assert dist.texts == ["3", "4.5"]


def test_json_text_with_tags_and_braces_is_content():
    text = '{"responses": [{"text": "<response>{not structure}</response>", "probability": 0.7}, {"text": "(Prob: 0.9)", "probability": 0.3}]}'
    dist = parse(text)
    assert dist.texts == ["<response>{not structure}</response>", "(Prob: 0.9)"]
    assert probs(dist) == [0.7, 0.3]


def test_json_newlines_kept_in_text():
    dist = parse('{"responses": [{"text": "line one\\nline two", "probability": 1}]}')
    assert dist[0].text == "line one\nline two"


def test_truncated_json_keeps_complete_candidates():
    text = STRICT[: STRICT.index('{"text": "Nice"') + 12]
    dist = parse(text)
    assert dist.texts == ["Paris", "Lyon"]
    assert dist.truncated
    assert any("cut off" in w for w in dist.warnings)


def test_truncated_inside_string_keeps_complete_candidates():
    dist = parse('{"responses": [{"text": "a", "probability": 0.5}, {"text": "unfinished')
    assert dist.texts == ["a"] and dist.truncated


def test_json_lines_of_records():
    dist = parse('{"text": "a", "probability": 0.5}\n{"text": "b", "probability": 0.5}')
    assert dist.texts == ["a", "b"]


def test_cot_reasoning_json():
    dist = parse('{"reasoning": "think", "responses": [{"text": "a", "probability": 1}]}')
    assert dist.reasoning == "think"


def test_unnamed_single_text_field():
    dist = parse('{"responses": [{"joke": "a", "probability": 0.5}, {"joke": "b", "probability": 0.5}]}')
    assert dist.texts == ["a", "b"]


# --- XML ------------------------------------------------------------------------------------
def test_xml_tags_entities_and_cdata():
    text = (
        "<response><text>Fish &amp; chips</text><probability>0.4</probability></response>\n"
        "<response><text><![CDATA[<b>bold</b> & </response> inside]]></text><probability>0.6</probability></response>"
    )
    dist = parse(text)
    assert dist.texts == ["Fish & chips", "<b>bold</b> & </response> inside"]
    assert probs(dist) == [0.4, 0.6]


def test_xml_attribute_probability_and_bare_body():
    dist = parse("<response probability=\"0.2\">one</response><response p='0.8'>two</response>")
    assert dist.texts == ["one", "two"] and probs(dist) == [0.2, 0.8]


def test_xml_body_without_text_tag_drops_probability_element():
    dist = parse("<response>just text <probability>0.5</probability></response>")
    assert dist.texts == ["just text"]
    assert dist[0].raw_probability == 0.5


def test_xml_tag_like_text_inside_text_is_content():
    dist = parse("<response><text>use <i>italics</i> here</text><probability>1</probability></response>")
    assert dist.texts == ["use <i>italics</i> here"]


def test_xml_uppercase_tags():
    dist = parse("<RESPONSE><TEXT>a</TEXT><PROBABILITY>1</PROBABILITY></RESPONSE>")
    assert dist.texts == ["a"]


@pytest.mark.parametrize("tag", ["RESPONSE", "Response", "rESPONSE"])
@pytest.mark.parametrize("other_first", [True, False])
def test_xml_tags_in_other_cases_among_lower_case_ones_are_all_read(tag, other_first):
    other = f"<{tag}><text>Red</text><probability>0.25</probability></{tag}>"
    lower = "<response><text>Blue</text><probability>0.75</probability></response>"
    dist = parse(f"{other}\n{lower}" if other_first else f"{lower}\n{other}")
    assert sorted(zip(dist.texts, dist.probabilities, strict=True)) == [("Blue", 0.75), ("Red", 0.25)]
    assert dist.warnings == ()  # each record is closed by its own tag, whatever its case


def test_xml_truncated_and_reasoning():
    dist = parse(
        "<reasoning>why</reasoning><response><text>a</text><probability>0.5</probability></response><response><text>b"
    )
    assert dist.texts == ["a"] and dist.truncated and dist.reasoning == "why"


# --- lists ----------------------------------------------------------------------------------
def test_seed_bullet_list():
    text = "Here are five states:\n• California (Prob: 0.25),\n• Texas (Prob: 0.20),\n• Florida (Prob: 0.15)."
    dist = parse(text)
    assert dist.texts == ["California", "Texas", "Florida"]
    assert [c.raw_probability for c in dist] == [0.25, 0.2, 0.15]


def test_numbered_multiline_items():
    text = (
        "1. Gary used 4 / 0.5 = 8 cakes.\nThen 2 / 0.2 = 10 cupcakes.\n####28 (Prob: 0.20)\n"
        "2) Another line\n####25 (Probability: 0.10)"
    )
    dist = parse(text)
    assert dist.texts == [
        "Gary used 4 / 0.5 = 8 cakes.\nThen 2 / 0.2 = 10 cupcakes.\n####28",
        "Another line\n####25",
    ]
    assert probs(dist) == [round(2 / 3, 4), round(1 / 3, 4)]


def test_dash_and_star_bullets():
    dist = parse("- a (prob: 0.5)\n* b (Prob=0.5);")
    assert dist.texts == ["a", "b"]


def test_truncated_list():
    dist = parse("1. a (Prob: 0.5)\n2. b (Prob: 0.3)\n3. c (Pro")
    assert dist.texts == ["a", "b"] and dist.truncated


# --- probabilities ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stated", "expected"),
    [('"0.2"', 0.2), ('"20%"', 0.2), ('"1/6"', 1 / 6), ("0.2", 0.2), ('"p=0.3"', 0.3)],
)
def test_probability_spellings(stated, expected):
    dist = parse('{"responses": [{"text": "a", "probability": %s}, {"text": "b"}]}' % stated)
    assert math.isclose(dist[0].raw_probability, expected)


def test_bare_numbers_above_one_are_percentages():
    dist = parse(
        '[{"text": "a", "probability": 20}, {"text": "b", "probability": 0.5}, {"text": "c", "probability": 30}]'
    )
    assert [c.raw_probability for c in dist] == [20.0, 0.5, 30.0]
    assert probs(dist) == [round(0.2 / 0.505, 4), round(0.005 / 0.505, 4), round(0.3 / 0.505, 4)]
    assert any("percentages" in w for w in dist.warnings)


def test_values_above_100_are_weights():
    dist = parse('[{"text": "a", "probability": 300}, {"text": "b", "probability": 100}]')
    assert probs(dist) == [0.75, 0.25]


@pytest.mark.parametrize("bad", ['"NaN"', '"inf"', "-0.5", '"unknown"', "null", "true"])
def test_unusable_values_get_the_mean(bad):
    dist = parse(
        '[{"text": "a", "probability": 0.2}, {"text": "b", "probability": 0.4}, {"text": "c", "probability": %s}]' % bad
    )
    assert dist[2].raw_probability is None
    assert probs(dist) == [round(0.2 / 0.9, 4), round(0.4 / 0.9, 4), round(0.3 / 0.9, 4)]
    assert any("mean" in w for w in dist.warnings)


def test_all_missing_is_uniform():
    dist = parse('{"responses": ["a", "b", "c", "d"]}')
    assert probs(dist) == [0.25] * 4


def test_all_zero_is_uniform():
    dist = parse('[{"text": "a", "probability": 0}, {"text": "b", "probability": 0}]')
    assert probs(dist) == [0.5, 0.5]
    assert any("uniform" in w for w in dist.warnings)


def test_perplexity_lower_is_likelier():
    dist = parse(
        '[{"text": "a", "probability": 2}, {"text": "b", "probability": 4}]', VSConfig(probability="perplexity")
    )
    assert probs(dist) == [round(2 / 3, 4), round(1 / 3, 4)]


def test_nll_lower_is_likelier():
    dist = parse('[{"text": "a", "probability": 0.5}, {"text": "b", "probability": 1.5}]', VSConfig(probability="nll"))
    a, b = math.exp(-0.5), math.exp(-1.5)
    assert probs(dist) == [round(a / (a + b), 4), round(b / (a + b), 4)]


def test_sums_not_one_are_normalised_and_warned():
    dist = parse('[{"text": "a", "probability": 0.9}, {"text": "b", "probability": 0.9}]')
    assert probs(dist) == [0.5, 0.5]
    assert any("summed to 1.8" in w for w in dist.warnings)


def test_duplicates_merged_case_and_space_insensitively():
    dist = parse(
        '[{"text": "Texas", "probability": 0.2}, {"text": " texas ", "probability": 0.3}, {"text": "Ohio", "probability": 0.5}]'
    )
    assert dist.texts == ["Texas", "Ohio"]
    assert probs(dist) == [0.5, 0.5]
    assert dist[0].raw_probability == 0.2
    assert any("merged 1 duplicate" in w for w in dist.warnings)


def test_empty_texts_dropped():
    dist = parse('[{"text": "", "probability": 0.5}, {"text": "b", "probability": 0.5}]')
    assert dist.texts == ["b"]
    assert any("empty text" in w for w in dist.warnings)


def test_k_mismatch_warned():
    dist = parse(STRICT, k=5)
    assert "expected 5 candidates, found 3" in dist.warnings
    assert "expected 5 candidates, found 3" in parse(STRICT, VSConfig(k=5)).warnings


# --- failures -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["", "   ", "I cannot help with that.", "{}", "[]", '{"responses": []}', "<response", "<<<>>>"]
)
def test_nothing_usable_raises_parse_error_with_raw(text):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert info.value.raw == text
    assert isinstance(info.value, ValueError)


def test_non_string_input_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        parse(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "{" * 1_000_000,
        "<response>" * 100_000,
        '{"a": "' * 1000,
        "<![CDATA[" * 10_000,
        "(Prob: " * 10_000,
    ],
)
def test_adversarial_inputs_do_not_crash(text):
    try:
        dist = parse(text)
    except ParseError as err:
        assert err.raw == text
    else:
        assert math.isclose(sum(dist.probabilities), 1.0)


# --- streaming ------------------------------------------------------------------------------
def test_stream_parser_emits_each_candidate_once_when_complete():
    parser = StreamParser(VSConfig(k=3))
    emitted: list[Candidate] = []
    completed_at = []
    for position, char in enumerate(STRICT):
        fresh = parser.feed(char)
        emitted.extend(fresh)
        completed_at.extend(position for _ in fresh)
    assert [c.text for c in emitted] == ["Paris", "Lyon", "Nice"]
    # Each candidate is returned by the chunk holding its closing brace, not at the end.
    assert [STRICT[p] for p in completed_at] == ["}", "}", "}"]
    assert completed_at[0] < STRICT.index("Lyon")
    dist = parser.close()
    assert dist.texts == ["Paris", "Lyon", "Nice"] and dist.raw == STRICT


@pytest.mark.parametrize(
    "reply",
    [
        "<response><text>a</text><probability>0.5</probability></response><response><text>b</text><probability>0.5</probability></response>",
        "1. a (Prob: 0.5)\n2. b (Prob: 0.5)",
    ],
)
def test_stream_parser_other_formats(reply):
    parser = StreamParser()
    seen = []
    for start in range(0, len(reply), 7):
        seen.extend(c.text for c in parser.feed(reply[start : start + 7]))
    assert seen == ["a", "b"]
    assert parser.close().texts == ["a", "b"]


@pytest.mark.parametrize("size", [1, 5, 64, 1000])
def test_streamed_json_candidates_carry_their_index_in_the_reply(size):
    # Several records complete in one chunk: each keeps its own position, as in the final parse.
    parser = StreamParser()
    emitted: list[Candidate] = []
    for start in range(0, len(STRICT), size):
        emitted.extend(parser.feed(STRICT[start : start + size]))
    assert [(c.text, c.index) for c in emitted] == [(c.text, c.index) for c in parser.close()]


def test_stream_parser_skips_duplicates_and_rejects_feed_after_close():
    parser = StreamParser()
    out = parser.feed(
        '[{"text": "a", "probability": 0.5}, {"text": "A", "probability": 0.5}, {"text": "b", "probability": 1}]'
    )
    assert [c.text for c in out] == ["a", "b"]
    parser.close()
    with pytest.raises(ValueError, match="after close"):
        parser.feed("x")


def test_stream_parser_close_without_candidates_raises():
    parser = StreamParser()
    parser.feed("no structure")
    with pytest.raises(ParseError):
        parser.close()


def test_multi_field_records_are_kept_as_json_text():
    import json

    dist = parse(
        '{"responses": [{"final": "30", "steps": "8 cakes", "probability": 0.5}, {"final": "25", "steps": "x", "probability": 0.5}]}'
    )
    assert [json.loads(t) for t in dist.texts] == [{"final": "30", "steps": "8 cakes"}, {"final": "25", "steps": "x"}]


def test_extract_records_keeps_whole_records():
    from vs_integrations.core.parser import extract_records

    text = '[[ ## candidates ## ]]\n[{"answer": "30", "steps": "a", "probability": 0.5}, {"answer": "2'
    records, truncated = extract_records(text)
    assert records == [{"answer": "30", "steps": "a", "probability": 0.5}] and truncated
    assert extract_records("no json") == ([], False)
