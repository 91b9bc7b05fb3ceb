"""Shared fixtures: the embedded model and a real OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from vs_integrations.backends.local import available_cores, default_threads

# The embedded model (in this process and in `vs` subprocesses) and the server run side by side;
# their threads together must not exceed the cores, or llama.cpp's spinning threads collapse both
# (docs/benchmarks.md, "Threads"). The embedded model keeps the library default (or $VS_THREADS);
# the server gets the cores left, at least 1.
SERVER_THREADS = max(available_cores() - default_threads(), 1)


@pytest.fixture(scope="session")
def model_path() -> Path:
    from vs_integrations.backends.local import default_model_path

    path = default_model_path()
    assert path.is_file(), f"the embedded model is missing at {path}"
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` serving the embedded model; yields its ``/v1`` base URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model_path),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_threads",
                str(SERVER_THREADS),
                "--n_threads_batch",
                str(SERVER_THREADS),
                "--n_ctx",
                "2048",
                "--model_alias",
                "smollm2",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server did not start:\n{log.read_text()}") from None
                time.sleep(0.25)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
