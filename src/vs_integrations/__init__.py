"""Verbalized Sampling for LangChain, DSPy and LlamaIndex, on a framework-free core.

Framework adapters live in `vs_integrations.langchain`, `vs_integrations.dspy` and
`vs_integrations.llama_index`; importing this package imports none of them.
"""

from .core import *  # noqa: F403  (the core's public API is the package's)
from .core import __all__ as __all__
