"""The LLM judge with scripted models: scores read, batching, error records, cost, rubrics."""

import json

import pytest

from vs_integrations import VSConfig, json_schema
from vs_integrations.core.calls import ModelRequest, Reply
from vs_integrations.core.errors import BackendUnreachable, InvalidSetting, RequestRefused, SettingsError
from vs_integrations.core.judge import (
    CREATIVE_WRITING_RUBRIC,
    GENERIC_RUBRIC,
    JOKE_RUBRIC,
    Judge,
    Judgement,
    Score,
    judge_schema,
    read_scores,
)


def candidates_in(messages):
    """The candidate texts a judge call lists (in order)."""
    user = messages[-1]["content"]
    return [block.split("\n", 1)[1] for block in user.split("\n\nCandidate ")[1:]]


def reply(*entries):
    return json.dumps({"scores": [{"id": i, "reason": r, "score": s} for i, r, s in entries]})


class ScoresByLength:
    """A model object judging by text length, recording every request."""

    def __init__(self):
        self.requests: list[ModelRequest] = []

    def generate(self, request):
        self.requests.append(request)
        texts = candidates_in(request.messages)
        return Reply(
            reply(*[(i, f"{len(t)} chars", min(len(t), 10)) for i, t in enumerate(texts, start=1)]),
            prompt_tokens=100,
            completion_tokens=20,
            model="scripted-judge",
        )


def test_scores_are_read_in_order_with_reasons_and_batched():
    model = ScoresByLength()
    texts = ["a", "abcd", "ab", "abcdefghijklmnop", "abc", "abcdef", "x"]
    judged = Judge(model, batch_size=3).score("Write something.", texts)
    assert [s.score for s in judged.scores] == [1.0, 4.0, 2.0, 10.0, 3.0, 6.0, 1.0]
    assert judged.scores[1].reason == "4 chars" and judged.scores[1].text == "abcd"
    assert [len(candidates_in(r.messages)) for r in model.requests] == [3, 3, 1]  # 7 answers, 3 a call
    assert [r.schema["properties"]["scores"]["minItems"] for r in model.requests] == [3, 3, 1]
    assert all(r.kind == "first" and r.settings.temperature == 0.0 for r in model.requests)
    assert "Prompt:\nWrite something." in model.requests[0].messages[-1]["content"]
    # the cost of the judge calls is the trace: one record a call, summed in usage
    assert [c.added for c in judged.calls] == [3, 3, 1] and all(c.model == "scripted-judge" for c in judged.calls)
    assert judged.usage.calls == 3 and judged.usage.total_tokens == 360
    assert judged.mean == pytest.approx(27 / 7) and judged.errors == []


def test_an_unreadable_reply_is_an_error_record_with_the_raw_text_never_a_zero():
    def model(messages, schema):
        return "They are all pretty funny!"

    judged = Judge(model, retries=0).score("A joke.", ["one", "two"])
    assert [s.score for s in judged.scores] == [None, None]
    assert all(s.raw == "They are all pretty funny!" for s in judged.scores)
    assert judged.scores[0].error == 'the judge reply is not JSON with a "scores" list'
    assert judged.mean is None and judged.values == [] and len(judged.errors) == 2
    assert judged.calls[0].added == 0
    record = judged.to_dict()
    assert record["errors"] == 2 and record["scores"][0]["raw"] == "They are all pretty funny!"


def test_unreadable_verdicts_are_asked_again_once_then_kept_as_errors():
    calls = []

    def model(messages, schema):
        texts = candidates_in(messages)
        calls.append(texts)
        if len(calls) == 1:  # candidate 2 gets no entry, candidate 3 an out-of-range score
            return reply((1, "fine", 7), (3, "great", 11))
        return "not json" if "c" in texts else reply((1, "ok now", 5))

    judged = Judge(model).score("p", ["a", "b", "c"])
    assert calls == [["a", "b", "c"], ["b", "c"]]  # only the unread ones are asked again
    assert [s.score for s in judged.scores] == [7.0, None, None]
    assert [s.raw for s in judged.scores[1:]] == ["not json", "not json"]  # the last reply's text is kept
    assert judged.scores[2].error == 'the judge reply is not JSON with a "scores" list'
    assert [c.kind for c in judged.calls] == ["first", "retry"]


@pytest.mark.parametrize(
    ("raw", "scores", "error"),
    [
        (reply((2, "b", 3), (1, "a", 9)), [9.0, 3.0], None),  # matched by id
        ('```json\n{"scores": [{"score": 4}, {"score": "6"}]}\n```', [4.0, 6.0], None),  # by position, in a fence
        (reply((1, "a", 12), (2, "b", 5)), [None, 5.0], "candidate 1's score 12 is outside 0-10"),
        ('{"scores": [{"id": 1, "score": "high"}, {"id": 2, "score": 2}]}', [None, 2.0], "not a number: 'high'"),
        ('{"scores": [{"id": 1, "score": true}, {"id": 2, "score": 2}]}', [None, 2.0], "not a number: True"),
        ('{"scores": [{"id": 1, "score": 8}]}', [8.0, None], "no entry for candidate 2"),
        ('{"verdict": "good"}', [None, None], 'not JSON with a "scores" list'),
        ('{"scores": [{"id": 1, "score": 8}', [None, None], 'not JSON with a "scores" list'),  # cut off
    ],
)
def test_read_scores(raw, scores, error):
    read = read_scores(raw, ["first", "second"])
    assert [s.score for s in read] == scores
    errors = [s.error for s in read if s.error]
    assert (error is None and not errors) or any(error in e for e in errors)
    assert all(s.raw == raw for s in read)


def test_the_schema_bounds_scores_and_entries():
    schema = judge_schema(4)
    entries = schema["properties"]["scores"]
    assert entries["minItems"] == entries["maxItems"] == 4
    assert entries["items"]["properties"]["score"] == {"type": "integer", "minimum": 0, "maximum": 10}
    assert entries["items"]["required"] == ["id", "reason", "score"]


def strict_objects(schema):
    """Whether every object in ``schema`` is as OpenAI's strict json_schema wants it."""
    if isinstance(schema, list):
        return all(strict_objects(value) for value in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" and (
        schema.get("additionalProperties") is not False or set(schema.get("required", ())) != set(schema["properties"])
    ):
        return False
    return all(strict_objects(value) for value in schema.values())


@pytest.mark.parametrize("schema", [judge_schema(1), judge_schema(5), json_schema(VSConfig(k=3, variant="cot"))])
def test_every_schema_sent_passes_openais_strict_rules(schema):
    assert strict_objects(schema)


def test_a_later_batch_failing_keeps_the_earlier_scores_and_records_the_error():
    calls = []

    def model(messages, schema):
        calls.append(candidates_in(messages))
        if len(calls) > 1:
            raise BackendUnreachable("server went away")
        return reply((1, "short", 1), (2, "longer", 2))

    judged = Judge(model, batch_size=2).score("p", ["a", "bb", "ccc"])
    assert calls == [["a", "bb"], ["ccc"], ["ccc"]]  # the failed batch is asked again, as an unread one
    assert [s.score for s in judged.scores] == [1.0, 2.0, None]
    assert judged.scores[2].error == "the judge call failed: BackendUnreachable: server went away"
    assert judged.usage.calls == 1


def test_the_first_judge_call_failing_propagates():
    def model(messages, schema):
        raise RequestRefused("bad key", status=401)

    with pytest.raises(RequestRefused, match="bad key"):
        Judge(model).score("p", ["a", "b"])


def test_rubrics_reach_the_judge_and_bad_settings_are_named():
    seen = []

    def model(messages, schema):
        seen.append(messages[0]["content"])
        return reply((1, "ok", 5))

    Judge(model, rubric="joke").score("p", ["x"])
    Judge(model).with_rubric("creative_writing").score("p", ["x"])
    Judge(model).score("p", ["x"])
    assert JOKE_RUBRIC.criteria in seen[0] and CREATIVE_WRITING_RUBRIC.criteria in seen[1]
    assert GENERIC_RUBRIC.criteria in seen[2]
    with pytest.raises(InvalidSetting, match="rubric must be one of generic, joke, creative_writing; got 'puns'"):
        Judge(model, rubric="puns")
    with pytest.raises(SettingsError, match="batch_size must be a whole number >= 1; got 0") as info:
        Judge(model, batch_size=0)
    assert info.value.field == "batch_size"
    with pytest.raises(ValueError, match="retries"):
        Judge(model, retries=-1)


def test_no_candidates_no_call():
    judged = Judge(lambda m, s: pytest.fail("called")).score("p", [])
    assert judged == Judgement([], []) and judged.mean is None


def test_a_score_keeps_the_raw_reply_only_on_errors_in_its_dict():
    assert Score("a", 7.0, "ok", raw="{...}").to_dict() == {"text": "a", "score": 7.0, "reason": "ok"}
    assert Score("a", None, error="bad", raw="?").to_dict()["raw"] == "?"


def test_a_langchain_chat_model_judges_through_the_documented_two_line_function():
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    chat_model = GenericFakeChatModel(messages=iter([AIMessage(reply((1, "a pun on topic", 7), (2, "no joke", 1)))]))

    def langchain_judge(messages, schema):  # as in docs/evaluation.md
        return chat_model.invoke([(m["role"], m["content"]) for m in messages]).content

    judged = Judge(langchain_judge, rubric="joke").score("A coffee joke.", ["Depresso.", "Hello."])
    assert [(s.score, s.reason) for s in judged.scores] == [(7.0, "a pun on topic"), (1.0, "no joke")]


def test_the_judge_module_imports_no_framework():
    import subprocess
    import sys

    code = "import sys, vs_integrations.core.judge; print([m for m in ('langchain_core', 'dspy', 'llama_cpp', 'openai') if m in sys.modules])"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )
