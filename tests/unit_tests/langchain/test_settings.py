"""One settings surface: the same keywords or a VSConfig for every LangChain adapter object."""

import json
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import GenericFakeChatModel

from vs_integrations import SettingsError, VSConfig
from vs_integrations.langchain import VerbalizedChatModel, VerbalizedOutputParser, VerbalizedSampler

ADAPTERS = (VerbalizedSampler, VerbalizedChatModel, VerbalizedOutputParser)
SETTINGS: dict[str, Any] = {
    "k": 4,
    "variant": "multi",
    "per_turn": 2,
    "tail": 0.2,
    "probability": "percentage",
    "format": "xml",
    "max_retries": 3,
    "on_failure": "raise",
    "seed": 11,
}


def vs_reply(*texts: str) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 1 / len(texts)} for t in texts]})


def build(cls, **settings: Any):
    if cls is VerbalizedOutputParser:
        return cls(**settings)
    return cls(llm=GenericFakeChatModel(messages=iter([])), **settings)


@pytest.mark.parametrize("cls", ADAPTERS)
def test_same_keywords_or_a_config_give_the_same_vs_config(cls):
    expected = VSConfig(**SETTINGS)
    assert build(cls, **SETTINGS).vs_config == expected
    assert build(cls, config=expected).vs_config == expected
    # Flat keywords override the config's fields.
    assert build(cls, config=expected, k=6).vs_config == expected.with_(k=6)


@pytest.mark.parametrize("cls", ADAPTERS)
def test_defaults_come_from_vsconfig(cls):
    assert build(cls).vs_config == VSConfig()
    assert build(cls).vs_config.on_failure == "partial"


@pytest.mark.parametrize("cls", ADAPTERS)
def test_vs_config_is_read_only(cls):
    adapter = build(cls, k=3)
    with pytest.raises(AttributeError):
        adapter.vs_config = VSConfig(k=9)
    assert adapter.vs_config.k == 3


@pytest.mark.parametrize("cls", ADAPTERS)
def test_misspelt_keyword_is_refused_naming_it_and_the_accepted_ones(cls):
    with pytest.raises(SettingsError) as info:
        build(cls, kk=3)
    assert info.value.unknown == ["kk"]
    message = str(info.value)
    assert "'kk' (did you mean 'k'?)" in message and cls.__name__ in message
    assert "config, k, variant, per_turn, tail, probability, format, max_retries, on_failure, seed" in message


def test_a_misspelt_framework_field_is_refused_too():
    with pytest.raises(SettingsError, match=r"'temprature' \(did you mean 'temperature'\?\)"):
        build(VerbalizedChatModel, temprature=0.3)


def test_config_must_be_a_vsconfig():
    with pytest.raises(TypeError, match="config must be a VSConfig"):
        build(VerbalizedSampler, config={"k": 3})


def test_output_parser_honours_format():
    parser = VerbalizedOutputParser(format="xml")
    assert parser.vs_config.format == "xml"
    assert "<response>" in parser.get_format_instructions()
    assert "<response>" not in VerbalizedOutputParser().get_format_instructions()


def test_output_parser_on_failure():
    short = vs_reply("a", "b")
    assert VerbalizedOutputParser(k=3).parse(short).texts == ["a", "b"]  # partial, the default
    with pytest.raises(OutputParserException, match="held 2 distinct candidate") as info:
        VerbalizedOutputParser(k=3, on_failure="raise").parse(short)
    assert info.value.llm_output == short
    fallback = VerbalizedOutputParser(k=3, on_failure="fallback").parse(short)
    assert fallback.texts == [short] and fallback.raw == short and fallback.warnings
    assert VerbalizedOutputParser(on_failure="fallback").parse("just prose").texts == ["just prose"]
    with pytest.raises(OutputParserException):
        VerbalizedOutputParser().parse("just prose")


class KwargsRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.params: list[dict[str, Any]] = []
        self.system: list[str] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.params.append(kwargs.get("invocation_params", {}))
        self.system.append(messages[0][0].content)


def test_per_call_vs_settings_never_reach_the_inner_model():
    recorder = KwargsRecorder()
    chat = VerbalizedChatModel(llm=GenericFakeChatModel(messages=iter([vs_reply("a", "b")])), k=5, seed=0)
    message = chat.bind(k=2, temperature=0.3).invoke("x", config={"callbacks": [recorder]})
    assert message.content in {"a", "b"}
    inner = recorder.params[-1]  # the first start is the wrapper's own run
    assert inner["_type"] == "generic-fake-chat-model" and inner["temperature"] == 0.3
    assert "k" not in inner
    assert "2 different responses" in recorder.system[-1]


def test_per_call_unknown_keyword_is_refused_by_the_sampler():
    sampler = VerbalizedSampler(llm=GenericFakeChatModel(messages=iter([vs_reply("a", "b")])), k=2)
    with pytest.raises(SettingsError, match="did you mean 'tail'"):
        sampler.invoke("x", tial=0.1)


def test_partial_is_the_default_for_short_replies():
    short = vs_reply("a", "b")
    sampler = VerbalizedSampler(llm=GenericFakeChatModel(messages=iter([short] * 3)), k=3)
    dist = sampler.invoke("x")
    assert dist.texts == ["a", "b"]
    assert any("held 2 of the 3 distinct candidates wanted" in w for w in dist.warnings)
