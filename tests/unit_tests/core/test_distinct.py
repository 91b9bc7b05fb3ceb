import json

import pytest

from vs_integrations import ParseError, VSConfig, VSEngine
from vs_integrations.core.prompts import MAX_LISTED, MAX_LISTED_CHARS, followup_message

from .test_engine import Script, reply


def test_distinct_stops_at_n_and_lists_what_it_holds():
    model = Script(reply("a", "b"), reply("c", "A"), reply("d", "e"))
    dist = VSEngine(k=2).distinct(model, "Name a letter.", 5)
    assert dist.texts == ["a", "b", "c", "d", "e"]
    assert sum(dist.probabilities) == pytest.approx(1.0)
    assert len(model.calls) == 3
    assert [model.asked(i) for i in range(3)] == [2, 2, 2]
    third = model.calls[2][0]
    # Bounded: the original request, the last reply, a follow-up listing everything held.
    assert model.roles(2) == ["system", "user", "assistant", "user"]
    assert third[:2] == model.calls[0][0]
    assert third[2]["content"] == reply("c", "A")
    assert "You have already given 3 responses:\n1. a\n2. b\n3. c" in third[3]["content"]
    assert dist.raw == "\n\n".join([reply("a", "b"), reply("c", "A"), reply("d", "e")])


def test_distinct_asks_only_for_what_is_missing():
    model = Script(reply("a", "b", "c"), reply("d"))
    dist = VSEngine(k=3).distinct(model, "x", 4)
    assert dist.texts == ["a", "b", "c", "d"]
    assert [model.asked(i) for i in range(2)] == [3, 1]


def test_distinct_below_k_asks_for_n_from_the_start():
    model = Script(reply("a", "b"))
    dist = VSEngine(k=5).distinct(model, "x", 2)
    assert dist.texts == ["a", "b"]
    assert model.asked(0) == 2
    assert "generate 2 different responses" in model.calls[0][0][0]["content"]


def test_distinct_default_budget_then_partial_with_warning():
    # n=4, k=2: a perfect model needs 2 calls; the default budget is 2 * 2 + 1 = 5.
    model = Script(*[reply("a", "b")] * 5)
    dist = VSEngine(k=2).distinct(model, "x", 4)
    assert len(model.calls) == 5 and dist.texts == ["a", "b"]
    assert any(
        "held 2 of the 4 distinct candidates wanted after 5 call(s) (the call budget" in w for w in dist.warnings
    )


def test_distinct_max_calls_and_raise_carries_the_partial():
    model = Script(reply("a", "b"), "junk", reply("c", "d"))
    with pytest.raises(ParseError, match="held 2 of the 6 distinct candidates wanted after 2 call") as info:
        VSEngine(k=2, on_failure="raise").distinct(model, "x", 6, max_calls=2)
    assert len(model.calls) == 2
    assert info.value.distribution.texts == ["a", "b"]
    assert info.value.raw == reply("a", "b") + "\n\njunk"


def test_distinct_with_a_same_predicate():
    def same_first_letter(a: str, b: str) -> bool:
        return a[0].casefold() == b[0].casefold()

    model = Script(reply("apple", "avocado", "banana"), reply("Apricot", "cherry"), reply("date"))
    dist = VSEngine(k=3).distinct(model, "Name a fruit.", 4, same=same_first_letter)
    assert dist.texts == ["apple", "banana", "cherry", "date"]
    # "avocado" (same reply) adds its probability to "apple"; "Apricot" (a later reply) is dropped.
    assert dist[0].probability == pytest.approx(2 * dist[1].probability)
    assert "1. apple\n2. banana\n3. cherry" in model.calls[2][0][-1]["content"]


async def test_adistinct_matches_distinct():
    replies = (reply("a", "b"), "junk", reply("b", "c"), reply("d"))
    sync_model, async_model = Script(*replies), Script(*replies)
    sync_dist = VSEngine(k=2).distinct(sync_model, "x", 4)
    async_dist = await VSEngine(k=2).adistinct(async_model.acall, "x", 4)
    assert sync_dist == async_dist and sync_dist.texts == ["a", "b", "c", "d"]
    assert sync_model.calls == async_model.calls


def test_distinct_through_steps():
    steps = VSEngine(k=2).steps("x", distinct=3, max_calls=2)
    next(steps)
    _, schema = steps.send(reply("a", "b"))
    assert schema["properties"]["responses"]["maxItems"] == 1
    with pytest.raises(StopIteration) as done:
        steps.send(reply("c"))
    assert done.value.value.texts == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "distinct n must be a positive integer; got 0"),
        ({"n": True}, "distinct n must be a positive integer"),
        ({"n": 2, "max_calls": 0}, "max_calls must be a positive integer; got 0"),
        ({"n": 2, "max_calls": 1.5}, "max_calls must be a positive integer"),
    ],
)
def test_distinct_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VSEngine().distinct(Script(), "x", **kwargs)


def test_max_calls_needs_distinct():
    with pytest.raises(ValueError, match="max_calls applies only with distinct"):
        next(VSEngine().steps("x", max_calls=3))


# -- the follow-up's listing -------------------------------------------------------------------
def test_followup_listing_is_bounded():
    held = [f"answer {i} " + "x" * (i == 40) * 500 for i in range(1, 61)]
    content = followup_message(VSConfig(k=5), 2, held=held)["content"]
    listed = [line for line in content.splitlines() if line[:1].isdigit()]
    assert len(listed) == MAX_LISTED
    assert listed[0].startswith(f"{61 - MAX_LISTED}. answer {61 - MAX_LISTED}")
    assert listed[-1] == "60. answer 60"
    assert all(len(line) <= MAX_LISTED_CHARS + 5 for line in listed)
    assert content.startswith(f"You have already given 60 responses; the last {MAX_LISTED} are:")
    assert (
        "Generate 2 alternative responses to the original request, different from all the responses listed" in content
    )


def test_followup_without_held_refers_to_the_conversation():
    content = followup_message(VSConfig(k=5, format="xml"), 1)["content"]
    assert content.startswith("Generate 1 alternative response to the original request")
    assert "above" in content and "<response>" in content


def test_listing_flattens_multi_line_candidates():
    content = followup_message(VSConfig(k=2), 1, held=["line one\n  line two"])["content"]
    assert "1. line one line two" in content and "1 response:" in content
    assert json.dumps(["x"]) not in content


def test_followup_names_the_refused_after_the_held_and_bounds_them():
    refused = [f"wrong {i}" for i in range(1, 41)]
    content = followup_message(VSConfig(k=5), 2, held=["Ohio"], refused=refused)["content"]
    held_at, refused_at = content.index("1. Ohio"), content.index("refused as invalid answers")
    assert held_at < refused_at < content.index("Generate 2 alternative responses")
    assert content.count("wrong ") == MAX_LISTED and "wrong 40" in content and "wrong 10\n" not in content
    assert f"40 responses were refused as invalid answers; the last {MAX_LISTED} are:" in content
    assert "Do not give them again" in content


# -- the cap and validity ----------------------------------------------------------------------
def test_distinct_holds_at_most_n():
    dist = VSEngine(k=3).distinct(Script(reply("a", "b", "c"), reply("d", "e", "f")), "x", 4)
    assert dist.texts == ["a", "b", "c", "d"]
    assert any("brought 2 candidate(s) beyond the 4 wanted" in w and "'e', 'f'" in w for w in dist.warnings)
    assert [r.kind for r in dist.calls] == ["first", "distinct"]


def test_distinct_counts_valid_candidates_and_lists_the_refused():
    model = Script(reply("1", "x", "2"), reply("y", "3", "4"))
    dist = VSEngine(k=3, valid=str.isdigit).distinct(model, "Name a digit.", 4)
    assert dist.texts == ["1", "2", "3", "4"]
    follow_up = model.calls[1][0][-1]["content"]
    assert "1. 1\n2. 2" in follow_up and "refused as invalid answers:\n1. x" in follow_up
    assert dist.usage.calls == 2
