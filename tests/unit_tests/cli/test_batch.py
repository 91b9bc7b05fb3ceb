"""The batch module from Python: records, retries of transient errors, resuming, early stop."""

import json

import pytest

from vs_integrations import BackendUnreachable, ContextTooLong, ParseError, RequestRefused, VSEngine
from vs_integrations.tools.batch import (
    BatchInputError,
    OutputFile,
    Prompt,
    describe_error,
    is_transient,
    read_prompts,
    run_batch,
)

REPLY = json.dumps({"responses": [{"text": "a", "probability": 0.5}, {"text": "b", "probability": 0.5}]})


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_transient_errors_are_retried_and_attempts_counted(tmp_path):
    failures = {"busy": [RequestRefused("busy", status=503)] * 2, "bad": [RequestRefused("no", status=400)] * 5}

    def model(messages, schema):
        pending = failures.get(messages[-1]["content"])
        if pending:
            raise pending.pop()
        return REPLY

    prompts = [Prompt("1", "busy"), Prompt("2", "bad"), Prompt("3", "fine")]
    result = run_batch(prompts, tmp_path / "o.jsonl", VSEngine(k=2), model, attempts=3, retry_delay=0.01)
    records = {r["id"]: r for r in lines(tmp_path / "o.jsonl")}
    assert records["1"]["attempts"] == 3 and "sampled" in records["1"]
    assert records["2"]["attempts"] == 1 and records["2"]["error"]["status"] == 400  # a 400 is not retried
    assert (result.succeeded, result.failed, result.failures, result.complete) == (2, 1, {"RequestRefused": 1}, False)


def test_unreachable_stops_early_and_leaves_the_rest_for_a_rerun(tmp_path):
    calls = []

    def model(messages, schema):
        calls.append(messages[-1]["content"])
        raise BackendUnreachable("connection refused")

    prompts = [Prompt(str(i), f"p{i}") for i in range(6)]
    result = run_batch(prompts, tmp_path / "o.jsonl", VSEngine(k=2), model, attempts=2, retry_delay=0.01, grace=1)
    assert isinstance(result.unreachable, BackendUnreachable)
    assert calls == ["p0", "p0"] and result.left == [p.id for p in prompts]
    assert (tmp_path / "o.jsonl").read_text() == ""


def test_prepare_keeps_one_good_record_per_id_and_drops_retried_errors(tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": "a", "error": {"type": "ParseError"}},
                {"id": "a", "sampled": "x"},
                {"id": "a", "sampled": "y"},
                {"id": "b", "error": {"type": "MalformedResponse"}},
                {"id": "c", "error": {"type": "ContextTooLong"}},
                {"id": "gone", "error": {"type": "ParseError"}},
            ]
        )
        + "\n"
    )
    prompts = [Prompt("a", "."), Prompt("b", "."), Prompt("c", ".")]
    assert OutputFile(out).failures(p.id for p in prompts) == {"MalformedResponse": 1, "ContextTooLong": 1}
    assert OutputFile(out).prepare(prompts, retry_failed=False) == {"a", "b", "c", "gone"}
    assert [r["id"] for r in lines(out)] == ["a", "b", "c", "gone"]
    assert lines(out)[0]["sampled"] == "x"
    assert OutputFile(out).prepare(prompts, retry_failed=True) == {"a", "gone"}
    assert [r["id"] for r in lines(out)] == ["a", "gone"]  # an id no longer asked for keeps its record


def test_a_whole_last_record_without_newline_is_kept(tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_text('{"id": "a", "sampled": "x"}')
    assert OutputFile(out).prepare([Prompt("a", ".")]) == {"a"}
    assert out.read_text() == '{"id": "a", "sampled": "x"}\n'


def test_describe_error_and_transience():
    error = ContextTooLong("too long", limit=2048, prompt_tokens=3000, status=400, body="{}")
    assert describe_error(error) == {
        "type": "ContextTooLong",
        "message": "too long",
        "status": 400,
        "body": "{}",
        "limit": 2048,
        "prompt_tokens": 3000,
    }
    assert describe_error(ParseError("no list", raw="text"))["raw"] == "text"
    assert is_transient(BackendUnreachable("x")) and is_transient(RequestRefused("x", status=429))
    assert is_transient(RequestRefused("x", status=502))
    assert not is_transient(ContextTooLong("x", status=500)) and not is_transient(RequestRefused("x", status=400))
    assert not is_transient(ParseError("x", raw=""))


def test_read_prompts_ids(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('"first"\n\n{"id": 7, "prompt": "second"}\n{"prompt": "third"}\n')
    assert read_prompts(path) == [Prompt("1", "first"), Prompt("7", "second"), Prompt("4", "third")]
    path.write_text('{"id": "x", "prompt": "a"}\n{"id": "x", "prompt": "b"}\n')
    with pytest.raises(BatchInputError, match=r"p.jsonl:2: duplicate id 'x'"):
        read_prompts(path)
