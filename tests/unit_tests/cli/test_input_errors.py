"""Every bad file or argument: one line naming the problem, exit 2, never a traceback."""

import json

import pytest

from vs_integrations import cli
from vs_integrations.backends.base import Backend, Completion


class EchoBackend(Backend):
    name = "echo"

    def _complete(self, messages, schema):
        return Completion(
            json.dumps({"responses": [{"text": "a", "probability": 0.5}, {"text": "b", "probability": 0.5}]}), 1, 1
        )


@pytest.fixture
def backend(monkeypatch):
    model = EchoBackend()
    monkeypatch.setattr(cli, "make_backend", lambda args: model)
    return model


def one_line_error(capsys, needle):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0], err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["sample", ""], "the prompt is empty"),
        (["sample", "   "], "the prompt is empty"),
        (["compare", ""], "the prompt is empty"),
        (["sample", "x", "--temperature", "-1"], "argument --temperature: expected a finite number >= 0, got -1"),
        (["sample", "x", "--temperature", "nan"], "--temperature"),
        (["sample", "x", "--temperature", "hot"], "--temperature"),
        (["sample", "x", "-k", "0"], "argument -k: expected a number >= 1, got 0"),
        (["sample", "x", "--retries", "-1"], "--retries"),
        (["sample", "x", "--max-tokens", "0"], "--max-tokens"),
        (["generate", "p.jsonl", "-o", "o.jsonl", "--concurrency", "0"], "--concurrency"),
        (["generate", "p.jsonl", "-o", "o.jsonl", "--timeout", "0"], "--timeout"),
    ],
)
def test_bad_arguments(argv, needle, capsys, backend):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == cli.EXIT_USAGE
    one_line_error(capsys, needle)
    assert backend.usage.calls == 0


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b'{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n', ":2: not UTF-8 text (byte 0xe9)"),
        (b"", "holds no prompts"),
        (b'{"prompt": ""}\n', ":1: the prompt is empty"),
        (b'{"prompt": "x", "id": [1]}\n', "id must be a string or a whole number"),
        (b"not json\n", ":1: not JSON"),
    ],
)
def test_bad_prompts_files(tmp_path, capsys, backend, content, needle):
    path = tmp_path / "p.jsonl"
    path.write_bytes(content)
    assert cli.main(["generate", str(path), "-o", str(tmp_path / "o.jsonl")]) == cli.EXIT_USAGE
    one_line_error(capsys, needle)
    assert backend.usage.calls == 0


def test_missing_prompts_file_and_directory(tmp_path, capsys, backend):
    assert cli.main(["generate", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "o.jsonl")]) == cli.EXIT_USAGE
    one_line_error(capsys, "prompts file not found")
    assert cli.main(["generate", str(tmp_path), "-o", str(tmp_path / "o.jsonl")]) == cli.EXIT_USAGE
    one_line_error(capsys, "is a directory")


def test_directory_as_output_path(tmp_path, capsys, backend):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('"x"\n')
    (tmp_path / "out").mkdir()
    assert cli.main(["generate", str(prompts), "-o", str(tmp_path / "out")]) == cli.EXIT_USAGE
    one_line_error(capsys, "is a directory; give a file name")
    assert backend.usage.calls == 0


def test_output_under_a_file_is_refused(tmp_path, capsys, backend):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('"x"\n')
    assert cli.main(["generate", str(prompts), "-o", str(prompts / "out.jsonl")]) == cli.EXIT_USAGE
    one_line_error(capsys, "cannot")
    assert backend.usage.calls == 0


def test_a_byte_order_mark_is_accepted(tmp_path, backend):
    prompts = tmp_path / "p.jsonl"
    prompts.write_bytes(b'\xef\xbb\xbf{"id": "q", "prompt": "Say a letter."}\n')
    out = tmp_path / "o.jsonl"
    assert cli.main(["generate", str(prompts), "-o", str(out), "-k", "2"]) == 0
    assert json.loads(out.read_text())["id"] == "q"


@pytest.mark.parametrize(
    "torn",
    [
        b'{"id": "2", "pro',
        '{"id": "2", "prompt": "café'.encode()[:-1],  # cut inside the two bytes of é
        b"\xff\xfe\x00garbage",
        b'{"id": "2", "prompt": "two", "sampled": "x", "distribution": {',
    ],
)
def test_a_torn_last_output_line_of_any_bytes_is_dropped(tmp_path, backend, torn):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('"one"\n"two"\n')
    out = tmp_path / "o.jsonl"
    assert cli.main(["generate", str(prompts), "-o", str(out), "-k", "2"]) == 0
    first = out.read_bytes().split(b"\n")[0]
    out.write_bytes(first + b"\n" + torn)
    calls = backend.usage.calls
    assert cli.main(["generate", str(prompts), "-o", str(out), "-k", "2"]) == 0
    assert backend.usage.calls == calls + 1  # only the torn prompt ran again
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in records) == ["1", "2"]


def test_a_corrupt_line_inside_the_output_is_named(tmp_path, capsys, backend):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('"one"\n')
    out = tmp_path / "o.jsonl"
    out.write_bytes(b"\x00\x01 not a record\n")
    assert cli.main(["generate", str(prompts), "-o", str(out)]) == cli.EXIT_USAGE
    one_line_error(capsys, "o.jsonl:1: not a record")
    assert out.read_bytes() == b"\x00\x01 not a record\n"  # left as it was
