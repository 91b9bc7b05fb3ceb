"""Framework-free core: configuration, prompts, parsing, the distribution and the call loop."""

from .calls import (
    AsyncModel,
    AsyncModelFn,
    CallRecord,
    GenerationSettings,
    Model,
    ModelFn,
    ModelRequest,
    Reply,
    Usage,
)
from .config import SETTINGS, VSConfig, resolve_config, split_settings
from .distribution import Candidate, Distribution
from .engine import VSEngine
from .errors import (
    BackendError,
    BackendUnreachable,
    ContextTooLong,
    InvalidSetting,
    MalformedResponse,
    ParseError,
    RequestRefused,
    ResponseFormatRefused,
    SettingsError,
    VSError,
)
from .judge import RUBRICS, Judge, Judgement, Rubric, Score
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
    "RUBRICS",
    "SETTINGS",
    "AsyncModel",
    "AsyncModelFn",
    "BackendError",
    "BackendUnreachable",
    "CallRecord",
    "Candidate",
    "ContextTooLong",
    "Distribution",
    "GenerationSettings",
    "InvalidSetting",
    "Judge",
    "Judgement",
    "MalformedResponse",
    "Model",
    "ModelFn",
    "ModelRequest",
    "ParseError",
    "Reply",
    "RequestRefused",
    "ResponseFormatRefused",
    "Rubric",
    "Score",
    "SettingsError",
    "StreamParser",
    "Usage",
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
