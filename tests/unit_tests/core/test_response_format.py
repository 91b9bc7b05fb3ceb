import pytest

from vs_integrations import VSConfig, json_schema
from vs_integrations.backends.response_format import (
    SCHEMA_STYLES,
    SchemaNegotiation,
    anegotiate,
    error_refuses_response_format,
    forget_learnt_styles,
    is_context_length_error,
    learnt_style,
    negotiate,
    refused_styles,
    refuses_response_format,
    response_format,
    schema_from_response_format,
    schema_shape,
)
from vs_integrations.core.judge import judge_schema


class StatusError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


@pytest.fixture(autouse=True)
def _fresh_memory():
    forget_learnt_styles()
    yield
    forget_learnt_styles()


def test_every_dialect_round_trips_the_schema():
    schema = json_schema(VSConfig(k=3))
    for style in SCHEMA_STYLES[:-1]:
        assert schema_from_response_format(response_format(style, schema)) == schema
    assert response_format("none", schema) is None
    assert schema_from_response_format({"type": "json_schema", "schema": schema}) == schema  # DSPy's requests
    assert schema_from_response_format({"type": "json_object"}) is None
    assert schema_from_response_format(None) is None


@pytest.mark.parametrize(
    ("status", "message", "refused"),
    [
        (400, "response_format.type must be 'text'", True),
        (500, "Unsupported json_schema", True),
        (400, "", True),  # a bare 400 to a request whose only unusual part is the format
        (400, "This model's maximum context length is 2048 tokens", False),
        (400, "the prompt exceeds the context window of 2048 tokens; schema ignored", False),
        (400, "model 'x' not found", False),
        (401, "invalid api key", False),
        (200, "response_format", False),
        (None, "grammar not supported", True),
    ],
)
def test_refusal_is_not_every_400(status, message, refused):
    assert refuses_response_format(status, message) is refused


def test_context_length_messages_of_common_servers():
    assert is_context_length_error("This model's maximum context length is 4096 tokens")
    assert is_context_length_error("the request exceeds the available context size, try increasing it")
    assert is_context_length_error("Requested tokens (3000) exceed context window of 2048")
    assert not is_context_length_error("invalid response_format")


def test_error_status_read_from_the_exception():
    assert error_refuses_response_format(StatusError(400, "response_format is not supported"))
    assert not error_refuses_response_format(StatusError(400, "maximum context length is 2048"))
    assert not error_refuses_response_format(ConnectionError("connection refused"))


def test_negotiation_falls_back_and_remembers_per_endpoint():
    schema = json_schema(VSConfig(k=2))
    sent = []

    def call(fmt):
        sent.append(fmt["type"] if fmt else None)
        if fmt is not None and fmt["type"] == "json_schema":
            raise StatusError(400, "response_format json_schema unsupported")
        return "ok"

    def run(endpoint):
        return negotiate(SchemaNegotiation(endpoint, schema), call)

    assert run(("http://a/v1", "m")) == "ok"
    assert sent == ["json_schema", "json_object"]
    assert learnt_style(("http://a/v1", "m")) == "json_object"
    sent.clear()
    assert run(("http://a/v1", "m")) == "ok"  # a new negotiation for the same endpoint skips the refused form
    assert sent == ["json_object"]
    sent.clear()
    run(("http://b/v1", "m"))  # another endpoint learns on its own
    assert sent == ["json_schema", "json_object"]


def test_negotiation_does_not_swallow_other_errors_or_the_last_refusal():
    negotiation = SchemaNegotiation(None, {"type": "object"})
    forms = iter(negotiation)
    next(forms)
    assert not negotiation.refused(StatusError(400, "maximum context length is 2048 tokens"))
    assert negotiation.refused(StatusError(400, "response_format unsupported"))
    for _ in forms:
        pass
    assert negotiation.style == "none"
    assert not negotiation.refused(StatusError(400, "response_format unsupported"))  # nothing left to try


def test_forced_style_and_no_schema():
    assert list(SchemaNegotiation(None, {"type": "object"}, style="none")) == [None]
    assert list(SchemaNegotiation(("x", "y"), None)) == [None]
    with pytest.raises(ValueError, match="schema_style must be one of"):
        SchemaNegotiation(None, {}, style="jsonschema")


async def test_async_negotiation_is_the_same_loop():
    async def call(fmt):
        if fmt is not None and fmt["type"] == "json_schema":
            raise StatusError(500, "json_schema not supported")
        return fmt["type"] if fmt else None

    assert await anegotiate(SchemaNegotiation(("http://c/v1", "m"), {"type": "object"}), call) == "json_object"
    with pytest.raises(StatusError, match="maximum context length"):

        async def too_long(fmt):
            raise StatusError(400, "maximum context length is 2048 tokens")

        await anegotiate(SchemaNegotiation(("http://d/v1", "m"), {"type": "object"}), too_long)
    assert learnt_style(("http://d/v1", "m")) is None


def test_a_learnt_form_refused_later_falls_back_to_the_forms_not_refused():
    endpoint, schema = ("http://e/v1", "m"), json_schema(VSConfig(k=2))
    sent, refusing = [], set()

    def call(fmt):
        form = fmt["type"] if fmt else "none"
        sent.append(form)
        if form in refusing:
            raise StatusError(500, f"failed to parse grammar from {form}")
        return form

    assert negotiate(SchemaNegotiation(endpoint, schema), call) == "json_schema"
    refusing.update({"json_schema", "json_object"})  # e.g. the server was restarted without grammars
    sent.clear()
    assert negotiate(SchemaNegotiation(endpoint, schema), call) == "none"
    assert sent == ["json_schema", "json_object", "none"]
    assert learnt_style(endpoint, schema) == "none" and refused_styles(endpoint) == {"json_schema", "json_object"}


def test_a_refusal_of_one_schema_does_not_cost_another_schema_its_form():
    endpoint = ("http://f/v1", "gpt")
    vs_schema, judge = json_schema(VSConfig(k=2)), judge_schema(3)

    def strict_server(fmt):  # refuses the judge's schema only, in every form
        if fmt is not None and fmt.get("json_schema", fmt).get("schema") is judge:
            raise StatusError(400, "Invalid schema for response_format 'verbalized_responses'")
        return fmt["type"] if fmt else "none"

    assert negotiate(SchemaNegotiation(endpoint, vs_schema), strict_server) == "json_schema"
    assert negotiate(SchemaNegotiation(endpoint, judge), strict_server) == "none"
    assert refused_styles(endpoint, judge) == {"json_schema", "json_object"}
    assert refused_styles(endpoint, vs_schema) == frozenset()
    # the VS reply keeps its form, whatever the count asked for
    assert next(iter(SchemaNegotiation(endpoint, json_schema(VSConfig(k=5)))))["type"] == "json_schema"
    assert learnt_style(endpoint, vs_schema) == "json_schema" and learnt_style(endpoint) == "none"
    assert schema_shape(judge_schema(2)) == schema_shape(judge) != schema_shape(vs_schema)


def test_our_settings_error_naming_response_format_is_no_refusal_of_the_form():
    from vs_integrations import ResponseFormatRefused, SettingsError
    from vs_integrations.backends.response_format import error_refuses_response_format

    unknown = SettingsError("unknown keyword 'foo'; accepted: response_format, temperature", ["foo"])
    assert not error_refuses_response_format(unknown)
    assert error_refuses_response_format(ResponseFormatRefused("json_schema refused", status=400))
