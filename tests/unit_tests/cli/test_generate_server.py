"""`vs generate` end to end against a scripted OpenAI-compatible server that fails in every way."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
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
        assert too_long["limit"] == 2048 and too_long["prompt_tokens"] == 5000
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


def delayed(seconds):
    return lambda request: dataclasses.replace(vs_answer(request), delay=seconds)


def test_sigint_stops_submitting_keeps_what_finishes_and_says_how_to_resume(tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    names = ["fast", "medium", "slow"] + [f"later{i}" for i in range(8)]
    prompts.write_text("".join(json.dumps({"id": n, "prompt": n}) + "\n" for n in names))
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(
        Rule(prompt_contains("medium"), delayed(1.5)),
        Rule(prompt_contains("slow"), delayed(120)),
        Rule(prompt_contains("later"), delayed(3)),
        default=vs_answer,
    ) as server:
        src = str(Path(vs_integrations.__file__).parents[1])
        process = subprocess.Popen(
            [
                *(
                    sys.executable,
                    "-m",
                    "vs_integrations.tools.cli",
                    "generate",
                    str(prompts),
                    "-o",
                    str(out),
                    "-k",
                    "2",
                ),
                *("--concurrency", "3", "--base-url", server.base_url, "--model", "fake", "--retries", "0"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")},
        )
        try:
            deadline = time.monotonic() + 60
            while not (out.exists() and '"fast"' in out.read_text() and {"medium", "slow"} <= set(server.prompts())):
                assert process.poll() is None and time.monotonic() < deadline, process.communicate()
                time.sleep(0.05)
            interrupted = time.monotonic()
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=30)
            elapsed = time.monotonic() - interrupted
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == cli.EXIT_INTERRUPTED, stderr
        assert elapsed < 10, elapsed  # the slow request is abandoned, not waited for
        assert "Traceback" not in stderr
        assert "run the same command again to resume" in stdout
        kept = records(out)
        assert {"fast", "medium"} <= set(kept) and "slow" not in kept  # medium finished within the grace
        submitted = [p for p in server.prompts() if p.startswith("later")]
        assert len(submitted) <= 2 and "later7" not in submitted  # nothing new submitted after Ctrl-C


def test_sample_against_a_server_answering_html_exits_3_with_the_body(capsys):
    with FakeOpenAIServer(default=Reply.html()) as server:
        code = cli.main(["sample", "Name a colour.", "--base-url", server.base_url, "--model", "fake"])
    assert code == cli.EXIT_SERVER
    err = capsys.readouterr().err
    assert "not JSON" in err and "<h1>It works!</h1>" in err and "Traceback" not in err
