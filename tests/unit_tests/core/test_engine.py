import itertools
import json

import pytest

from vs_integrations import ParseError, VSConfig, VSEngine


def reply(*texts: str) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 1 / len(texts)} for t in texts]})


def stated(*pairs: tuple[str, float]) -> str:
    return json.dumps({"responses": [{"text": t, "probability": p} for t, p in pairs]})


class Script:
    """A model function that returns scripted replies and records what it was asked."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[list[dict], dict | None]] = []

    def __call__(self, messages, schema):
        self.calls.append(([dict(m) for m in messages], schema))
        return self.replies.pop(0)

    async def acall(self, messages, schema):
        return self(messages, schema)

    def asked(self, call: int) -> int:
        """How many candidates call ``call``'s schema asked for."""
        responses = self.calls[call][1]["properties"]["responses"]
        assert responses["minItems"] == responses["maxItems"]
        return responses["maxItems"]

    def roles(self, call: int) -> list[str]:
        return [m["role"] for m in self.calls[call][0]]


def test_standard_one_call_with_schema():
    model = Script(reply("a", "b", "c"))
    dist = VSEngine(VSConfig(k=3)).run(model, "Name a letter.")
    assert dist.texts == ["a", "b", "c"]
    assert len(model.calls) == 1
    messages = model.calls[0][0]
    assert messages[-1] == {"role": "user", "content": "Name a letter."}
    assert model.asked(0) == 3
    assert dist.raw == reply("a", "b", "c") and dist.warnings == []


def test_no_schema_for_other_formats_or_when_disabled():
    model = Script("1. a (Prob: 0.5)\n2. b (Prob: 0.5)")
    VSEngine(VSConfig(k=2, format="list")).run(model, "x")
    model2 = Script(reply("a", "b"))
    VSEngine(VSConfig(k=2), use_schema=False).run(model2, "x")
    assert model.calls[0][1] is None and model2.calls[0][1] is None


# -- top-up retries ----------------------------------------------------------------------------
def test_short_reply_is_topped_up_with_the_missing_count_listing_the_held():
    first = reply("Ohio", "ohio", "Utah")
    model = Script(first, reply("Iowa"))
    dist = VSEngine(VSConfig(k=3)).run(model, "Name a US state.")
    assert dist.texts == ["Ohio", "Utah", "Iowa"]
    assert len(model.calls) == 2
    assert model.asked(1) == 1
    messages = model.calls[1][0]
    assert model.roles(1) == ["system", "user", "assistant", "user"]
    assert messages[:2] == model.calls[0][0]
    assert messages[2]["content"] == first
    followup = messages[3]["content"]
    assert "1. Ohio\n2. Utah" in followup and "Iowa" not in followup
    assert "Generate 1 alternative response " in followup and "exactly 1 objects" in followup
    assert first in dist.raw and reply("Iowa") in dist.raw
    assert any("left 1 of 3 distinct candidate(s) missing; asked for 1 more" in w for w in dist.warnings)


def test_pooled_distribution_reads_stated_probabilities_on_one_scale():
    first = stated(("a", 0.4), ("A ", 0.1), ("b", 0.2))
    second = stated((" B", 0.3), ("c", 0.3))  # "b" again (dropped), and the missing one
    dist = VSEngine(VSConfig(k=3)).run(Script(first, second), "x")
    assert dist.texts == ["a", "b", "c"]
    assert dist.probabilities == pytest.approx([0.5, 0.2, 0.3])  # repeat within a reply adds up
    assert [c.raw_probability for c in dist] == [0.4, 0.2, 0.3]
    assert [c.index for c in dist] == [0, 1, 2]
    assert any("reply 2 repeated 1 candidate(s) already held" in w for w in dist.warnings)
    assert any("merged 1 duplicate" in w for w in dist.warnings)


def test_unreadable_reply_is_asked_again_as_it_was():
    model = Script("garbage", reply("a", "b", "c"))
    dist = VSEngine(VSConfig(k=3)).run(model, "x")
    assert dist.texts == ["a", "b", "c"]
    assert model.calls[1] == model.calls[0]
    assert dist.raw == "garbage\n\n" + reply("a", "b", "c")
    assert any("reply 1 held no readable candidate" in w for w in dist.warnings)


def test_follow_up_adding_nothing_is_followed_by_the_original_request_afresh():
    # Small models shown their previous turn often copy it: a fresh draw is pooled instead.
    model = Script(reply("a", "b", "c"), reply("a", "b"), reply("c", "d", "a", "e"))
    dist = VSEngine(VSConfig(k=5)).run(model, "x")
    assert dist.texts == ["a", "b", "c", "d", "e"]
    assert model.roles(1) == ["system", "user", "assistant", "user"] and model.asked(1) == 2
    assert model.calls[2] == model.calls[0]
    assert any(
        "follow-up reply 2 added nothing; later calls ask the original request afresh" in w for w in dist.warnings
    )


def test_after_a_copied_follow_up_later_calls_ask_afresh():
    model = Script(reply("a", "b"), reply("a"), reply("c", "a", "a"), reply("d", "c", "a", "b"))
    dist = VSEngine(VSConfig(k=4), max_retries=3).run(model, "x")
    assert dist.texts == ["a", "b", "c", "d"]
    assert model.calls[2] == model.calls[3] == model.calls[0]
    assert model.asked(3) == 4


def test_every_request_alternates_roles():
    model = Script(reply("a"), "junk", reply("a", "b"), reply("c", "d"))
    VSEngine(VSConfig(k=4), max_retries=3).run(model, "x")
    for messages, _ in model.calls:
        roles = [m["role"] for m in messages]
        assert all(x != y for x, y in itertools.pairwise(roles)), roles


def test_partial_by_default_pools_every_reply_with_a_warning(caplog):
    model = Script(reply("a"), reply("a", "b"), "junk")
    dist = VSEngine(VSConfig(k=3)).run(model, "x")
    assert dist.texts == ["a", "b"] and len(model.calls) == 3
    assert any(
        "kept 2 candidate(s): held 2 of the 3 distinct candidates wanted after 3 call(s)" in w for w in dist.warnings
    )
    assert dist.raw == "\n\n".join([reply("a"), reply("a", "b"), "junk"])
    assert "held 2 of the 3" in caplog.text


def test_partial_without_any_candidate_still_raises():
    with pytest.raises(ParseError, match="no reply parsed") as info:
        VSEngine(VSConfig(k=3), max_retries=1).run(Script("nope", "still no"), "x")
    assert info.value.raw == "nope\n\nstill no" and info.value.distribution is None


def test_raise_carries_all_replies_and_the_pooled_partial():
    model = Script("garbage", reply("a"), reply("b"))
    with pytest.raises(ParseError, match="held 2 of the 3 distinct candidates wanted after 3 call") as info:
        VSEngine(VSConfig(k=3), on_failure="raise").run(model, "x")
    assert info.value.raw == "\n\n".join(["garbage", reply("a"), reply("b")])
    assert info.value.distribution is not None and info.value.distribution.texts == ["a", "b"]
    assert model.asked(2) == 2


def test_fallback_to_the_last_raw_reply():
    dist = VSEngine(VSConfig(k=3), max_retries=0, on_failure="fallback").run(Script("Just one answer."), "x")
    assert dist.texts == ["Just one answer."] and dist.probabilities == [1.0]
    assert dist.raw == "Just one answer."
    assert any("fell back" in w for w in dist.warnings)
    model = Script(reply("a"), "Plain b.")
    dist = VSEngine(VSConfig(k=2), max_retries=1, on_failure="fallback").run(model, "x")
    assert dist.texts == ["Plain b."] and dist.raw == reply("a") + "\n\nPlain b."


def test_cot_top_up_keeps_the_first_reasoning_and_asks_with_reasoning():
    first = json.dumps({"reasoning": "States vary.", "responses": [{"text": "Ohio", "probability": 0.5}]})
    second = json.dumps({"reasoning": "More.", "responses": [{"text": "Utah", "probability": 0.5}]})
    model = Script(first, second)
    dist = VSEngine(k=2, variant="cot").run(model, "Name a US state.")
    assert dist.texts == ["Ohio", "Utah"] and dist.reasoning == "States vary."
    assert model.calls[1][1]["required"] == ["reasoning", "responses"] and model.asked(1) == 1
    assert "reasoning" in model.calls[1][0][-1]["content"]


# -- VS-Multi ----------------------------------------------------------------------------------
def test_multi_holds_a_conversation_until_k_distinct():
    cfg = VSConfig(k=5, variant="multi", per_turn=2)
    model = Script(reply("a", "b"), reply("b", "c"), reply("d", "e"))
    dist = VSEngine(cfg).run(model, "Name a letter.")
    assert dist.texts == ["a", "b", "c", "d", "e"]
    assert [c.index for c in dist] == [0, 1, 2, 3, 4]
    assert len(model.calls) == 3
    second_messages = model.calls[1][0]
    assert model.roles(1) == ["system", "user", "assistant", "user"]
    assert second_messages[2]["content"] == reply("a", "b")
    assert "alternative" in second_messages[3]["content"]
    assert "already given" not in second_messages[3]["content"]  # the conversation shows them
    assert model.asked(1) == 2
    assert model.roles(2) == ["system", "user", "assistant", "user", "assistant", "user"]
    assert model.calls[2][0][:4] == second_messages
    assert model.asked(2) == 2  # 2 distinct still missing
    assert reply("a", "b") in dist.raw and reply("d", "e") in dist.raw


def test_multi_last_turn_asks_only_for_the_rest():
    cfg = VSConfig(k=3, variant="multi", per_turn=2)
    model = Script(reply("a", "b"), reply("c"))
    assert VSEngine(cfg).run(model, "x").texts == ["a", "b", "c"]
    assert model.asked(1) == 1
    assert "1 alternative" in model.calls[1][0][-1]["content"]


def test_multi_gives_up_after_retry_turns():
    cfg = VSConfig(k=4, variant="multi", per_turn=2, on_failure="raise")
    model = Script(reply("a", "b"), reply("a", "b"), "junk", reply("b"))
    with pytest.raises(ParseError) as info:
        VSEngine(cfg, max_retries=2).run(model, "x")
    assert len(model.calls) == 4
    assert model.calls[3] == model.calls[1]  # turns that add nothing are asked again
    assert info.value.distribution.texts == ["a", "b"]


async def test_arun_matches_run():
    cfg = VSConfig(k=5, variant="multi", per_turn=3)
    sync_model = Script(reply("a", "b", "c"), reply("d", "e"))
    async_model = Script(reply("a", "b", "c"), reply("d", "e"))
    sync_dist = VSEngine(cfg).run(sync_model, "x")
    async_dist = await VSEngine(cfg).arun(async_model.acall, "x")
    assert sync_dist == async_dist
    assert sync_model.calls == async_model.calls


async def test_arun_tops_up_like_run():
    replies = ("junk", reply("a", "a"), reply("b", "c"))
    sync_model, async_model = Script(*replies), Script(*replies)
    sync_dist = VSEngine(k=3).run(sync_model, "x")
    async_dist = await VSEngine(k=3).arun(async_model.acall, "x")
    assert sync_dist == async_dist and sync_dist.texts == ["a", "b", "c"]
    assert sync_model.calls == async_model.calls


def test_steps_generator_is_the_loop_adapters_drive():
    steps = VSEngine(k=2).steps("x")
    messages, schema = next(steps)
    assert schema["properties"]["responses"]["maxItems"] == 2
    messages, schema = steps.send(reply("a"))
    assert messages[-1]["role"] == "user" and "1. a" in messages[-1]["content"]
    with pytest.raises(StopIteration) as done:
        steps.send(reply("b"))
    assert done.value.value.texts == ["a", "b"]


def test_model_errors_propagate_and_bad_returns_are_type_errors():
    def broken(messages, schema):
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        VSEngine().run(broken, "x")
    with pytest.raises(TypeError, match="must return the reply as a str"):
        VSEngine().run(lambda m, s: None, "x")  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"max_retries": -1}, "max_retries"), ({"on_failure": "ignore"}, "on_failure")]
)
def test_engine_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VSEngine(**kwargs)
