"""Rows per second: ``vs_integrations.ray.verbalize`` vs ``vs generate --concurrency``, same server, one run.

The server is the tests' fake OpenAI-compatible server (tests/fake_openai_server.py), answering
every request with a valid k=3 VS reply after a fixed delay (0.25 s, standing in for a model
server's latency), so the figures show what each runner's orchestration costs and how well it
overlaps requests, not model speed. Both runners keep the same number of requests in flight.
"Whole run" counts from the start of the command (a new process for ``vs generate``, new Ray
workers for ``verbalize``) to the last row; "while serving" is the server's view, from the first
request's arrival to the last answer (the last arrival plus the delay).

Usage: python benchmarks/ray_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: tests/ holds the server
from tests.fake_openai_server import FakeOpenAIServer, Reply, Request

REPLY = json.dumps({"responses": [{"text": f"answer {i}", "probability": p} for i, p in enumerate((0.5, 0.3, 0.2))]})
IN_FLIGHT = 8  # vs generate --concurrency 8; Ray: 2 workers x 4 requests each
COMPLETION_TOKENS = 60  # what the server reports per reply


def start_server(latency: float) -> tuple[FakeOpenAIServer, list[float]]:
    """The tests' fake server answering every request with REPLY after ``latency`` s; arrival times."""
    arrivals: list[float] = []

    def answer(request: Request) -> Reply:
        arrivals.append(time.perf_counter())  # list.append is atomic
        return Reply.completion(REPLY, prompt_tokens=50, completion_tokens=COMPLETION_TOKENS, delay=latency)

    return FakeOpenAIServer(default=answer).start(), arrivals


def cli_seconds(base_url: str, prompts: list[str]) -> float:
    """Wall seconds of ``vs generate`` over ``prompts`` (a new process, as a user runs it)."""
    with tempfile.TemporaryDirectory() as folder:
        source, output = Path(folder, "prompts.jsonl"), Path(folder, "out.jsonl")
        source.write_text("".join(json.dumps({"id": str(i), "prompt": p}) + "\n" for i, p in enumerate(prompts)))
        command = [sys.executable, "-m", "vs_integrations.tools.cli", "generate", str(source), "-o", str(output)]
        command += ["--base-url", base_url, "--model", "stub", "-k", "3", "--concurrency", str(IN_FLIGHT)]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        took = time.perf_counter() - start
        assert len(output.read_text().splitlines()) == len(prompts)
    return took


def ray_seconds(base_url: str, prompts: list[str]) -> float:
    """Wall seconds of ``verbalize`` over ``prompts`` on the running Ray cluster (workers start anew).

    Also prints what the rows' traces (``distribution["usage"]``) add up to, against what the
    server reported.
    """
    import ray

    from vs_integrations.ray import verbalize

    ds = ray.data.from_items([{"prompt": p} for p in prompts])
    start = time.perf_counter()
    rows = verbalize(ds, base_url=base_url, model="stub", k=3, concurrency=2, requests_per_worker=IN_FLIGHT // 2)
    done = rows.take_all()
    took = time.perf_counter() - start
    assert len(done) == len(prompts) and all(row["error"] is None for row in done)
    usages = [row["distribution"]["usage"] for row in done]
    calls, completion = sum(u["calls"] for u in usages), sum(u["completion_tokens"] for u in usages)
    sent = (len(prompts), COMPLETION_TOKENS * len(prompts))
    print(f"verbalize traces: {calls} calls, {completion} completion tokens (the server answered {sent[0]}, {sent[1]})")
    return took


def main(quick: bool) -> None:
    import ray

    n = 64 if quick else 256
    latency = 0.25
    prompts = [f"Name thing number {i}." for i in range(n)]
    server, arrivals = start_server(latency)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    runners = {"vs generate --concurrency 8": cli_seconds, "verbalize (2 workers x 4)": ray_seconds}
    figures: dict[str, tuple[float, float]] = {}
    try:
        for name, run in runners.items():
            arrivals.clear()
            took = run(server.base_url, prompts)
            # The server's view: from the first request's arrival to the last answer, start-up excluded.
            served = max(arrivals) + latency - min(arrivals)
            figures[name] = (n / took, n / served)
    finally:
        ray.shutdown()
        server.close()
    print(f"## Ray Data vs vs generate ({n} prompts, k=3, {latency * 1e3:.0f} ms fake server, {IN_FLIGHT} in flight)")
    print(f"ideal (in flight / latency)      {IN_FLIGHT / latency:8.1f} rows/s")
    for name, (whole, serving) in figures.items():
        print(f"{name:32} {whole:8.1f} rows/s whole run  {serving:8.1f} rows/s while serving")
    (cli_whole, cli_serving), (ray_whole, ray_serving) = figures.values()
    ratios = f"{ray_whole / cli_whole:8.2f}x whole run  {ray_serving / cli_serving:8.2f}x while serving"
    print(f"verbalize / vs generate          {ratios}")
    print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer prompts")
    main(parser.parse_args().quick)
