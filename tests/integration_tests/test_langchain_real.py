"""The LangChain adapter on real models: ChatOpenAI against the local server, and the embedded model."""

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from vs_integrations import Distribution
from vs_integrations.langchain import ChatLocalModel, VerbalizedChatModel, VerbalizedSampler

pytestmark = pytest.mark.integration


def chat_openai(base_url: str) -> ChatOpenAI:
    return ChatOpenAI(model="smollm2", base_url=base_url, api_key="not-needed", max_retries=0, temperature=0.7)


def test_sampler_over_chat_openai(llama_server):
    sampler = VerbalizedSampler(llm=chat_openai(llama_server), k=5, on_failure="partial")
    chain = ChatPromptTemplate.from_messages([("human", "Name a {thing}.")]) | sampler
    dist = chain.invoke({"thing": "US state"})
    assert isinstance(dist, Distribution) and len(dist) >= 1
    # llama.cpp's server refuses OpenAI's json_schema form; the json_object + schema form is kept.
    assert sampler._learnt_style == "json_object"


def test_chat_model_over_chat_openai(llama_server):
    chat = VerbalizedChatModel(llm=chat_openai(llama_server), k=5, on_failure="partial", seed=1)
    message = chat.invoke("Tell a joke about coffee.")
    dist = Distribution.from_dict(message.response_metadata["verbalized_distribution"])
    assert message.content == dist[message.response_metadata["sampled_index"]].text
    assert message.usage_metadata["output_tokens"] > 0


def test_sampler_streams_from_the_embedded_model():
    sampler = VerbalizedSampler(llm=ChatLocalModel(seed=4), k=5, on_failure="partial", schema_style="json_object")
    candidates = list(sampler.stream("Name a fruit."))
    assert len(candidates) >= 1 and all(c.text for c in candidates)


def test_default_inner_model_is_the_embedded_one():
    chat = VerbalizedChatModel(k=3, on_failure="partial", seed=2)
    assert isinstance(chat.llm, ChatLocalModel)
    assert chat.invoke("Name a colour.").content
