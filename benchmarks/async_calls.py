"""Concurrent async VS calls: ``VSEngine.arun`` on ``OpenAICompatibleModel``, native async vs worker threads.

100 ``arun`` calls (k=5, one model call each) are started at once against the tests' fake
OpenAI-compatible server (tests/fake_openai_server.py), which answers every request with a valid
VS reply after 200 ms. The ideal is 0.2 s: every request in flight together. Printed for each
path: the wall time, the most requests the server had in flight at once, and the ratio to the
ideal. "native" is ``agenerate`` on the ``openai.AsyncOpenAI`` client; "worker threads" is the
old path (each call ``asyncio.to_thread`` over the sync client), capped by the default
executor's threads (min(32, cores + 4): 6 on two cores). "native, max_in_flight=N" is the
native path capped at N requests at once (for a server that runs few at a time): the ideal is
then calls / N x 200 ms, and the longest wait for a slot is printed too.

Usage: python benchmarks/async_calls.py [--calls N] [--max-in-flight N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: tests/ holds the server
from tests.fake_openai_server import FakeOpenAIServer, Reply
from vs_integrations import VSConfig, VSEngine
from vs_integrations.backends.openai_compatible import OpenAICompatibleModel
from vs_integrations.core.calls import ModelRequest
from vs_integrations.core.calls import Reply as ModelReply

LATENCY = 0.2
REPLY = json.dumps({"responses": [{"text": f"answer {i}", "probability": 0.2} for i in range(5)]})


class WorkerThreadCalls:
    """The old async path: the sync call run in a worker thread of the default executor."""

    def __init__(self, backend: OpenAICompatibleModel) -> None:
        self.backend = backend

    async def agenerate(self, request: ModelRequest) -> ModelReply:
        return await asyncio.to_thread(self.backend.generate, request)


async def concurrent_runs(model: object, calls: int) -> float:
    """Seconds for ``calls`` concurrent ``arun`` calls of ``model``, each checked to hold k candidates."""
    engine = VSEngine(VSConfig(k=5), max_retries=0)
    start = time.perf_counter()
    distributions = await asyncio.gather(*(engine.arun(model, f"Prompt {i}") for i in range(calls)))  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    assert all(len(dist) == 5 for dist in distributions)
    return seconds


def measure(server: FakeOpenAIServer, label: str, model: object, calls: int, ideal: float = LATENCY) -> None:
    async def warm_then_measure() -> float:
        await concurrent_runs(model, 2)  # first connection and imports, outside the figure
        server.max_in_flight = 0
        return await concurrent_runs(model, calls)

    seconds = asyncio.run(warm_then_measure())
    print(
        f"{label:34} {seconds:6.2f} s   max in flight {server.max_in_flight:4d}   "
        f"{seconds / ideal:5.1f}x the ideal {ideal:g} s"
    )


def main(calls: int = 100, max_in_flight: int = 10) -> None:
    print(f"## Async calls: {calls} concurrent VSEngine.arun against a {LATENCY * 1000:.0f} ms server")
    with FakeOpenAIServer(default=Reply.completion(REPLY, delay=LATENCY)) as server:
        with OpenAICompatibleModel("fake", base_url=server.base_url) as backend:
            measure(server, "native (AsyncOpenAI, agenerate)", backend, calls)
            measure(server, "worker threads (asyncio.to_thread)", WorkerThreadCalls(backend), calls)
        with OpenAICompatibleModel("fake", base_url=server.base_url, max_in_flight=max_in_flight) as capped:
            ideal = -(-calls // max_in_flight) * LATENCY  # ceil(calls / N) rounds of one latency
            measure(server, f"native, max_in_flight={max_in_flight}", capped, calls, ideal)
            print(f"{'':34} longest wait for a slot {capped.slots.longest_wait:5.2f} s")
    print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100, help="concurrent arun calls (default 100)")
    parser.add_argument("--max-in-flight", type=int, default=10, help="the capped run's cap (default 10)")
    arguments = parser.parse_args()
    main(arguments.calls, arguments.max_in_flight)
