"""The reading rules for replies small models really write: one test per rule."""

import json
import math
import sys

import pytest

from vs_integrations import Distribution, ParseError, StreamParser, parse
from vs_integrations.core.parsing import Item, extract

STATED = [("Red", 0.6), ("Blue", 0.4)]


def stated(dist: Distribution) -> list[tuple[str, float | None]]:
    return [(c.text, c.raw_probability) for c in dist]


def probs(dist: Distribution) -> list[float]:
    return [round(c.probability, 4) for c in dist]


# --- lists ------------------------------------------------------------------------------------
def test_numbered_list_without_probabilities_is_uniform_with_a_warning():
    dist = parse("1. Lisbon\n2. Oslo\n3. Rome")
    assert stated(dist) == [("Lisbon", None), ("Oslo", None), ("Rome", None)]
    assert probs(dist) == [0.3333] * 3
    assert any("no candidate stated" in w for w in dist.warnings)


def test_list_item_without_probability_gets_the_mean_of_the_others():
    dist = parse("1. Lisbon (Probability: 0.5)\n2. Oslo\n3. Rome (Probability: 0.1)")
    assert stated(dist) == [("Lisbon", 0.5), ("Oslo", None), ("Rome", 0.1)]
    assert probs(dist) == [round(0.5 / 0.9, 4), round(0.3 / 0.9, 4), round(0.1 / 0.9, 4)]
    assert any("gave them the mean 0.3" in w for w in dist.warnings)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("- Tea: 45%\n- Coffee: 35%\n- Water: 20%", [("Tea", 0.45), ("Coffee", 0.35), ("Water", 0.2)]),
        ("1. Heads (0.5)\n2. Tails (0.5)", [("Heads", 0.5), ("Tails", 0.5)]),
        ("1. Heads (55%)\n2. Tails (45 %)", [("Heads", 0.55), ("Tails", 0.45)]),
        ("* Mars - 0.6\n* Venus – 0.4", [("Mars", 0.6), ("Venus", 0.4)]),
        ("1. Three (1/6)\n2. Four (1/6)", [("Three", 1 / 6), ("Four", 1 / 6)]),
        ("1. Jazz, probability: 0.7\n2. Blues [Prob 0.3]", [("Jazz", 0.7), ("Blues", 0.3)]),
        ("1. **Crimson** (Probability: 0.3)\n2. *Teal*: 70%", [("Crimson", 0.3), ("Teal", 0.7)]),
    ],
)
def test_probability_spellings_at_the_end_of_list_items(reply, expected):
    got = stated(parse(reply))
    assert [text for text, _ in got] == [text for text, _ in expected]
    assert all(math.isclose(a, b) for (_, a), (_, b) in zip(got, expected, strict=True))  # type: ignore[arg-type]


def test_probability_on_its_own_line_under_the_item():
    dist = parse("1. A haiku about rain\nProbability: 0.25\n2. A limerick\nProbability: 0.75")
    assert stated(dist) == [("A haiku about rain", 0.25), ("A limerick", 0.75)]


def test_numbers_that_are_content_stay_in_the_text():
    dist = parse("1. Route 66\n2. Roll: 4\n3. Ohio (the state, not the river)\n4. Version 2.0 of it")
    assert dist.texts == ["Route 66", "Roll: 4", "Ohio (the state, not the river)", "Version 2.0 of it"]
    assert all(c.raw_probability is None for c in dist)


def test_a_probability_written_before_the_text():
    dist = parse("1. (Probability: 0.6) Paris\n2. (Prob: 0.4) Lyon")
    assert stated(dist) == [("Paris", 0.6), ("Lyon", 0.4)]


def test_a_second_list_that_restarts_its_numbering_is_not_read():
    dist = parse("1. Ohio\n2. Utah\n\nOr, in another order:\n1. Utah: 2. Ohio: 3.")
    assert dist.texts == ["Ohio", "Utah"]
    assert any("restarted its numbering" in w for w in dist.warnings)


@pytest.mark.parametrize(
    "reply",
    [
        "1. Ohio\n2. Utah\n\nOr, in another order:\n1. Utah\n2. Iowa\n3. Ohio",
        "(1.) Ohio (Prob: 0.5)\n(2.) Utah (Prob: 0.5)\n\nSo,\n(1.) is a state.\n(2.) is one too.",
    ],
)
def test_a_second_list_is_not_given_while_streaming_either(reply):
    # The stream stops where parse stops reading: a numbering that starts again after a break.
    for size in (1, 4, len(reply)):
        emitted, closed = stream(reply, size)
        assert set(emitted) <= {"Ohio", "Utah"} and closed.texts == ["Ohio", "Utah"]


def test_items_all_numbered_1_with_markers_are_one_list():
    # Markdown's lazy numbering: without a break between them, a repeated number starts no second list.
    reply = "1. Red (Probability: 0.6)\n1. Blue (Probability: 0.4)"
    assert stated(parse(reply)) == STATED and stated(parse(f"Here:\n{reply}")) == STATED


def test_lettered_items():
    assert parse("a) Mint\nb) Basil (Prob: 0.4)\n(c) Sage").texts == ["Mint", "Basil", "Sage"]


def test_a_single_item_list():
    dist = parse("- Montana")
    assert stated(dist) == [("Montana", None)] and probs(dist) == [1.0]


@pytest.mark.parametrize(
    ("reply", "texts"),
    [
        ("1. Oak; 2. Pine; 3. Birch", ["Oak", "Pine", "Birch"]),
        ("1. Oak 2. Pine 3. Birch", ["Oak", "Pine", "Birch"]),
        ("1. Oak: 50%, 2. Pine: 50%", ["Oak", "Pine"]),
        ("1. I scored 2. Then I left.\n2. Nine", ["I scored 2. Then I left.", "Nine"]),
        ("3. Oak, 5. Pine", ["Oak, 5. Pine"]),
    ],
)
def test_several_numbered_items_on_one_line(reply, texts):
    assert parse(reply).texts == texts


def test_prose_and_fences_around_a_list_are_not_items():
    reply = "Sure! Here they are:\n```\n- Kiwi: 30%\n- Mango: 70%\n```\nEnjoy your fruit."
    dist = parse(reply)
    assert stated(dist) == [("Kiwi", 0.3), ("Mango", 0.7)]
    assert dist.raw == reply


def test_prose_after_a_blank_line_ends_the_last_item():
    dist = parse("1. Kiwi\n2. Mango\n\nI hope this list helps you choose.")
    assert dist.texts == ["Kiwi", "Mango"]


def test_lines_under_an_item_stay_with_it():
    dist = parse("1. Why was the cat sitting on the computer?\nTo keep an eye on the mouse!\n2. A second joke")
    assert dist.texts == ["Why was the cat sitting on the computer?\nTo keep an eye on the mouse!", "A second joke"]


def test_a_cut_off_last_item_is_dropped_when_the_others_state_a_probability():
    dist = parse("- Tea: 45%\n- Coffee: 35%\n- Wat")
    assert dist.texts == ["Tea", "Coffee"] and dist.truncated


def test_a_last_item_without_probability_is_kept_when_the_reply_goes_on():
    dist = parse("- Tea: 45%\n- Coffee: 35%\n- Water\n\nThat is all.")
    assert dist.texts == ["Tea", "Coffee", "Water"] and not dist.truncated


def test_empty_list_items_are_skipped_with_a_warning():
    dist = parse("1. Red\n2.\n3. Blue")
    assert dist.texts == ["Red", "Blue"]
    assert [c.index for c in dist] == [0, 1]
    assert any("no text" in w for w in dist.warnings)


# --- XML --------------------------------------------------------------------------------------
def test_an_unclosed_tag_holding_text_is_a_flagged_candidate():
    reply = "<response>Purple is the colour of royalty"
    dist = parse(reply)
    assert dist.texts == ["Purple is the colour of royalty"]
    assert dist.truncated and dist.raw == reply
    assert any("unclosed <response>" in w for w in dist.warnings)


def test_tags_left_open_end_where_the_next_one_opens():
    dist = parse("<response>Amber (Probability: 0.2)\n<response>Jade (Probability: 0.3)\n<response>Onyx")
    assert stated(dist) == [("Amber", 0.2), ("Jade", 0.3), ("Onyx", None)]
    assert any("left open" in w for w in dist.warnings)


def test_an_empty_unclosed_tag_is_no_candidate():
    with pytest.raises(ParseError) as info:
        parse("<response>   ")
    assert info.value.raw == "<response>   "


def test_a_bare_xml_body_may_state_its_probability_like_a_list_item():
    dist = parse("<response>Amber: 40%</response><response>Jade (0.6)</response>")
    assert stated(dist) == [("Amber", 0.4), ("Jade", 0.6)]


# --- JSON keys that are not the candidate's text -----------------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        '{"responses": [{"text": "Fig", "probability": 0.5}, [0.25, 0.25], {"text": "Date", "probability": 0.5}]}',
        '{"responses": [{"text": "Fig", "probability": 0.5}, {"probability": 0.3}, {"text": "Date", "probability": 0.5}]}',
        '[{"fruit": "Fig", "probability": 0.5}, {"fruit": 2}, {"fruit": "Date", "probability": 0.5}]',
        '[{"fruit": "Fig", "confidence": 0.5}, {"reasoning": "sweet", "score": 1}, {"fruit": "Date", "confidence": 0.5}]',
        '[{"fruit": "Fig", "probability": 0.5, "reasoning": "x"}, {"fruit": "Date", "probability": 0.5, "why": [1, 2]}]',
    ],
)
def test_values_about_a_candidate_never_become_candidates(reply):
    assert parse(reply).texts == ["Fig", "Date"]


def test_a_forgotten_closing_bracket_does_not_pull_the_prose_after_it_into_the_reply():
    reply = '```json\n{"responses": [{"text": "Oslo", "probability": 0.5}, {"text": "Bern", "probability": 0.5}\n}\n```\nThe responses are cities.'
    assert parse(reply).texts == ["Oslo", "Bern"]


def test_a_reasoning_field_beside_the_text_is_not_the_text():
    dist = parse('{"responses": [{"reasoning": "short and common", "joke": "Knock knock", "probability": 1}]}')
    assert dist.texts == ["Knock knock"]


def test_numbers_in_the_candidate_list_itself_are_candidates():
    assert parse('{"responses": [3, 5, 6]}').texts == ["3", "5", "6"]


# --- repairs are warnings, the reply is kept ---------------------------------------------------
@pytest.mark.parametrize(
    "reply",
    ["1. Red\n2. Blue", "<response>Red", "- Tea: 45%\n- Coffee: 35%\n- Wat", "1. Oak 2. Pine 3. Birch"],
)
def test_every_repair_leaves_a_warning_and_the_raw_reply(reply):
    dist = parse(reply)
    assert dist.warnings and dist.raw == reply


@pytest.mark.parametrize(
    ("reply", "repairs"),
    [
        (
            "{'responses': [{'text': 'Red', 'probability': 0.6}, {'text': 'Blue', 'probability': 0.4}]}",
            "single-quoted strings",
        ),
        (
            '[{"text": "Red", "probability": 0.6, "sure": True}, {"text": "Blue", "probability": 0.4}]',
            "Python literals",
        ),
        ('{responses: [{text: "Red", probability: 0.6}, {text: "Blue", probability: 0.4}]}', "unquoted words"),
        (
            '{"responses": [{"text": "Red\nwine", "probability": 0.6}, {"text": "Blue", "probability": 0.4}]}',
            "line breaks",
        ),
    ],
)
def test_json_that_is_not_strict_is_read_with_a_warning_naming_the_repair(reply, repairs):
    dist = parse(reply)
    assert dist.texts[1] == "Blue" and dist.raw == reply
    assert [w for w in dist.warnings if w.startswith("read JSON that is not strict: ") and repairs in w]


@pytest.mark.parametrize("comment", ["// the likeliest", "# the likeliest", "// 1. Red (p=0.9)"])
def test_comments_in_json_are_no_candidates(comment):
    reply = f'[{{"text": "Red", "probability": 0.6}}, {comment}\n{{"text": "Blue", "probability": 0.4}}] {comment}'
    assert stated(parse(reply)) == [("Red", 0.6), ("Blue", 0.4)]
    for size in (1, 5, len(reply)):
        emitted, closed = stream(reply, size)
        assert emitted == ["Red", "Blue"] and closed == parse(reply)


@pytest.mark.parametrize(
    "reply",
    [
        '{"responses": ["Red", "Blue"], "probabilities": [0.6, 0.4]}',
        '{"Answers": ["Red", "Blue"], "Confidence": ["60%", "40%"]}',
        '["Red (Probability: 0.6)", "Blue (Probability: 0.4)"]',
        '{"responses": ["Red: 60%", "Blue: 40%"]}',
    ],
)
def test_a_list_of_texts_with_their_probabilities_beside_or_inside_them(reply):
    # Texts whose probabilities come in a list of their own, or stated in the text as a list
    # item states it, are read with those probabilities.
    assert [(text, round(p, 4)) for text, p in zip(parse(reply).texts, parse(reply).probabilities, strict=True)] == [
        ("Red", 0.6),
        ("Blue", 0.4),
    ]
    for size in (1, 5, len(reply)):
        emitted, closed = stream(reply, size)
        assert set(emitted) <= {"Red", "Blue"} and closed == parse(reply)


def test_texts_beside_a_list_of_another_length_keep_no_probability():
    dist = parse('{"responses": ["Red", "Blue", "Green"], "probabilities": [0.6, 0.4]}')
    assert dist.texts == ["Red", "Blue", "Green"] and dist.probabilities == pytest.approx([1 / 3] * 3)


def test_the_asked_shape_nested_in_a_candidate_list_is_read_inside():
    # The embedded model wrapped the records: {"responses": [{"reasoning": ..., "responses": [...]}]}.
    reply = json.dumps(
        {"responses": [{"reasoning": "r", "responses": [{"text": t, "probability": p} for t, p in STATED]}]}
    )
    assert stated(parse(reply)) == STATED
    for size in (1, 9, len(reply)):
        emitted, closed = stream(reply, size)
        assert emitted == ["Red", "Blue"] and closed == parse(reply)


def test_strict_json_after_a_preamble_or_in_a_fence_needs_no_repair_warning():
    asked = '{"responses": [{"text": "Red", "probability": 0.6}, {"text": "Blue", "probability": 0.4}]}'
    for reply in (f"Sure! Here it is:\n```json\n{asked}\n```", f"{asked}\n{asked[:-2]}"):
        assert not [w for w in parse(reply).warnings if "not strict" in w]


def test_items_carry_index_like_candidates():
    extraction = extract("1. a: 20%\n2. b: 80%")
    assert extraction.items == [Item("a", "20%", 0), Item("b", "80%", 1)]
    assert extraction.format == "list"


# --- streaming the new rules -------------------------------------------------------------------
def stream(reply: str, size: int) -> tuple[list[str], Distribution]:
    parser = StreamParser()
    emitted: list[str] = []
    for start in range(0, len(reply), size):
        emitted.extend(c.text for c in parser.feed(reply[start : start + size]))
    return emitted, parser.close()


@pytest.mark.parametrize("size", [1, 3, 64])
@pytest.mark.parametrize(
    "reply",
    [
        '{"responses": [{"text": "a } b", "probability": 0.2}, {"text": "c ] > ) d", "probability": 0.8}]}',
        "<response><text>x > y)</text><probability>0.4</probability></response>\n"
        "<response><text>}]</text><probability>0.6</probability></response>\n",
        "1. Ohio (the state) (Prob: 0.4)\n2. Utah: 60%\n",
        "1. Red\n2. Green\n3. Blue\n",
        "<response>Amber\n<response>Jade\n<response>Onyx</response>",
    ],
)
def test_streaming_emits_what_the_one_shot_parse_reads_whatever_the_texts_hold(reply, size):
    emitted, dist = stream(reply, size)
    assert dist.texts == parse(reply).texts
    # A list's last item has no closer: only the end of the reply completes it.
    assert emitted == dist.texts or (reply[0].isdigit() and emitted == dist.texts[:-1])


def test_streaming_emits_a_list_item_when_the_next_one_starts():
    parser = StreamParser()
    assert parser.feed("1. Red\n2") == []
    assert [c.text for c in parser.feed(". Green\n3")] == ["Red"]
    assert [c.text for c in parser.feed(". Blue\n")] == ["Green"]
    assert parser.close().texts == ["Red", "Green", "Blue"]


@pytest.mark.parametrize("text", ["**Red**", "*Red*", "__Red__", "— Red", "- Red", "Red -", "Red:", "Red,", ": Red"])
@pytest.mark.parametrize("separator", ["\n", "\n\n"])
def test_list_texts_with_emphasis_or_dashes_read_alike_one_shot_and_streamed(text, separator):
    # Emphasis and dashes around a text are trimmed; streamed, each candidate is given once, as
    # the final distribution has it.
    reply = f"1. {text} (Probability: 0.25){separator}2. Blue (Probability: 0.75)"
    final = parse(reply)
    assert final.texts == ["Red", "Blue"]
    for size in (1, 7, len(reply)):
        parser = StreamParser()
        streamed = [c.text for at in range(0, len(reply), size) for c in parser.feed(reply[at : at + size])]
        assert streamed == final.texts and parser.close() == final


XML_PAIR = (
    "<response><text>Red</text><probability>0.6</probability></response>\n"
    "<response><text>Blue</text><probability>0.4</probability></response>"
)
LIST_PAIR = "1. Red (Probability: 0.6)\n2. Blue (Probability: 0.4)"


@pytest.mark.parametrize(
    ("reply", "reasoning"),
    [
        (
            f"<reasoning>\n1. Colours vary.\n2. Red is common.\n</reasoning>\n{XML_PAIR}",
            "1. Colours vary.\n2. Red is common.",
        ),
        (f"<reasoning>- warm\n- cool</reasoning>{XML_PAIR}", "- warm\n- cool"),
        (f"  <REASONING>Options: [red, blue] (p=0.6).</Reasoning>\n{XML_PAIR}", "Options: [red, blue] (p=0.6)."),
        (f"<reasoning>left open: 1. a\n2. b\n{XML_PAIR}", "left open: 1. a\n2. b"),
        (f"Reasoning:\n1. Colours vary.\n2. Red is common.\n\n{LIST_PAIR}", "1. Colours vary.\n2. Red is common."),
        (f"Reasoning: options are [red, blue] or {{hot}}.\n\n{LIST_PAIR}", "options are [red, blue] or {hot}."),
        (f"reasoning : <response> tags are not needed.\n  \n{LIST_PAIR}", "<response> tags are not needed."),
    ],
)
def test_cot_reasoning_steps_are_not_candidates_one_shot_or_streamed(reply, reasoning):
    # VS-CoT's reasoning (a <reasoning> element, or a paragraph starting "Reasoning:") is read
    # as reasoning, whatever lists, brackets or tags it holds; streamed, nothing in it is given.
    final = parse(reply)
    assert final.texts == ["Red", "Blue"] and final.reasoning == reasoning and final.warnings == ()
    for size in (1, 7, len(reply)):
        parser = StreamParser()
        streamed = [c.text for at in range(0, len(reply), size) for c in parser.feed(reply[at : at + size])]
        assert set(streamed) <= {"Red", "Blue"} and parser.close() == final


@pytest.mark.parametrize(
    "reply",
    [
        f"<think>\n1. red is common\n2. blue too, [red] or [blue]?\n</think>\n{LIST_PAIR}",
        f"<THINK>- red\n- blue</Think>{XML_PAIR}",
        "<thinking>1. red (p=0.5)\n2. blue</thinking>\n"
        '{"responses": [{"text": "Red", "probability": 0.6}, {"text": "Blue", "probability": 0.4}]}',
    ],
)
def test_a_reasoning_models_think_block_is_reasoning_not_candidates(reply):
    # DeepSeek-R1 or Qwen3 open their reply with <think>…</think>: its steps are kept as the
    # reasoning, and never given while streaming.
    final = parse(reply)
    assert final.texts == ["Red", "Blue"] and final.probabilities == pytest.approx([0.6, 0.4])
    assert "red" in final.reasoning and "<" not in final.reasoning
    for size in (1, 7, len(reply)):
        emitted, closed = stream(reply, size)
        assert set(emitted) <= {"Red", "Blue"} and closed == final


def test_reasoning_paragraph_before_json_is_kept_as_the_reasoning():
    reply = 'Reasoning: warm colours first.\n\n{"responses": [{"text": "Red", "probability": 1.0}]}'
    assert parse(reply).reasoning == "warm colours first."


def test_cot_reasoning_that_holds_the_only_candidates_is_read_whole():
    # Nothing after the reasoning: the whole reply is read, as without the rule.
    reply = "Reasoning:\n1. Red (Probability: 0.6)\n2. Blue (Probability: 0.4)\n\nThat is all."
    assert parse(reply).texts == ["Red", "Blue"]


@pytest.mark.parametrize(
    ("value", "texts"),
    [
        ({"candidates": "1. Decaf (Probability: 0.6)\n2. Espresso (Probability: 0.4)"}, ["Decaf", "Espresso"]),
        ({"output": {"answers": "- Red: 30%\n- Blue: 70%"}}, ["Red", "Blue"]),
        ({"responses": "<response><text>Oak</text><probability>1</probability></response>"}, ["Oak"]),
    ],
)
def test_a_list_written_inside_a_candidate_key_string_is_read_as_the_candidates(value, texts):
    # Weak models (and DSPy's JSON adapter) may put the whole list in one string.
    for reply in (json.dumps(value), json.dumps(value).replace("\\n", "\n")):  # escaped, or a raw line break
        dist = parse(reply)
        assert dist.texts == texts and dist.raw == reply
        assert "read the candidates from the text under the reply's candidate key" in dist.warnings


def test_prose_inside_a_candidate_key_string_is_no_candidate():
    with pytest.raises(ParseError):
        parse('{"candidates": "I cannot answer that."}')


def test_cot_reasoning_paragraph_ended_by_a_long_blank_line_streams_its_candidates():
    # The blank line ending the paragraph is found however long and however it is cut.
    reply = f"Reasoning: warm colours first.\n{' ' * 40}\n{LIST_PAIR}"
    for size in (1, 3, 64, len(reply)):
        parser = StreamParser()
        streamed = [c.text for at in range(0, len(reply), size) for c in parser.feed(reply[at : at + size])]
        assert streamed == ["Red", "Blue"] and parser.close() == parse(reply)


def test_a_json_reply_without_candidates_is_read_once_for_a_candidate_key_text_too():
    # The text under a candidate key comes from the same read (a second read of a 1 MB reply
    # cut off in a string would double its cost).
    from unittest import mock

    from vs_integrations.core.parsing import json_scanner

    with mock.patch.object(json_scanner, "read_lenient", wraps=json_scanner.read_lenient) as lenient:
        with pytest.raises(ParseError):
            parse('{"responses": [{"text": "' + "a" * 1000)
    assert lenient.call_count == 1


@pytest.mark.parametrize(
    "reply",
    [
        "Here are the responses [as requested]:\n\n1. Red (Probability: 0.6)\n2. Blue (Probability: 0.4)",
        "Sure [see below]:\n- Red (p=0.6)\n- Blue (p=0.4)",
        "Probabilities [0.6, 0.4] follow.\n1. Red (Probability: 0.6)\n2. Blue (Probability: 0.4)",
        f"Note [x] and [y z]: {XML_PAIR}",
        'Colours [Red Green] in JSON: {"responses": [{"text": "Red", "probability": 0.6}, '
        '{"text": "Blue", "probability": 0.4}]}',
    ],
)
def test_unquoted_values_in_brackets_within_prose_do_not_beat_the_format_after_them(reply):
    # "[as requested]" in a preamble is no JSON a model meant: the format after it is read, and
    # streamed, its words are never given.
    final = parse(reply)
    assert final.texts == ["Red", "Blue"] and final.probabilities == pytest.approx([0.6, 0.4])
    for size in (1, 3, 64, len(reply)):
        emitted, closed = stream(reply, size)
        assert set(emitted) <= {"Red", "Blue"} and closed == final


@pytest.mark.parametrize(
    ("reply", "texts"),
    [
        ("[Red, Blue, Green]", ["Red", "Blue", "Green"]),  # opens the reply: it is the reply's JSON
        ("Colours: [Red, Blue, Green]", ["Red", "Blue", "Green"]),  # no other format: read after all
        ('Colours: ["Red", "Blue"]\n1. Green (p=0.5)\n2. Gold (p=0.5)', ["Red", "Blue"]),  # quoted: JSON
        ("Pick [Red] or\n1. Green (p=0.5)", ["Green"]),
    ],
)
def test_values_in_brackets_are_read_when_they_open_the_reply_are_quoted_or_stand_alone(reply, texts):
    assert parse(reply).texts == texts
    for size in (1, 3, len(reply)):
        emitted, closed = stream(reply, size)
        assert set(emitted) <= set(texts) and closed.texts == texts


def test_a_bracket_that_may_still_hold_unquoted_values_holds_the_stream_back():
    # Until its "]" comes, the bracket may be a preamble's words or the reply's JSON: nothing is
    # detected at it or after it yet (its end decides at most 200 characters on).
    parser = StreamParser()
    assert parser.feed("Note [as") == []
    assert parser.feed(" requested") == []
    assert [c.text for c in parser.feed("]:\n1. Red (Probability: 0.6)\n2. Blue (Probability: 0.4)")] == ["Red", "Blue"]
    assert parser.close().texts == ["Red", "Blue"]


@pytest.mark.parametrize(
    "reply",
    [
        '*   "Red" (Probability: 0.6)\n*   "Blue" (Probability: 0.4)',
        "1. “Red” (Probability: 0.6)\n2. “Blue” (Probability: 0.4)",
        '1. **"Red"**: 60%\n2. "Blue": 40%',
    ],
)
def test_quotes_around_a_whole_list_text_are_formatting(reply):
    # Seen in the embedded model's replies ('*   "2022: Amsterdam"'); read alike one-shot and streamed.
    final = parse(reply)
    assert stated(final) == [("Red", 0.6), ("Blue", 0.4)]
    for size in (1, 4, len(reply)):
        emitted, closed = stream(reply, size)
        assert set(emitted) <= {"Red", "Blue"} and closed == final


def test_quotes_inside_a_list_text_are_kept():
    assert parse('1. He said "hi"\n2. "Red" and "Blue"').texts == ['He said "hi"', '"Red" and "Blue"']


@pytest.mark.parametrize(
    "reply",
    [
        'Intro:\n\n(1.) "Red" (Probability: 0.6)\n(2.) "Blue" (Probability: 0.4)',
        "You should take up:\n# 1. Red (Probability: 0.6)\n# 2. Blue (Probability: 0.4)",
        "### 1. Red (Probability: 0.6)\nA warm colour.\n\n### 2. Blue (Probability: 0.4)\nA cool one.",
    ],
)
def test_bullets_in_parentheses_with_a_dot_or_after_a_heading_mark(reply):
    # "(1.)" and "# 1." as the embedded model wrote them; "### 1." as larger models format lists.
    final = parse(reply)
    assert stated(final) == [("Red", 0.6), ("Blue", 0.4)]
    for size in (1, 5, len(reply)):
        emitted, closed = stream(reply, size)
        assert emitted == ["Red", "Blue"] and closed == final


@pytest.mark.parametrize("reply", ["A [date] review of the hotel.", "Dear [Name], thanks for [reason]."])
def test_a_placeholder_in_brackets_within_prose_is_no_candidate(reply):
    # Seen in the embedded model's prose: "[date]" is a template's placeholder, not a list.
    with pytest.raises(ParseError):
        parse(reply)


@pytest.mark.parametrize(
    "reply",
    ["I refuse \x1b[2J", "I refuse [2J", "Sure \x1b[31mRed\x1b[0m", "x \x1b[?25l\x1b[H", "Done. [0m\n"],
)
def test_terminal_escape_residue_is_no_candidate(reply):
    # Issue 24: a clear-screen code in a refusal parsed into the candidates "2" and "J".
    with pytest.raises(ParseError):
        parse(reply)
    parser = StreamParser()
    assert [c for i in range(len(reply)) for c in parser.feed(reply[i])] == []


def test_a_reply_after_a_terminal_escape_is_read():
    assert parse('\x1b[1m["Red", "Blue"]\x1b[0m').texts == ["Red", "Blue"]
    assert parse('I refuse [2J\nPick one: ["Red", "Blue"]').texts == ["Red", "Blue"]


# --- found in review ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "texts"),
    [
        ('{"responses": ["-0.5", "0.25", "-0.75"]}', ["-0.5", "0.25", "-0.75"]),  # numbers are the texts
        ('["Windows - 3.1", "Linux"]', ["Windows - 3.1", "Linux"]),  # only one states something
        ('["Rate it: 9/10", "Rate it: 7/10"]', ["Rate it: 9/10", "Rate it: 7/10"]),  # the numbers tell them apart
        ("Answer: [Paris, London, Rome]\n- I picked European capitals.", ["Paris", "London", "Rome"]),
        ("1. Red (Probability: 0.5) 2. Blue (Probability: 0.5)", ["Red", "Blue"]),  # two items on one line
    ],
)
def test_texts_that_only_look_like_stated_probabilities_or_notes(reply, texts):
    assert parse(reply).texts == texts


@pytest.mark.parametrize(
    "reply",
    [
        '{"responses": [\n  {"text": "Red", "probability": 0.6},\n  // {"text": "Pink", "probability": 0.1},\n'
        '  {"text": "Blue", "probability": 0.4}\n]}',
        '[\n  "Red", // warm\n  "Blue" # cool } ]\n]',
    ],
)
def test_a_comment_cut_across_chunks_gives_nothing_from_it(reply):
    final = parse(reply)
    assert final.texts == ["Red", "Blue"]
    for cut in range(1, len(reply)):
        parser = StreamParser()
        emitted = [c.text for c in parser.feed(reply[:cut]) + parser.feed(reply[cut:])]
        assert set(emitted) <= {"Red", "Blue"} and parser.close() == final


@pytest.mark.parametrize(
    "reply",
    [
        "<think>ok</think>1. Red (Probability: 0.6)\n2. Blue (Probability: 0.4)",
        "<think>\nOkay.\n</think> Red (Prob: 0.6), Blue (Prob: 0.4)",
        "<think>ok</think>\nReasoning: steps:\n1. consider colours\n2. pick\n\n"
        "1. Red (Probability: 0.6)\n2. Blue (Probability: 0.4)",
    ],
)
def test_candidates_on_the_reasoning_s_last_line_or_after_two_reasonings(reply):
    final = parse(reply)
    assert stated(final) == STATED and final.reasoning.startswith(("ok", "Okay"))
    for size in (1, 3, 8, len(reply)):
        emitted, closed = stream(reply, size)
        assert set(emitted) <= {"Red", "Blue"} and closed == final


def test_dspy_field_markers_and_unquoted_urls_are_no_repairs_or_comments():
    reply = '[[ ## candidates ## ]]\n[{"answer": "30", "probability": 0.5}, {"answer": "20", "probability": 0.5}]'
    assert parse(reply).texts == ["30", "20"] and not parse(reply).warnings
    assert (
        parse("{responses: [{text: http://x.org, probability: 0.6}, {text: Blue, probability: 0.4}]}").texts[1]
        == "Blue"
    )


# --- bounded work on huge replies ----------------------------------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        json.dumps({"responses": [f"t{i}" for i in range(12_000)]}),  # strict JSON
        "{'responses': [" + ", ".join(f"'t{i}'" for i in range(12_000)) + "]}",  # loose: the token loop
        "[" + ", ".join(f'"t{i} (Probability: 0.1)"' for i in range(12_000)) + "]",
    ],
)
def test_a_json_reply_of_more_than_max_items_candidates_is_read_up_to_the_cap(reply):
    from vs_integrations.core.parsing.items import MAX_ITEMS, too_many_items

    dist = parse(reply)
    assert len(dist) == MAX_ITEMS and dist.texts[:2] == ["t0", "t1"] and too_many_items() in dist.warnings


def test_loose_json_is_read_up_to_a_limit_of_values():
    # 30,000 lists of unquoted words: the token loop stops at its limit instead of reading them all.
    from vs_integrations.core.parsing.json_reader import _MAX_VALUES, read_lenient

    reader = read_lenient("[a, b] " * 30_000)
    assert reader.capped and len(reader.roots) <= _MAX_VALUES // 3 + 1


def test_a_reasoning_label_with_a_space_before_its_colon_streams_like_parse():
    # Fed "Reasoning " first, the stream waits for the ":" as parse reads "Reasoning :" (found by fuzzing).
    reply = "Reasoning : 1. red is warm (p=0.9)\n\n1. Red (p=0.6)\n2. Blue (p=0.4)"
    parser = StreamParser()
    emitted = [c.text for piece in ("Reasoning ", reply[len("Reasoning ") :]) for c in parser.feed(piece)]
    assert emitted == ["Red", "Blue"] and parser.close() == parse(reply)


def test_words_in_brackets_in_a_postscript_are_no_second_json_value():
    # '["Red", "Blue"]' then '(I picked [these] two.)': one JSON value, not JSON lines of two.
    reply = '["Red", "Blue"]\n\n(I picked [these] two colours.)'
    assert parse(reply).texts == ["Red", "Blue"]
    for size in (1, 4, len(reply)):
        emitted, closed = stream(reply, size)
        assert emitted == ["Red", "Blue"] and closed.texts == ["Red", "Blue"]


def nested_numbers(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize(
    "reply",
    [
        '{"text": ' + nested_numbers(500) + "}",
        '{"answer": ' + nested_numbers(500) + ', "p": 0.5}',
        '{"responses": [{"joke": ' + nested_numbers(500) + ', "probability": 0.5}]}',
        "[" + nested_numbers(5000) + "]",
    ],
)
def test_a_deeply_nested_number_list_is_no_candidate_and_raises_only_parse_error(reply):
    # A valid JSON record holding a number list nested 500 deep used to raise RecursionError.
    with pytest.raises(ParseError) as caught:
        parse(reply)
    assert caught.value.raw == reply
    streamed = StreamParser()
    streamed.feed(reply)
    with pytest.raises(ParseError):
        streamed.close()


def test_a_deeply_nested_text_is_read_to_the_depth_limit():
    # The asked keys make any value the text: nested past the limit, what is deeper is not kept.
    reply = '{"text": ' + nested_numbers(500) + ', "probability": 0.5}'
    (candidate,) = parse(reply)
    assert candidate.text.startswith("[[[") and candidate.text.endswith("]]]")


def test_a_number_list_of_any_depth_is_never_a_text():
    from vs_integrations.core.parsing.json_scanner import item_from_json

    value: list[object] = [1]
    for _ in range(10 * sys.getrecursionlimit()):
        value = [value, 2.5]
    assert item_from_json({"answer": value, "probability": 0.5}, 0) is None
    assert item_from_json({"answer": [[1], "a"], "probability": 0.5}, 0) == Item('[[1], "a"]', 0.5, 0)
