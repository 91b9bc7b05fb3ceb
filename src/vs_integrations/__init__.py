"""Verbalized Sampling for LangChain, DSPy and LlamaIndex, on a framework-free core.

Framework adapters live in `vs_integrations.langchain`, `vs_integrations.dspy` and
`vs_integrations.llama_index`; importing this package imports none of them.
"""

from .core.config import VSConfig
from .core.distribution import Candidate, Distribution
from .core.engine import AsyncModelFn, ModelFn, VSEngine
from .core.parser import ParseError, StreamParser, parse
from .core.prompts import (
    build_messages,
    followup_message,
    format_instructions,
    json_schema,
    signature_instructions,
    system_prompt,
)

__all__ = [
    "AsyncModelFn",
    "Candidate",
    "Distribution",
    "ModelFn",
    "ParseError",
    "StreamParser",
    "VSConfig",
    "VSEngine",
    "build_messages",
    "followup_message",
    "format_instructions",
    "json_schema",
    "parse",
    "signature_instructions",
    "system_prompt",
]
