"""A stdlib OpenAI-compatible server on 127.0.0.1 whose answer depends on the prompt's words.

* ``LONG`` in the prompt: HTTP 400 with a context-length error body (as vLLM and OpenAI send).
* ``MALFORMED``: HTTP 200 with an HTML body (a proxy's error page), not a chat completion.
* ``PROSE``: a valid completion whose text holds no candidate.
* anything else: a valid VS reply with three candidates derived from the prompt.

Every request is recorded (prompt, path, body), so tests can count the calls a row made.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTEXT_ERROR = {
    "error": {
        "message": "This model's maximum context length is 2048 tokens. However, you requested 9000 tokens.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
HTML_PAGE = "<html><body><h1>502 Bad Gateway</h1>upstream proxy hiccup</body></html>"
PROSE = "I would rather not answer that."


def candidates(prompt: str) -> list[str]:
    """The three texts a good row's reply holds."""
    return [f"{prompt} / answer {i}" for i in range(3)]


def completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    }


class FakeServer:
    """Serves until :meth:`close`; ``base_url`` ends in ``/v1``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                with owner.lock:
                    owner.requests.append({"path": self.path, "prompt": prompt, "body": body})
                if "LONG" in prompt:
                    self.send(400, "application/json", json.dumps(CONTEXT_ERROR))
                elif "MALFORMED" in prompt:
                    self.send(200, "text/html", HTML_PAGE)
                elif "PROSE" in prompt:
                    self.send(200, "application/json", json.dumps(completion(PROSE)))
                else:
                    texts = candidates(prompt)
                    reply = {
                        "responses": [
                            {"text": t, "probability": p} for t, p in zip(texts, (0.5, 0.3, 0.2), strict=True)
                        ]
                    }
                    self.send(200, "application/json", json.dumps(completion(json.dumps(reply))))

            def send(self, status: int, content_type: str, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def calls_for(self, word: str) -> int:
        """How many requests carried ``word`` in their prompt."""
        with self.lock:
            return sum(word in r["prompt"] for r in self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
