"""`vs generate --distinct N` and `vs sample --distinct N` against the scripted OpenAI-compatible server."""

import json
import logging
import threading
from collections import Counter
from pathlib import Path

import pytest

from tests.fake_openai_server import FakeOpenAIServer, Reply
from vs_integrations import cli


def first_user_text(request):
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


class Script:
    """Each call for a prompt answers two new candidates, except for STUCK prompts (always the same two)."""

    def __init__(self):
        self.calls = Counter()
        self.lock = threading.Lock()

    def __call__(self, request):
        prompt = first_user_text(request)
        with self.lock:
            call = self.calls[prompt]
            self.calls[prompt] += 1
        start = 0 if "STUCK" in prompt else 2 * call
        texts = [f"{prompt} {i}" for i in (start, start + 1)]
        return Reply.completion(json.dumps({"responses": [{"text": t, "probability": 0.5} for t in texts]}))


def records(path: Path) -> dict[str, dict]:
    parsed = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len({r["id"] for r in parsed}) == len(parsed), "duplicate ids"
    return {r["id"]: r for r in parsed}


def texts(record):
    return [c["text"] for c in record["distribution"]["candidates"]]


def test_generate_distinct_writes_one_record_per_prompt_with_n_candidates_and_resumes(tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps(p) + "\n"
            for p in [{"id": "wrong", "prompt": "A wrong answer."}, {"id": "stuck", "prompt": "STUCK"}]
        )
    )
    out = tmp_path / "out.jsonl"
    script = Script()
    argv = ["generate", str(prompts), "-o", str(out), "-k", "2", "--distinct", "5", "--seed", "1"]
    with FakeOpenAIServer(default=script) as server:
        assert cli.main([*argv, "--base-url", server.base_url, "--model", "fake", "--concurrency", "2"]) == 0
        first = records(out)
        assert set(first) == {"wrong", "stuck"}
        # 2 a call: three calls for 5. The third asked for the one missing; the script over-delivers
        # two: n is a cap, so the first is kept and the surplus stays in raw, named in a warning.
        assert texts(first["wrong"]) == [f"A wrong answer. {i}" for i in range(5)]
        assert "A wrong answer. 5" in first["wrong"]["distribution"]["raw"]
        assert any("beyond the 5 wanted" in w for w in first["wrong"]["distribution"]["warnings"])
        assert script.calls["A wrong answer."] == 3
        assert first["wrong"]["sampled"] in texts(first["wrong"])
        assert not any("held" in w for w in first["wrong"]["distribution"]["warnings"])
        # A prompt that never yields more than two: the default budget (2*ceil(5/2)+1 = 7) is spent,
        # and the record is a good one carrying the shortfall as a warning.
        assert texts(first["stuck"]) == ["STUCK 0", "STUCK 1"] and script.calls["STUCK"] == 7
        assert any("held 2 of the 5" in w for w in first["stuck"]["distribution"]["warnings"])
        assert "error" not in first["stuck"]
        # Later calls list what is held and ask for different ones.
        follow_ups = [r for r in server.requests if first_user_text(r) == "A wrong answer." and len(r["messages"]) > 2]
        assert follow_ups and "A wrong answer. 0" in follow_ups[0]["messages"][-1]["content"]

        # A rerun has nothing to do: distinct records resume like any other.
        sent = len(server.requests)
        assert cli.main([*argv, "--base-url", server.base_url, "--model", "fake"]) == 0
        assert len(server.requests) == sent and records(out) == first
        assert "nothing to do" in capsys.readouterr().out

        # --max-calls bounds the calls of a new prompt.
        prompts.write_text(prompts.read_text() + json.dumps({"id": "stuck2", "prompt": "STUCK again"}) + "\n")
        assert cli.main([*argv, "--max-calls", "2", "--base-url", server.base_url, "--model", "fake"]) == 0
        assert script.calls["STUCK again"] == 2 and texts(records(out)["stuck2"]) == ["STUCK again 0", "STUCK again 1"]


def test_sample_distinct_prints_the_merged_distribution(capsys):
    script = Script()
    with FakeOpenAIServer(default=script) as server:
        argv = ["sample", "A colour.", "-k", "2", "--distinct", "4", "--json", "--seed", "0"]
        assert cli.main([*argv, "--base-url", server.base_url, "--model", "fake"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [c["text"] for c in shown["candidates"]] == [f"A colour. {i}" for i in range(4)]
    assert script.calls["A colour."] == 2


@pytest.mark.parametrize("command", ["sample", "generate"])
def test_max_calls_without_distinct_is_refused_before_any_request(command, tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('"x"\n')
    target = ["A colour."] if command == "sample" else [str(prompts), "-o", str(tmp_path / "o.jsonl")]
    with FakeOpenAIServer(default=Script()) as server:
        code = cli.main([command, *target, "--max-calls", "3", "--base-url", server.base_url, "--model", "fake"])
        assert code == cli.EXIT_USAGE and not server.requests
    assert "--max-calls needs --distinct" in capsys.readouterr().err


def test_a_shortfall_is_shown_in_the_result_not_logged_over_the_output(capsys, caplog):
    # STUCK prompts always answer the same two candidates, so k=3 ends short after the retries.
    with FakeOpenAIServer(default=Script()) as server:
        argv = ["sample", "STUCK colour.", "-k", "3", "--json", "--base-url", server.base_url, "--model", "fake"]
        assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert any("held 2 of the 3" in w for w in json.loads(captured.out)["warnings"])
    assert "held 2 of the 3" not in captured.err and "held 2 of the 3" not in caplog.text
    assert logging.getLogger("vs_integrations").level == logging.NOTSET  # restored after main()
