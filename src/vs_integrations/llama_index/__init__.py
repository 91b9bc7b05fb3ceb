"""LlamaIndex adapter: VS prompt template, output parser, RAG synthesizer and query engine.

Needs the ``llama-index`` extra: ``pip install 'vs-integrations[llama-index]'``.
"""

from .llm import LocalLLM
from .output_parser import VerbalizedOutputParser
from .prompt import VerbalizedPromptTemplate
from .query_engine import VerbalizedQueryEngine
from .synthesizer import VerbalizedSynthesizer

__all__ = [
    "LocalLLM",
    "VerbalizedOutputParser",
    "VerbalizedPromptTemplate",
    "VerbalizedQueryEngine",
    "VerbalizedSynthesizer",
]
