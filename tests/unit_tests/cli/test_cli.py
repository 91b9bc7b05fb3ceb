"""The vs command with a scripted backend (no model): arguments, exit codes, batch behaviour."""

import json
from pathlib import Path

import pytest

from vs_integrations import cli
from vs_integrations.backends.base import Backend, Completion


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


HOSTILE = "\x1b]0;owned\x07\x1b[2J"  # retitle the terminal window, clear the screen


def test_control_characters_in_model_text_are_shown_escaped(use_backend, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    use_backend(ScriptedBackend([vs_reply(HOSTILE + "A", "B\u202eC")]))
    assert cli.main(["sample", "x", "-k", "2", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b]0;owned\\x07\\x1b[2JA" in out and "B\\u202eC" in out
    # The JSON output keeps the text as the model sent it.
    use_backend(ScriptedBackend([vs_reply(HOSTILE + "A", "B")]))
    assert cli.main(["sample", "x", "-k", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["candidates"][0]["text"] == HOSTILE + "A"
    # So does a raw reply printed with an error.
    use_backend(ScriptedBackend(lambda prompt: "I refuse \x1b]0;owned\x07"))
    assert cli.main(["sample", "x", "--retries", "0"]) == cli.EXIT_PARSE
    err = capsys.readouterr().err
    assert "\x1b" not in err and "I refuse \\x1b]0;owned" in err


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
    err = capsys.readouterr().err
    assert "could not reach http://127.0.0.1:9/v1" in err and "Traceback" not in err


def write_prompts(path: Path, prompts) -> Path:
    path.write_text("\n".join(json.dumps(p) for p in prompts) + "\n")
    return path


def test_generate_records_failures_and_resumes(use_backend, tmp_path):
    prompts = write_prompts(
        tmp_path / "p.jsonl", [{"id": "a", "prompt": "good one"}, "bad one", {"prompt": "good two"}]
    )
    out = tmp_path / "out.jsonl"
    broken = {"bad one"}
    backend = use_backend(ScriptedBackend(lambda p: "no list here" if p in broken else vs_reply(p + " 1", p + " 2")))
    argv = ["generate", str(prompts), "-o", str(out), "-k", "2", "--retries", "0", "--seed", "3"]
    assert cli.main(argv) == cli.EXIT_FAILED_RECORDS
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == {"a", "2", "3"}
    assert records["2"]["error"]["type"] == "ParseError" and records["2"]["error"]["raw"] == "no list here"
    assert records["2"]["attempts"] == 1
    assert records["a"]["sampled"] in {"good one 1", "good one 2"}
    assert len(records["3"]["distribution"]["candidates"]) == 2
    calls = backend.usage.calls
    # --keep-failures: nothing is called, the failure stands and the exit code says so.
    assert cli.main([*argv, "--keep-failures"]) == cli.EXIT_FAILED_RECORDS
    assert backend.usage.calls == calls
    # The model is fixed: a rerun retries only the failed prompt and supersedes its error record.
    broken.clear()
    assert cli.main(argv) == 0
    assert backend.usage.calls == calls + 1
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == ["2", "3", "a"] and not any("error" in r for r in records)
    # Everything is done: nothing is called.
    assert cli.main(argv) == 0
    assert backend.usage.calls == calls + 1
    # A torn last line (hard kill) does not count as done.
    out.write_text(out.read_text().splitlines()[0] + "\n" + '{"id": "2", "pro')
    assert cli.main([*argv, "--concurrency", "2"]) == 0
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 3


def test_generate_interrupt_keeps_finished_records(use_backend, tmp_path, capsys):
    prompts = write_prompts(tmp_path / "p.jsonl", ["one", "two", "three"])
    out = tmp_path / "out.jsonl"

    def reply(prompt):
        if prompt == "two":
            raise KeyboardInterrupt
        return vs_reply(prompt + "!", prompt + "?")

    use_backend(ScriptedBackend(reply))
    assert cli.main(["generate", str(prompts), "-o", str(out), "-k", "2"]) == cli.EXIT_INTERRUPTED
    assert [json.loads(line)["prompt"] for line in out.read_text().splitlines()] == ["one"]
    assert "run the same command again to resume" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json\n", "not JSON"), ('{"text": "x"}\n', "expected"), ('"a"\n{"id": 1, "prompt": "b"}\n', "duplicate id")],
)
def test_generate_rejects_bad_prompt_files(tmp_path, capsys, content, message):
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    assert cli.main(["generate", str(path), "-o", str(tmp_path / "o.jsonl")]) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_compare_counts_after_the_evaluation_normalisation(use_backend, capsys):
    direct = ["Texas", " texas ", "TEXAS", "Ohio"]  # the first four calls are the direct ones

    def reply(prompt):
        return direct.pop(0) if direct else vs_reply("Maine", "Utah")

    use_backend(ScriptedBackend(reply))
    assert cli.main(["compare", "Name a US state.", "-n", "4", "-k", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["methods"]["direct"]["distinct"] == 2
    assert data["methods"]["direct"]["counts"] == {"Texas": 3, "Ohio": 1}  # the states task's judge
    assert data["methods"]["standard"]["answers"] == ["Maine", "Utah", "Maine", "Utah"]
    assert data["methods"]["standard"]["calls"] == 2


def test_compare_table_and_plot(use_backend, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the whole table on one line per row
    direct = ["Texas", "texas", "Ohio"]
    use_backend(ScriptedBackend(lambda p: direct.pop(0) if direct else vs_reply("Maine", "Utah", "Iowa")))
    plot = tmp_path / "plot.png"
    assert cli.main(["compare", "Name a US state.", "-n", "3", "-k", "3", "--plot", str(plot), "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "direct" in out and "Texas ×2" in out and "VS-standard" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_failed_records_exit_code_is_documented(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["generate", "--help"])
    assert info.value.code == 0
    assert f"{cli.EXIT_FAILED_RECORDS} finished, some prompts have error records" in " ".join(
        capsys.readouterr().out.split()
    )
    docs = (Path(__file__).parents[3] / "docs" / "cli.md").read_text(encoding="utf-8")
    assert f"| {cli.EXIT_FAILED_RECORDS} | `generate` finished, but some prompts have error records" in docs
