import json

import pytest

from vs_integrations import ParseError, VSConfig, VSEngine


def reply(*texts: str) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 1 / len(texts)} for t in texts]})


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


def test_standard_one_call_with_schema():
    model = Script(reply("a", "b", "c"))
    dist = VSEngine(VSConfig(k=3)).run(model, "Name a letter.")
    assert dist.texts == ["a", "b", "c"]
    assert len(model.calls) == 1
    messages, schema = model.calls[0]
    assert messages[-1] == {"role": "user", "content": "Name a letter."}
    assert schema["properties"]["responses"]["minItems"] == 3


def test_no_schema_for_other_formats_or_when_disabled():
    model = Script("1. a (Prob: 0.5)\n2. b (Prob: 0.5)")
    VSEngine(VSConfig(k=2, format="list")).run(model, "x")
    model2 = Script(reply("a", "b"))
    VSEngine(VSConfig(k=2), use_schema=False).run(model2, "x")
    assert model.calls[0][1] is None and model2.calls[0][1] is None


def test_retries_unparseable_and_short_replies():
    model = Script("garbage", reply("a", "a", "b"), reply("a", "b", "c"))
    dist = VSEngine(VSConfig(k=3), max_retries=2).run(model, "x")
    assert dist.texts == ["a", "b", "c"] and len(model.calls) == 3


def test_raises_with_raw_and_best_partial_after_retries():
    model = Script("garbage", reply("a", "b"), "more garbage")
    with pytest.raises(ParseError, match="no reply held 3 distinct candidates in 3 attempt") as info:
        VSEngine(VSConfig(k=3)).run(model, "x")
    assert info.value.raw == "more garbage"
    assert info.value.distribution is not None and info.value.distribution.texts == ["a", "b"]


def test_partial_returns_best_with_warning():
    model = Script(reply("a"), reply("a", "b"))
    dist = VSEngine(VSConfig(k=3), max_retries=1, on_failure="partial").run(model, "x")
    assert dist.texts == ["a", "b"]
    assert any("kept 2 candidate(s)" in w for w in dist.warnings)


def test_partial_without_any_parse_still_raises():
    with pytest.raises(ParseError):
        VSEngine(VSConfig(k=3), max_retries=0, on_failure="partial").run(Script("nope"), "x")


def test_fallback_to_raw_reply():
    dist = VSEngine(VSConfig(k=3), max_retries=0, on_failure="fallback").run(Script("Just one answer."), "x")
    assert dist.texts == ["Just one answer."] and dist.probabilities == [1.0]
    assert dist.raw == "Just one answer."
    assert any("fell back" in w for w in dist.warnings)


def test_multi_holds_a_conversation_until_k_distinct():
    cfg = VSConfig(k=5, variant="multi", per_turn=2)
    model = Script(reply("a", "b"), reply("b", "c"), reply("d", "e"))
    dist = VSEngine(cfg).run(model, "Name a letter.")
    assert dist.texts == ["a", "b", "c", "d", "e"]
    assert [c.index for c in dist] == [0, 1, 2, 3, 4]
    assert len(model.calls) == 3
    second_messages, second_schema = model.calls[1]
    assert [m["role"] for m in second_messages] == ["system", "user", "assistant", "user"]
    assert second_messages[2]["content"] == reply("a", "b")
    assert "alternative" in second_messages[3]["content"]
    assert second_schema["properties"]["responses"]["maxItems"] == 2
    third_schema = model.calls[2][1]
    assert third_schema["properties"]["responses"]["maxItems"] == 2  # 2 distinct still missing
    assert reply("a", "b") in dist.raw and reply("d", "e") in dist.raw


def test_multi_last_turn_asks_only_for_the_rest():
    cfg = VSConfig(k=3, variant="multi", per_turn=2)
    model = Script(reply("a", "b"), reply("c"))
    assert VSEngine(cfg).run(model, "x").texts == ["a", "b", "c"]
    assert model.calls[1][1]["properties"]["responses"]["maxItems"] == 1
    assert "1 alternative" in model.calls[1][0][-1]["content"]


def test_multi_gives_up_after_retry_turns():
    cfg = VSConfig(k=4, variant="multi", per_turn=2)
    model = Script(reply("a", "b"), reply("a", "b"), "junk", reply("b"))
    with pytest.raises(ParseError) as info:
        VSEngine(cfg, max_retries=2).run(model, "x")
    assert len(model.calls) == 4
    assert info.value.distribution.texts == ["a", "b"]


async def test_arun_matches_run():
    cfg = VSConfig(k=5, variant="multi", per_turn=3)
    sync_model = Script(reply("a", "b", "c"), reply("d", "e"))
    async_model = Script(reply("a", "b", "c"), reply("d", "e"))
    sync_dist = VSEngine(cfg).run(sync_model, "x")
    async_dist = await VSEngine(cfg).arun(async_model.acall, "x")
    assert sync_dist == async_dist
    assert sync_model.calls == async_model.calls


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
