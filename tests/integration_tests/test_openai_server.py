"""The OpenAI-compatible path against a real llama.cpp server on 127.0.0.1."""

import json
import subprocess
import sys

import pytest

from vs_integrations import ContextTooLong, VSConfig, VSEngine
from vs_integrations.backends.openai_compatible import OpenAICompatibleModel

pytestmark = pytest.mark.integration


def test_engine_against_the_server_learns_the_schema_style(llama_server):
    model = OpenAICompatibleModel("smollm2", base_url=llama_server)
    # One call, so .raw is that one reply (retries would append theirs).
    dist = VSEngine(VSConfig(k=5), max_retries=0).run(model, "Name a US state.")
    assert len(dist) >= 1
    # OpenAI's json_schema form is refused by llama.cpp's server; its json_object+schema form works.
    assert model.schema_style == "json_object"
    assert json.loads(dist.raw)["responses"]
    assert model.usage.completion_tokens > 0


def test_stream_from_the_server(llama_server):
    model = OpenAICompatibleModel("smollm2", base_url=llama_server, max_tokens=32)
    chunks = list(model.stream([{"role": "user", "content": "Say hi."}]))
    assert len(chunks) > 1 and "".join(chunks).strip()


def test_cli_against_the_server(llama_server):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vs_integrations.tools.cli",
            "sample",
            "Tell a joke about coffee.",
            "--base-url",
            llama_server,
            "--model",
            "smollm2",
            "--json",
            "--seed",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["candidates"]


def test_an_oversized_prompt_is_a_typed_context_error_and_a_generate_record(llama_server, tmp_path):
    long_prompt = "Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 260
    model = OpenAICompatibleModel("smollm2", base_url=llama_server, max_retries=0)
    with pytest.raises(ContextTooLong) as info:
        model([{"role": "user", "content": long_prompt}], {"type": "object"})
    assert info.value.limit == 2048 and info.value.status == 400 and "2048" in info.value.body

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "long", "prompt": long_prompt}) + "\n")
    out = tmp_path / "out.jsonl"
    command = ["generate", str(prompts), "-o", str(out), "--base-url", llama_server, "--model", "smollm2"]
    result = subprocess.run(
        [sys.executable, "-m", "vs_integrations.tools.cli", *command],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 6, result.stderr
    record = json.loads(out.read_text())
    assert record["error"]["type"] == "ContextTooLong" and record["error"]["limit"] == 2048
