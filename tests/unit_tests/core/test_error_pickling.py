"""The package's errors survive pickling (Ray, ProcessPoolExecutor) with every attribute."""

import pickle

import pytest

from vs_integrations import parse
from vs_integrations.core.calls import CallRecord
from vs_integrations.core.errors import (
    BackendError,
    BackendUnreachable,
    ContextTooLong,
    InvalidSetting,
    MalformedResponse,
    ParseError,
    RequestRefused,
    ResponseFormatRefused,
    SettingsError,
    VSError,
)

PARTIAL = parse("1. Ohio (Prob: 0.6)\n2. Utah (Prob: 0.4)")
ERRORS = [
    VSError("plain"),
    SettingsError("unknown setting 'kk'", ["kk"]),
    InvalidSetting("k must be positive", field="k"),
    ParseError("no candidate", "just prose", PARTIAL, calls=[CallRecord("first", prompt_tokens=10)]),
    BackendError("failed", status=502, body="<html>", retry_after=3.0),
    BackendUnreachable("connection refused"),
    RequestRefused("bad request", status=400, body='{"error": "bad"}'),
    ResponseFormatRefused("no json_schema", status=400),
    ContextTooLong("prompt too long", limit=2048, prompt_tokens=5000, status=400, body="n_ctx 2048"),
    MalformedResponse("no choices", body="<html>"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: type(error).__name__)
def test_each_error_round_trips_with_its_message_and_attributes(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (str(copy), copy.args) == (str(error), error.args)
    assert vars(copy) == vars(error)


class KeywordOnly(ParseError):
    """A subclass whose constructor differs from its args (as the adapters' dual classes do)."""

    def __init__(self, raw: str, *, note: str) -> None:
        super().__init__(f"custom: {note}", raw)
        self.note = note


def test_a_subclass_with_its_own_constructor_pickles_too():
    copy = pickle.loads(pickle.dumps(KeywordOnly("raw text", note="n")))
    assert (type(copy), copy.raw, copy.note, str(copy)) == (KeywordOnly, "raw text", "n", "custom: n")
