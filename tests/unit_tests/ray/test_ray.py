"""vs_integrations.ray on a local Ray cluster, against the scripted fake OpenAI-compatible server.

Ray datasets cost seconds each, so two are built for the whole module (one through
``verbalize``, one through ``build_processor`` with the HTTP processor) and every Ray test reads
their rows; the row functions of ``preprocess``/``postprocess`` are tested directly.
"""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from tests.fake_openai_server import FakeOpenAIServer, Reply, Rule, last_user_text, prompt_contains
from tests.ray_cluster import local_cluster
from vs_integrations import Distribution, SettingsError, VSConfig, json_schema
from vs_integrations.ray import OUTPUT_TYPES, error_record, postprocess, preprocess, verbalize

GOOD = ["Name a colour.", "Name a fruit.", "Name a city."]
SEED = 7
CONTEXT_ERROR = "This model's maximum context length is 2048 tokens. However, you requested 9000 tokens."
HTML_PAGE = "<html><body><h1>502 Bad Gateway</h1>upstream proxy hiccup</body></html>"
PROSE = "I would rather not answer that."


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
            vs_reply(*candidates(last_user_text(request)), probabilities=[0.5, 0.3, 0.2])
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
    out = verbalize(ds, base_url=server.base_url, model="fake", k=3, seed=SEED, concurrency=2, batch_size=2)
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
        # The draw is seeded per prompt, so it does not depend on which worker ran the row.
        assert row["sampled"] == distribution.sample(random.Random(f"{SEED}:{prompt}")).text


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
    with pytest.raises(ValueError, match="requests_per_worker"):
        verbalize(ds, base_url=server.base_url, model="fake", requests_per_worker=0)
    assert len(server.requests) == before


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
    with pytest.raises(ValueError, match="verbalize: max_calls"):
        verbalize(ds, base_url=server.base_url, model="fake", max_calls=3)


def test_processor_distinct_asks_for_n_in_the_one_call_and_warns_when_short():
    row = preprocess(distinct=4, k=2)({"prompt": "Gary bought 3 bags of flour."})
    assert json.loads(row["sampling_params"]["structured_outputs"]["json"]) == json_schema(VSConfig(k=4))
    assert "4" in row["messages"][0]["content"]
    full = postprocess(distinct=4)({**row, "generated_text": vs_reply("5", "6", "8", "1")})
    assert full["error"] is None and len(full["distribution"]["candidates"]) == 4
    assert not full["distribution"]["warnings"]
    short = postprocess(distinct=4)({**row, "generated_text": vs_reply("5", "6", "8")})
    assert short["error"] is None and any("3 of the 4" in w for w in short["distribution"]["warnings"])
    with pytest.raises(ValueError, match="preprocess: distinct must be a positive integer"):
        preprocess(distinct=0)


def test_worker_replaces_the_columns_of_an_earlier_run(server):
    from vs_integrations.ray.base import _VerbalizeWorker

    worker = _VerbalizeWorker(
        base_url=server.base_url,
        model="fake",
        api_key=None,
        prompt_column="text",
        config=VSConfig(k=3),
        requests_per_worker=2,
        temperature=0.7,
        max_tokens=64,
        timeout=10.0,
    )
    earlier = pa.table({"text": [GOOD[1]], "error": [{"type": "X", "message": "m", "status": 500, "body": ""}]})
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


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kk": 3}, SettingsError, "kk"),
        ({"processor": "tgi"}, ValueError, "processor must be one of"),
        ({"processor": "http"}, ValueError, "needs model="),
        ({"schema_style": "grammar"}, ValueError, "schema_style"),
        ({"variant": "multi"}, ValueError, "variant='multi'"),
    ],
)
def test_preprocess_refuses_bad_arguments_at_call_time(kwargs, error, match):
    with pytest.raises(error, match=match):
        preprocess(**kwargs)


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
    assert error_record(KeyError("k")) == {"type": "KeyError", "message": "'k'", "status": None, "body": None}
