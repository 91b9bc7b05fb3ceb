from vs_integrations import VSConfig, json_schema
from vs_integrations.response_format import (
    SCHEMA_STYLES,
    refused_response_format,
    response_format,
    schema_from_response_format,
)


def test_every_dialect_round_trips_the_schema():
    schema = json_schema(VSConfig(k=3))
    for style in SCHEMA_STYLES[:-1]:
        assert schema_from_response_format(response_format(style, schema)) == schema
    assert response_format("none", schema) is None
    assert schema_from_response_format({"type": "json_schema", "schema": schema}) == schema  # DSPy's requests
    assert schema_from_response_format({"type": "json_object"}) is None
    assert schema_from_response_format(None) is None


def test_refusal_detection_names_the_field():
    assert refused_response_format(ValueError("400: response_format.type must be 'text'"))
    assert not refused_response_format(ConnectionError("connection refused"))
