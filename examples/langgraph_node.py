"""Verbalized Sampling as LangGraph nodes, with a checkpointer and a message stream.

`python examples/langgraph_node.py` runs offline on the embedded model.
Needs: pip install "vs-integrations[langchain,local]" langgraph

* The ``brainstorm`` node keeps the whole distribution in the graph state: a ``Distribution`` is
  stored by the checkpointer like any other value (``CHECKPOINT_TYPES`` names the package's types
  to LangGraph's serializer, which otherwise warns, or refuses them in strict mode).
* The ``answer`` node uses the drop-in chat model: in ``stream_mode="messages"`` only its drawn
  answer reaches the stream; the inner model's raw JSON replies (tagged ``nostream``) never do.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AnyMessage, BaseMessage
from langchain_core.runnables import Runnable
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph

from vs_integrations import Distribution
from vs_integrations.langchain import CHECKPOINT_TYPES, ChatLocalModel, VerbalizedChatModel, VerbalizedSampler


class State(TypedDict, total=False):
    """The graph's state: the conversation and the last brainstorm's distribution."""

    messages: Annotated[list[AnyMessage], add_messages]
    ideas: Distribution


def build_graph(llm: Runnable[LanguageModelInput, BaseMessage], *, k: int = 5, seed: int | None = None) -> Any:
    """brainstorm (the distribution into the state) -> answer (one drawn reply), checkpointed."""
    sampler = VerbalizedSampler(llm=llm, k=k)
    chat = VerbalizedChatModel(llm=llm, k=k, seed=seed)

    def brainstorm(state: State) -> State:
        return {"ideas": sampler.invoke(state["messages"])}

    def answer(state: State) -> State:
        return {"messages": [chat.invoke(state["messages"])]}

    graph = StateGraph(State)
    graph.add_node("brainstorm", brainstorm)
    graph.add_node("answer", answer)
    graph.add_edge(START, "brainstorm")
    graph.add_edge("brainstorm", "answer")
    graph.add_edge("answer", END)
    saver = InMemorySaver(serde=JsonPlusSerializer(allowed_msgpack_modules=CHECKPOINT_TYPES))
    compiled: CompiledStateGraph[Any, Any, Any, Any] = graph.compile(checkpointer=saver)
    return compiled


def main() -> None:
    app = build_graph(ChatLocalModel(seed=0), k=5)
    config = {"configurable": {"thread_id": "coffee-shop"}}
    question = {"messages": [("human", "Suggest a name for a coffee shop.")]}
    for chunk, metadata in app.stream(question, config, stream_mode="messages"):
        print(f"[{metadata['langgraph_node']}] {chunk.content}")
    ideas = app.get_state(config).values["ideas"]  # read back from the checkpoint
    print(ideas.to_markdown())


if __name__ == "__main__":
    main()
