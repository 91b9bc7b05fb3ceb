"""The LangChain adapter on real models: ChatOpenAI against the local server, and the embedded model."""

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from vs_integrations import Distribution
from vs_integrations.backends.response_format import forget_learnt_styles, learnt_style
from vs_integrations.langchain import ChatLocalModel, VerbalizedChatModel, VerbalizedSampler, draw
from vs_integrations.langchain._common import endpoint_key

pytestmark = pytest.mark.integration


def chat_openai(base_url: str) -> ChatOpenAI:
    return ChatOpenAI(model="smollm2", base_url=base_url, api_key="not-needed", max_retries=0, temperature=0.7)


class FormatRecorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.formats: list[object] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.formats.append(kwargs.get("invocation_params", {}).get("response_format"))


def test_sampler_stream_over_chat_openai_learns_the_servers_form(llama_server):
    forget_learnt_styles()
    sampler = VerbalizedSampler(llm=chat_openai(llama_server), k=5)
    chain = ChatPromptTemplate.from_messages([("human", "Name a {thing}.")]) | sampler
    chunks = list(chain.stream({"thing": "US state"}))
    assert isinstance(chunks[-1], Distribution) and len(chunks[-1]) >= 1
    # llama.cpp's server refuses OpenAI's json_schema form; the json_object + schema form is kept.
    assert learnt_style(endpoint_key(sampler.llm)) == "json_object"


def test_chat_model_over_chat_openai(llama_server):
    chat = VerbalizedChatModel(llm=chat_openai(llama_server), k=5, seed=1)
    message = chat.invoke("Tell a joke about coffee.")
    dist = Distribution.from_dict(message.response_metadata["verbalized_distribution"])
    assert message.content == dist[message.response_metadata["sampled_index"]].text
    assert message.usage_metadata["output_tokens"] > 0


def test_readme_one_liner_on_the_embedded_model_sends_the_schema():
    recorder = FormatRecorder()
    sampler = VerbalizedSampler(k=5)
    assert isinstance(sampler.llm, ChatLocalModel)
    chain = ChatPromptTemplate.from_template("Tell me a joke about {topic}") | sampler
    dist = chain.invoke({"topic": "coffee"}, config={"callbacks": [recorder]})
    assert isinstance(dist, Distribution) and len(dist) >= 1 and all(dist.texts)
    assert recorder.formats and all(f is not None and f["type"] == "json_schema" for f in recorder.formats)


def test_streamed_chain_with_a_draw_on_the_embedded_model():
    sampler = VerbalizedSampler(llm=ChatLocalModel(seed=4), k=5)
    chain = ChatPromptTemplate.from_template("Name a {thing}.") | sampler | draw(seed=1) | StrOutputParser()
    answers = list(chain.stream({"thing": "fruit"}))
    assert len(answers) == 1 and answers[0].strip()
