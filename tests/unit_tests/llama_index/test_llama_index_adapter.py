"""The LlamaIndex adapter with a scripted CustomLLM and MockEmbedding."""

import pytest
from llama_index.core.base.llms.types import MessageRole
from llama_index.core.prompts import PromptTemplate
from llama_index.core.prompts.default_prompt_selectors import DEFAULT_TEXT_QA_PROMPT_SEL
from llama_index.core.query_engine import RetrieverQueryEngine

from vs_integrations import Distribution, ParseError, VSConfig
from vs_integrations.llama_index import (
    VerbalizedOutputParser,
    VerbalizedPromptTemplate,
    VerbalizedQueryEngine,
    VerbalizedSynthesizer,
)

from .scripted import DOCS, ScriptedLLM, vs_reply


def test_prompt_template_keeps_variables_and_adds_instructions():
    template = VerbalizedPromptTemplate(DEFAULT_TEXT_QA_PROMPT_SEL, VSConfig(k=3))
    assert template.template_vars == ["context_str", "query_str"]
    messages = template.format_messages(context_str="CTX", query_str="Where is it?")
    assert messages[0].role == MessageRole.SYSTEM and "3 different responses" in messages[0].content
    assert "CTX" in messages[-1].content and "Where is it?" in messages[-1].content
    text = template.format(context_str="CTX", query_str="Q")
    assert text.startswith("For the user's request, generate 3") and "CTX" in text


def test_prompt_template_braces_survive_formatting():
    for config in (VSConfig(k=2), VSConfig(k=2, format="xml", variant="cot"), VSConfig(k=2, format="list", tail=0.1)):
        original = PromptTemplate('Context {context_str}. Answer as {"answer": "..."}. Q: {query_str}')
        template = VerbalizedPromptTemplate(original, config)
        formatted = template.format(context_str="c", query_str="q")
        assert formatted.endswith(original.format(context_str="c", query_str="q"))
        assert '{"answer": "..."}' in formatted and "{{" not in formatted  # braces reach the model single
        again = PromptTemplate(template.get_template())
        assert again.template_vars == original.template_vars  # the instruction adds no placeholder
        assert again.format(context_str="c", query_str="q") == formatted


def test_prompt_template_partial_format_and_rewrap():
    template = VerbalizedPromptTemplate(PromptTemplate("{context_str} | {query_str}"), VSConfig(k=2))
    partial = template.partial_format(context_str="fixed")
    assert "fixed | q" in partial.format(query_str="q")
    rewrapped = VerbalizedPromptTemplate(template, VSConfig(k=4))
    assert rewrapped.inner is template.inner and "4 different" in rewrapped.format(context_str="c", query_str="q")


def test_output_parser_attached_to_a_template():
    parser = VerbalizedOutputParser(VSConfig(k=2, format="xml"))
    template = PromptTemplate("Name a {thing}.", output_parser=parser)
    prompt = template.format(thing="tower")
    assert prompt.startswith("Name a tower.") and "<response><text>" in prompt and "{{" not in prompt
    dist = parser.parse("<response><text>Big Ben</text><probability>0.6</probability></response>")
    assert isinstance(dist, Distribution) and dist.texts == ["Big Ben"]
    with pytest.raises(ParseError) as info:
        parser.parse("no idea")
    assert info.value.raw == "no idea"


def test_synthesizer_in_a_vector_store_query_engine(index):
    llm = ScriptedLLM(replies=[vs_reply("Paris", "In Paris, France", "The French capital")])
    synthesizer = VerbalizedSynthesizer(llm=llm, config=VSConfig(k=3), seed=0)
    engine = index.as_query_engine(response_synthesizer=synthesizer, similarity_top_k=2)
    response = engine.query("Where is the Eiffel Tower?")
    dist = Distribution.from_dict(response.metadata["verbalized_distribution"])
    assert dist.texts == ["Paris", "In Paris, France", "The French capital"]
    assert response.response == dist[response.metadata["sampled_index"]].text
    assert len(response.source_nodes) == 2
    messages, kwargs = llm.calls[0]
    assert messages[0].role == MessageRole.SYSTEM and "3 different responses" in messages[0].content
    context = messages[-1].content
    assert "Where is the Eiffel Tower?" in context
    assert sum(doc.text in context for doc in DOCS) == 2  # the retrieved nodes are the context
    assert kwargs["response_format"]["type"] == "json_schema"  # auto: the first form, accepted here


async def test_synthesizer_aquery(index):
    llm = ScriptedLLM(replies=[vs_reply("Rome", "In Rome")])
    engine = index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, config=VSConfig(k=2)))
    response = await engine.aquery("Where is the Colosseum?")
    assert response.response in {"Rome", "In Rome"}


def test_retriever_query_engine_and_retries(index):
    llm = ScriptedLLM(replies=["not a list", vs_reply("London", "UK")])
    synthesizer = VerbalizedSynthesizer(llm=llm, config=VSConfig(k=2))
    engine = RetrieverQueryEngine(retriever=index.as_retriever(similarity_top_k=1), response_synthesizer=synthesizer)
    assert engine.query("Where is Big Ben?").response in {"London", "UK"}
    assert len(llm.calls) == 2


def test_unparseable_reply_raises_with_raw(index):
    llm = ScriptedLLM(replies=["I do not know."] * 3)
    engine = index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=llm, config=VSConfig(k=2)))
    with pytest.raises(ParseError) as info:
        engine.query("Where?")
    assert info.value.raw == "\n\n".join(["I do not know."] * 3)  # every reply kept


def test_prompt_updates(index):
    llm = ScriptedLLM(replies=[vs_reply("a", "b")])
    synthesizer = VerbalizedSynthesizer(llm=llm, config=VSConfig(k=2))
    prompts = synthesizer.get_prompts()
    assert isinstance(prompts["text_qa_template"], VerbalizedPromptTemplate)
    engine = index.as_query_engine(response_synthesizer=synthesizer)
    engine.update_prompts(
        {"response_synthesizer:text_qa_template": PromptTemplate("CUSTOM {context_str} :: {query_str}")}
    )
    updated = synthesizer.get_prompts()["text_qa_template"]
    assert isinstance(updated, VerbalizedPromptTemplate)
    engine.query("q?")
    assert llm.calls[0][0][-1].content.startswith("CUSTOM ")


def test_query_engine_from_index(index):
    llm = ScriptedLLM(replies=[vs_reply("x", "y")])
    engine = VerbalizedQueryEngine.from_index(index, similarity_top_k=1, llm=llm, config=VSConfig(k=2), seed=1)
    response = engine.query("q")
    assert response.response in {"x", "y"} and len(response.source_nodes) == 1


async def test_query_engine_async(index):
    llm = ScriptedLLM(replies=[vs_reply("x", "y")])
    engine = VerbalizedQueryEngine.from_index(index, llm=llm, config=VSConfig(k=2))
    assert (await engine.aquery("q")).metadata["verbalized_distribution"]["candidates"]


def test_explicit_schema_style_sends_response_format(index):
    llm = ScriptedLLM(replies=[vs_reply("x", "y")])
    synthesizer = VerbalizedSynthesizer(llm=llm, config=VSConfig(k=2), schema_style="json_schema")
    index.as_query_engine(response_synthesizer=synthesizer).query("q")
    response_format = llm.calls[0][1]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"]["properties"]["responses"]["maxItems"] == 2
