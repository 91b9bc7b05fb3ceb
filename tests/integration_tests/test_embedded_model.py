"""The embedded SmolLM2-135M model, for real."""

import json
import os
import subprocess
import sys
import threading

import pytest

from vs_integrations import (
    BackendUnreachable,
    ContextTooLong,
    StreamParser,
    VSConfig,
    VSEngine,
    build_messages,
    json_schema,
    parse,
)
from vs_integrations.backends.local import LocalModel, LocalModelError

pytestmark = pytest.mark.integration


def test_schema_constrained_reply_parses_to_k_candidates():
    model = LocalModel(seed=7)
    config = VSConfig(k=5)
    reply = model(build_messages("Name a US state.", config), json_schema(config))
    data = json.loads(reply)  # constrained decoding: strict JSON
    assert len(data["responses"]) == 5
    assert len(parse(reply, config).raw) == len(reply)
    assert model.usage.calls == 1 and model.usage.completion_tokens > 0 and model.usage.prompt_tokens > 0


def test_same_seed_gives_the_same_reply():
    config = VSConfig(k=3)
    messages, schema = build_messages("Tell a joke about coffee.", config), json_schema(config)
    first, second = LocalModel(seed=5, max_tokens=160), LocalModel(seed=5, max_tokens=160)
    assert first(messages, schema) == second(messages, schema)


def test_engine_runs_every_variant():
    # Short replies (k=3, 256 tokens a call) keep this, the suite's slowest test, bounded; a cot
    # reply cut inside its first candidate is retried.
    model = LocalModel(seed=1, max_tokens=256)
    for variant in ("standard", "cot", "multi"):
        dist = VSEngine(VSConfig(k=3, variant=variant)).run(model, "Name a colour.")
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
    streamed = parser.close()
    assert len(streamed) >= 1
    assert streamed == parse(parser.text, config)


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
    with pytest.raises(LocalModelError, match="not found") as info:
        LocalModel("/nonexistent/model.gguf")([{"role": "user", "content": "x"}], None)
    assert isinstance(info.value, BackendUnreachable)
    with pytest.raises(ValueError, match="n_threads"):
        LocalModel(n_threads=0)


def test_model_path_from_environment(monkeypatch, model_path):
    monkeypatch.setenv("VS_MODEL_PATH", str(model_path))
    assert LocalModel().model_path == model_path


def test_cli_sample_on_the_embedded_model():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vs_integrations.tools.cli",
            "sample",
            "Name a US state.",
            "-k",
            "5",
            "--seed",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["candidates"]) >= 1 and data["raw"]
    assert 0 <= data["sampled_index"] < len(data["candidates"])


def test_cli_compare_on_the_embedded_model(tmp_path):
    plot = tmp_path / "states.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vs_integrations.tools.cli",
            "compare",
            "Name a US state.",
            "-n",
            "3",
            "--seed",
            "1",
            "--plot",
            str(plot),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    methods = json.loads(result.stdout)["methods"]
    assert len(methods["direct"]["answers"]) == 3 and len(methods["standard"]["answers"]) == 3
    assert methods["standard"]["distinct"] == len(methods["standard"]["counts"])
    assert plot.stat().st_size > 1000


LONG_PROMPT = "Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 260  # ~2,600 tokens


def test_a_prompt_past_the_context_is_refused_before_generating():
    model = LocalModel(seed=1, n_ctx=512, max_tokens=24)
    messages = [{"role": "user", "content": "word " * 600}]
    assert model.count_prompt_tokens(messages) > 512
    with pytest.raises(ContextTooLong) as info:
        model(messages, None)
    assert info.value.limit == 512 and info.value.prompt_tokens == model.count_prompt_tokens(messages)
    assert "512" in str(info.value)
    assert model.usage.calls == 0
    # A prompt that fits still works on the same model.
    assert model([{"role": "user", "content": "Say hi."}], None)
    for chunk in model.stream([{"role": "user", "content": "Say hi."}]):
        assert isinstance(chunk, str)
    with pytest.raises(ContextTooLong):
        list(model.stream(messages))


def test_cli_sample_and_generate_refuse_an_oversized_prompt(tmp_path):
    env = {**os.environ, "VS_THREADS": "1"}
    sample = subprocess.run(
        [sys.executable, "-m", "vs_integrations.tools.cli", "sample", LONG_PROMPT],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert sample.returncode == 3, sample.stderr
    assert "context window holds 2048" in sample.stderr and "Traceback" not in sample.stderr

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        json.dumps({"id": "long", "prompt": LONG_PROMPT})
        + "\n"
        + json.dumps({"id": "ok", "prompt": "Name a colour."})
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    generate = subprocess.run(
        [
            sys.executable,
            "-m",
            "vs_integrations.tools.cli",
            "generate",
            str(prompts),
            "-o",
            str(out),
            "-k",
            "3",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert generate.returncode == 6, generate.stderr
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records["long"]["error"]["type"] == "ContextTooLong" and records["long"]["error"]["limit"] == 2048
    assert records["ok"]["distribution"]["candidates"]
