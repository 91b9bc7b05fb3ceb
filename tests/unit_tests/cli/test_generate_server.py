"""`vs generate` end to end against a scripted OpenAI-compatible server that fails in every way."""

import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import vs_integrations
from tests.fake_openai_server import FakeOpenAIServer, Reply, Rule, last_user_text, prompt_contains
from vs_integrations import cli

CONTEXT_MESSAGE = (
    "This model's maximum context length is 2048 tokens. However, you requested 5000 tokens "
    "(4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion."
)


def vs_answer(request):
    prompt = last_user_text(request)[:20]  # the engine sends the user's prompt as the user message
    return Reply.completion(json.dumps({"responses": [{"text": f"{prompt} {i}", "probability": 0.5} for i in (1, 2)]}))


def faulty_server():
    return FakeOpenAIServer(
        Rule(prompt_contains("OVERSIZED"), Reply.error(400, CONTEXT_MESSAGE)),
        Rule(prompt_contains("HTML"), Reply.html()),
        Rule(prompt_contains("NOCHOICES"), Reply.json({"object": "chat.completion", "model": "fake"})),
        Rule(prompt_contains("FLAKY"), Reply.error(500, "the server is overloaded", kind="server_error"), times=1),
        default=vs_answer,
    )


PROMPTS = [
    {"id": "good", "prompt": "Name a colour."},
    {"id": "long", "prompt": "OVERSIZED " + "word " * 50},
    {"id": "html", "prompt": "HTML please"},
    {"id": "nochoices", "prompt": "NOCHOICES please"},
    {"id": "flaky", "prompt": "FLAKY please"},
]


def records(path: Path) -> dict[str, dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    parsed = [json.loads(line) for line in lines]
    assert len({r["id"] for r in parsed}) == len(parsed), "duplicate ids"
    return {r["id"]: r for r in parsed}


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    return path


def generate(server, prompts, out, *extra):
    argv = ["generate", str(prompts), "-o", str(out), "-k", "2", "--retries", "0", "--seed", "1"]
    return cli.main([*argv, "--base-url", server.base_url, "--model", "fake", *extra])


def test_failures_become_records_and_a_rerun_retries_only_them(prompts_file, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    with faulty_server() as server:
        assert generate(server, prompts_file, out, "--concurrency", "2") == cli.EXIT_FAILED_RECORDS
        first = records(out)
        assert set(first) == {p["id"] for p in PROMPTS}
        assert first["good"]["sampled"].startswith("Name a colour.")
        assert first["flaky"]["attempts"] == 2 and "error" not in first["flaky"]  # the 500 recovered

        too_long = first["long"]["error"]
        assert too_long["type"] == "ContextTooLong" and too_long["status"] == 400
        assert too_long["limit"] == 2048 and too_long["prompt_tokens"] == 4000  # the messages alone
        assert "maximum context length" in too_long["body"] and first["long"]["attempts"] == 1
        # A context-length 400 is not a refused response_format: one request, not three forms.
        assert sum("OVERSIZED" in p for p in server.prompts()) == 1

        html = first["html"]["error"]
        assert html["type"] == "MalformedResponse" and html["status"] == 200 and "<h1>It works!</h1>" in html["body"]
        no_choices = first["nochoices"]["error"]
        assert no_choices["type"] == "MalformedResponse" and json.loads(no_choices["body"]) == {
            "object": "chat.completion",
            "model": "fake",
        }
        summary = capsys.readouterr().out
        assert "3 prompt(s) have an error record" in summary and "ContextTooLong ×1" in summary

        # --keep-failures: no request, the failures stand.
        sent = len(server.requests)
        assert generate(server, prompts_file, out, "--keep-failures") == cli.EXIT_FAILED_RECORDS
        assert len(server.requests) == sent and records(out) == first

        # The server is fixed: the rerun retries the three failures only, and supersedes them.
        server.rules.clear()
        assert generate(server, prompts_file, out) == 0
        retried = server.prompts()[sent:]
        assert sorted(p.split()[0] for p in retried) == ["HTML", "NOCHOICES", "OVERSIZED"]
        final = records(out)
        assert set(final) == set(first) and not any("error" in r for r in final.values())
        assert final["good"] == first["good"]

        # Nothing left to do.
        assert generate(server, prompts_file, out) == 0
        assert len(server.requests) == sent + 3
        assert "nothing to do" in capsys.readouterr().out


def test_an_unreachable_server_stops_the_batch_and_says_a_rerun_resumes(prompts_file, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    argv = ["generate", str(prompts_file), "-o", str(out), "--attempts", "1"]
    assert cli.main([*argv, "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]) == cli.EXIT_SERVER
    err = capsys.readouterr().err
    assert "could not reach" in err and "run the same command again to resume" in err and "Traceback" not in err
    assert out.read_text() == ""  # no record for a prompt that never reached a model


def gated(gate, received=None):
    """An answer held until the test sets ``gate``; ``received`` is set when the request arrives."""

    def answer(request):
        if received is not None:
            received.set()
        return dataclasses.replace(vs_answer(request), gate=gate)

    return answer


def lines_of(stream, into):
    """Read a subprocess's stream line by line into a queue, from a thread (no blocking read in the test)."""
    for line in stream:
        into.put(line)
    into.put(None)


def test_sigint_stops_submitting_keeps_what_finishes_and_says_how_to_resume(tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    names = ["fast", "medium", "slow"] + [f"later{i}" for i in range(8)]
    prompts.write_text("".join(json.dumps({"id": n, "prompt": n}) + "\n" for n in names))
    out = tmp_path / "out.jsonl"
    medium_may_answer = threading.Event()
    with FakeOpenAIServer(
        Rule(prompt_contains("medium"), gated(medium_may_answer)),
        Rule(prompt_contains("slow"), lambda request: Reply.hang()),  # never answers: abandoned
        Rule(prompt_contains("later"), lambda request: Reply.hang()),
        default=vs_answer,
    ) as server:
        src = str(Path(vs_integrations.__file__).parents[1])
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "vs_integrations.tools.cli", "generate", str(prompts), "-o", str(out)),
                *("-k", "2", "--concurrency", "3", "--base-url", server.base_url, "--model", "fake", "--retries", "0"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")},
        )
        errors: queue.Queue = queue.Queue()
        threading.Thread(target=lines_of, args=(process.stderr, errors), daemon=True).start()
        try:
            # Events, not timings: wait (generously) for the state to reach, then act on it.
            deadline = time.monotonic() + 120
            while not (out.exists() and '"fast"' in out.read_text() and {"medium", "slow"} <= set(server.prompts())):
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            said = errors.get(timeout=120)  # the process heard Ctrl-C ...
            assert said is not None and "interrupted: keeping what finishes" in said, said
            medium_may_answer.set()  # ... and only then does medium answer, within the grace period
            stdout = process.stdout.read()
            process.wait(timeout=120)  # never hangs: the abandoned requests are in daemon threads
        finally:
            if process.poll() is None:
                process.kill()
        rest = "".join(iter(errors.get, None))
        assert process.returncode == cli.EXIT_INTERRUPTED, rest
        assert "Traceback" not in rest
        assert "run the same command again to resume" in stdout
        kept = records(out)
        assert set(kept) == {"fast", "medium"}  # medium finished within the grace, slow was abandoned
        submitted = {p for p in server.prompts() if p.startswith("later")}
        assert submitted <= {"later0"}  # fast's worker took later0 before Ctrl-C; nothing after it


def test_a_reset_connection_and_a_hang_past_the_timeout_become_records_and_the_batch_goes_on(tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": n, "prompt": n}) + "\n" for n in ["one", "RESET", "HANG", "two"]))
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(
        Rule(prompt_contains("RESET"), Reply.reset_connection()),
        Rule(prompt_contains("HANG"), lambda request: Reply.hang()),
        default=vs_answer,
    ) as server:
        argv = ["--attempts", "2", "--timeout", "2"]
        assert generate(server, prompts, out, *argv) == cli.EXIT_FAILED_RECORDS
        first = records(out)
        assert set(first) == {"one", "RESET", "HANG", "two"}  # the prompts after the faults ran
        assert "sampled" in first["one"] and "sampled" in first["two"]
        assert first["RESET"]["error"]["type"] == "BackendUnreachable" and first["RESET"]["attempts"] == 2
        assert "reset" in first["RESET"]["error"]["message"].lower()
        assert first["HANG"]["error"]["type"] == "BackendTimeout" and first["HANG"]["attempts"] == 1
        assert "did not answer within 2 s" in first["HANG"]["error"]["message"]
        assert "2 prompt(s) have an error record (BackendTimeout ×1, BackendUnreachable ×1)" in capsys.readouterr().out
        # A rerun retries the two once more, records them again and ends: no loop on one prompt.
        sent = len(server.requests)
        assert generate(server, prompts, out, *argv) == cli.EXIT_FAILED_RECORDS
        assert sorted(server.prompts()[sent:]) == ["HANG", "RESET", "RESET"]
        assert set(records(out)) == set(first)


def test_a_server_that_stops_answering_stops_the_run_with_exit_3(tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps(f"prompt {i}") + "\n" for i in range(5)))
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(default=lambda request: Reply.hang(), models=lambda request: Reply.hang()) as server:
        assert generate(server, prompts, out, "--timeout", "1") == cli.EXIT_SERVER
        assert len(server.requests) == 2  # two prompts in a row timed out, and so did GET /models
    err = capsys.readouterr().err
    assert "did not answer within 1 s" in err and "4 prompt(s) left" in err and "resume once it is back" in err
    assert [r["id"] for r in records(out).values()] == ["1"]  # the first timeout was that prompt's record


def test_credentials_in_the_url_are_never_shown_or_stored(tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('"Name a colour."\n')
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(default=Reply.error(400, "bad request")) as server:
        secret_url = server.base_url.replace("http://", "http://user:sk-secret@")
        argv = ["generate", str(prompts), "-o", str(out), "--base-url", secret_url, "--model", "fake"]
        assert cli.main(argv) == cli.EXIT_FAILED_RECORDS
    stored = out.read_text()
    assert "RequestRefused" in stored and "***@127.0.0.1" in stored and "sk-secret" not in stored
    code = cli.main(["sample", "x", "--base-url", "https://user:sk-secret@127.0.0.1:9/v1", "--model", "m"])
    assert code == cli.EXIT_SERVER
    shown = capsys.readouterr()
    assert "sk-secret" not in shown.out + shown.err and "https://***@127.0.0.1:9/v1" in shown.err


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/v1", "http://", "http://host:port/v1"])
def test_a_base_url_that_is_not_http_is_an_input_error(url, capsys):
    assert cli.main(["sample", "x", "--base-url", url, "--model", "m"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--base-url must be an http:// or https:// URL" in err[0]


# ----------------------------------------------------------------------------- the output file
def run_ok(server, prompts, out, *extra):
    return generate(server, prompts, out, *extra) == 0


def tear_last_line(out):
    """Cut the last record in half, as a hard kill mid-write would: the next run rewrites the file."""
    data = out.read_bytes()
    out.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1] + b'{"id": "2", "pro')


def test_a_planted_temporary_file_link_is_never_followed(prompts_file, tmp_path):
    server_prompts = tmp_path / "ok.jsonl"
    server_prompts.write_text('"one"\n"two"\n')
    out = tmp_path / "out.jsonl"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "out.jsonl.tmp").symlink_to(victim)
    with FakeOpenAIServer(default=vs_answer) as server:
        assert run_ok(server, server_prompts, out)
        tear_last_line(out)
        assert run_ok(server, server_prompts, out)  # the rewrite
    assert victim.read_text() == "precious\n" and (tmp_path / "out.jsonl.tmp").is_symlink()
    assert not out.is_symlink() and set(records(out)) == {"1", "2"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl.")]  # no temporary left


def test_a_symlinked_output_is_resolved_once_for_appends_and_rewrites(tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('"one"\n"two"\n')
    target = tmp_path / "data" / "real.jsonl"
    target.parent.mkdir()
    target.write_text("")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    with FakeOpenAIServer(default=vs_answer) as server:
        assert run_ok(server, prompts, link)  # appends to the target
        tear_last_line(link)
        assert run_ok(server, prompts, link)  # rewrites the target
    assert link.is_symlink() and link.resolve() == target
    assert set(records(target)) == {"1", "2"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["real.jsonl"]


def test_the_output_being_the_prompts_file_is_refused(prompts_file, tmp_path, capsys):
    before = prompts_file.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(prompts_file)
    hard = tmp_path / "hard.jsonl"
    os.link(prompts_file, hard)
    with FakeOpenAIServer(default=vs_answer) as server:
        for same in (prompts_file, link, hard):
            assert generate(server, prompts_file, same) == cli.EXIT_USAGE
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "is the prompts file; give another -o" in err[0]
        assert server.requests == []
    assert prompts_file.read_bytes() == before


def test_an_output_that_is_not_a_generate_output_is_left_alone(prompts_file, tmp_path, capsys):
    other = tmp_path / "users.jsonl"
    other.write_text('{"id": 2, "name": "b"}\n{"id": 1, "name": "a"}\n{"id": 1, "name": "dup"}\n')
    before = other.read_bytes()
    with FakeOpenAIServer(default=vs_answer) as server:
        assert generate(server, prompts_file, other) == cli.EXIT_USAGE
        assert server.requests == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "users.jsonl:1: not a record vs generate wrote" in err[0]
    assert other.read_bytes() == before


def test_an_output_that_is_not_a_regular_file_is_refused_without_hanging(prompts_file, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with FakeOpenAIServer(default=vs_answer) as server:
        assert generate(server, prompts_file, fifo) == cli.EXIT_USAGE
    assert "is not a regular file; use -o - for standard output" in capsys.readouterr().err


def test_a_second_run_on_an_output_another_run_holds_is_refused(tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('"first"\n"HOLD"\n"third"\n')
    out = tmp_path / "out.jsonl"
    holding, release = threading.Event(), threading.Event()
    with FakeOpenAIServer(Rule(prompt_contains("HOLD"), gated(release, holding)), default=vs_answer) as server:
        codes = []
        first = threading.Thread(target=lambda: codes.append(generate(server, prompts, out)))
        first.start()
        try:
            assert holding.wait(120)
            assert generate(server, prompts, out) == cli.EXIT_USAGE
            assert "another vs generate run is writing" in capsys.readouterr().err
        finally:
            release.set()
            first.join(120)
        assert codes == [0]
        assert sorted(p for p in server.prompts()) == ["HOLD", "first", "third"]  # each prompt once
    assert set(records(out)) == {"1", "2", "3"}
    assert generate(server, prompts, out) == 0  # the lock was left when the first run ended


def test_dash_writes_records_to_stdout_as_they_complete(prompts_file, capsys):
    with faulty_server() as server:
        assert generate(server, prompts_file, "-") == cli.EXIT_FAILED_RECORDS
    shown = capsys.readouterr()
    written = [json.loads(line) for line in shown.out.splitlines()]
    assert sorted(r["id"] for r in written) == sorted(p["id"] for p in PROMPTS)
    assert "wrote 5 new record(s) in standard output" in shown.err
    assert "give -o a file to have a rerun retry them" in shown.err


def test_dash_prints_each_record_before_the_batch_ends(tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('"first"\n"HOLD"\n')
    release = threading.Event()
    with FakeOpenAIServer(Rule(prompt_contains("HOLD"), gated(release)), default=vs_answer) as server:
        codes = []
        run = threading.Thread(target=lambda: codes.append(generate(server, prompts, "-")))
        run.start()
        try:
            printed = ""
            deadline = time.monotonic() + 120
            while '"id": "1"' not in printed:
                assert run.is_alive() and time.monotonic() < deadline, printed
                printed += capsys.readouterr().out
                time.sleep(0.05)
            assert '"id": "2"' not in printed  # the held prompt has not answered yet
        finally:
            release.set()
            run.join(120)
    assert codes == [0]
    assert '"id": "2"' in capsys.readouterr().out


def test_sample_against_a_server_answering_html_exits_3_with_the_body(capsys):
    with FakeOpenAIServer(default=Reply.html()) as server:
        code = cli.main(["sample", "Name a colour.", "--base-url", server.base_url, "--model", "fake"])
    assert code == cli.EXIT_SERVER
    err = capsys.readouterr().err
    assert "not JSON" in err and "<h1>It works!</h1>" in err and "Traceback" not in err
