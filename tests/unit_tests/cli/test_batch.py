"""The batch module from Python: records, retries, what stops a run, resuming, the output file."""

import json

import pytest

from vs_integrations import BackendUnreachable, ContextTooLong, ParseError, RequestRefused, VSEngine
from vs_integrations.backends.retry import RetryPolicy
from vs_integrations.tools.batch import (
    BatchInputError,
    OutputFile,
    Prompt,
    PromptsFile,
    describe_error,
    is_transient,
    no_server,
    read_prompts,
    run_batch,
    timed_out,
)

REPLY = json.dumps({"responses": [{"text": "a", "probability": 0.5}, {"text": "b", "probability": 0.5}]})
FAST = RetryPolicy(attempts=3, base=0.01, cap=0.01)


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def caused_by(error, cause):
    """``error`` as raised from ``cause``, as the backends raise their typed errors."""
    try:
        raise error from cause
    except BackendUnreachable as raised:
        return raised


def refused():
    return caused_by(BackendUnreachable("could not reach"), ConnectionRefusedError(111, "Connection refused"))


def reset():
    return caused_by(BackendUnreachable("could not reach"), ConnectionResetError(104, "Connection reset by peer"))


def test_transient_errors_are_retried_and_attempts_counted(tmp_path):
    failures = {"busy": [RequestRefused("busy", status=503)] * 2, "bad": [RequestRefused("no", status=400)] * 5}

    def model(messages, schema):
        pending = failures.get(messages[-1]["content"])
        if pending:
            raise pending.pop()
        return REPLY

    prompts = [Prompt("1", "busy"), Prompt("2", "bad"), Prompt("3", "fine")]
    result = run_batch(prompts, tmp_path / "o.jsonl", VSEngine(k=2), model, retry=FAST)
    records = {r["id"]: r for r in lines(tmp_path / "o.jsonl")}
    assert records["1"]["attempts"] == 3 and "sampled" in records["1"]
    assert records["2"]["attempts"] == 1 and records["2"]["error"]["status"] == 400  # a 400 is not retried
    assert (result.succeeded, result.failed, result.failures, result.complete) == (2, 1, {"RequestRefused": 1}, False)


def test_the_retry_policy_gets_the_servers_retry_after(tmp_path):
    asked = []

    class Recording(RetryPolicy):
        def next_wait(self, attempt, waited, retry_after=None, rng=None):
            asked.append(retry_after)
            return super().next_wait(attempt, waited, retry_after, rng)

    limited = RequestRefused("rate limited", status=429)
    limited.retry_after = 0.01  # what the backends set from the header
    errors = [limited, RequestRefused("busy", status=503)]

    def model(messages, schema):
        if errors:
            raise errors.pop()
        return REPLY

    run_batch([Prompt("1", "x")], tmp_path / "o.jsonl", VSEngine(k=2), model, retry=Recording(base=0.01, cap=0.01))
    assert asked == [None, 0.01]
    assert lines(tmp_path / "o.jsonl")[0]["attempts"] == 3


def test_refused_connections_stop_the_run_and_leave_the_rest_for_a_rerun(tmp_path):
    calls = []

    def model(messages, schema):
        calls.append(messages[-1]["content"])
        raise refused()

    prompts = [Prompt(str(i), f"p{i}") for i in range(6)]
    result = run_batch(prompts, tmp_path / "o.jsonl", VSEngine(k=2), model, retry=FAST, grace=1)
    assert isinstance(result.unreachable, BackendUnreachable)
    assert calls == ["p0"] * 3 and result.left == [p.id for p in prompts]
    assert (tmp_path / "o.jsonl").read_text() == ""


def test_one_prompts_lost_connection_is_its_record_and_the_batch_goes_on(tmp_path):
    def model(messages, schema):
        if messages[-1]["content"] == "cursed":
            raise reset()
        return REPLY

    prompts = [Prompt("1", "fine"), Prompt("2", "cursed"), Prompt("3", "fine too")]
    result = run_batch(prompts, tmp_path / "o.jsonl", VSEngine(k=2), model, retry=FAST)
    records = {r["id"]: r for r in lines(tmp_path / "o.jsonl")}
    assert result.unreachable is None and set(records) == {"1", "2", "3"}
    assert records["2"]["error"]["type"] == "BackendUnreachable" and records["2"]["attempts"] == 3
    # A rerun retries it once, records it again and ends: one prompt cannot stop a run.
    result = run_batch(prompts, tmp_path / "o.jsonl", VSEngine(k=2), model, retry=FAST)
    assert (result.failed, result.failures, result.unreachable) == (1, {"BackendUnreachable": 1}, None)
    assert len(lines(tmp_path / "o.jsonl")) == 3


@pytest.mark.parametrize(("server_answers", "records", "stopped"), [(True, 4, False), (False, 1, True)])
def test_prompts_in_a_row_losing_their_connection_ask_the_probe(tmp_path, server_answers, records, stopped):
    probes = []

    def probe():
        probes.append(True)
        return server_answers

    def model(messages, schema):
        raise reset()

    prompts = [Prompt(str(i), f"p{i}") for i in range(4)]
    result = run_batch(prompts, tmp_path / "o.jsonl", VSEngine(k=2), model, retry=FAST, probe=probe)
    assert len(lines(tmp_path / "o.jsonl")) == records
    assert (result.unreachable is not None) == stopped
    assert probes and len(probes) <= 2  # after the second prompt of each streak, not after every one


def test_prepare_keeps_one_good_record_per_id_and_drops_retried_errors(tmp_path):
    def good(record_id, sampled):
        return {"id": record_id, "prompt": ".", "sampled": sampled, "distribution": {}, "attempts": 1}

    def error(record_id, kind):
        return {"id": record_id, "prompt": ".", "error": {"type": kind}, "attempts": 1}

    out = tmp_path / "o.jsonl"
    out.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                error("a", "ParseError"),
                good("a", "x"),
                good("a", "y"),
                error("b", "MalformedResponse"),
                error("c", "ContextTooLong"),
                error("gone", "ParseError"),
            ]
        )
        + "\n"
    )
    with OutputFile(out) as held:
        assert held.prepare(["a", "b", "c"], retry_failed=False) == {"a", "b", "c", "gone"}
        assert held.kept_errors() == {"b": "MalformedResponse", "c": "ContextTooLong"}
    assert [r["id"] for r in lines(out)] == ["a", "b", "c", "gone"]
    assert lines(out)[0]["sampled"] == "x"
    with OutputFile(out) as held:
        assert held.prepare(["a", "b", "c"], retry_failed=True) == {"a", "gone"}
    assert [r["id"] for r in lines(out)] == ["a", "gone"]  # an id no longer asked for keeps its record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jsonl"]  # no temporary file left


def test_a_whole_last_record_without_newline_is_kept(tmp_path):
    out = tmp_path / "o.jsonl"
    record = '{"id": "a", "prompt": ".", "sampled": "x", "distribution": {}, "attempts": 1}'
    out.write_text(record)
    with OutputFile(out) as held:
        assert held.prepare(["a"]) == {"a"}
    assert out.read_text() == record + "\n"


def test_describe_error_transience_and_causes():
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
    assert is_transient(RequestRefused("x", status=502)) and is_transient(reset())
    assert not is_transient(ContextTooLong("x", status=500)) and not is_transient(RequestRefused("x", status=400))
    assert not is_transient(ParseError("x", raw=""))
    hung = caused_by(BackendUnreachable("did not answer"), TimeoutError("timed out"))
    assert timed_out(hung) and not is_transient(hung)  # a timeout is recorded, not waited out again
    assert no_server(refused()) and not no_server(reset()) and not no_server(hung)


def test_credentials_in_urls_never_reach_a_record():
    error = BackendUnreachable("could not reach https://me:sk-secret@example.com/v1", body="at http://u:p@h/x")
    described = describe_error(error)
    assert "sk-secret" not in json.dumps(described) and "u:p@" not in json.dumps(described)
    assert described["message"] == "could not reach https://***@example.com/v1"


def test_read_prompts_ids(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('"first"\n\n{"id": 7, "prompt": "second"}\n{"prompt": "third"}\n')
    assert read_prompts(path) == [Prompt("1", "first"), Prompt("7", "second"), Prompt("4", "third")]
    assert list(PromptsFile(path).ids()) == ["1", "7", "4"]
    path.write_text('{"id": "x", "prompt": "a"}\n{"id": "x", "prompt": "b"}\n')
    with pytest.raises(BatchInputError, match=r"p.jsonl:2: duplicate id 'x'"):
        read_prompts(path)


def test_prompts_must_be_readable_twice(tmp_path):
    with pytest.raises(TypeError, match="not an iterator"):
        run_batch(iter([Prompt("1", "x")]), tmp_path / "o.jsonl", VSEngine(k=2), lambda m, s: REPLY)
