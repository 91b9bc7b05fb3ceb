"""Framework-free core: what Verbalized Sampling is, with no framework and no model runtime.

Settings (``config``), the call contract between the loop and a model (``calls``), prompts,
the reply parser (``parser``, stages in ``parsing/``), the distribution, the call loop
(``engine``), the one sync/async driver every multi-call procedure uses (``driver``), errors,
the judge and semantic similarity (``similarity``).
"""

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
    BackendTimeout,
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
    "BackendTimeout",
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
