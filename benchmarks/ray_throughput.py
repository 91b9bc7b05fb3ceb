"""Rows per second: ``vs_integrations.ray.verbalize`` vs ``vs generate --concurrency``, same server, one run.

The server is a local OpenAI-compatible stub that answers every request with a valid k=3 VS reply
after a fixed delay (0.25 s, standing in for a model server's latency), so the figures show what each
runner's orchestration costs and how well it overlaps requests, not model speed. Both runners
keep the same number of requests in flight. "Whole run" counts from the start of the command (a
new process for ``vs generate``, new Ray workers for ``verbalize``) to the last row; "while
serving" is the server's view, from the first request's arrival to the last answer.

Usage: python benchmarks/ray_throughput.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPLY = json.dumps({"responses": [{"text": f"answer {i}", "probability": p} for i, p in enumerate((0.5, 0.3, 0.2))]})
IN_FLIGHT = 8  # vs generate --concurrency 8; Ray: 2 workers x 4 requests each


class StubServer(ThreadingHTTPServer):
    """Records when each request arrived and when its answer was sent."""

    spans: list[tuple[float, float]]


def start_server(latency: float) -> tuple[StubServer, str]:
    body = json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "stub",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 60, "total_tokens": 110},
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            arrived = time.perf_counter()
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(latency)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            server.spans.append((arrived, time.perf_counter()))  # list.append is atomic

    server = StubServer(("127.0.0.1", 0), Handler)
    server.spans = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def cli_seconds(base_url: str, prompts: list[str]) -> float:
    """Wall seconds of ``vs generate`` over ``prompts`` (a new process, as a user runs it)."""
    with tempfile.TemporaryDirectory() as folder:
        source, output = Path(folder, "prompts.jsonl"), Path(folder, "out.jsonl")
        source.write_text("".join(json.dumps({"id": str(i), "prompt": p}) + "\n" for i, p in enumerate(prompts)))
        command = [sys.executable, "-m", "vs_integrations.cli", "generate", str(source), "-o", str(output)]
        command += ["--base-url", base_url, "--model", "stub", "-k", "3", "--concurrency", str(IN_FLIGHT)]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        took = time.perf_counter() - start
        assert len(output.read_text().splitlines()) == len(prompts)
    return took


def ray_seconds(base_url: str, prompts: list[str]) -> float:
    """Wall seconds of ``verbalize`` over ``prompts`` on the running Ray cluster (workers start anew)."""
    import ray

    from vs_integrations.ray import verbalize

    ds = ray.data.from_items([{"prompt": p} for p in prompts])
    start = time.perf_counter()
    rows = verbalize(ds, base_url=base_url, model="stub", k=3, concurrency=2, requests_per_worker=IN_FLIGHT // 2)
    done = rows.take_all()
    took = time.perf_counter() - start
    assert len(done) == len(prompts) and all(row["error"] is None for row in done)
    return took


def main(quick: bool) -> None:
    import ray

    n = 64 if quick else 256
    latency = 0.25
    prompts = [f"Name thing number {i}." for i in range(n)]
    server, base_url = start_server(latency)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    runners = {"vs generate --concurrency 8": cli_seconds, "verbalize (2 workers x 4)": ray_seconds}
    figures: dict[str, tuple[float, float]] = {}
    try:
        for name, run in runners.items():
            server.spans = []
            took = run(base_url, prompts)
            # The server's view: from the first request's arrival to the last answer, start-up excluded.
            served = max(end for _, end in server.spans) - min(start for start, _ in server.spans)
            figures[name] = (n / took, n / served)
    finally:
        ray.shutdown()
        server.shutdown()
        server.server_close()
    print(f"## Ray Data vs vs generate ({n} prompts, k=3, {latency * 1e3:.0f} ms stub server, {IN_FLIGHT} in flight)")
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
