"""Streaming a reply in chunks cut anywhere: the same candidates, and ``close()`` equal to ``parse()``.

The JSON reader leaves chunks without a closer outside strings unread (strings lexed across
chunks, escapes and single quotes included); XML and list readers resume their searches a few
characters back (a tag or marker may be split). Every case is fed in chunks split where that
could go wrong and checked two ways: the candidates come as feeding one character at a time
gives them (same order, same indexes), and ``close()`` equals ``parse()``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vs_integrations import Candidate, ParseError, StreamParser, VSConfig, parse

CLOSERS = "a } b ] c > d ) e"


def feeds(text: str, cuts: list[int], parser: StreamParser | None = None) -> list[list[Candidate]]:
    """What each feed returns, ``text`` cut at ``cuts``."""
    parser = StreamParser() if parser is None else parser
    bounds = [0, *cuts, len(text)]
    return [parser.feed(text[start:end]) for start, end in itertools.pairwise(bounds)]


def closed(text: str, cuts: list[int]) -> object:
    parser = StreamParser()
    feeds(text, cuts, parser)
    try:
        return parser.close()
    except ParseError as err:
        return ("ParseError", err.raw)


def one_shot(text: str) -> object:
    try:
        return parse(text)
    except ParseError as err:
        return ("ParseError", err.raw)


def check(text: str, cuts: list[int], by_character: list[list[Candidate]] | None = None) -> list[list[Candidate]]:
    fed = feeds(text, cuts)
    if by_character is None:
        by_character = feeds(text, list(range(1, len(text))))
    # However the reply is cut, the same candidates come, in the same order, with the same indexes.
    assert [c for batch in fed for c in batch] == [c for batch in by_character for c in batch], f"cuts {cuts}"
    assert closed(text, cuts) == one_shot(text)
    return fed


def every_cut(text: str) -> Iterator[list[int]]:
    """The whole reply at once, one cut at each position, every small chunk size, and 64-character chunks."""
    yield []
    for cut in range(1, len(text)):
        yield [cut]
    for size in (*range(1, 10), 64):
        yield list(range(size, len(text), size))


def json_reply(texts: list[str]) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 0.2} for t in texts]})


JSON_CASES = {
    "closers inside texts": json_reply([f"{i} {CLOSERS}" for i in range(3)]),
    "escaped quotes": r'{"responses": [{"text": "say \"hi}\" now", "probability": 0.5}, '
    r'{"text": "\"]\"", "probability": 0.5}]}',
    "escaped backslash before a quote": r'{"responses": [{"text": "a\\", "probability": 0.5}, '
    r'{"text": "b\\\"}", "probability": 0.5}]}',
    "single-quoted strings": "{'responses': [{'text': 'it}s', 'probability': 0.5}, "
    "{'text': \"a'b]\", 'probability': 0.3}, {'text': 'c\\'}', 'probability': 0.2}]}",
    "quotes in prose around values": 'He said "hi} {there": {"responses": [{"text": "a}", "probability": 0.5}]} '
    'and "more] {"text": "b", "probability": 0.5}',
    "records with containers and braces in strings": '[{"text": "a{", "probability": 0.5, "tags": ["x]", {"y": "}"}]}, '
    '{"text": "b[", "probability": 0.5}]',
    "a number split across chunks": '{"responses": [{"text": "a", "probability": 0.25}, {"text": "b", "probability": 1e-1}]}',
    "strings as candidates": '{"responses": ["a]", "b}", "c\\"]"]}',
    "JSON lines": '{"text": "a}", "probability": 0.5}\n{"text": "b]", "probability": 0.5}\n',
    "CRLF and indentation": '{\r\n  "responses": [\r\n    {"text": "a}", "probability": 0.5},\r\n'
    '    {"text": "b", "probability": 0.5}\r\n  ]\r\n}',
    "not strict JSON": "{responses: [{text: 'a}', probability: .5,}, {text: b, probability: 0.5}]}",
    "single-quoted strings holding double quotes": """{'responses': ['a"b}', "c'd]", 'e"']}""",
    # Found by fuzzing, as for a tag: a bracket before a marker on its line comes first.
    "a bracket before a marker on its line": 'Red ["warm"] (Prob: 0.5)\n["cold"]',
    "a brace before a marker on its line": 'Red {"text": "warm"} (Prob: 0.5)\n{"text": "cold"}',
}

# The reply exactly as asked for, and replies that leave that shape part-way.
EXACT_JSON_CASES = {
    "CoT reasoning first": '{"reasoning": "think [a] {b} \\"c\\"", "responses": [{"text": "a}", "probability": 0.6}, '
    '{"text": "b", "probability": 0.4}]}',
    "escapes and unicode": r'{"responses": [{"text": "say \"hi\" \u00e9 \n", "probability": 0.5}, '
    r'{"text": "b\\", "probability": 0.5}]}',
    "white space everywhere": '\n {\n "responses" : [\n {"text":"a","probability":0.5} ,\n'
    '{ "text" : "b" , "probability" : 0.5 }\n ]\n }\n\n',
    "sum not 1": '{"responses": [{"text": "a", "probability": 0.2}, {"text": "b", "probability": 0.2}]}',
    "integer and out-of-range probabilities": '{"responses": [{"text": "a", "probability": 1}, '
    '{"text": "b", "probability": 0}, {"text": "c", "probability": 2.5}]}',
    "repeated and empty texts": '{"responses": [{"text": "A", "probability": 0.5}, {"text": " a ", "probability": 0.3}, '
    '{"text": "", "probability": 0.2}]}',
    "then prose and a record": '{"responses": [{"text": "a", "probability": 1.0}]}\nHope this helps '
    '{"text": "b", "probability": 0.5}',
    "an extra key holding a list": '{"responses": [{"text": "a", "probability": 0.5, "tags": [1, 2]}, '
    '{"text": "b", "probability": 0.5}]}',
    "an extra key holding an object": '{"responses": [{"text": "a", "probability": 0.5, "meta": {"x": "}"}}, '
    '{"text": "b", "probability": 0.5}]}',
    "a record without its text": '{"responses": [{"probability": 0.5}, {"text": "b", "probability": 0.5}]}',
    "NaN and an escape JSON lacks": r'{"responses": [{"text": "a\x", "probability": NaN}, {"text": "b", "probability": 0.5}]}',
    "another key first": '{"note": "x]", "responses": [{"text": "a", "probability": 0.5}]}',
    "an empty list": '{"responses": []}',
    "a missing comma": '{"responses": [{"text": "a", "probability": 0.5} {"text": "b", "probability": 0.5}]}',
    "cut off": '{"responses": [{"text": "a", "probability": 0.5}, {"text": "b", "proba',
    # A key after the list of strings: read in one feed, the list's close was handled after it.
    "strings, then another key": '{"responses": ["a}", "b"], "note": {"x": 1}}',
    # Found by fuzzing: no record holds a text. The general reader gave the whole object as a
    # candidate ('[{"probability": 0.5}]') at its close; parse reads no candidate there.
    "records without a text": '{"responses": [{"probability": 0.5}]}',
    "records without a text, then prose": '{"responses": [{}]}\nThanks',
    # The number forms the asked-record regex reads (JSON's own), and the ones it leaves to the decoder.
    "exponents, negative zero and a fraction-less exponent": '{"responses": [{"text": "a", "probability": 5e-1}, '
    '{"text": "b", "probability": -0.0}, {"text": "c", "probability": 2.5E-1}, {"text": "d", "probability": 0.25e+0}]}',
    "negative, overflowing and huge integer probabilities": '{"responses": [{"text": "a", "probability": -0.5}, '
    '{"text": "b", "probability": 1e999}, {"text": "c", "probability": 1' + "0" * 400 + "}]}",
    "numbers JSON lacks": '{"responses": [{"text": "a", "probability": 01.5}, {"text": "b", "probability": .5}]}',
    "keys the other way round": '{"responses": [{"probability": 0.5, "text": "a"}, {"text": "b", "probability": 0.5}]}',
    "an escape, then a raw control character": '{"responses": [{"text": "a\\tb", "probability": 0.5}, '
    '{"text": "c\td", "probability": 0.5}]}',
    # Texts holding closers: the record is read whole once lexing finds its end.
    "closers in texts, out of range": '{"responses": [{"text": "a}]", "probability": 1.5}, '
    '{"text": "b}", "probability": 0.5}, {"text": "c]", "probability": 0}]}',
}
JSON_CASES.update({f"asked shape, {name}": text for name, text in EXACT_JSON_CASES.items()})


RECORD_TEXT = st.text(st.sampled_from(['"', "\\", "}", "]", "{", "[", ",", " ", "\n", "a", "é", "\x00"]), max_size=8)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(RECORD_TEXT, st.sampled_from([0, 1, 0.25, 0.5, 1.5, -0.1])), min_size=1, max_size=5),
    st.sampled_from([(", ", ": "), (",", ":"), (" ,\n ", " : ")]),
    st.integers(1, 12),
)
def test_asked_shape_streams_as_fed_by_character_and_closes_as_parse(records, separators, size):
    text = json.dumps({"responses": [{"text": body, "probability": p} for body, p in records]}, separators=separators)
    check(text, list(range(size, len(text), size)))


LINE_TEXT = st.lists(
    st.sampled_from(["a", " ", "(", ")", "é", "Probability: ", "0.5", "%", "\n", "2. ", "}"]), max_size=6
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(LINE_TEXT.map("".join), st.sampled_from(["0", "1", "0.25", "0.5", "1.5", ".5", "0.5.1"])), min_size=1
    ),
    st.sampled_from(["Probability: ", "Probability: ", "Prob: ", "p=", "confidence: "]),
    st.sampled_from(["", "\n", "\n\n", "  ", "\nmore"]),
    st.integers(1, 12),
)
def test_asked_list_streams_as_fed_by_character_and_closes_as_parse(lines, label, after, size):
    text = "\n".join(f"{number}. {body} ({label}{p})" for number, (body, p) in enumerate(lines, 1)) + after
    check(text, list(range(size, len(text), size)))


XML_PIECE = st.sampled_from(["a", " ", "\n", "é", "&amp;", "&", "<", ">", "</response>", "<response>", "}", ")"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(XML_PIECE, max_size=5).map("".join),
            st.sampled_from(["0", "1", "0.25", " 0.5 ", "1.5", "20%", "-0", "&#48;", "x"]),
        ),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["", "\n", " \n ", "\nmore", "<response>"]),
    st.integers(1, 12),
)
def test_asked_xml_streams_as_fed_by_character_and_closes_as_parse(records, between, size):
    text = between.join(xml_record(body, p) for body, p in records) + between
    check(text, list(range(size, len(text), size)))


def test_json_texts_with_closers_give_each_candidate_at_its_record_closer():
    text = json_reply([f"{i} {CLOSERS}" for i in range(4)])
    size = 7
    fed = check(text, list(range(size, len(text), size)))
    ends = [i for i in range(len(text)) if text.startswith(', "probability": 0.2}', i)]
    # Each record closes at the "}" after its probability: the chunk holding it emits it.
    for number, end in enumerate(ends):
        closer = end + len(', "probability": 0.2')
        assert [c.text for c in fed[closer // size]] == [f"{number} {CLOSERS}"]


def test_json_beyond_the_depth_limit():
    text = '{"responses": [' + '{"a": "}",' * 70 + '"b"' + "}" * 70 + ', {"text": "x]", "probability": 0.5}]}'
    for size in (1, 3, 64):
        check(text, list(range(size, len(text), size)))


XML_CASES = {
    "closers inside texts": "\n".join(
        f"<response><text>{i} {CLOSERS.replace('>', '&gt;')}</text><probability>0.2</probability></response>"
        for i in range(3)
    ),
    "tags in any case": "<RESPONSE><text>a</text><probability>0.5</probability></Response>"
    "<Response prob='0.5'>b</RESPONSE>",
    "a tag left open": "<response>a (0.5)\n<response>b (0.5)</response>",
    "self-closing and attributes": '<response/><response probability="0.4">a</response>\r\n<response p="0.6">b</response>',
    "other tags starting with r": "<response><text>a <ref/> <r> </r></text></response><response>b</response>",
    # Found by fuzzing: a tag and a list marker on the reply's first line were read as a list
    # when fed whole (the tie went to "list"); parse reads a reply opening with a tag as XML.
    "a marker inside a record on the first line": "<response>a (Prob: 0.5)</response>",
    # Found by fuzzing: a chunk bringing a tag's end and a whole marker after it on its line read
    # the line as a list item, while fed a character at a time the tag came first.
    "a tag before a marker on its line": "Note <response>a</response> (Prob: 0.5)\n<response>b</response>",
}


def xml_record(text: str, probability: str = "0.5") -> str:
    return f"<response><text>{text}</text><probability>{probability}</probability></response>"


# The XML reply exactly as asked for, and replies that leave that shape part-way.
EXACT_XML_CASES = {
    "one a line, with a last newline": "\n".join(xml_record(t, "0.25") for t in "abcd") + "\n",
    "white space inside and around": "  \n<response>\n  <text> a } ] ) </text>\n  <probability> 0.6 </probability>\n"
    "</response>\n\n<response><text>b</text>  <probability>0.4</probability>  </response>  ",
    "entities in texts, sum not 1": xml_record("a &gt; b &amp; c") + xml_record("&#233;t&eacute;", "0.2"),
    "repeated and empty texts": xml_record("Red") + xml_record(" red ", "0.3") + xml_record(" ", "0.2"),
    "probabilities out of range, unreadable, stated otherwise": xml_record("a", "1.5")
    + xml_record("b", "-0.5")
    + xml_record("c", "high")
    + xml_record("d", "20%")
    + xml_record("e", "nan")
    + xml_record("f", "1_0"),
    "an entity in a probability": xml_record("a") + xml_record("b", "0&#46;5"),
    "prose between records": xml_record("a") + " and " + xml_record("b"),
    "prose after the records": xml_record("a") + xml_record("b") + "\nHope this helps!",
    "a record left open": "<response><text>a</text><probability>0.5</probability>\n" + xml_record("b"),
    "another tag inside a text": xml_record("a <b>bold</b>") + xml_record("c"),
    "a closing tag in capitals": "<response><text>a</text><probability>0.5</probability></RESPONSE>" + xml_record("b"),
    "CDATA in a text": xml_record("<![CDATA[a < b]]>") + xml_record("c"),
    "cut off": xml_record("a") + "<response><text>b</te",
    "a self-closing record after one": xml_record("a") + "<response/>" + xml_record("b"),
    "attributes on the second record": xml_record("a") + '<response p="0.5"><text>b</text></response>',
}
XML_CASES.update({f"asked shape, {name}": text for name, text in EXACT_XML_CASES.items()})


def test_xml_closing_tag_split_across_chunks_completes_at_its_second_part():
    text = "<response>a (0.5)</response><response>b (0.5)</response>"
    split = text.index("</response>") + len("</respo")
    fed = check(text, [split])
    assert [c.text for c in fed[1]] == ["a", "b"]
    fed = check(text, [split, split + 4])
    assert [c.text for c in fed[1]] == ["a"]


LIST_CASES = {
    "closers inside texts": "\n".join(f"{i}. {i} {CLOSERS} (Prob: 0.2)" for i in range(3)),
    "parentheses inside texts": "1. Red (like a rose) (Probability: 0.5)\n2. Blue (sky) (Prob: 0.5)",
    "CRLF": "1. Red (Prob: 0.5)\r\n2. Blue (Prob: 0.3)\r\n3. Green",
    "markers only": "- Red (Prob: 0.5) - Blue (Prob: 0.3)",
    "text after a marker": "1. Red (Prob: 0.5) is warm\n2. Blue (Prob: 0.3) is cold and calm\n3. Green",
    "bullets without markers": "- Red\n  - Blue\n(a) Green\n* Teal\n10. Gold",
    "indented bullets and long indents": "1. a\n" + " " * 90 + "2. b\n\t- c (p: 0.2)",
    "prose before the list": "Here are my answers:\n1. Red: 60%\n2. Blue: 40%\n",
    # Found by fuzzing: a marker longer than the detection overlap (12 characters) that arrived
    # in pieces was never seen, so no format was detected.
    "markers without bullets": "Red (Probability: 0.5)\nBlue (Probability: 0.5)",
    "marked lines, indented, emphasised, lettered": "  1. **Red** (Prob: 0.5)\n\t- _Blue_ (p=.2)\n(c) – Gold: (confidence: 30%)",
    # Found by fuzzing: a marker longer than the stream looked back for one was missed in pieces.
    # Its white space is bounded now: the longest marker, then one padded past that bound.
    "too much padding, then the longest marker": "- b (Prob:"
    + " " * 60
    + "0.5)\n- a (Probability"
    + " " * 10
    + ":"
    + " " * 10
    + "0."
    + "1" * 38
    + " " * 10
    + ")",
    # Found by fuzzing: a first bullet padded past the detection overlap, arriving in pieces, was
    # not seen (the list was detected at its second bullet, or read as JSON).
    "a bullet padded after it": "- " + " " * 14 + "Red\n- Blue\n- Green",
    "a bullet padded before it": " " * 15 + "1. Red\n2. Blue\n3. Green",
    "padded bullets on later lines": "Colours:\n" + "\t" * 14 + "a)" + " " * 13 + "a\n* b (Prob: 0.5)",
    "a padded bullet, then JSON": "-" + " " * 13 + '{"text": "a"}',
    "an indented asked line, then marked lines": "\t1. –( (Probability: 0.3)\n- b (Prob: 0.2)\n- (Prob: 0.5) c",
    # Found by fuzzing: a bracket or tag inside a marker still arriving was read as JSON or XML
    # fed a character at a time; parse reads the marker's line as a list item.
    "a brace inside a marker": 'Red (Prob: {0.5})\nBlue (p= ["0.5"])',
    "a tag inside a marker": "Red (Prob: <response>0.4)\n- Blue (Prob: 0.6)",
}

# The list exactly as asked for, and lists that leave that shape part-way.
EXACT_LIST_CASES = {
    "with a last newline": "1. Red (Probability: 0.5)\n2. Blue (Probability: 0.3)\n10. Green (Probability: 0.2)\n",
    "sum not 1, texts with closers": "1. a } b ] c > d (Probability: 0.5)\n2. e (Probability: 0.25)",
    "repeated and empty texts": "1. Red (Probability: 0.5)\n2. red (Probability: 0.3)\n3.   (Probability: 0.2)",
    "a probability above 1": "1. a (Probability: 1.5)\n2. b (Probability: 0.5)",
    "an unreadable probability": "1. a (Probability: 0.5)\n2. b (Probability: 0.5.1)",
    "two items on one line": "1. a (Probability: 0.5) 2. b (Probability: 0.5)",
    "a parenthesis in a text": "1. a (b) c (Probability: 0.5)\n2. d (Probability: 0.5)",
    "closing parentheses in texts": "1. a) b) (Probability: 0.5)\n2. c :) (Probability: 0.5)",
    "a closing parenthesis on a line without a marker": "1. a) b\n2. c (Probability: 0.5)",
    "text after a marker": "1. a (Probability: 0.5) or so\n2. b (Probability: 0.5)",
    "a line without a marker": "1. a (Probability: 0.5)\n2. b\n3. c (Probability: 0.5)",
    "a blank line, then prose": "1. a (Probability: 0.5)\n2. b (Probability: 0.5)\n\nBoth (Probability: 1) are fine.",
    "another label": "1. a (Prob: 0.5)\n2. b (Probability: 0.5)",
    "other labels and bullets": "1. a (Prob: 0.5)\n- b (confidence: 20%)\n3. **c** (weight=0.1)\n4. d (p = .2)",
    "another label after a parenthesis": "1. a (Prob: 0.5)\n2. b (c) (Prob: 0.5)",
    "another label, then text after it": "1. a (Prob: 0.5) or so\n2. b (Prob: 0.5)",
    "another label, empty text": "1. a (Prob: 0.5)\n2.  (Prob: 0.5)\n3. c (Prob: 0.5)",
    "a percentage": "1. a (Probability: 50%)\n2. b (Probability: 0.5)",
    # Found by fuzzing: a stated probability longer than a marker reads (40 characters).
    "a stated probability longer than a marker reads": "1. a (Probability: 0." + "1" * 39 + ")",
}
LIST_CASES.update({f"asked shape, {name}": text for name, text in EXACT_LIST_CASES.items()})


def fed_in_chunks(text: str, config: VSConfig | None, size: int) -> StreamParser:
    parser = StreamParser(config)
    feeds(text, list(range(size, len(text), size)), parser)
    return parser


@pytest.mark.parametrize(
    ("text", "config", "size"),
    [
        (EXACT_JSON_CASES["CoT reasoning first"], VSConfig(k=3, variant="cot"), 5),
        (EXACT_JSON_CASES["CoT reasoning first"], VSConfig(probability="perplexity"), 5),
        (EXACT_JSON_CASES["sum not 1"] + "\nThanks!", None, 5),
        ("Sure: " + EXACT_JSON_CASES["sum not 1"], None, 5),
        (EXACT_LIST_CASES["with a last newline"], VSConfig(k=3), 4),
        (EXACT_LIST_CASES["with a last newline"], VSConfig(probability="nll"), 4),
        (EXACT_LIST_CASES["with a last newline"] + "Hope this helps", None, 4),
        (EXACT_LIST_CASES["with a last newline"] + "4. d", None, 4),
        (EXACT_XML_CASES["one a line, with a last newline"], VSConfig(k=3, format="xml"), 7),
        (EXACT_XML_CASES["white space inside and around"], VSConfig(probability="perplexity"), 7),
    ],
)
def test_close_with_a_config_is_parse_with_it(text, config, size):
    parser = fed_in_chunks(text, config, size)
    assert parser.close() == parse(text, config)


CASES = {
    f"{kind} {name}": text
    for kind, cases in (("JSON", JSON_CASES), ("XML", XML_CASES), ("list", LIST_CASES))
    for name, text in cases.items()
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_chunks_split_anywhere(text):
    by_character = feeds(text, list(range(1, len(text))))
    for cuts in every_cut(text):
        check(text, cuts, by_character)


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("1. Red (Prob: 0.5)\n2. Blue (Prob: 0.5)", "(Pro"),
        ("1. Red (Prob: 0.5)\n2. Blue (Prob: 0.5)", "(Prob: 0.5"),
        ("1. Red\n2. Blue\n3. Green", "\n2"),
        ("1. Red\n2. Blue\n3. Green", "\n2."),
        ("1. Red\r\n2. Blue", "\r"),
    ],
)
def test_list_markers_and_bullets_split_across_chunks(text, piece):
    cut = text.index(piece) + len(piece)
    for cuts in ([cut], [cut, cut + 1], [cut - 1, cut]):
        check(text, cuts)


def test_list_item_whose_bullet_and_marker_come_in_one_chunk_is_given_by_that_chunk():
    # Before the fix, Green waited for close(), and came with index 3 (Blue was counted twice).
    lines = ["1. Red (Probability: 0.5)", "2. Blue (Probability: 0.3)", "3. Green (Probability: 0.2)"]
    parser = StreamParser()
    assert [(c.text, c.index) for c in parser.feed(lines[0])] == [("Red", 0)]
    assert [(c.text, c.index) for c in parser.feed("\n" + lines[1])] == [("Blue", 1)]
    assert [(c.text, c.index) for c in parser.feed("\n" + lines[2])] == [("Green", 2)]
    parser = StreamParser()
    assert [c.text for c in parser.feed(lines[0])] == ["Red"]
    assert [c.text for c in parser.feed("\n" + lines[1] + "\n3. Green (Probability: 0.2")] == ["Blue"]
    assert [(c.text, c.index) for c in parser.feed(")")] == [("Green", 2)]


@pytest.mark.parametrize("text", LIST_CASES.values(), ids=LIST_CASES.keys())
def test_list_bullet_and_marker_in_one_chunk_then_text_without_either(text):
    # The chunk that brings a bullet line with its marker, then one that brings neither a newline nor a ")".
    by_character = feeds(text, list(range(1, len(text))))
    for line in (i for i, char in enumerate(text) if char == "\n"):
        for close in (i for i, char in enumerate(text) if char == ")" and i > line):
            for start in (line, line + 1):
                check(text, [cut for cut in (start, close + 1, close + 3) if cut < len(text)], by_character)


STRUCTURE = st.sampled_from(
    [
        *("{", "}", "[", "]", '"', "'", "\\", ",", ":", " ", "\n", "\r\n", "a", "0.5", "text", "probability"),
        *("responses", "<response>", "</response>", "</respo", "nse>", "<RESPONSE ", ">", "(Prob: ", ")", "("),
        *("\n1. ", "\n- ", "2.", "  "),
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(STRUCTURE, max_size=40).map("".join), st.lists(st.integers(1, 12), min_size=1, max_size=12))
# Found by fuzzing: a bracket inside a marker still arriving was read as JSON fed a character at a
# time, while fed in pieces the marker had come whole and made the line a list item, as parse reads it.
@example(text="}(Prob: {)", sizes=[2])
# Found by fuzzing: a tag before a marker on its line was read as XML fed a character at a time, as
# a list item when a chunk brought the tag's end and the whole marker.
@example(text="}}<response>(Prob: )", sizes=[9, 2])
def test_any_text_in_any_chunks_streams_as_fed_by_character(text, sizes):
    cuts, at = [], 0
    while True:
        at += sizes[len(cuts) % len(sizes)]
        if at >= len(text):
            break
        cuts.append(at)
    check(text, cuts)
