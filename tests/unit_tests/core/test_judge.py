"""The LLM judge with scripted models: scores read, batching, error records, cost, rubrics,
its own settings, letter ids and the shuffled order."""

import json
import subprocess
import sys

import pytest

from vs_integrations import VSConfig, json_schema
from vs_integrations.backends.base import Backend
from vs_integrations.core.calls import GenerationSettings, ModelRequest, Reply
from vs_integrations.core.errors import BackendUnreachable, InvalidSetting, RequestRefused, SettingsError
from vs_integrations.core.judge import (
    CREATIVE_WRITING_RUBRIC,
    GENERIC_RUBRIC,
    JOKE_RUBRIC,
    Judge,
    Judgement,
    Score,
    judge_schema,
    presented_order,
    read_scores,
)


def listed(messages):
    """The candidates a judge call lists, in its order: text -> its letter."""
    user = messages[-1]["content"]
    blocks = [block.split("\n", 1) for block in user.split("\n\nCandidate ")[1:]]
    return {text: header.rstrip(":") for header, text in blocks}


def candidates_in(messages):
    """The candidate texts a judge call lists (in its order)."""
    return list(listed(messages))


def reply(*entries):
    return json.dumps({"scores": [{"id": i, "reason": r, "score": s} for i, r, s in entries]})


def reply_to(messages, verdicts):
    """A judge reply giving each listed text its ``verdicts[text]`` (reason, score); others left out."""
    letters = listed(messages)
    return reply(*[(letters[text], *verdicts[text]) for text in letters if text in verdicts])


class ScoresByLength:
    """A model object judging by text length, recording every request."""

    def __init__(self):
        self.requests: list[ModelRequest] = []

    def generate(self, request):
        self.requests.append(request)
        texts = candidates_in(request.messages)
        return Reply(
            reply_to(request.messages, {t: (f"{len(t)} chars", min(len(t), 10)) for t in texts}),
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
    assert [r.settings.max_tokens for r in model.requests] == [60 + 50 * 3, 60 + 50 * 3, 60 + 50]
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
        calls.append(sorted(texts))
        if len(calls) == 1:  # "b" gets no entry, "c" an out-of-range score
            return reply_to(messages, {"a": ("fine", 7), "c": ("great", 11)})
        return "not json" if "c" in texts else reply_to(messages, {"b": ("ok now", 5)})

    judged = Judge(model).score("p", ["a", "b", "c"])
    assert calls == [["a", "b", "c"], ["b", "c"]]  # only the unread ones are asked again
    assert [s.score for s in judged.scores] == [7.0, None, None]
    assert [s.raw for s in judged.scores[1:]] == ["not json", "not json"]  # the last reply's text is kept
    assert judged.scores[2].error == 'the judge reply is not JSON with a "scores" list'
    assert [c.kind for c in judged.calls] == ["first", "retry"]


@pytest.mark.parametrize(
    ("raw", "scores", "error"),
    [
        (reply(("B", "b", 3), ("A", "a", 9)), [9.0, 3.0], None),  # matched by id
        (reply((" b", "b", 3), ("a", "a", 9)), [9.0, 3.0], None),  # a letter is a letter in any case
        ('```json\n{"scores": [{"score": 4}, {"score": "6"}]}\n```', [4.0, 6.0], None),  # by position, in a fence
        (reply((2, "b", 3), (1, "a", 9)), [3.0, 9.0], None),  # numbers are not ids: by position
        (reply(("A", "a", 12), ("B", "b", 5)), [None, 5.0], "candidate A's score 12 is outside 0-10"),
        (reply(("A", "a", 11), ("B", "b", -1)), [None, None], "candidate B's score -1 is outside 0-10"),
        ('{"scores": [{"id": "A", "score": "high"}, {"id": "B", "score": 2}]}', [None, 2.0], "not a number: 'high'"),
        ('{"scores": [{"id": "A", "score": true}, {"id": "B", "score": 2}]}', [None, 2.0], "not a number: True"),
        ('{"scores": [{"id": "A", "score": 8}]}', [8.0, None], "no entry for candidate B"),
        ('{"verdict": "good"}', [None, None], 'not JSON with a "scores" list'),
        ('{"scores": [{"id": "A", "score": 8}', [None, None], 'not JSON with a "scores" list'),  # cut off
    ],
)
def test_read_scores(raw, scores, error):
    read = read_scores(raw, ["first", "second"])
    assert [s.score for s in read] == scores
    errors = [s.error for s in read if s.error]
    assert (error is None and not errors) or any(error in e for e in errors)
    assert all(s.raw == raw for s in read)


def test_the_schema_bounds_scores_ids_and_entries_with_enums_llama_cpp_enforces():
    schema = judge_schema(4)
    entries = schema["properties"]["scores"]
    assert entries["minItems"] == entries["maxItems"] == 4
    # llama.cpp's grammar ignores an integer's minimum/maximum (a judge wrote 11): an enum it keeps
    assert entries["items"]["properties"]["score"] == {"type": "integer", "enum": list(range(11))}
    assert entries["items"]["properties"]["id"] == {"type": "string", "enum": ["A", "B", "C", "D"]}
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
        calls.append(sorted(candidates_in(messages)))
        if len(calls) > 1:
            raise BackendUnreachable("server went away")
        return reply_to(messages, {"a": ("short", 1), "bb": ("longer", 2)})

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
        return reply(("A", "ok", 5))

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
    with pytest.raises(InvalidSetting, match=r"batch_size must be at most 26 \(candidates are named A-Z\); got 27"):
        Judge(model, batch_size=27)


def test_no_candidates_no_call():
    judged = Judge(lambda m, s: pytest.fail("called")).score("p", [])
    assert judged == Judgement([], []) and judged.mean is None


def test_a_score_keeps_the_raw_reply_only_on_errors_in_its_dict():
    assert Score("a", 7.0, "ok", raw="{...}").to_dict() == {"text": "a", "score": 7.0, "reason": "ok"}
    assert Score("a", None, error="bad", raw="?").to_dict()["raw"] == "?"


def test_a_langchain_chat_model_judges_through_the_documented_two_line_function():
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    chat_model = GenericFakeChatModel(
        messages=iter([AIMessage(reply(("B", "a pun on topic", 7), ("A", "no joke", 1)))])
    )

    def langchain_judge(messages, schema):  # as in docs/evaluation.md
        return chat_model.invoke([(m["role"], m["content"]) for m in messages]).content

    texts = ["Depresso.", "Hello."]
    assert presented_order([0, 1], texts) == [1, 0]  # the scripted reply above names them as listed
    judged = Judge(langchain_judge, rubric="joke").score("A coffee joke.", texts)
    assert [(s.score, s.reason) for s in judged.scores] == [(7.0, "a pun on topic"), (1.0, "no joke")]


def test_the_judge_module_imports_no_framework():
    code = "import sys, vs_integrations.core.judge; print([m for m in ('langchain_core', 'dspy', 'llama_cpp', 'openai') if m in sys.modules])"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


class RecordingBackend(Backend):
    """A package backend set up for answers (as `vs compare --max-tokens 400` sets it) replying ``replies``."""

    def __init__(self, *replies):
        super().__init__(GenerationSettings(temperature=1.0, max_tokens=400))
        self.replies, self.used = list(replies), []

    def _generate(self, request):
        self.used.append(self.settings_for(request))
        text, finish_reason = self.replies.pop(0)
        return Reply(text, 50, 10, finish_reason=finish_reason)


def test_judge_calls_use_the_judges_own_settings_not_the_answers_token_limit():
    backend = RecordingBackend((reply(("A", "ok", 5)), "stop"), (reply(("A", "ok", 5), ("B", "ok", 6)), "stop"))
    assert backend.settings.max_tokens == 400 and backend.settings.temperature == 1.0
    Judge(backend).score("p", ["x"])
    Judge(backend, settings=GenerationSettings(max_tokens=500, top_p=0.5)).score("p", ["x", "y"])
    first, overridden = backend.used
    assert (first.max_tokens, first.temperature) == (60 + 50, 0.0)  # sized to the batch, never sampled
    assert (overridden.max_tokens, overridden.top_p, overridden.temperature) == (500, 0.5, 0.0)


def test_a_reply_cut_at_the_token_limit_says_so_in_its_error_records():
    rambling = '{"scores": [{"id": "A", "reason": "1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.'
    backend = RecordingBackend((rambling, "length"))
    judged = Judge(backend, retries=0).score("A coffee joke.", ["Depresso.", "Brew-tiful."])
    assert [s.score for s in judged.scores] == [None, None] and all(s.raw == rambling for s in judged.scores)
    assert all(s.error.startswith("the judge reply was cut at the token limit (max_tokens 160)") for s in judged.scores)
    assert judged.calls[0].finish_reason == "length"


def test_candidates_are_named_by_letters_and_listed_in_a_seeded_shuffled_order():
    requests = []

    def by_position(messages, schema):  # a position-biased judge: A gets 0, B gets 1, ...
        requests.append((messages, schema))
        return reply(*[(letter, "", score) for score, letter in enumerate(listed(messages).values())])

    texts = [f"joke number {n}" for n in range(5)]
    judged = Judge(by_position).score("A joke.", texts)
    messages, schema = requests[0]
    assert list(listed(messages).values()) == ["A", "B", "C", "D", "E"] and "Candidate 1" not in messages[-1]["content"]
    assert schema["properties"]["scores"]["items"]["properties"]["id"]["enum"] == ["A", "B", "C", "D", "E"]
    # the order is a shuffle of the batch, not the caller's order, and every verdict maps back to its text
    order = presented_order(range(5), texts)
    assert sorted(order) == list(range(5)) and order != list(range(5))
    assert candidates_in(messages) == [texts[i] for i in order]
    assert [judged.scores[i].score for i in order] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [s.text for s in judged.scores] == texts
    # seeded by the texts: the same batch in the same order in another process (another hash seed)
    code = f"from vs_integrations.core.judge import presented_order; print(presented_order(range(5), {texts!r}))"
    env = {"PYTHONHASHSEED": "123", "PYTHONPATH": ":".join(sys.path)}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert other.stdout.strip() == str(order)
    assert len({tuple(presented_order(range(5), [f"{t} {n}" for t in texts])) for n in range(20)}) > 1
