import functools
import itertools
import json

import pytest

from vs_integrations import ParseError, SettingsError, VSConfig, VSEngine
from vs_integrations.core.calls import CallRecord, ModelRequest, Reply, Usage
from vs_integrations.core.errors import BackendUnreachable, RequestRefused


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
    assert dist.raw == reply("a", "b", "c") and dist.warnings == ()


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


# -- the trace: one CallRecord per reply ----------------------------------------------------------


class ReplyScript:
    """A model object (``generate``/``agenerate``) answering scripted :class:`Reply` records."""

    def __init__(self, *replies: Reply | str) -> None:
        self.replies = list(replies)
        self.requests: list[ModelRequest] = []

    def generate(self, request: ModelRequest) -> Reply | str:
        self.requests.append(request)
        return self.replies.pop(0)

    async def agenerate(self, request: ModelRequest) -> Reply | str:
        return self.generate(request)


def test_every_call_is_recorded_with_its_kind_cost_and_what_it_added():
    model = ReplyScript(
        Reply(reply("a", "b"), 40, 20, "stop", "m1", 0.5, "json_schema", 2),
        Reply(reply("b", "c"), 60, 15, "stop", "m1", 0.25, "json_schema", 1),
    )
    dist = VSEngine(k=3).run(model, "x")
    assert dist.texts == ["a", "b", "c"]
    assert [r.kind for r in dist.calls] == ["first", "top-up"]
    assert [r.added for r in dist.calls] == [2, 1]
    assert dist.calls[0] == CallRecord("first", 2, 40, 20, 0.5, "stop", "m1", "json_schema", 2)
    assert dist.usage == Usage(calls=2, prompt_tokens=100, completion_tokens=35, seconds=0.75)


def test_a_str_reply_is_recorded_with_unknown_tokens_and_measured_seconds():
    dist = VSEngine(k=2).run(Script(reply("a", "b")), "x")
    (record,) = dist.calls
    assert record.kind == "first" and record.added == 2
    assert record.prompt_tokens is None and record.completion_tokens is None and record.finish_reason is None
    assert record.seconds is not None and record.seconds >= 0
    assert dist.usage.calls == 1 and dist.usage.total_tokens == 0


def test_call_kinds_of_retries_turns_and_the_steps_generator():
    dist = VSEngine(k=2).run(Script("junk", reply("a"), reply("b")), "x")
    assert [(r.kind, r.added) for r in dist.calls] == [("first", 0), ("retry", 1), ("top-up", 1)]
    multi = VSEngine(VSConfig(k=4, variant="multi", per_turn=2)).run(Script(reply("a", "b"), reply("c", "d")), "x")
    assert [r.kind for r in multi.calls] == ["first", "turn"]
    steps = VSEngine(k=1).steps("x")
    next(steps)
    with pytest.raises(StopIteration) as done:
        steps.send(Reply(reply("a"), prompt_tokens=7, completion_tokens=3))
    assert done.value.value.usage == Usage(1, 7, 3, 0.0)


def test_the_trace_survives_partial_fallback_and_errors():
    partial = VSEngine(k=3, max_retries=1).run(Script(reply("a"), reply("a")), "x")
    assert partial.texts == ["a"] and partial.usage.calls == 2 and "kept 1 candidate(s)" in partial.warnings[-1]
    fallback = VSEngine(k=2, max_retries=1, on_failure="fallback").run(Script("junk", "more junk"), "x")
    assert fallback.texts == ["more junk"] and [r.kind for r in fallback.calls] == ["first", "retry"]
    with pytest.raises(ParseError) as info:
        VSEngine(k=2, max_retries=1).run(Script("junk", "junk"), "x")
    assert [r.kind for r in info.value.calls] == ["first", "retry"]


async def test_arun_records_the_same_trace_as_run():
    replies = (Reply(reply("a"), 5, 5, "stop", seconds=1.0), Reply(reply("b"), 6, 4, "stop", seconds=2.0))
    sync_dist = VSEngine(k=2).run(ReplyScript(*replies), "x")
    async_dist = await VSEngine(k=2).arun(ReplyScript(*replies), "x")
    assert sync_dist.calls == async_dist.calls and async_dist.usage == Usage(2, 11, 9, 3.0)


# -- finish reasons ---------------------------------------------------------------------------------

CUT_LIST = "1. Red\n2. Blue\n3. Gre"


def test_a_reply_cut_at_the_token_limit_loses_its_unfinished_last_candidate_and_is_topped_up():
    model = ReplyScript(Reply(CUT_LIST, finish_reason="length"), Reply(reply("Green"), finish_reason="stop"))
    dist = VSEngine(k=3, format="list").run(model, "Name a colour.")
    assert dist.texts == ["Red", "Blue", "Green"]
    assert dist.truncated
    assert any("cut at the token limit" in w and "'Gre'" in w for w in dist.warnings)
    assert model.requests[1].kind == "top-up"
    assert "Generate 1 alternative response" in model.requests[1].messages[-1]["content"]
    assert CUT_LIST in dist.raw


def test_the_same_reply_that_stopped_normally_keeps_its_last_item():
    dist = VSEngine(k=3, format="list").run(ReplyScript(Reply(CUT_LIST, finish_reason="stop")), "x")
    assert dist.texts == ["Red", "Blue", "Gre"] and not dist.truncated
    assert dist.usage.calls == 1


def test_a_length_reply_whose_last_candidate_was_closed_keeps_it():
    # The JSON ends after its last record: the model reached the limit with every candidate finished.
    dist = VSEngine(k=2).run(ReplyScript(Reply(reply("a", "b"), finish_reason="length")), "x")
    assert dist.texts == ["a", "b"]
    assert any("cut at the token limit" in w and "kept its complete candidates" in w for w in dist.warnings)
    cut = '{"responses": [{"text": "a", "probability": 0.5}, {"text": "b", "probab'
    dist = VSEngine(k=2).run(ReplyScript(Reply(cut, finish_reason="length"), reply("b")), "x")
    assert dist.texts == ["a", "b"] and dist.calls[0].finish_reason == "length"


# -- k is a cap ---------------------------------------------------------------------------------------


def test_a_reply_with_more_than_k_candidates_keeps_the_first_k_in_reply_order():
    dist = VSEngine(k=3).run(Script(reply("a", "b", "c", "d", "e")), "x")
    assert dist.texts == ["a", "b", "c"]
    assert sum(dist.probabilities) == pytest.approx(1.0)
    (note,) = [w for w in dist.warnings if "beyond" in w]
    assert "brought 2 candidate(s) beyond the 3 wanted" in note and "'d', 'e'" in note
    assert '"d"' in dist.raw and '"e"' in dist.raw


def test_a_top_up_that_over_delivers_is_capped_and_repeats_still_pool():
    dist = VSEngine(k=3).run(Script(reply("a", "b"), reply("c", "d", "e", "A")), "x")
    assert dist.texts == ["a", "b", "c"]
    assert dist.calls[1].added == 1
    assert any("brought 2 candidate(s) beyond the 3 wanted" in w for w in dist.warnings)


# -- validity in the loop -------------------------------------------------------------------------

STATES = {"Ohio", "Utah", "Iowa", "Texas", "Maine"}


def test_invalid_candidates_are_dropped_counted_missing_and_named_in_the_top_up():
    model = Script(reply("Ohio", "Houston", "Utah"), reply("Los Angeles", "Iowa"))
    dist = VSEngine(k=3, valid=STATES.__contains__).run(model, "Name a US state.")
    assert dist.texts == ["Ohio", "Utah", "Iowa"]
    assert sum(dist.probabilities) == pytest.approx(1.0)
    assert "Houston" in dist.raw and "Los Angeles" in dist.raw
    assert any("refused 1 candidate(s)" in w and "'Houston'" in w for w in dist.warnings)
    follow_up = model.calls[1][0][-1]["content"]
    assert model.asked(1) == 1
    assert "These responses were refused as invalid answers:\n1. Houston" in follow_up
    assert "You have already given 2 responses:\n1. Ohio\n2. Utah" in follow_up


def test_a_reply_of_only_invalid_candidates_gets_a_follow_up_naming_them():
    model = Script(reply("Houston", "Dallas"), reply("Texas", "Ohio"))
    dist = VSEngine(k=2, valid=STATES.__contains__).run(model, "x")
    assert dist.texts == ["Texas", "Ohio"]
    assert [r.kind for r in dist.calls] == ["first", "top-up"] and dist.calls[0].added == 0
    assert model.roles(1) == ["system", "user", "assistant", "user"]
    assert "1. Houston\n2. Dallas" in model.calls[1][0][-1]["content"]


def test_k_counts_valid_candidates_and_all_invalid_runs_out_as_configured():
    with pytest.raises(ParseError, match=r"valid\(\) refused every candidate read \(2 distinct\)") as info:
        VSEngine(k=2, max_retries=1, valid=lambda text: False).run(Script(reply("a"), reply("b")), "x")
    assert "a" in info.value.raw and "b" in info.value.raw
    multi = VSConfig(k=2, variant="multi", per_turn=1)
    model = Script(reply("Paris"), reply("Ohio"), reply("Utah"))
    dist = VSEngine(multi, valid=STATES.__contains__).run(model, "x")
    assert dist.texts == ["Ohio", "Utah"]
    assert "refused as invalid answers:\n1. Paris" in model.calls[1][0][-1]["content"]


def test_valid_must_be_callable():
    with pytest.raises(SettingsError, match="valid") as info:
        VSEngine(valid="Ohio")  # type: ignore[arg-type]
    assert info.value.field == "valid"


# -- one driver -------------------------------------------------------------------------------------


async def test_arun_and_run_share_the_driver_and_refuse_a_model_stop_iteration():
    def stops(messages, schema):
        raise StopIteration

    async def astops(messages, schema):
        raise StopIteration

    with pytest.raises(RuntimeError, match="StopIteration"):
        VSEngine().run(stops, "x")
    with pytest.raises(RuntimeError, match="StopIteration"):
        await VSEngine().arun(astops, "x")


# -- a model error mid-run ------------------------------------------------------------------------


class FailsAfter(Script):
    """Scripted replies, then ``error`` raised for every later call."""

    def __init__(self, error: Exception, *replies: str) -> None:
        super().__init__(*replies)
        self.error = error

    def __call__(self, messages, schema):
        if not self.replies:
            raise self.error
        return super().__call__(messages, schema)


def test_a_later_call_failing_keeps_the_held_candidates_with_partial():
    model = FailsAfter(BackendUnreachable("server went away"), reply("Ohio", "Utah"))
    result = VSEngine(k=5, on_failure="partial").run(model, "Name a US state.")
    assert result.texts == ["Ohio", "Utah"] and [r.kind for r in result.calls] == ["first"]
    assert "call 2 failed: BackendUnreachable: server went away" in result.warnings[-1]


@pytest.mark.parametrize("on_failure", ["raise", "fallback"])
def test_a_later_call_failing_otherwise_raises_with_the_trace_and_what_was_held(on_failure):
    model = FailsAfter(RequestRefused("overloaded", status=503), reply("a", "b"), reply("c"))
    with pytest.raises(RequestRefused) as info:
        VSEngine(k=4, max_retries=3, on_failure=on_failure).run(model, "x")
    assert [r.kind for r in info.value.calls] == ["first", "top-up"]
    assert info.value.distribution.texts == ["a", "b", "c"]


def test_the_first_call_failing_propagates_with_an_empty_trace():
    error = BackendUnreachable("down")
    with pytest.raises(BackendUnreachable) as info:
        VSEngine(on_failure="partial").run(FailsAfter(error), "x")
    assert info.value is error and info.value.calls == () and info.value.distribution is None


async def test_arun_and_distinct_keep_what_they_held_when_a_later_call_fails():
    async def amodel(messages, schema):
        return sync(messages, schema)

    sync = FailsAfter(BackendUnreachable("gone"), reply("a", "b"))
    assert (await VSEngine(k=3).arun(amodel, "x")).texts == ["a", "b"]
    distinct = VSEngine(k=2).distinct(FailsAfter(BackendUnreachable("gone"), reply("a", "b")), "x", 4)
    assert distinct.texts == ["a", "b"] and "BackendUnreachable: gone" in distinct.warnings[-1]


async def test_arun_accepts_an_async_function_wrapped_in_partial():
    async def tagged(messages, schema, *, tag):
        return reply(tag)

    assert (await VSEngine(k=1).arun(functools.partial(tagged, tag="x"), "q")).texts == ["x"]
    with pytest.raises(TypeError, match="arun needs an async model"):
        await VSEngine(k=1).arun(functools.partial(lambda m, s: reply("x")), "q")
