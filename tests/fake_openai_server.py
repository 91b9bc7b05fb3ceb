"""A scripted OpenAI-compatible server for tests: stdlib ``http.server`` in a thread on 127.0.0.1.

Rules decide each answer; the first rule whose ``when`` matches the request (and that has uses
left) answers it, else the default answer does. Every request is recorded.

    with FakeOpenAIServer(
        Rule(prompt_contains("too long"), Reply.error(400, "maximum context length is 2048 tokens")),
        Rule(prompt_contains("flaky"), Reply.error(500, "busy"), times=1),   # then the default
        default=lambda request: Reply.completion("hello"),
    ) as server:
        model = OpenAICompatibleModel("fake", base_url=server.base_url)

``Reply.completion`` answers a streaming request (``"stream": true``) as server-sent events: the
last piece carries the finish reason, and a final event the token counts when the request asks
for them (``stream_options.include_usage``).
Faults: ``Reply.reset()`` resets the connection without answering, ``Reply.hang()`` answers
only when the server closes (past any client timeout), ``Reply(..., gate=event)`` waits for a
test's event; ``models=`` replaces the ``GET /models`` answer (a health probe's target).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Request = dict[str, Any]
"""The request's JSON body, plus ``"_path"`` (the URL path)."""


@dataclass
class Reply:
    """One HTTP answer: status, body, content type, and seconds to wait before sending it."""

    status: int = 200
    body: str | bytes = ""
    content_type: str = "application/json"
    delay: float = 0.0
    completion_text: str | None = field(default=None, repr=False)  # set by completion(): streamable
    reset: bool = False
    gate: threading.Event | None = field(default=None, repr=False)

    @classmethod
    def reset_connection(cls) -> Reply:
        """No answer: the connection is reset (TCP RST), as a crashed worker or a proxy would."""
        return cls(reset=True)

    @classmethod
    def hang(cls) -> Reply:
        """No answer until the server closes: longer than any client timeout."""
        return cls(gate=threading.Event())

    @classmethod
    def json(cls, data: Any, status: int = 200, delay: float = 0.0) -> Reply:
        """A JSON body."""
        return cls(status, json.dumps(data), delay=delay)

    @classmethod
    def completion(
        cls,
        text: str,
        *,
        prompt_tokens: int = 10,
        completion_tokens: int = 5,
        delay: float = 0.0,
        finish_reason: str = "stop",
    ) -> Reply:
        """A chat completion whose message content is ``text`` (``finish_reason="length"``: cut at max_tokens)."""
        body = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": "fake",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return cls(200, json.dumps(body), delay=delay, completion_text=text)

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """An OpenAI-style error body: ``{"error": {"message", "type"}}`` (``headers``: e.g. ``Retry-After``)."""
        reply = cls.json({"error": {"message": message, "type": kind, "code": status}}, status, delay)
        reply.headers = dict(headers or {})
        return reply

    @classmethod
    def html(cls, text: str = "<html><body><h1>It works!</h1></body></html>", status: int = 200) -> Reply:
        """An HTML page (a web server or proxy answering instead of the model server)."""
        return cls(status, text, content_type="text/html")

    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (declared last: every other field keeps its position)."""


Responder = Callable[[Request], Reply]


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # socketserver's 5 would drop the SYNs of a burst of concurrent clients


@dataclass
class Rule:
    """Answer requests ``when`` matches with ``reply`` (a Reply, or a function of the request).

    ``times`` limits how many requests the rule answers (None: all), so a rule can fail the first
    request and let a later rule or the default answer the retry.
    """

    when: Callable[[Request], bool]
    reply: Reply | Responder
    times: int | None = None
    used: int = 0


def last_user_text(request: Request) -> str:
    """The content of the request's last user message ("" if none)."""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def prompt_contains(text: str) -> Callable[[Request], bool]:
    """A ``when`` matching requests whose last user message contains ``text``."""
    return lambda request: text in last_user_text(request)


def has_response_format(kind: str | None = None) -> Callable[[Request], bool]:
    """A ``when`` matching requests with a ``response_format`` (of type ``kind``, if given)."""

    def when(request: Request) -> bool:
        form = request.get("response_format")
        return isinstance(form, dict) and (kind is None or form.get("type") == kind)

    return when


class FakeOpenAIServer:
    """An OpenAI-compatible endpoint (``/v1/chat/completions``, ``/v1/models``) answering by rules.

    Args:
        *rules: Tried in order for each chat request.
        default: The answer when no rule matches (default: an empty chat completion).
        models: The answer to ``GET /models`` (default: a list holding the model ``fake``).

    Attributes:
        requests: Every chat request received, in order (thread-safe to read after the calls).
    """

    def __init__(
        self, *rules: Rule, default: Reply | Responder | None = None, models: Reply | Responder | None = None
    ) -> None:
        self.rules = list(rules)
        self.models = models
        self.default: Reply | Responder = default if default is not None else Reply.completion("")
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self.in_flight = 0
        self.max_in_flight = 0
        """The most chat requests being answered at once (a concurrency probe for benchmarks)."""

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def prompts(self) -> list[str]:
        """The last user message of every chat request received."""
        with self._lock:
            return [last_user_text(request) for request in self.requests]

    def start(self) -> FakeOpenAIServer:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; answers still waiting out a delay are cut short."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            chosen: Reply | Responder = self.default
            for rule in self.rules:
                if (rule.times is None or rule.used < rule.times) and rule.when(request):
                    rule.used += 1
                    chosen = rule.reply
                    break
        return chosen if isinstance(chosen, Reply) else chosen(request)

    def _wait(self, reply: Reply) -> bool:
        """Wait out the reply's delay and gate; False when the server closes first."""
        if reply.delay and self._closing.wait(reply.delay):
            return False
        if reply.gate is not None:
            while not reply.gate.wait(0.05):
                if self._closing.is_set():
                    return False
        return True

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, reply: Reply) -> None:
                if not fake._wait(reply):
                    return  # closing: drop the answer
                if reply.reset:
                    # SO_LINGER 0: close() sends a TCP RST instead of a FIN.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                body = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    models = fake.models or Reply.json({"object": "list", "data": [{"id": "fake", "object": "model"}]})
                    self._send(models if isinstance(models, Reply) else models({"_path": self.path}))
                else:
                    self._send(Reply.error(404, f"no route {self.path}", kind="not_found"))

            def do_POST(self) -> None:
                with fake._lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    self._post()
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _post(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    request = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    self._send(Reply.error(400, "body is not JSON"))
                    return
                request["_path"] = self.path
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(Reply.error(404, f"no route {self.path}", kind="not_found"))
                    return
                reply = fake._answer(request)
                if request.get("stream") and reply.completion_text is not None:
                    if fake._wait(reply):
                        self._stream(reply, request)
                else:
                    self._send(reply)

            def _stream(self, reply: Reply, request: Request) -> None:
                completion = json.loads(reply.body)
                events = [
                    {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    for piece in str(reply.completion_text).split(" ")
                ]  # fmt: skip
                for event in events[:-1]:
                    event["choices"][0]["delta"]["content"] += " "
                events[-1]["choices"][0]["finish_reason"] = completion["choices"][0]["finish_reason"]
                if (request.get("stream_options") or {}).get("include_usage"):
                    events.append({**events[0], "choices": [], "usage": completion["usage"]})
                body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                self._send(Reply(200, body, content_type="text/event-stream"))

        return Handler
