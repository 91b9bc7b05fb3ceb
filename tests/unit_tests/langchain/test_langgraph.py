"""LangGraph: distributions in checkpointed state, and a message stream free of the inner replies."""

import importlib.util
import itertools
import json
import sys
from pathlib import Path

import pytest
from langchain_core.callbacks import BaseCallbackHandler, get_usage_metadata_callback
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, MessagesState, StateGraph

from vs_integrations import Candidate, Distribution, parse
from vs_integrations.langchain import CHECKPOINT_TYPES, DistributionChunk, VerbalizedChatModel

EXAMPLE = Path(__file__).parents[3] / "examples" / "langgraph_node.py"


def load_example():
    spec = importlib.util.spec_from_file_location("langgraph_node_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # LangGraph reads the state's annotations through the module
    spec.loader.exec_module(module)
    return module


def vs_reply(*texts: str) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 1 / len(texts)} for t in texts]})


def scripted(*texts: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.cycle([vs_reply(*texts)]))


DISTRIBUTION = parse("1. Bean There (Prob: 0.3)\n2. Brew Haven (Prob: 0.5)\n3. Daily Grind")


@pytest.mark.parametrize(
    "serializer",
    [JsonPlusSerializer(), JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES)],
    ids=["default", "strict-with-CHECKPOINT_TYPES"],
)
def test_distribution_candidate_and_chunk_round_trip_through_langgraphs_serializer(serializer):
    chunk = DistributionChunk.of(DISTRIBUTION, DISTRIBUTION.candidates[:1])
    state = {"ideas": DISTRIBUTION, "history": [DISTRIBUTION], "best": DISTRIBUTION[1], "chunk": chunk}
    back = serializer.loads_typed(serializer.dumps_typed(state))
    assert back["ideas"] == DISTRIBUTION and type(back["ideas"]) is Distribution
    assert back["ideas"].warnings == DISTRIBUTION.warnings and back["ideas"].raw == DISTRIBUTION.raw
    assert back["history"] == [DISTRIBUTION]
    assert back["best"] == DISTRIBUTION[1] and isinstance(back["best"], Candidate)
    assert isinstance(back["chunk"], DistributionChunk) and back["chunk"].new == chunk.new


def test_strict_mode_needs_the_listed_types():
    strict = JsonPlusSerializer(allowed_msgpack_modules=None)  # what LANGGRAPH_STRICT_MSGPACK=true gives
    back = strict.loads_typed(strict.dumps_typed({"ideas": DISTRIBUTION}))
    assert not isinstance(back["ideas"], Distribution)  # not rebuilt without CHECKPOINT_TYPES


def test_the_example_graph_checkpoints_the_distribution_and_resumes_the_thread():
    app = load_example().build_graph(scripted("Bean There", "Brew Haven"), k=2, seed=0)
    config = {"configurable": {"thread_id": "t1"}}
    result = app.invoke({"messages": [HumanMessage("Name a coffee shop.")]}, config)
    assert result["ideas"].texts == ["Bean There", "Brew Haven"]
    stored = app.get_state(config).values
    assert isinstance(stored["ideas"], Distribution) and stored["ideas"] == result["ideas"]
    assert stored["messages"][-1].content == result["ideas"].sample(0).text
    again = app.invoke({"messages": [HumanMessage("Another one.")]}, config)
    assert len(again["messages"]) == 4  # the thread resumed from the checkpoint


def test_message_stream_carries_only_the_drawn_answer():
    app = load_example().build_graph(scripted("Bean There", "Brew Haven"), k=2)
    config = {"configurable": {"thread_id": "t2"}}
    streamed = list(app.stream({"messages": [HumanMessage("Name a coffee shop.")]}, config, stream_mode="messages"))
    assert streamed, "the answer node's message must be streamed"
    assert {metadata["langgraph_node"] for _, metadata in streamed} == {"answer"}
    assert all('"responses"' not in str(chunk.content) for chunk, _ in streamed)
    answer = app.get_state(config).values["messages"][-1]
    assert "".join(str(chunk.content) for chunk, _ in streamed) == answer.content
    assert answer.content in {"Bean There", "Brew Haven"}


async def test_async_message_stream_carries_only_the_drawn_answer():
    chat = VerbalizedChatModel(llm=scripted("Bean There", "Brew Haven"), k=2)

    async def answer(state):
        return {"messages": [await chat.ainvoke(state["messages"])]}

    graph = StateGraph(dict)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    app = graph.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t3"}}
    streamed = [chunk async for chunk, _ in app.astream({"messages": ["Hi"]}, config, stream_mode="messages")]
    assert [chunk.content for chunk in streamed] in (["Bean There"], ["Brew Haven"])
    assert all(isinstance(chunk, AIMessage) or chunk.type.startswith("AI") for chunk in streamed)


def test_the_inner_calls_carry_langgraphs_own_nostream_tag():
    from langgraph.constants import TAG_NOSTREAM

    from vs_integrations.langchain._common import NOSTREAM_TAG

    assert NOSTREAM_TAG == TAG_NOSTREAM


USAGE = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}


def costed_graph():
    """A graph whose node answers with a VerbalizedChatModel over an inner model reporting usage."""
    reply = AIMessage(vs_reply("Ohio", "Utah"), usage_metadata=USAGE, response_metadata={"model_name": "fake"})
    # disable_streaming: the fake drops usage from streamed chunks; real models stream it.
    inner = GenericFakeChatModel(messages=itertools.repeat(reply), disable_streaming=True)
    chat = VerbalizedChatModel(llm=inner, k=2)
    graph = StateGraph(MessagesState)
    graph.add_node("answer", lambda state: {"messages": [chat.invoke(state["messages"])]})
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    return graph.compile(checkpointer=InMemorySaver())


class Watcher(BaseCallbackHandler):
    """A handler that counts nothing, as LangGraph's own and a logging handler are."""


@pytest.mark.parametrize("stream_mode", ["values", "messages", "updates"])
@pytest.mark.parametrize("callbacks", [[], [Watcher()]], ids=["no-handler", "a-handler"])
def test_the_answer_in_a_graph_carries_the_inner_calls_usage(stream_mode, callbacks):
    app = costed_graph()
    config = {"configurable": {"thread_id": stream_mode}, "callbacks": callbacks}
    list(app.stream({"messages": [HumanMessage("Name a state.")]}, config, stream_mode=stream_mode))
    answer = app.get_state(config).values["messages"][-1]
    assert answer.usage_metadata == USAGE


@pytest.mark.parametrize("stream_mode", ["values", "messages"])
def test_the_usage_callback_counts_a_graphs_tokens_once(stream_mode):
    app = costed_graph()
    config = {"configurable": {"thread_id": stream_mode}}
    with get_usage_metadata_callback() as callback:
        list(app.stream({"messages": [HumanMessage("Name a state.")]}, config, stream_mode=stream_mode))
    assert callback.usage_metadata == {"fake": USAGE}
    answer = app.get_state(config).values["messages"][-1]
    assert answer.usage_metadata is None and answer.response_metadata["verbalized_usage"] == USAGE
