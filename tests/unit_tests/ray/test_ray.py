"""vs_integrations.ray on a local Ray cluster, against the scripted fake OpenAI-compatible server.

Ray datasets cost seconds each, so two are built for the whole module (one through
``verbalize``, one through ``build_processor`` with the HTTP processor) and every Ray test reads
their rows; the row functions of ``preprocess``/``postprocess`` are tested directly.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from tests.fake_openai_server import FakeOpenAIServer, Reply, Rule, last_user_text, prompt_contains
from tests.ray_cluster import local_cluster
from vs_integrations import (
    CallRecord,
    Distribution,
    GenerationSettings,
    InvalidSetting,
    SettingsError,
    VSConfig,
    json_schema,
)
from vs_integrations.core.calls import ModelRequest, Usage
from vs_integrations.core.calls import Reply as ModelReply
from vs_integrations.ray import OUTPUT_TYPES, error_record, postprocess, preprocess, verbalize
from vs_integrations.ray.base import _VerbalizeWorker

GOOD = ["Name a colour.", "Name a fruit.", "Name a city."]
SEED = 7
CONTEXT_ERROR = "This model's maximum context length is 2048 tokens. However, you requested 9000 tokens."
HTML_PAGE = "<html><body><h1>502 Bad Gateway</h1>upstream proxy hiccup</body></html>"
PROSE = "I would rather not answer that."
PROMPT_TOKENS, COMPLETION_TOKENS = 40, 25  # what the fake server reports for a good reply
NOT_A_DATASET = object()  # verbalize refuses bad arguments before it touches the dataset


def candidates(prompt):
    """The three texts a good row's reply holds."""
    return [f"{prompt} / answer {i}" for i in range(3)]


def vs_reply(*texts, probabilities=None):
    probabilities = probabilities or [1 / len(texts)] * len(texts)
    return json.dumps({"responses": [{"text": t, "probability": p} for t, p in zip(texts, probabilities, strict=True)]})


def distinct_reply(request):
    """Three wrong solutions for the first call, then the two after those already listed."""
    prompt = next(m["content"] for m in request["messages"] if m["role"] == "user")
    held = last_user_text(request).count(" / wrong ")  # a follow-up lists what is held
    return Reply.completion(vs_reply(*(f"{prompt} / wrong {held + i}" for i in range(3 if held == 0 else 2))))


@pytest.fixture(scope="module")
def server():
    """The answer depends on the prompt's words: a context-length error (``LONG``), a proxy's HTML
    page with HTTP 200 (``MALFORMED``), prose holding no candidate (``PROSE``), new wrong
    solutions per call (``DISTINCT``), else a VS reply."""
    with FakeOpenAIServer(
        Rule(prompt_contains("DISTINCT"), distinct_reply),
        Rule(prompt_contains("LONG"), Reply.error(400, CONTEXT_ERROR)),
        Rule(prompt_contains("MALFORMED"), Reply.html(HTML_PAGE)),
        Rule(prompt_contains("PROSE"), Reply.completion(PROSE)),
        default=lambda request: Reply.completion(
            vs_reply(*candidates(last_user_text(request)), probabilities=[0.5, 0.3, 0.2]),
            prompt_tokens=PROMPT_TOKENS,
            completion_tokens=COMPLETION_TOKENS,
        ),
    ) as fake:
        yield fake


def calls_for(server, word):
    """How many requests carried ``word`` in their prompt."""
    return sum(word in prompt for prompt in server.prompts())


@pytest.fixture(scope="module")
def cluster():
    with local_cluster():
        yield


@pytest.fixture(scope="module")
def verbalized(cluster, server):
    """``verbalize`` over good rows and one row of each failure; rows by id."""
    prompts = [*GOOD, "LONG prompt", "MALFORMED prompt", "PROSE prompt"]
    ds = ray.data.from_items([{"id": i, "prompt": p, "topic": f"t{i}"} for i, p in enumerate(prompts)])
    # Batches of 2 over 2 workers: failing and good rows land in different blocks and actors.
    out = verbalize(
        ds,
        base_url=server.base_url,
        model="fake",
        k=3,
        seed=SEED,
        concurrency=2,
        batch_size=2,
        temperature=0.3,
        settings=GenerationSettings(max_tokens=300, temperature=1.0),
    )
    out = out.materialize()
    rows = out.take_all()
    return {row["id"]: row for row in rows}, len(rows), prompts, out


def by_prompt(verbalized, word):
    rows = verbalized[0]
    return next(row for row in rows.values() if word in row["prompt"])


# ----------------------------------------------------------------------------- verbalize
def test_no_row_is_dropped_and_input_columns_are_kept(verbalized):
    rows, count, prompts, _ = verbalized
    assert count == len(prompts)
    assert sorted(rows) == list(range(len(prompts)))
    for i, row in rows.items():
        assert row["prompt"] == prompts[i] and row["topic"] == f"t{i}"
        assert set(row) == {"id", "prompt", "topic", "distribution", "sampled", "error"}


def test_added_columns_have_the_same_arrow_types_in_every_block(verbalized, tmp_path):
    out = verbalized[3]
    schema = out.schema()
    assert {name: schema.types[schema.names.index(name)] for name in OUTPUT_TYPES} == OUTPUT_TYPES
    # Blocks of only failed rows and of only good rows write Parquet files with one schema.
    out.write_parquet(str(tmp_path))
    schemas = {pq.read_schema(path) for path in tmp_path.glob("*.parquet")}
    assert len(list(tmp_path.glob("*.parquet"))) > 1 and len(schemas) == 1


def test_good_rows_carry_the_distribution_and_a_seeded_draw(verbalized):
    for prompt in GOOD:
        row = by_prompt(verbalized, prompt)
        assert row["error"] is None
        distribution = Distribution.from_dict(row["distribution"])
        assert distribution.texts == candidates(prompt)
        assert distribution.probabilities == pytest.approx([0.5, 0.3, 0.2])
        # The one draw with a str seed: it does not depend on which worker ran the row.
        assert row["sampled"] == distribution.sample(f"{SEED}:{prompt}").text


def test_the_trace_survives_the_arrow_columns(verbalized):
    for prompt in GOOD:
        data = by_prompt(verbalized, prompt)["distribution"]
        distribution = Distribution.from_dict(data)
        (call,) = distribution.calls
        assert call.kind == "first" and call.added == 3 and call.attempts == 1
        assert (call.prompt_tokens, call.completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
        assert call.seconds is not None and call.seconds > 0
        usage = distribution.usage
        assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (1, PROMPT_TOKENS, COMPLETION_TOKENS)
        assert usage.seconds == pytest.approx(call.seconds, abs=1e-6)  # Usage rounds to microseconds
        assert data["usage"] == distribution.usage.to_dict()
        assert Distribution.from_dict(distribution.to_dict()).calls == distribution.calls


def test_generation_settings_reach_every_request(verbalized, server):
    sent = [request for request in server.requests if any(p in last_user_text(request) for p in GOOD)]
    assert len(sent) == len(GOOD)
    # The keyword wins over settings=; the rest of settings= holds.
    assert all(request["temperature"] == 0.3 and request["max_tokens"] == 300 for request in sent)


def test_context_length_row_is_isolated_with_the_servers_answer(verbalized):
    row = by_prompt(verbalized, "LONG")
    assert row["distribution"] is None and row["sampled"] is None
    error = row["error"]
    assert error["status"] == 400
    assert CONTEXT_ERROR in error["message"] + (error["body"] or "")


def test_malformed_200_row_is_isolated_with_the_servers_body(verbalized):
    row = by_prompt(verbalized, "MALFORMED")
    assert row["distribution"] is None and row["sampled"] is None
    assert HTML_PAGE in (row["error"]["body"] or "")


def test_error_rows_name_the_typed_errors(verbalized):
    assert by_prompt(verbalized, "LONG")["error"]["type"] == "ContextTooLong"
    assert by_prompt(verbalized, "MALFORMED")["error"]["type"] == "MalformedResponse"


def test_error_rows_keep_the_calls_made(verbalized):
    for word in ("LONG", "MALFORMED"):
        (call,) = [CallRecord.from_dict(record) for record in by_prompt(verbalized, word)["error"]["calls"]]
        assert call.kind == "first" and call.added == 0 and call.completion_tokens is None
        assert call.seconds is not None and call.seconds > 0
    # A reply that never parsed: the engine's own trace, one record per attempt.
    calls = [CallRecord.from_dict(record) for record in by_prompt(verbalized, "PROSE")["error"]["calls"]]
    assert [call.kind for call in calls] == ["first"] + ["retry"] * VSConfig().max_retries
    assert all(call.added == 0 and call.prompt_tokens == 10 for call in calls)


def test_unparsable_row_is_retried_alone_and_keeps_every_raw_reply(verbalized, server):
    error = by_prompt(verbalized, "PROSE")["error"]
    attempts = VSConfig().max_retries + 1
    assert error["type"] == "ParseError" and error["status"] is None
    assert error["body"].split("\n\n") == [PROSE] * attempts  # one raw reply per attempt, none lost
    assert calls_for(server, "PROSE") == attempts
    assert all(calls_for(server, prompt) == 1 for prompt in GOOD)


def test_unknown_setting_is_refused_at_call_time_before_any_request(cluster, server):
    before = len(server.requests)
    ds = ray.data.from_items([{"prompt": "x"}])
    with pytest.raises(SettingsError) as caught:
        verbalize(ds, base_url=server.base_url, model="fake", kk=3)
    assert caught.value.unknown == ["kk"]
    assert len(server.requests) == before


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 1.5}, "concurrency"),
        ({"concurrency": (3, 1)}, "concurrency"),
        ({"concurrency": (0, 2)}, "concurrency"),
        ({"batch_size": "16"}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"requests_per_worker": 0}, "requests_per_worker"),
        ({"num_cpus": 0}, "num_cpus"),
        ({"timeout": -1}, "timeout"),
        ({"prompt_column": ""}, "prompt_column"),
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"top_p": 0}, "top_p"),
        ({"stop": [""]}, "stop"),
        ({"settings": {"temperature": 0.5}}, "settings"),
        ({"distinct": 0}, "distinct"),
        ({"max_calls": 3}, "max_calls"),
        ({"distinct": 4, "max_calls": 0}, "max_calls"),
    ],
)
def test_verbalize_refuses_bad_arguments_at_call_time_naming_the_field(kwargs, field):
    with pytest.raises(InvalidSetting, match=f"verbalize: {field}") as caught:
        verbalize(NOT_A_DATASET, base_url="http://127.0.0.1:1/v1", model="fake", **kwargs)
    assert caught.value.field == field and isinstance(caught.value, ValueError)


def test_verbalize_distinct_pools_calls_per_row(cluster, server):
    prompts = ["DISTINCT Gary bought 3 bags of flour.", "DISTINCT A train leaves at 3 pm."]
    ds = ray.data.from_items([{"id": i, "prompt": p} for i, p in enumerate(prompts)])
    rows = verbalize(ds, base_url=server.base_url, model="fake", k=3, distinct=5, seed=SEED, concurrency=1).take_all()
    assert sorted(row["id"] for row in rows) == [0, 1]
    for row in rows:
        distribution = Distribution.from_dict(row["distribution"])
        assert distribution.texts == [f"{row['prompt']} / wrong {i}" for i in range(5)]
        assert row["error"] is None and row["sampled"] in distribution.texts
        # Two calls a row: three, then a follow-up listing them and asking for the two missing.
        assert calls_for(server, row["prompt"]) == 2
        calls = Distribution.from_dict(row["distribution"]).calls
        assert [(call.kind, call.added) for call in calls] == [("first", 3), ("distinct", 2)]


def test_processor_distinct_asks_for_n_in_the_one_call_and_warns_when_short():
    row = preprocess(distinct=4, k=2)({"prompt": "Gary bought 3 bags of flour."})
    assert json.loads(row["sampling_params"]["structured_outputs"]["json"]) == json_schema(VSConfig(k=4))
    assert "4" in row["messages"][0]["content"]
    full = postprocess(distinct=4)({**row, "generated_text": vs_reply("5", "6", "8", "1")})
    assert full["error"] is None and len(full["distribution"]["candidates"]) == 4
    assert not full["distribution"]["warnings"]
    short = postprocess(distinct=4)({**row, "generated_text": vs_reply("5", "6", "8")})
    assert short["error"] is None and any("3 of the 4" in w for w in short["distribution"]["warnings"])
    with pytest.raises(InvalidSetting, match="preprocess: distinct must be an integer >= 1"):
        preprocess(distinct=0)


def worker_for(server, *, prompt_column="prompt", settings=None, **engine):
    return _VerbalizeWorker(
        base_url=server.base_url,
        model="fake",
        api_key=None,
        prompt_column=prompt_column,
        config=VSConfig(k=3),
        settings=settings or GenerationSettings(),
        requests_per_worker=2,
        timeout=10.0,
        **engine,
    )


class RecordingBackend:
    """Stands in for the worker's backend: answers like the server's DISTINCT rule, keeps each request."""

    def __init__(self):
        self.requests: list[ModelRequest] = []

    def generate(self, request):
        self.requests.append(request)
        return ModelReply(distinct_reply({"messages": request.messages}).completion_text)


def test_worker_sends_its_settings_with_every_call_of_a_row(server):
    settings = GenerationSettings(temperature=0.2, top_p=0.9, max_tokens=300, seed=5, stop="END")
    worker = worker_for(server, settings=settings, distinct=5)
    worker.backend = backend = RecordingBackend()
    result = worker.one("Gary bought 3 bags of flour.")
    assert result["error"] is None
    assert [request.kind for request in backend.requests] == ["first", "distinct"]
    assert all(request.settings == settings for request in backend.requests)


def test_worker_turns_a_prompt_that_is_neither_text_nor_messages_into_an_error_row(server):
    result = worker_for(server).one(42)
    assert result["distribution"] is None and result["error"]["type"] == "InvalidSetting"
    assert "'prompt' column must hold a string or a list of chat messages" in result["error"]["message"]
    assert result["error"]["calls"] == []


def test_worker_replaces_the_columns_of_an_earlier_run(server):
    worker = worker_for(server, prompt_column="text")
    earlier = pa.table(
        {"text": [GOOD[1]], "error": [{"type": "X", "message": "m", "status": 500, "body": "", "calls": []}]}
    )
    table = worker(earlier)
    assert table.column_names == ["text", "error", "distribution", "sampled"]
    assert table.column("error").to_pylist() == [None]
    assert table.column("sampled").to_pylist()[0] in candidates(GOOD[1])
    with pytest.raises(KeyError, match="prompt_column 'text'"):
        worker(pa.table({"prompt": ["x"]}))


# ----------------------------------------------------------------------------- build_processor (HTTP)
def test_http_processor_gets_vs_prompts_and_parsed_rows(cluster, server):
    from ray.data.llm import HttpRequestProcessorConfig, build_processor

    before = len(server.requests)
    prompts = [GOOD[0], "LONG prompt", "PROSE prompt"]
    processor = build_processor(
        HttpRequestProcessorConfig(url=f"{server.base_url}/chat/completions", concurrency=1, batch_size=4),
        preprocess=preprocess(processor="http", model="fake", k=3, seed=SEED),
        postprocess=postprocess(k=3, seed=SEED),
    )
    ds = ray.data.from_items([{"id": i, "prompt": p} for i, p in enumerate(prompts)])
    rows = {row["id"]: row for row in processor(ds).take_all()}

    assert sorted(rows) == [0, 1, 2]
    good = rows[0]
    assert good["error"] is None and good["prompt"] == GOOD[0]
    assert Distribution.from_dict(good["distribution"]).texts == candidates(GOOD[0])
    long_error = rows[1]["error"]
    assert long_error["type"] == "ContextTooLong"
    assert CONTEXT_ERROR in long_error["body"]
    prose_error = rows[2]["error"]
    assert prose_error["type"] == "ParseError" and prose_error["body"] == PROSE
    # The one call's usage, finish reason and model, as the HTTP answer reported them.
    (call,) = Distribution.from_dict(good["distribution"]).calls
    assert (call.prompt_tokens, call.completion_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert (call.finish_reason, call.model, call.schema_form) == ("stop", "fake", "json_schema")
    assert [CallRecord.from_dict(c).kind for c in long_error["calls"]] == ["first"]
    assert [CallRecord.from_dict(c).completion_tokens for c in prose_error["calls"]] == [5]
    # One pass: one request per row, each a VS request with the schema as response_format.
    sent = server.requests[before:]
    assert len(sent) == 3
    request = next(r for r in sent if last_user_text(r) == GOOD[0])
    assert request["model"] == "fake" and request["messages"][0]["role"] == "system"
    assert request["response_format"]["json_schema"]["schema"] == json_schema(VSConfig(k=3))


# ----------------------------------------------------------------------------- row functions
def test_preprocess_vllm_puts_the_schema_in_structured_outputs():
    row = preprocess(k=3, sampling_params={"temperature": 1.0})({"prompt": "Name a colour.", "id": 4})
    assert row["id"] == 4 and row["messages"][-1] == {"role": "user", "content": "Name a colour."}
    params = row["sampling_params"]
    assert params["temperature"] == 1.0 and params["max_tokens"] == 1024
    assert json.loads(params["structured_outputs"]["json"]) == json_schema(VSConfig(k=3))
    assert "payload" not in row


def test_preprocess_sglang_and_prompt_only_formats():
    params = preprocess(processor="sglang", k=4)({"prompt": "x"})["sampling_params"]
    assert json.loads(params["json_schema"]) == json_schema(VSConfig(k=4))
    xml = preprocess(format="xml")({"prompt": "x"})["sampling_params"]
    assert "structured_outputs" not in xml and "json_schema" not in xml


def test_preprocess_keeps_chat_messages_and_http_dialects():
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "A pet name?"},
    ]
    row = preprocess(processor="http", model="m", schema_style="json_object", k=2)({"prompt": messages})
    payload = row["payload"]
    assert payload["messages"][1:] == messages and payload["messages"][0]["role"] == "system"
    assert payload["response_format"] == {"type": "json_object", "schema": json_schema(VSConfig(k=2))}
    assert (
        "response_format"
        not in preprocess(processor="http", model="m", schema_style="none")({"prompt": "x"})["payload"]
    )


def test_preprocess_builds_sampling_params_from_the_generation_settings():
    row = preprocess(
        sampling_params={"temperature": 1.0, "repetition_penalty": 1.1},
        settings=GenerationSettings(seed=3, stop="END", temperature=0.9),
        max_tokens=600,
    )({"prompt": "x"})
    params = row["sampling_params"]
    # Defaults, then sampling_params, then settings=, then the keywords; other engine keys as given.
    assert {k: v for k, v in params.items() if k != "structured_outputs"} == {
        "temperature": 0.9,
        "top_p": 1.0,
        "max_tokens": 600,
        "seed": 3,
        "stop": ["END"],
        "repetition_penalty": 1.1,
    }
    sglang = preprocess(processor="sglang", settings=GenerationSettings(seed=3))({"prompt": "x"})["sampling_params"]
    assert sglang["max_new_tokens"] == 1024 and sglang["sampling_seed"] == 3
    assert "max_tokens" not in sglang and "seed" not in sglang
    payload = preprocess(processor="http", model="m", temperature=0.0, stop=["END"])({"prompt": "x"})["payload"]
    assert (payload["temperature"], payload["stop"], payload["max_tokens"]) == (0.0, ["END"], 1024)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"processor": "tgi"}, "processor"),
        ({"processor": "http"}, "model"),
        ({"schema_style": "grammar"}, "schema_style"),
        ({"variant": "multi"}, "variant"),
        ({"temperature": -1}, "temperature"),
        ({"sampling_params": {"temperature": "hot"}}, "temperature"),
        ({"sampling_params": {"max_tokens": 0}}, "max_tokens"),
        ({"settings": GenerationSettings(), "top_p": 2}, "top_p"),
        ({"prompt_column": None}, "prompt_column"),
    ],
)
def test_preprocess_refuses_bad_arguments_at_call_time_naming_the_field(kwargs, field):
    with pytest.raises(InvalidSetting, match="preprocess: ") as caught:
        preprocess(**kwargs)
    assert caught.value.field == field


def test_preprocess_refuses_an_unknown_setting():
    with pytest.raises(SettingsError, match="kk"):
        preprocess(kk=3)


def test_postprocess_refuses_bad_settings_at_call_time():
    with pytest.raises(SettingsError):
        postprocess(temprature=0.5)
    with pytest.raises(ValueError, match="multi"):
        postprocess(variant="multi")


def test_postprocess_restores_the_prompt_and_drops_request_columns():
    pre = preprocess(k=2)({"prompt": "Name a colour.", "id": 1})
    # What an engine processor hands back: the templated prompt replaces the row's own.
    engine_row = {**pre, "prompt": "<|im_start|>system ...", "generated_text": vs_reply("red", "blue")}
    row = postprocess(k=2, seed=1)(engine_row)
    assert row["prompt"] == "Name a colour." and row["id"] == 1
    assert not {"messages", "sampling_params", "_vs_prompt"} & set(row)
    assert row["error"] is None and row["sampled"] in {"red", "blue"}
    assert Distribution.from_dict(row["distribution"]).raw == engine_row["generated_text"]


def test_postprocess_records_the_engine_rows_usage():
    pre = preprocess(k=2, max_tokens=64)({"prompt": "Name a colour."})
    usage = {"num_input_tokens": np.int64(40), "num_generated_tokens": np.int64(12), "time_taken_llm": 0.5}
    row = postprocess(k=2)({**pre, **usage, "generated_text": vs_reply("red", "blue")})
    (call,) = Distribution.from_dict(row["distribution"]).calls
    assert call == CallRecord("first", 2, 40, 12, 0.5, "stop", None, "structured_outputs", 1)
    assert "_vs_call" not in row


def test_postprocess_reads_a_reply_that_used_the_whole_token_limit_as_cut():
    pre = preprocess(k=3, max_tokens=30)({"prompt": "Name a colour."})
    cut = vs_reply("red", "blue", "green")[:-12]  # the third candidate's text runs to the end
    row = postprocess(k=3)({**pre, "num_input_tokens": 40, "num_generated_tokens": 30, "generated_text": cut})
    distribution = Distribution.from_dict(row["distribution"])
    assert distribution.calls[0].finish_reason == "length" and distribution.truncated
    assert distribution.texts == ["red", "blue"]
    assert any("token limit" in warning for warning in distribution.warnings)


def test_postprocess_error_row_keeps_the_call_and_the_raw_text():
    row = postprocess(k=2)({"prompt": "x", "generated_text": PROSE, "num_input_tokens": 7, "num_generated_tokens": 9})
    assert row["error"]["body"] == PROSE
    (call,) = [CallRecord.from_dict(record) for record in row["error"]["calls"]]
    assert (call.kind, call.prompt_tokens, call.completion_tokens) == ("first", 7, 9)
    bad_prompt = postprocess()({"prompt": 3.5, "generated_text": vs_reply("a")})
    assert bad_prompt["error"]["type"] == "InvalidSetting" and "'prompt' column" in bad_prompt["error"]["message"]


def test_postprocess_parse_failure_is_an_error_row_not_an_exception():
    row = postprocess(k=2)({"prompt": "x", "generated_text": PROSE})
    assert row["distribution"] is None and row["sampled"] is None
    assert row["error"]["type"] == "ParseError" and row["error"]["body"] == PROSE


def test_postprocess_short_reply_follows_on_failure():
    short = {"prompt": "x", "generated_text": vs_reply("only")}
    kept = postprocess(k=3)(short)
    assert kept["error"] is None and kept["distribution"]["warnings"]
    refused = postprocess(k=3, on_failure="raise")(short)
    # The short distribution the engine read is kept next to the error.
    assert refused["error"]["type"] == "ParseError"
    assert [c["text"] for c in refused["distribution"]["candidates"]] == ["only"]


def test_postprocess_http_answers_without_a_reply():
    refused = postprocess()({"prompt": "x", "http_response": {"error": {"message": "model not loaded"}}})
    assert refused["error"]["type"] == "RequestRefused" and "model not loaded" in refused["error"]["body"]
    empty = postprocess()({"prompt": "x", "http_response": {"object": "list", "data": []}})
    assert empty["error"]["type"] == "MalformedResponse" and '"data": []' in empty["error"]["body"]


def test_error_record_for_any_exception():
    assert error_record(KeyError("k")) == {
        "type": "KeyError",
        "message": "'k'",
        "status": None,
        "body": None,
        "calls": [],
    }
    call = CallRecord("first", seconds=0.25)
    assert error_record(KeyError("k"), [call])["calls"] == [call.to_dict()]


def test_the_trace_columns_hold_every_field_of_the_call_contract():
    distribution, error = OUTPUT_TYPES["distribution"], OUTPUT_TYPES["error"]
    call = distribution.field("calls").type.value_type
    assert [call.field(i).name for i in range(call.num_fields)] == [f.name for f in fields(CallRecord)]
    usage = distribution.field("usage").type
    assert [usage.field(i).name for i in range(usage.num_fields)] == [f.name for f in fields(Usage)]
    assert error.field("calls").type.value_type == call
    # A distribution with its trace is one value of the column, and reads back whole.
    traced = postprocess(k=2)({"prompt": "x", "generated_text": vs_reply("a", "b"), "num_input_tokens": 3})
    stored = pa.array([traced["distribution"]], type=distribution).to_pylist()[0]
    assert Distribution.from_dict(stored).calls == Distribution.from_dict(traced["distribution"]).calls


# ----------------------------------------------------------------------------- valid
def test_verbalize_valid_lambda_reaches_the_workers_and_tops_up(cluster, server):
    prompt = "DISTINCT VALID Gary bought 3 bags of flour."
    ds = ray.data.from_items([{"prompt": prompt}])
    # A lambda: Ray's cloudpickle sends it to the workers.
    rows = verbalize(
        ds, base_url=server.base_url, model="fake", k=3, concurrency=1, valid=lambda text: not text.endswith("wrong 1")
    ).take_all()
    (row,) = rows
    distribution = Distribution.from_dict(row["distribution"])
    assert row["error"] is None
    assert distribution.texts == [f"{prompt} / wrong {i}" for i in (0, 2, 3)]
    assert f"{prompt} / wrong 1" in distribution.raw
    assert any("refused 1" in warning for warning in distribution.warnings)
    followups = [text for text in server.prompts() if prompt in text and "refused as invalid" in text]
    assert len(followups) == 1 and f"1. {prompt} / wrong 1" in followups[0]


def test_worker_valid_counts_only_valid_candidates_for_distinct(server):
    worker = worker_for(server, distinct=4, valid=lambda text: not text.endswith("wrong 0"))
    worker.backend = backend = RecordingBackend()
    result = worker.one("Gary bought 3 bags of flour.")
    assert result["error"] is None
    assert [c["text"][-7:] for c in result["distribution"]["candidates"]] == [
        "wrong 1",
        "wrong 2",
        "wrong 3",
        "wrong 4",
    ]
    assert "refused as invalid answers" in backend.requests[1].messages[-1]["content"]


def test_postprocess_valid_drops_refused_candidates_and_keeps_them_in_raw():
    row = preprocess(k=3)({"prompt": "Name a US state."})
    reply = vs_reply("Ohio", "Houston", "Utah")
    out = postprocess(k=3, valid=lambda text: text != "Houston")({**row, "generated_text": reply})
    assert out["error"] is None and out["sampled"] in {"Ohio", "Utah"}
    assert [c["text"] for c in out["distribution"]["candidates"]] == ["Ohio", "Utah"]
    assert out["distribution"]["raw"] == reply
    assert any("'Houston'" in w for w in out["distribution"]["warnings"])
    refused = postprocess(k=3, valid=lambda text: False)({**row, "generated_text": reply})
    assert refused["distribution"] is None and refused["error"]["type"] == "ParseError"
    assert refused["error"]["body"] == reply and "refused every candidate" in refused["error"]["message"]
    with pytest.raises(SettingsError, match="postprocess: valid"):
        postprocess(valid="Ohio|Utah")
