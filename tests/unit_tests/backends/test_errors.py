"""The one classification of a foreign model's errors that every adapter uses."""

import httpx
import openai
import pytest

from vs_integrations import BackendTimeout, BackendUnreachable, ContextTooLong, ParseError, RequestRefused
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
    assert as_backend_error(KeyError("x")) is None


def connect_timeout_under_openais() -> openai.APITimeoutError:
    """openai's timeout raised from httpx's connect timeout, as the SDK raises it."""
    try:
        try:
            raise httpx.ConnectTimeout("timed out")
        except httpx.ConnectTimeout as exc:
            raise openai.APITimeoutError(request=REQUEST) from exc
    except openai.APITimeoutError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # No answer in time from a server that took the request: busy or hung.
        (openai.APITimeoutError(request=REQUEST), BackendTimeout),
        (httpx.ReadTimeout("timed out"), BackendTimeout),
        (TimeoutError("slow"), BackendTimeout),
        # No connection in time: the server is not there.
        (httpx.ConnectTimeout("timed out"), BackendUnreachable),
        (connect_timeout_under_openais(), BackendUnreachable),
        (ConnectionRefusedError("refused"), BackendUnreachable),
    ],
)
def test_a_timeout_waiting_for_the_answer_is_a_backend_timeout(error, expected):
    # Every timeout used to be a plain BackendUnreachable.
    built = as_backend_error(error, "qwen")
    assert type(built) is expected and isinstance(built, BackendUnreachable)
