"""``vs sample --valid REGEX``: refused candidates dropped, named, asked for again; the rule of ``compare --valid``."""

import json

import pytest

from vs_integrations.backends.base import Backend, Completion
from vs_integrations.tools import cli
from vs_integrations.tools.evaluation.tasks import Task, whole_match


def vs_reply(*texts: str) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 1 / len(texts)} for t in texts]})


class ScriptedBackend(Backend):
    name = "scripted"

    def __init__(self, *replies: str) -> None:
        super().__init__()
        self.replies = list(replies)
        self.sent: list[list[dict[str, str]]] = []

    def _complete(self, messages, schema):
        self.sent.append(messages)
        return Completion(self.replies.pop(0), 10, 5)


@pytest.fixture
def backend(monkeypatch):
    scripted = ScriptedBackend(vs_reply("Ohio", "Houston", "Utah"), vs_reply("Iowa"))
    monkeypatch.setattr(cli, "make_backend", lambda args: scripted)
    return scripted


def test_sample_valid_drops_refused_candidates_and_tops_up(backend, capsys):
    argv = ["sample", "Name a US state.", "-k", "3", "--json", "--seed", "1", "--valid", "Ohio|Utah|Iowa"]
    assert cli.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["text"] for c in data["candidates"]] == ["Ohio", "Utah", "Iowa"]
    assert "Houston" in data["raw"]
    assert any("'Houston'" in w for w in data["warnings"])
    followup = backend.sent[1][-1]["content"]
    assert "refused as invalid answers:\n1. Houston" in followup and "Generate 1 alternative" in followup


def test_sample_valid_shows_the_refused_in_a_note(backend, capsys):
    assert cli.main(["sample", "Name a US state.", "-k", "3", "--valid", "(?i)ohio|utah|iowa"]) == 0
    out = capsys.readouterr().out
    assert "note:" in out and "Houston" in out and "Iowa" in out


def test_sample_refuses_a_bad_regex_as_a_usage_error(backend, capsys):
    assert cli.main(["sample", "x", "--valid", "(unclosed"]) == cli.EXIT_USAGE
    assert "--valid: valid is not a regular expression" in capsys.readouterr().err
    assert backend.sent == []


def test_the_rule_is_compares():
    # One rule for both commands: the whole stripped text, case counting.
    task = Task("free prompt", "Name a US state.", "free", valid="Ohio|Utah")
    for text in (" Ohio ", "Ohio City", "ohio", "Utah"):
        assert whole_match("Ohio|Utah")(text) == (task.judge(text) is not None)


def test_generate_valid_keeps_only_matching_candidates_in_records(backend, tmp_path):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"id": "s", "prompt": "Name a US state."}\n')
    out = tmp_path / "out.jsonl"
    assert cli.main(["generate", str(prompts), "-o", str(out), "-k", "3", "--valid", "Ohio|Utah|Iowa"]) == 0
    record = json.loads(out.read_text())
    assert [c["text"] for c in record["distribution"]["candidates"]] == ["Ohio", "Utah", "Iowa"]
    assert "Houston" in record["distribution"]["raw"]
    assert "Houston" in backend.sent[1][-1]["content"]  # the top-up named the refused one


def test_generate_refuses_a_bad_regex_before_touching_the_output(backend, tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "x"}\n')
    out = tmp_path / "out.jsonl"
    assert cli.main(["generate", str(prompts), "-o", str(out), "--valid", "("]) == cli.EXIT_USAGE
    assert "--valid" in capsys.readouterr().err and not out.exists()
