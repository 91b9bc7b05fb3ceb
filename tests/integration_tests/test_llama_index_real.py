"""The LlamaIndex adapter on the embedded model (schema-constrained), with MockEmbedding retrieval."""

import json

import pytest
from llama_index.core import Document, Settings, SummaryIndex

from vs_integrations import VSConfig
from vs_integrations.llama_index import LocalLLM, VerbalizedQueryEngine, VerbalizedSynthesizer

pytestmark = pytest.mark.integration


@pytest.fixture
def index():
    Settings.llm = LocalLLM(seed=5, max_tokens=400)
    yield SummaryIndex.from_documents([Document(text="Finland drinks the most coffee per person: 12 kg a year.")])
    Settings.llm = None


def test_synthesizer_on_the_embedded_model(index):
    synthesizer = VerbalizedSynthesizer(config=VSConfig(k=3), seed=0, on_failure="partial")
    response = index.as_query_engine(response_synthesizer=synthesizer).query("Which country drinks the most coffee?")
    distribution = response.metadata["verbalized_distribution"]
    assert json.loads(distribution["raw"].split("\n\n")[0])["responses"]  # constrained decoding: strict JSON
    assert response.response in [c["text"] for c in distribution["candidates"]]


async def test_query_engine_async_on_the_embedded_model(index):
    engine = VerbalizedQueryEngine(
        retriever=index.as_retriever(),
        synthesizer=VerbalizedSynthesizer(config=VSConfig(k=2), seed=1, on_failure="partial"),
    )
    response = await engine.aquery("How much coffee does Finland drink?")
    assert response.response and response.source_nodes


def test_local_llm_streams():
    pieces = list(LocalLLM(seed=1, max_tokens=16).stream_complete("Say hi."))
    assert len(pieces) > 1 and pieces[-1].text.startswith(pieces[0].text)
