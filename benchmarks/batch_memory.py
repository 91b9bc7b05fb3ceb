"""Time and peak memory of ``vs generate`` on 100,000 prompts: a rerun with nothing left to do, and a run.

Usage: python benchmarks/batch_memory.py [-n 100000] [--server-prompts 2000] [--against /other/src]

Each figure is measured in a fresh Python process (the peak RSS is that process's own
``resource.getrusage(RUSAGE_SELF).ru_maxrss``), so one figure's memory never counts in another.
The process that starts them stays small (it imports nothing of the package and writes the files
in a child too): Linux carries the starting process's peak RSS into a child started by
``vfork`` + ``exec``, so a large parent would set a floor under every figure.

1. **Rerun, nothing to do**: ``vs generate`` (the real command, against an address nothing
   listens on: it must not call the server) over an output holding a good record for every
   one of the n prompts, each record with a 5-candidate distribution. Goal: a few seconds,
   under 250 MB.
2. **A run of n prompts**: :func:`run_batch` with a scripted in-process model that answers
   at once (an HTTP round trip through the fake server costs ~2-4 ms of the 2 cores, so
   100,000 of them would measure the HTTP stack for minutes, not the batch).
3. **Through the fake server**: the real command against ``tests/fake_openai_server.py``
   (answering at once, in this process) for ``--server-prompts`` prompts, concurrency 4.

``--against SRC`` measures figure 1 for another source tree too (e.g. the main branch's
``src``), with the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [{"text": f"A candidate answer number {i}, of ordinary length.", "probability": 0.2} for i in range(5)]
REPLY = json.dumps({"responses": CANDIDATES})


def write_files(prompts: Path, output: Path, n: int) -> None:
    """n prompts, and an output with one good record for each (what a finished run leaves)."""
    from vs_integrations import VSEngine
    from vs_integrations.tools.batch import Prompt, good_record

    distribution = VSEngine(k=5).run(lambda messages, schema: REPLY, "A prompt.")
    with prompts.open("w") as p, output.open("w") as o:
        for i in range(n):
            prompt = Prompt(str(i), f"Write a short line about the number {i}.")
            p.write(json.dumps({"id": prompt.id, "prompt": prompt.text}) + "\n")
            o.write(json.dumps(good_record(prompt, distribution, 1, seed=0), ensure_ascii=False) + "\n")


def measure(src: Path, *args: str) -> dict[str, float]:
    """Run this script's ``--child`` part in a fresh process and return its figures."""
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the measured process failed ({done.returncode}):\n{done.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def child(kind: str, prompts: str, output: str, n: int) -> None:
    """The measured work, in this process; prints seconds, peak RSS and the exit code as JSON."""
    started = time.perf_counter()
    code = 0
    if kind == "write":
        write_files(Path(prompts), Path(output), n)
    elif kind == "rerun":
        from vs_integrations.tools import cli

        argv = ["generate", prompts, "-o", output, "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
        code = cli.main(argv)
    elif kind == "run":
        from vs_integrations import VSEngine
        from vs_integrations.tools.batch import PromptsFile, run_batch

        prompts_file = PromptsFile(prompts)
        prompts_file.check()
        result = run_batch(prompts_file, output, VSEngine(k=5), lambda messages, schema: REPLY, concurrency=4)
        code = 0 if result.succeeded == n else 1
    else:  # "server"
        from tests.fake_openai_server import FakeOpenAIServer, Reply
        from vs_integrations.tools import cli

        with FakeOpenAIServer(default=Reply.completion(REPLY)) as server:
            argv = ["generate", prompts, "-o", output, "--base-url", server.base_url, "--model", "fake"]
            code = cli.main([*argv, "--concurrency", "4", "-k", "5"])
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "code": code}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="prompts (default 100,000)")
    parser.add_argument("--server-prompts", type=int, default=2000, help="prompts sent through the fake server")
    parser.add_argument("--against", type=Path, help="another source tree to measure the rerun for")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "PROMPTS", "OUTPUT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, prompts, output, n = args.child
        child(kind, prompts, output, int(n))
        return
    ours = ROOT / "src"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prompts, output = folder / "prompts.jsonl", folder / "out.jsonl"
        measure(ours, "write", str(prompts), str(output), str(args.n))
        size = output.stat().st_size / 1e6
        print(f"## vs generate, {args.n:,} prompts (output {size:.0f} MB); peak RSS of a fresh process")
        print("goal for the rerun: a few seconds, < 250 MB\n")
        for label, src in [("this tree", ours), *([(str(args.against), args.against)] if args.against else [])]:
            copy = folder / "rerun.jsonl"
            shutil.copyfile(output, copy)  # streamed: this process must stay small
            rerun = measure(src, "rerun", str(prompts), str(copy), str(args.n))
            assert rerun["code"] == 0, rerun
            print(f"rerun, nothing to do ({label}):   {rerun['seconds']:6.1f} s  {rerun['peak_mb']:6.0f} MB")
        fresh = folder / "fresh.jsonl"
        run = measure(ours, "run", str(prompts), str(fresh), str(args.n))
        assert run["code"] == 0, run
        print(f"run, scripted instant model:       {run['seconds']:6.1f} s  {run['peak_mb']:6.0f} MB")
        few = folder / "few.jsonl"
        with prompts.open("rb") as everything, few.open("wb") as some:
            some.writelines(line for _, line in zip(range(args.server_prompts), everything, strict=False))
        served = measure(ours, "server", str(few), str(folder / "served.jsonl"), str(args.server_prompts))
        assert served["code"] == 0, served
        rate = args.server_prompts / served["seconds"]
        print(
            f"run, {args.server_prompts:,} prompts via fake server: {served['seconds']:6.1f} s  "
            f"{served['peak_mb']:6.0f} MB  ({rate:.0f} prompts/s)"
        )


if __name__ == "__main__":
    main()
