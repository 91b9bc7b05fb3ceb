import itertools
import json

import pytest

from vs_integrations import (
    SettingsError,
    VSConfig,
    build_messages,
    followup_message,
    format_instructions,
    json_schema,
    parse,
)
from vs_integrations.core.config import FORMATS, PROBABILITY_DEFINITIONS, VARIANTS


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"k": 0}, "k"),
        ({"k": 101}, "k"),
        ({"k": 2.5}, "k"),
        ({"k": True}, "k"),
        ({"variant": "fancy"}, "variant"),
        ({"per_turn": 6}, "per_turn"),
        ({"per_turn": 0}, "per_turn"),
        ({"tail": 0}, "tail"),
        ({"tail": 1.0}, "tail"),
        ({"tail": "0.1"}, "tail"),
        ({"probability": "odds"}, "probability"),
        ({"format": "yaml"}, "format"),
    ],
)
def test_invalid_config_names_field(changes, field):
    with pytest.raises(ValueError, match=rf"VSConfig\.{field} must"):
        VSConfig(**changes)


def test_invalid_choice_lists_allowed_values():
    with pytest.raises(ValueError, match="standard, cot, multi"):
        VSConfig(variant="x")  # type: ignore[arg-type]


def test_with_rejects_unknown_fields_and_validates():
    cfg = VSConfig()
    assert cfg.with_(k=3).k == 3 and cfg.k == 5
    with pytest.raises(SettingsError, match="unknown setting"):
        cfg.with_(temperature=1)
    with pytest.raises(ValueError, match=r"VSConfig\.k"):
        cfg.with_(k=-1)


def test_turn_size():
    assert VSConfig(k=5).turn_size == 5
    assert VSConfig(k=5, variant="multi").turn_size == 3
    assert VSConfig(k=6, variant="multi", per_turn=2).turn_size == 2


def test_build_messages_from_string():
    messages = build_messages("Tell a joke about coffee.", VSConfig(k=4, tail=0.1))
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == "Tell a joke about coffee."
    system = messages[0]["content"]
    assert "4 different responses" in system and "below 0.1" in system and "JSON" in system


def test_build_messages_keeps_given_messages_and_merges_system():
    given = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"}]
    messages = build_messages(given, VSConfig())
    assert messages[0]["content"].startswith("You are terse.\n\n")
    assert messages[1] == {"role": "user", "content": "Hi"}
    assert given[0]["content"] == "You are terse."  # not mutated
    history = build_messages([{"role": "user", "content": "Hi"}])
    assert [m["role"] for m in history] == ["system", "user"]


@pytest.mark.parametrize("bad", ["", "  ", [], [{"role": "user"}], ["hello"]])
def test_build_messages_rejects_bad_instruction(bad):
    with pytest.raises(ValueError, match="instruction"):
        build_messages(bad)


def test_prompts_show_no_example_probability():
    for variant, fmt, definition in itertools.product(VARIANTS, FORMATS, PROBABILITY_DEFINITIONS):
        cfg = VSConfig(variant=variant, format=fmt, probability=definition)  # type: ignore[arg-type]
        text = build_messages("x", cfg)[0]["content"]
        assert "0.2" not in text and "0.1" not in text


def test_json_schema_shape():
    schema = json_schema(VSConfig(k=3, variant="cot"))
    assert schema["required"] == ["reasoning", "responses"]
    responses = schema["properties"]["responses"]
    assert responses["minItems"] == responses["maxItems"] == 3
    assert responses["items"]["required"] == ["text", "probability"]
    assert json_schema(VSConfig(k=6, variant="multi", per_turn=2))["properties"]["responses"]["maxItems"] == 2
    assert "reasoning" not in json_schema()["properties"]
    json.dumps(schema)


def test_followup_asks_for_alternatives():
    message = followup_message(VSConfig(k=6, variant="multi", per_turn=2))
    assert message["role"] == "user" and "2 alternative responses" in message["content"]


def _scripted_reply(cfg: VSConfig, texts: list[str], stated: list[float]) -> str:
    if cfg.format == "json":
        body = {"responses": [{"text": t, "probability": p} for t, p in zip(texts, stated, strict=True)]}
        if cfg.variant == "cot":
            body = {"reasoning": "thinking", **body}
        return json.dumps(body)
    if cfg.format == "xml":
        lead = "<reasoning>thinking</reasoning>\n" if cfg.variant == "cot" else ""
        return lead + "\n".join(
            f"<response><text>{t}</text><probability>{p}</probability></response>"
            for t, p in zip(texts, stated, strict=True)
        )
    lead = "Reasoning: thinking\n" if cfg.variant == "cot" else ""
    return lead + "\n".join(
        f"{i + 1}. {t} (Probability: {p})" for i, (t, p) in enumerate(zip(texts, stated, strict=True))
    )


# likelier first in every definition: a (0.5) > b (0.3) > c (0.2)
_STATED = {
    "implicit": [0.5, 0.3, 0.2],
    "explicit": [0.5, 0.3, 0.2],
    "relative": [0.5, 0.3, 0.2],
    "confidence": [0.5, 0.3, 0.2],
    "percentage": [50, 30, 20],
    "perplexity": [2.0, 3.3333, 5.0],
    "nll": [0.6931, 1.204, 1.6094],
}


@pytest.mark.parametrize(
    ("variant", "fmt", "definition"), list(itertools.product(VARIANTS, FORMATS, PROBABILITY_DEFINITIONS))
)
def test_build_reply_parse_matrix(variant, fmt, definition):
    cfg = VSConfig(k=3, variant=variant, format=fmt, probability=definition)  # type: ignore[arg-type]
    messages = build_messages("Name a colour.", cfg)
    assert format_instructions(cfg) in messages[0]["content"]
    reply = _scripted_reply(cfg, ["red", "green", "blue"], _STATED[definition])
    dist = parse(reply, cfg)
    assert dist.texts == ["red", "green", "blue"]
    assert [round(p, 2) for p in dist.probabilities] == [0.5, 0.3, 0.2]
    if variant == "cot":
        assert dist.reasoning == "thinking"
