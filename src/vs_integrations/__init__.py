"""Verbalized Sampling for LangChain, DSPy and LlamaIndex, on a framework-free core.

The package is laid out by role: ``core`` (prompts, parser, distribution, engine; no framework),
``backends`` (the call contract, the embedded model, OpenAI-compatible servers), one package per
framework adapter (``langchain``, ``dspy``, ``llama_index``, ``ray``), and ``tools`` (the ``vs``
command line, batches, evaluation). Importing this package imports no framework and no
llama.cpp: ``LocalModel`` and ``OpenAICompatibleModel`` are loaded on first use.
"""

from typing import TYPE_CHECKING, Any

from . import _moved
from .core import *  # noqa: F403  (the core's public API is the package's)
from .core import __all__ as _core_all

if TYPE_CHECKING:
    from .backends.local import LocalModel
    from .backends.openai_compatible import OpenAICompatibleModel

_moved.install()

_LAZY = {
    "LocalModel": "vs_integrations.backends.local",
    "OpenAICompatibleModel": "vs_integrations.backends.openai_compatible",
}

__all__ = [*_core_all, "LocalModel", "OpenAICompatibleModel"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vs_integrations' has no attribute {name!r}")
