"""The one settings surface: flat keywords or a whole VSConfig, resolved by resolve_config."""

import logging

import pytest

from vs_integrations import SETTINGS, ParseError, SettingsError, VSConfig, VSEngine, resolve_config, split_settings


def test_every_setting_is_a_config_field():
    assert SETTINGS == (
        "k",
        "variant",
        "per_turn",
        "tail",
        "probability",
        "format",
        "max_retries",
        "on_failure",
        "seed",
    )
    assert set(VSConfig().to_dict()) == set(SETTINGS)


def test_flat_keywords_override_a_whole_config():
    base = VSConfig(k=2, tail=0.1, seed=7)
    resolved = resolve_config(base, k=4, on_failure="raise")
    assert (resolved.k, resolved.tail, resolved.seed, resolved.on_failure) == (4, 0.1, 7, "raise")
    assert base.k == 2  # the given config is not changed
    assert resolve_config(base) is base


def test_none_keeps_the_configs_value():
    assert resolve_config(VSConfig(tail=0.2), tail=None, seed=None).tail == 0.2


def test_misspelt_keyword_is_named_with_the_closest_and_the_accepted_ones():
    with pytest.raises(SettingsError) as caught:
        resolve_config(owner="VerbalizedSampler", kk=3, temprature=0.5)
    message = str(caught.value)
    assert "VerbalizedSampler" in message
    assert "'kk' (did you mean 'k'?)" in message
    assert "'temprature'" in message and "accepted: config, k, variant" in message
    assert caught.value.unknown == ["kk", "temprature"]
    assert isinstance(caught.value, TypeError)


def test_bad_values_name_the_field():
    with pytest.raises(ValueError, match=r"VSConfig\.on_failure must be one of partial, raise, fallback"):
        resolve_config(on_failure="ignore")
    with pytest.raises(ValueError, match=r"VSConfig\.max_retries"):
        resolve_config(max_retries=-1)
    with pytest.raises(ValueError, match=r"VSConfig\.seed"):
        resolve_config(seed="1")
    with pytest.raises(TypeError, match="config must be a VSConfig"):
        resolve_config({"k": 3})  # type: ignore[arg-type]


def test_split_settings_keeps_framework_keywords_apart():
    vs, rest = split_settings({"k": 3, "config": VSConfig(), "temperature": 0.7, "n": 2})
    assert set(vs) == {"k", "config"} and rest == {"temperature": 0.7, "n": 2}


def test_engine_takes_the_same_keywords():
    engine = VSEngine(VSConfig(k=3), max_retries=0, on_failure="raise")
    assert engine.config == VSConfig(k=3, max_retries=0, on_failure="raise")
    with pytest.raises(SettingsError, match="VSEngine got unknown setting"):
        VSEngine(retries=2)


def test_partial_is_the_default_and_logs_the_shortfall(caplog):
    reply = '{"responses": [{"text": "a", "probability": 0.5}, {"text": "b", "probability": 0.5}]}'
    engine = VSEngine(k=3, max_retries=0)
    with caplog.at_level(logging.WARNING, logger="vs_integrations"):
        result = engine.run(lambda messages, schema: reply, "x")
    assert result.texts == ["a", "b"]
    assert any("held 2 of the 3 distinct candidates wanted" in w for w in result.warnings)
    assert "held 2 of the 3 distinct candidates wanted" in caplog.text
    with pytest.raises(ParseError) as caught:
        engine.run(lambda messages, schema: "nothing here", "x")
    assert caught.value.raw == "nothing here"


@pytest.mark.parametrize(
    "instruction", ["", "  ", [{"role": "user", "content": ""}], [{"role": "system", "content": " "}]]
)
def test_blank_instruction_is_refused_before_any_call(instruction):
    calls = []
    with pytest.raises(ValueError, match="non-empty"):
        VSEngine().run(lambda messages, schema: calls.append(messages) or "", instruction)
    assert calls == []


def test_an_owners_own_keywords_are_suggested_and_listed():
    with pytest.raises(SettingsError) as caught:
        resolve_config(owner="Synth", own=("streaming", "llm"), streming=True)
    message = str(caught.value)
    assert "'streming' (did you mean 'streaming'?)" in message and "Synth's own: llm, streaming" in message
    assert caught.value.unknown == ["streming"]
