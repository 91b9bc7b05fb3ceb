"""The LangChain adapter on real models: ChatOpenAI against the local server, and the embedded model."""

import socket

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import ContextOverflowError, ModelConnectionError
from langchain_core.messages import HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_openai import ChatOpenAI

from vs_integrations import BackendUnreachable, ContextTooLong, Distribution
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


def test_langgraph_graph_over_chat_openai_checkpoints_and_streams_only_the_answer(llama_server):
    from tests.unit_tests.langchain.test_langgraph import load_example

    app = load_example().build_graph(chat_openai(llama_server), k=3, seed=0)
    config = {"configurable": {"thread_id": "real"}}
    question = {"messages": [HumanMessage("Name a US state.")]}
    streamed = list(app.stream(question, config, stream_mode="messages"))
    state = app.get_state(config).values
    assert isinstance(state["ideas"], Distribution) and len(state["ideas"]) >= 1
    assert {metadata["langgraph_node"] for _, metadata in streamed} == {"answer"}
    assert "".join(str(chunk.content) for chunk, _ in streamed) == state["messages"][-1].content


def test_a_dead_server_is_backend_unreachable_and_langchains_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    chat = VerbalizedChatModel(llm=chat_openai(f"http://127.0.0.1:{port}/v1"), k=2)
    with pytest.raises(BackendUnreachable) as info:
        chat.invoke("Hi")
    assert isinstance(info.value, ModelConnectionError) and info.value.__cause__ is not None


def test_a_prompt_too_long_is_context_too_long_and_langchains_overflow_error(llama_server):
    sampler = VerbalizedSampler(llm=chat_openai(llama_server), k=2)
    with pytest.raises(ContextTooLong) as info:
        sampler.invoke("coffee " * 5000)
    assert isinstance(info.value, ContextOverflowError)


def test_per_call_max_tokens_reaches_the_embedded_model():
    chat = ChatLocalModel(seed=0)
    message = chat.invoke("Write a long story about a lighthouse.", max_tokens=8)
    assert message.usage_metadata["output_tokens"] <= 8
