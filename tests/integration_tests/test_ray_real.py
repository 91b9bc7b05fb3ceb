"""vs_integrations.ray on a local Ray cluster against a real llama.cpp server (the embedded model)."""

from __future__ import annotations

import pytest
import ray

from tests.ray_cluster import local_cluster
from vs_integrations import Distribution
from vs_integrations.ray import postprocess, preprocess, verbalize

pytestmark = pytest.mark.integration

PROMPTS = ["Name a US state.", "Name a colour."]


@pytest.fixture(scope="module")
def cluster():
    with local_cluster():
        yield


MAX_TOKENS = 256


def check_rows(rows, prompts):
    """Every prompt is back; a row holds a distribution (with its draw and trace) or an error, never neither.

    Each call's trace holds the tokens the server reported, within the per-call ``max_tokens``.
    """
    assert sorted(row["id"] for row in rows) == list(range(len(prompts)))
    parsed = 0
    for row in rows:
        assert row["prompt"] == prompts[row["id"]]
        if row["distribution"] is None:
            assert row["error"]["type"] and row["sampled"] is None and row["error"]["calls"]
            continue
        distribution = Distribution.from_dict(row["distribution"])
        assert distribution.raw and row["sampled"] in distribution.texts
        assert distribution.usage.calls == len(distribution.calls) >= 1
        assert all(0 < (call.completion_tokens or 0) <= MAX_TOKENS for call in distribution.calls)
        parsed += 1
    # Schema-constrained decoding makes the 135M model's replies parse.
    assert parsed >= 1


def test_verbalize_against_llama_cpp_server(cluster, llama_server):
    ds = ray.data.from_items([{"id": i, "prompt": p} for i, p in enumerate(PROMPTS)])
    out = verbalize(ds, base_url=llama_server, model="smollm2", k=3, seed=1, max_tokens=MAX_TOKENS, concurrency=1)
    rows = out.take_all()
    check_rows(rows, PROMPTS)
    assert all(row["error"] is None for row in rows if row["distribution"] is not None)


def test_http_processor_against_llama_cpp_server(cluster, llama_server):
    from ray.data.llm import HttpRequestProcessorConfig, build_processor

    processor = build_processor(
        HttpRequestProcessorConfig(url=f"{llama_server}/chat/completions", concurrency=1, batch_size=1),
        # llama.cpp's server takes the schema in the json_object form (it refuses json_schema).
        preprocess=preprocess(
            processor="http", model="smollm2", schema_style="json_object", k=3, max_tokens=MAX_TOKENS
        ),
        postprocess=postprocess(k=3),
    )
    # One row: the server is slow on two shared cores, and the path is the same for every row.
    ds = ray.data.from_items([{"id": 0, "prompt": PROMPTS[0]}])
    check_rows(processor(ds).take_all(), PROMPTS[:1])
