"""MockEmbedding settings, a fresh schema-form memory, and small real indexes."""

import pytest
from llama_index.core import Settings, SummaryIndex, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding

from vs_integrations.backends.response_format import forget_learnt_styles

from .scripted import DOCS, ScriptedLLM


@pytest.fixture(autouse=True)
def offline_settings():
    Settings.embed_model = MockEmbedding(embed_dim=8)
    Settings.llm = ScriptedLLM(replies=[])
    forget_learnt_styles()
    yield
    forget_learnt_styles()
    Settings.llm = None
    Settings.embed_model = None


@pytest.fixture
def index():
    return VectorStoreIndex.from_documents(DOCS)


@pytest.fixture
def summary_index():
    return SummaryIndex.from_documents(DOCS)
