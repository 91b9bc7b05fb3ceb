"""The vs command with a scripted backend (no model): arguments, exit codes, batch behaviour."""

import json
from pathlib import Path

import pytest

from vs_integrations import cli
from vs_integrations.backend import Backend, Completion


def vs_reply(*texts: str) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 1 / len(texts)} for t in texts]})


class ScriptedBackend(Backend):
    name = "scripted"

    def __init__(self, replies):
        super().__init__()
        self.replies = replies  # a callable (messages) -> str, or a list

    def _complete(self, messages, schema):
        prompt = messages[-1]["content"]
        text = self.replies(prompt) if callable(self.replies) else self.replies.pop(0)
        return Completion(text, 10, 5)


@pytest.fixture
def use_backend(monkeypatch):
    def install(backend):
        monkeypatch.setattr(cli, "make_backend", lambda args: backend)
        return backend

    return install


def test_sample_json_output(use_backend, capsys):
    use_backend(ScriptedBackend([vs_reply("a", "b", "c")]))
    assert cli.main(["sample", "Name a letter.", "-k", "3", "--json", "--seed", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["text"] for c in data["candidates"]] == ["a", "b", "c"]
    assert data["sampled_index"] in {0, 1, 2}


def test_sample_table_marks_the_draw(use_backend, capsys):
    use_backend(ScriptedBackend([vs_reply("alpha", "beta")]))
    assert cli.main(["sample", "x", "-k", "2", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "beta" in out and "▶" in out and "sampled #" in out


def test_same_seed_same_draw(use_backend, capsys):
    picks = set()
    for _ in range(3):
        use_backend(ScriptedBackend([vs_reply("a", "b", "c", "d", "e")]))
        cli.main(["sample", "x", "--json", "--seed", "11"])
        picks.add(json.loads(capsys.readouterr().out)["sampled_index"])
    assert len(picks) == 1


def test_unparseable_reply_exits_4_and_shows_raw(use_backend, capsys):
    use_backend(ScriptedBackend(lambda prompt: "I refuse to make a list."))
    assert cli.main(["sample", "x", "--retries", "0"]) == cli.EXIT_PARSE
    err = capsys.readouterr().err
    assert "could not be parsed" in err and "I refuse to make a list." in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sample", "x", "--tail", "2"], "VSConfig.tail"),
        (["sample", "x", "-k", "3", "--per-turn", "5", "--variant", "multi"], "per_turn"),
        (["sample", "x", "--retries", "-1"], "--retries"),
    ],
)
def test_bad_settings_exit_2(argv, message, capsys):
    assert cli.main(argv) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["sample"], ["sample", "x", "-k", "0"], ["sample", "x", "--variant", "fancy"], ["nope"]]
)
def test_argparse_errors_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2


def test_missing_model_file_exits_5(capsys, tmp_path):
    assert cli.main(["sample", "x", "--model-path", str(tmp_path / "missing.gguf")]) == cli.EXIT_MODEL
    assert "missing.gguf" in capsys.readouterr().err


def test_unreachable_server_exits_3(capsys):
    code = cli.main(["sample", "x", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
    assert code == cli.EXIT_SERVER
    assert "could not reach the server" in capsys.readouterr().err


def write_prompts(path: Path, prompts) -> Path:
    path.write_text("\n".join(json.dumps(p) for p in prompts) + "\n")
    return path


def test_generate_records_failures_and_resumes(use_backend, tmp_path):
    prompts = write_prompts(
        tmp_path / "p.jsonl", [{"id": "a", "prompt": "good one"}, "bad one", {"prompt": "good two"}]
    )
    out = tmp_path / "out.jsonl"
    backend = use_backend(ScriptedBackend(lambda p: "no list here" if p == "bad one" else vs_reply(p + " 1", p + " 2")))
    assert cli.main(["generate", str(prompts), "-o", str(out), "-k", "2", "--retries", "0", "--seed", "3"]) == 0
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == {"a", "2", "3"}
    assert records["2"]["raw"] == "no list here" and "error" in records["2"]
    assert records["a"]["sampled"] in {"good one 1", "good one 2"}
    assert len(records["3"]["distribution"]["candidates"]) == 2
    calls = backend.usage.calls
    # Second run: every id is already there, nothing is called.
    assert cli.main(["generate", str(prompts), "-o", str(out)]) == 0
    assert backend.usage.calls == calls
    # A torn last line (hard kill) does not count as done.
    out.write_text(out.read_text().splitlines()[0] + "\n" + '{"id": "2", "pro')
    assert cli.main(["generate", str(prompts), "-o", str(out), "-k", "2", "--concurrency", "2", "--retries", "0"]) == 0
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines() if line.endswith("}")]
    assert sorted(ids) == ["2", "3", "a"]


def test_generate_interrupt_keeps_written_records(use_backend, tmp_path):
    prompts = write_prompts(tmp_path / "p.jsonl", ["one", "two", "three"])
    out = tmp_path / "out.jsonl"

    def reply(prompt):
        if prompt == "two":
            raise KeyboardInterrupt
        return vs_reply(prompt + "!", prompt + "?")

    use_backend(ScriptedBackend(reply))
    assert cli.main(["generate", str(prompts), "-o", str(out), "-k", "2"]) == cli.EXIT_INTERRUPTED
    assert [json.loads(line)["prompt"] for line in out.read_text().splitlines()] == ["one"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json\n", "not JSON"), ('{"text": "x"}\n', "expected"), ('"a"\n{"id": 1, "prompt": "b"}\n', "duplicate id")],
)
def test_generate_rejects_bad_prompt_files(tmp_path, capsys, content, message):
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    assert cli.main(["generate", str(path), "-o", str(tmp_path / "o.jsonl")]) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_compare_counts_and_plots(use_backend, tmp_path, capsys):
    answers = iter(["Texas.", "texas", "Ohio"] * 3)

    def reply(prompt):
        if prompt == "Name a US state.":
            if len(reply.calls) < 3:
                reply.calls.append(prompt)
                return next(answers)
            return vs_reply("Maine", "Utah", "Iowa")
        raise AssertionError(prompt)

    reply.calls = []
    use_backend(ScriptedBackend(reply))
    plot = tmp_path / "plot.png"
    assert cli.main(["compare", "Name a US state.", "-n", "3", "-k", "3", "--plot", str(plot), "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "direct" in out and "texas ×2" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_normalise_answer():
    assert cli.normalise_answer('  "Texas."  ') == "texas"
