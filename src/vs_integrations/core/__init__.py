"""Framework-free core: configuration, prompts, parsing, the distribution and the call loop."""

from .config import SETTINGS, VSConfig, resolve_config, split_settings
from .distribution import Candidate, Distribution
from .engine import AsyncModelFn, ModelFn, VSEngine
from .errors import (
    BackendError,
    BackendUnreachable,
    ContextTooLong,
    MalformedResponse,
    ParseError,
    RequestRefused,
    ResponseFormatRefused,
    SettingsError,
    VSError,
)
from .parser import StreamParser, parse
from .prompts import (
    build_messages,
    followup_message,
    format_instructions,
    json_schema,
    signature_instructions,
    system_prompt,
)

__all__ = [
    "SETTINGS",
    "AsyncModelFn",
    "BackendError",
    "BackendUnreachable",
    "Candidate",
    "ContextTooLong",
    "Distribution",
    "MalformedResponse",
    "ModelFn",
    "ParseError",
    "RequestRefused",
    "ResponseFormatRefused",
    "SettingsError",
    "StreamParser",
    "VSConfig",
    "VSEngine",
    "VSError",
    "build_messages",
    "followup_message",
    "format_instructions",
    "json_schema",
    "parse",
    "resolve_config",
    "signature_instructions",
    "split_settings",
    "system_prompt",
]
