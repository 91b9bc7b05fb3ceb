"""LlamaIndex adapter: a VS LLM, a RAG synthesizer and query engine, a prompt template and output parser.

Also the package's backends as LLMs (embedded, OpenAI-compatible) and offline embeddings.

Needs the ``llama-index`` extra: ``pip install 'vs-integrations[llama-index]'``.
"""

from ._driver import VerbalizedParseError
from .embedding import HashEmbedding, MiniLMEmbedding
from .llm import LocalLLM, OpenAICompatibleLLM
from .output_parser import VerbalizedOutputParser
from .prompt import VerbalizedPromptTemplate
from .query_engine import VerbalizedQueryEngine
from .synthesizer import VerbalizedSynthesizer
from .verbalized_llm import VerbalizedLLM

__all__ = [
    "HashEmbedding",
    "LocalLLM",
    "MiniLMEmbedding",
    "OpenAICompatibleLLM",
    "VerbalizedLLM",
    "VerbalizedOutputParser",
    "VerbalizedParseError",
    "VerbalizedPromptTemplate",
    "VerbalizedQueryEngine",
    "VerbalizedSynthesizer",
]
