"""The embedded SmolLM2-135M model, for real."""

import json
import subprocess
import sys
import threading

import pytest

from vs_integrations import StreamParser, VSConfig, VSEngine, build_messages, json_schema, parse
from vs_integrations.local import LocalModel, LocalModelError

pytestmark = pytest.mark.integration


def test_schema_constrained_reply_parses_to_k_candidates():
    model = LocalModel(seed=7)
    config = VSConfig(k=5)
    reply = model(build_messages("Name a US state.", config), json_schema(config))
    data = json.loads(reply)  # constrained decoding: strict JSON
    assert len(data["responses"]) == 5
    assert len(parse(reply, config).raw) == len(reply)
    assert model.usage.calls == 1 and model.usage.completion_tokens > 0 and model.usage.prompt_tokens > 0


def test_same_seed_same_reply_and_calls_differ():
    config = VSConfig(k=3)
    messages, schema = build_messages("Tell a joke about coffee.", config), json_schema(config)
    first, second = LocalModel(seed=5), LocalModel(seed=5)
    assert first(messages, schema) == second(messages, schema)


def test_engine_runs_every_variant():
    model = LocalModel(seed=1)
    for variant in ("standard", "cot", "multi"):
        dist = VSEngine(VSConfig(k=4, variant=variant), on_failure="partial").run(model, "Name a colour.")
        assert len(dist) >= 1 and abs(sum(dist.probabilities) - 1) < 1e-9
        if variant == "cot":
            assert dist.reasoning is not None


def test_stream_yields_candidates_before_the_end():
    model = LocalModel(seed=2)
    config = VSConfig(k=5)
    parser = StreamParser(config)
    chunks_when_first = None
    chunks = 0
    for chunk in model.stream(build_messages("Name a fruit.", config), json_schema(config)):
        chunks += 1
        if parser.feed(chunk) and chunks_when_first is None:
            chunks_when_first = chunks
    assert chunks_when_first is not None and chunks_when_first < chunks
    assert len(parser.close()) >= 1


def test_calls_from_threads_are_serialised():
    model = LocalModel(seed=3, max_tokens=64)
    replies: list[str] = []

    def call():
        replies.append(model([{"role": "user", "content": "Say hi."}], None))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(replies) == 3 and all(replies)
    assert model.usage.calls == 3


def test_missing_file_and_bad_arguments():
    with pytest.raises(LocalModelError, match="not found"):
        LocalModel("/nonexistent/model.gguf")([{"role": "user", "content": "x"}], None)
    with pytest.raises(ValueError, match="n_threads"):
        LocalModel(n_threads=0)


def test_model_path_from_environment(monkeypatch, model_path):
    monkeypatch.setenv("VS_MODEL_PATH", str(model_path))
    assert LocalModel().model_path == model_path


def test_cli_sample_on_the_embedded_model():
    result = subprocess.run(
        [sys.executable, "-m", "vs_integrations.cli", "sample", "Name a US state.", "-k", "5", "--seed", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["candidates"]) >= 1 and data["raw"]
    assert 0 <= data["sampled_index"] < 5


def test_cli_compare_on_the_embedded_model(tmp_path):
    plot = tmp_path / "states.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vs_integrations.cli",
            "compare",
            "Name a US state.",
            "-n",
            "3",
            "--seed",
            "1",
            "--plot",
            str(plot),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "direct" in result.stdout and "vs" in result.stdout
    assert plot.stat().st_size > 1000
