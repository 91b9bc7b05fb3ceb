"""The one classification of a foreign model's errors that every adapter uses."""

import httpx
import openai
import pytest

from vs_integrations import BackendUnreachable, ContextTooLong, ParseError, RequestRefused
from vs_integrations.backends.errors import as_backend_error, classify_error

REQUEST = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def status_error(status: int, message: str) -> openai.APIStatusError:
    response = httpx.Response(status, request=REQUEST, text=f'{{"error": "{message}"}}')
    return openai.APIStatusError(message, response=response, body=None)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (openai.APITimeoutError(request=REQUEST), "timeout"),
        (openai.APIConnectionError(request=REQUEST), "unreachable"),
        (httpx.ConnectTimeout("timed out"), "timeout"),
        (httpx.ConnectError("refused"), "unreachable"),
        (TimeoutError("read timed out"), "timeout"),
        (ConnectionRefusedError("refused"), "unreachable"),
        (status_error(400, "This model's maximum context length is 2048 tokens"), "context_too_long"),
        (ValueError("Requested tokens (3000) exceed context window of 2048"), "context_too_long"),
        # A rate limit's "too many tokens" is a refusal, not a prompt too long.
        (status_error(429, "too many tokens per minute"), "refused"),
        (status_error(500, "internal error"), "refused"),
        (KeyError("choices"), None),
        (ParseError("no candidate", "prose"), None),  # ours stand as they are
    ],
)
def test_a_foreign_error_is_read_by_type_status_and_message(error, kind):
    assert classify_error(error) == kind


def test_the_error_built_keeps_status_body_and_the_known_window():
    too_long = as_backend_error(status_error(400, "maximum context length is 2048"), "qwen", limit=2048)
    assert isinstance(too_long, ContextTooLong)
    assert (too_long.limit, too_long.status) == (2048, 400)
    assert "maximum context length" in too_long.body and str(too_long).startswith("qwen failed: APIStatusError")
    assert isinstance(as_backend_error(status_error(503, "overloaded")), RequestRefused)
    assert type(as_backend_error(TimeoutError("slow"))) is BackendUnreachable
    assert as_backend_error(KeyError("x")) is None
