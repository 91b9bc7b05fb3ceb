"""The call contract: requests carry settings and kind, replies may be records, models are checked."""

import asyncio
import math

import pytest

from vs_integrations import GenerationSettings, InvalidSetting, ModelRequest, Reply, SettingsError, VSEngine
from vs_integrations.backends.retry import RetryPolicy, parse_retry_after

REPLY = '{"responses": [{"text": "Ohio", "probability": 0.5}, {"text": "Utah", "probability": 0.5}]}'
SHORT = '{"responses": [{"text": "Ohio", "probability": 1.0}]}'


class Recorder:
    def __init__(self, *replies):
        self.replies = list(replies)
        self.requests: list[ModelRequest] = []

    def generate(self, request):
        self.requests.append(request)
        return Reply(self.replies.pop(0), prompt_tokens=10, completion_tokens=5, finish_reason="stop")

    async def agenerate(self, request):
        await asyncio.sleep(0)
        return self.generate(request)


def test_settings_and_kind_reach_a_model_object():
    model = Recorder(SHORT, '{"responses": [{"text": "Utah", "probability": 1.0}]}')
    dist = VSEngine(k=2).run(model, "Name a US state.", settings=GenerationSettings(temperature=0.3, max_tokens=64))
    assert dist.texts == ["Ohio", "Utah"]
    assert [r.kind for r in model.requests] == ["first", "top-up"]
    assert all(r.settings.as_kwargs() == {"temperature": 0.3, "max_tokens": 64} for r in model.requests)


def test_plain_function_gets_messages_and_schema_and_may_return_a_reply():
    seen = []

    def model(messages, schema):
        seen.append((messages[-1]["role"], schema is not None))
        return Reply(REPLY)

    assert VSEngine(k=2).run(model, "x").texts == ["Ohio", "Utah"]
    assert seen == [("user", True)]


def test_a_reply_of_another_type_is_a_type_error():
    with pytest.raises(TypeError, match="str or a Reply; got int"):
        VSEngine(k=2).run(lambda messages, schema: 3, "x")


def test_a_model_raising_stop_iteration_is_an_error_not_none():
    def model(messages, schema):
        raise StopIteration

    with pytest.raises(RuntimeError, match="StopIteration"):
        VSEngine(k=2).run(model, "x")


async def test_arun_awaits_agenerate_and_refuses_a_sync_function_up_front():
    model = Recorder(REPLY)
    assert (await VSEngine(k=2).arun(model, "x")).texts == ["Ohio", "Utah"]
    calls = []
    with pytest.raises(TypeError, match="arun needs an async model"):
        await VSEngine(k=2).arun(lambda m, s: calls.append(1) or REPLY, "x")
    assert calls == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", math.nan),
        ("temperature", -0.1),
        ("temperature", "hot"),
        ("top_p", 0),
        ("max_tokens", 0),
        ("seed", 1.5),
        ("stop", [""]),
    ],
)
def test_bad_generation_settings_name_the_field(field, value):
    with pytest.raises(InvalidSetting) as info:
        GenerationSettings(**{field: value})
    assert info.value.field == field and field in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, SettingsError)


def test_settings_update_keeps_what_is_not_overridden():
    base = GenerationSettings(temperature=0.7, max_tokens=100)
    assert base.updated(GenerationSettings(max_tokens=8), seed=3).as_kwargs() == {
        "temperature": 0.7,
        "max_tokens": 8,
        "seed": 3,
    }


def test_retry_policy_honours_retry_after_and_bounds_the_total_wait():
    policy = RetryPolicy(attempts=4, base=1.0, cap=10.0, max_total=12.0)
    assert policy.next_wait(1, 0.0, retry_after=6.0) == 6.0
    assert policy.next_wait(2, 6.0, retry_after=7.0) is None  # 13 s would pass max_total
    assert policy.next_wait(4, 0.0) is None  # attempts spent
    assert all(0.5 * 2 ** (n - 1) <= policy.delay(n) <= 2 ** (n - 1) for n in (1, 2, 3))
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    with pytest.raises(InvalidSetting, match="max_total"):
        RetryPolicy(max_total=0)


def test_a_retry_after_longer_than_the_cap_stops_retrying_instead_of_coming_back_early():
    policy = RetryPolicy(attempts=4, base=1.0, cap=10.0, max_total=60.0)
    assert policy.next_wait(1, 0.0, retry_after=10.0) == 10.0
    assert policy.next_wait(1, 0.0, retry_after=25.0) is None  # waiting 10 s would be refused again
    assert policy.next_wait(1, 55.0, retry_after=8.0) is None  # only 5 s left of max_total


def test_calls_whose_model_reported_no_tokens_are_counted_as_unreported_not_free():
    engine = VSEngine(k=2)
    replies = iter([SHORT, Reply('{"responses": [{"text": "Utah", "probability": 1.0}]}', 7, 3)])
    dist = engine.run(lambda messages, schema: next(replies), "x")
    assert dist.usage.calls == 2 and dist.usage.unreported == 1
    assert (dist.usage.prompt_tokens, dist.usage.completion_tokens) == (7, 3)
    assert (dist.usage + dist.usage).unreported == 2
    assert dist.to_dict()["usage"]["unreported"] == 1
