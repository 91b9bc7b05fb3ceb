"""Framework-free core: configuration, prompts, parsing, the distribution and the call loop."""

from .config import VSConfig
from .distribution import Candidate, Distribution
from .engine import AsyncModelFn, ModelFn, VSEngine
from .parser import ParseError, StreamParser, parse
from .prompts import (
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
