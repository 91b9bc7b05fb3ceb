"""One settings surface: every LlamaIndex object takes the flat VS keywords or a whole VSConfig."""

import dataclasses

import pytest
from llama_index.core.prompts import PromptTemplate

from vs_integrations import InvalidSetting, SettingsError, VSConfig
from vs_integrations.llama_index import (
    LocalLLM,
    VerbalizedOutputParser,
    VerbalizedPromptTemplate,
    VerbalizedQueryEngine,
    VerbalizedSynthesizer,
)

from .scripted import ScriptedLLM, vs_reply

FLAT = {
    "k": 3,
    "variant": "multi",
    "per_turn": 2,
    "tail": 0.2,
    "probability": "percentage",
    "format": "xml",
    "max_retries": 4,
    "on_failure": "raise",
    "seed": 11,
}
QA = PromptTemplate("{context_str} | {query_str}")


def build_all(index, **keywords):
    """Each object of the adapter, built from the same keywords."""
    return {
        "template": VerbalizedPromptTemplate(QA, **keywords),
        "parser": VerbalizedOutputParser(**keywords),
        "synthesizer": VerbalizedSynthesizer(llm=ScriptedLLM(replies=[]), **keywords),
        "engine": VerbalizedQueryEngine(index.as_retriever(), llm=ScriptedLLM(replies=[]), **keywords),
        "engine_from_index": VerbalizedQueryEngine.from_index(index, llm=ScriptedLLM(replies=[]), **keywords),
    }


def test_every_object_takes_the_flat_keywords_and_a_config(index):
    expected = VSConfig(**FLAT)
    for built in (build_all(index, **FLAT), build_all(index, config=expected)):
        for name, obj in built.items():
            assert obj.vs_config == expected, name
    mixed = build_all(index, config=VSConfig(k=4, tail=0.1), tail=0.3)  # flat keywords override the config
    assert {obj.vs_config for obj in mixed.values()} == {VSConfig(k=4, tail=0.3)}


def test_defaults_are_the_core_defaults(index):
    for name, obj in build_all(index).items():
        assert obj.vs_config == VSConfig(), name
        assert obj.vs_config.on_failure == "partial", name


def test_vs_config_is_read_only(index):
    for name, obj in build_all(index, k=2).items():
        with pytest.raises(AttributeError):
            obj.vs_config = VSConfig(k=9)
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.vs_config.k = 9
        assert obj.vs_config.k == 2, name


@pytest.mark.parametrize(
    "build",
    [
        lambda index: VerbalizedPromptTemplate(QA, kk=3),
        lambda index: VerbalizedOutputParser(kk=3),
        lambda index: VerbalizedSynthesizer(llm=ScriptedLLM(replies=[]), kk=3),
        lambda index: VerbalizedQueryEngine(index.as_retriever(), kk=3),
        lambda index: VerbalizedQueryEngine.from_index(index, kk=3),
    ],
    ids=["template", "parser", "synthesizer", "engine", "from_index"],
)
def test_a_misspelt_keyword_is_refused_naming_it(index, build):
    with pytest.raises(SettingsError) as info:
        build(index)
    assert info.value.unknown == ["kk"]
    message = str(info.value)
    assert "'kk' (did you mean 'k'?)" in message and "on_failure" in message


def test_the_issue_calls_now_work(index):
    llm = ScriptedLLM(replies=[vs_reply("a", "b", "c"), vs_reply("x", "y", "z", "w", "v")])
    synthesizer = VerbalizedSynthesizer(llm=llm, k=3)
    response = index.as_query_engine(response_synthesizer=synthesizer).query("q")
    assert len(response.metadata["verbalized_distribution"]["candidates"]) == 3
    engine = VerbalizedQueryEngine.from_index(index, k=5, llm=llm)
    assert len(engine.query("q").metadata["verbalized_distribution"]["candidates"]) == 5
    assert "5 different responses" in llm.calls[1][0][0].content
    assert VerbalizedOutputParser(k=2).parse(vs_reply("tea", "coffee")).texts == ["tea", "coffee"]


def test_from_index_keeps_vs_settings_away_from_the_retriever(index):
    engine = VerbalizedQueryEngine.from_index(
        index, k=2, seed=3, similarity_top_k=1, retriever_kwargs={"vector_store_kwargs": {"flag": 1}}
    )
    retriever = engine.retriever
    assert retriever.similarity_top_k == 1 and retriever._kwargs == {"flag": 1}  # only what was meant for it
    assert engine.vs_config == VSConfig(k=2, seed=3)


def test_an_engine_with_a_ready_synthesizer_refuses_settings_beside_it(index):
    synthesizer = VerbalizedSynthesizer(llm=ScriptedLLM(replies=[]), k=2)
    assert VerbalizedQueryEngine(index.as_retriever(), synthesizer).vs_config.k == 2
    with pytest.raises(SettingsError, match="got a synthesizer and k, streaming"):
        VerbalizedQueryEngine(index.as_retriever(), synthesizer, k=3, streaming=True)


def test_the_seed_makes_draws_repeat(index):
    def drawn(seed):
        llm = ScriptedLLM(replies=[vs_reply(*"abcde")] * 2)
        engine = index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, seed=seed))
        return tuple(engine.query("q").response for _ in range(2))

    # The package's one rule, Distribution.sample(seed): the same distribution and seed, the same answer.
    assert len(set(drawn(5))) == 1
    assert len({drawn(seed) for seed in range(12)}) > 1


def test_rewrapping_a_template_starts_from_its_settings():
    template = VerbalizedPromptTemplate(QA, k=2, tail=0.1)
    rewrapped = VerbalizedPromptTemplate(template, k=4)
    assert rewrapped.inner is QA and rewrapped.vs_config == VSConfig(k=4, tail=0.1)
    assert VerbalizedPromptTemplate(template, VSConfig(k=3)).vs_config == VSConfig(k=3)


def test_local_llm_refuses_unknown_keywords_and_bad_values_naming_the_field():
    with pytest.raises(SettingsError, match=r"unknown keyword\(s\) 'k'.*VerbalizedLLM") as info:
        LocalLLM(k=3)  # a VS setting belongs to the synthesizer, not the model
    assert info.value.unknown == ["k"]
    with pytest.raises(InvalidSetting) as bad:
        LocalLLM(temperature="hot")
    assert bad.value.field == "temperature" and isinstance(bad.value, ValueError)


def test_a_synthesizer_given_something_else_than_an_llm_names_the_field():
    with pytest.raises(SettingsError, match=r"llm must be a LlamaIndex LLM .*; got str$") as info:
        VerbalizedSynthesizer(llm="gpt-4o")
    assert info.value.field == "llm"
