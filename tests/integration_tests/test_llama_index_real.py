"""The LlamaIndex adapter on the embedded model and on a real llama_cpp.server (VerbalizedLLM, typed errors)."""

import json

import pytest
from llama_index.core import Document, Settings, SummaryIndex
from llama_index.core.base.response.schema import AsyncStreamingResponse
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.chat_engine import SimpleChatEngine

from vs_integrations import BackendUnreachable, ContextTooLong
from vs_integrations.llama_index import (
    LocalLLM,
    OpenAICompatibleLLM,
    VerbalizedLLM,
    VerbalizedQueryEngine,
    VerbalizedSynthesizer,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def index():
    Settings.llm = LocalLLM(seed=5, max_tokens=400)
    yield SummaryIndex.from_documents([Document(text="Finland drinks the most coffee per person: 12 kg a year.")])
    Settings.llm = None


def test_the_readme_line_on_the_embedded_model():
    # README: llm = LocalLLM(); index.as_query_engine(llm=llm, response_synthesizer=VerbalizedSynthesizer(llm=llm, k=5)),
    # with Settings.llm left unset (LlamaIndex would resolve it to OpenAI).
    Settings._llm = None  # unset, as in a fresh process (other tests set it)
    index = SummaryIndex.from_documents([Document(text="Finland drinks the most coffee per person: 12 kg a year.")])
    llm = LocalLLM(seed=5)  # seeded so the strict-JSON check below never meets a reply cut at max_tokens
    response = index.as_query_engine(llm=llm, response_synthesizer=VerbalizedSynthesizer(llm=llm, k=5)).query(
        "Which country drinks the most coffee?"
    )
    distribution = response.metadata["verbalized_distribution"]
    assert json.loads(distribution["raw"].split("\n\n")[0])["responses"]  # constrained decoding: strict JSON
    assert response.response in [c["text"] for c in distribution["candidates"]]


async def test_query_engine_async_streaming_on_the_embedded_model(index):
    engine = VerbalizedQueryEngine(index.as_retriever(), k=2, seed=1, streaming=True)
    response = await engine.aquery("How much coffee does Finland drink?")
    assert isinstance(response, AsyncStreamingResponse)
    assert "".join([chunk async for chunk in response.async_response_gen()]) and response.source_nodes


def test_a_prompt_longer_than_n_ctx_names_the_limit():
    llm = LocalLLM(context_window=256, max_tokens=16)
    with pytest.raises(ContextTooLong) as info:
        llm.complete("coffee " * 400)
    assert info.value.limit == 256 and info.value.prompt_tokens > 256
    assert "context window holds 256" in str(info.value)


def test_local_llm_streams():
    pieces = list(LocalLLM(seed=1, max_tokens=16).stream_complete("Say hi."))
    assert len(pieces) > 1 and pieces[-1].text.startswith(pieces[0].text)


def test_local_llm_honours_a_per_call_max_tokens():
    response = LocalLLM(seed=2).complete("Write a long story about a dragon.", max_tokens=8)
    assert 0 < response.raw["usage"]["completion_tokens"] <= 8


def test_a_chat_engine_over_verbalized_llm_on_the_real_server(llama_server):
    counter = TokenCountingHandler()
    llm = VerbalizedLLM(
        OpenAICompatibleLLM("smollm2", base_url=llama_server, max_tokens=400, context_window=2048),
        k=3,
        seed=0,
        callback_manager=CallbackManager([counter]),
    )
    engine = SimpleChatEngine.from_defaults(llm=llm)
    answer = engine.chat("Name a US state.")
    assert answer.response and engine.chat_history[-1].content == answer.response
    assert counter.completion_llm_token_count > 0 and len(counter.llm_token_counts) == 1


def test_errors_from_the_server_are_typed_through_verbalized_llm(llama_server):
    llm = VerbalizedLLM(OpenAICompatibleLLM("smollm2", base_url=llama_server, max_retries=0), k=2)
    with pytest.raises(ContextTooLong) as info:
        llm.complete("Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 260)
    assert info.value.limit == 2048
    down = VerbalizedLLM(OpenAICompatibleLLM("smollm2", base_url="http://127.0.0.1:9/v1", max_retries=0), k=2)
    with pytest.raises(BackendUnreachable):
        down.complete("Anyone there?")
