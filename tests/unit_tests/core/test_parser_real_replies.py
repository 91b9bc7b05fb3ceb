"""The kept corpus of real replies: the embedded model (SmolLM2-135M), VS prompts, no schema.

tests/data/real_replies.jsonl holds one reply per line with the prompt, the format asked for
and the VS settings; it was collected with ``LocalModel(seed=...)`` and ``VS_THREADS=1`` (lines
87 on also note the seed, the temperature and, for VS-Multi, the turn).
"""

import json
import math
from pathlib import Path

import pytest

from vs_integrations import ParseError, StreamParser, VSConfig, parse
from vs_integrations.core.parsing.detect import opening_format

CORPUS = Path(__file__).parents[2] / "data" / "real_replies.jsonl"
ROWS = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
KEY_NAMES = {"text", "probability", "responses", "response", "reasoning", "confidence"}


def config_of(row: dict) -> VSConfig:
    return VSConfig(k=row["k"], format=row["format"], variant=row["variant"], probability=row["probability"])


def test_the_corpus_covers_every_format_and_is_kept_whole():
    assert len(ROWS) >= 60
    assert {row["format"] for row in ROWS} == {"json", "xml", "list"}
    assert all(isinstance(row["reply"], str) and row["prompt"] for row in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[f"{i}-{row['format']}" for i, row in enumerate(ROWS)])
def test_every_real_reply_gives_a_valid_distribution_or_parse_error_with_raw(row):
    reply = row["reply"]
    try:
        dist = parse(reply, config_of(row))
    except ParseError as err:
        assert err.raw == reply
        # Only a reply that does not open with any format's structure may hold nothing.
        assert opening_format(reply) is None
        return
    assert dist.raw == reply
    assert math.isclose(sum(dist.probabilities), 1.0)
    for candidate in dist:
        assert candidate.text and candidate.text.strip() == candidate.text
        assert candidate.text.casefold() not in KEY_NAMES  # a key is never a candidate


@pytest.mark.parametrize("row", ROWS, ids=[f"{i}-{row['format']}" for i, row in enumerate(ROWS)])
def test_streaming_a_real_reply_in_small_chunks_matches_the_one_shot_parse(row):
    reply = row["reply"]
    parser = StreamParser(config_of(row))
    emitted: list[str] = []
    for start in range(0, len(reply), 5):
        emitted.extend(c.text for c in parser.feed(reply[start : start + 5]))
    try:
        streamed = parser.close()
    except ParseError:
        with pytest.raises(ParseError):
            parse(reply, config_of(row))
        return
    assert streamed == parse(reply, config_of(row))
    assert {t.casefold() for t in emitted} <= {t.casefold() for t in streamed.texts}


# Replies read by hand: what each one means.
EXPECTED = {
    26: ["Yes.", "No."],  # numbered list in an XML request, a prose paragraph after it
    31: ["Blue", "Red", "Green", "Yellow", "White"],  # a list after a prose preamble
    53: ["Berlin", "Venice", "Paris", "Prague"],  # numbered, no probabilities
    56: ["No joke.", "No cat.", "No joke, no cat.", "No cat joke."],  # dashes between prose lines
    69: ["The color of the island of Freetown, in the world of fantasy."],  # "(Probability: x)" first
    70: ["New York", "Texas", "California", "Alaska", "Washington"],  # a garbled second list follows
    73: ["Apple", "Banana", "Rose", "Orange"],  # "Apple" twice: merged
    79: ["Apple", "Banana", "Cherry", "Raspberry", "Orange"],  # *emphasis* around each item
    81: ["Red", "Blue", "Green", "Yellow", "Orange", "Black", "White", "Gold"],  # fenced, cut off
    84: ["1.0", "2.0", "3.0", "4.0", "5.0", "6.0"],  # fenced, its "]" forgotten, prose after
    # Lines 87 on: 150 more replies, collected the same way with more prompts and settings.
    227: [  # "(1.)" bullets, each text in quotes
        "You're a helpful AI assistant, but you're only able to answer questions about what's happening",
        "But you're only able to answer the question of what's happening, and it's actually not a question",
        "But you're only able to answer questions about what's going on in your life and you're not in the field of magic",
    ],
    234: ["Recreational activities", "Health and fitness", "Business and finance", "Education and culture"],  # "# 1."
}


@pytest.mark.parametrize("line", sorted(EXPECTED))
def test_hand_read_replies(line):
    row = ROWS[line]
    assert parse(row["reply"], config_of(row)).texts == EXPECTED[line]


def test_a_placeholder_in_prose_is_no_candidate():
    with pytest.raises(ParseError):  # "... on a day of [date] when ...": prose, no list
        parse(ROWS[192]["reply"], config_of(ROWS[192]))


def test_the_cut_off_replies_are_flagged_and_the_whole_ones_are_not():
    assert parse(ROWS[81]["reply"]).truncated
    assert not parse(ROWS[53]["reply"]).truncated
    assert parse(ROWS[69]["reply"])[0].raw_probability == 0.625
