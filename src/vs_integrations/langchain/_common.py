"""What the LangChain adapters share: the VS settings surface and the inner-model call."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from langchain_core.callbacks import CallbackManager
from langchain_core.callbacks.manager import AsyncRunManager, RunManager
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..backends.response_format import SchemaNegotiation, SchemaStyle, anegotiate, negotiate
from ..core.calls import GenerationSettings, Reply
from ..core.config import (
    SETTINGS,
    OnFailure,
    ProbabilityDefinition,
    ReplyFormat,
    Variant,
    VSConfig,
    refuse_unknown,
    resolve_config,
    split_settings,
)
from ..core.distribution import ValidPredicate
from ..core.engine import VSEngine
from ..core.errors import InvalidSetting, SettingsError
from ..core.prompts import Message
from ._errors import raise_as_framework_error
from ._messages import from_core_messages
from .local_chat_model import ChatLocalModel

T = TypeVar("T")
_DEFAULTS = VSConfig()
# The pydantic field holding VSConfig.format (``format`` is its alias).
_FORMAT_FIELD = "reply_format"
# Attributes that tell one server (or model file) apart, first found wins.
_ENDPOINT_ATTRIBUTES = ("openai_api_base", "base_url", "api_base", "endpoint_url", "model_path")
# langgraph.constants.TAG_NOSTREAM (langgraph is optional): LangGraph's stream_mode="messages"
# skips chat-model runs carrying it, so the inner model's raw JSON never reaches a chat UI.
NOSTREAM_TAG = "nostream"
GENERATION_KEYWORDS = ("temperature", "top_p", "max_tokens", "stop")
"""Per-call keywords sent to the inner model (checked by ``GenerationSettings``). ``seed`` is the
VS setting (the draw's seed): set the inner model's own sampling seed on the inner model."""
# Where the wrapped model sits inside LangChain's wrappers (bind, with_retry, with_fallbacks,
# configurable_fields/alternatives), outermost first.
_WRAPPED_ATTRIBUTES = ("bound", "runnable", "default")
# response_metadata keys holding the finish reason: OpenAI and most (finish_reason), Anthropic
# (stop_reason), Ollama (done_reason); and the reasons meaning the token limit cut the reply.
_FINISH_KEYS = ("finish_reason", "stop_reason", "done_reason")
_TOKEN_LIMIT_REASONS = ("length", "max_tokens")


class VSSettings(BaseModel):
    """The VS settings every LangChain adapter takes: the nine flat keywords or a whole ``config``.

    Construction resolves them with :func:`~vs_integrations.resolve_config` (flat keywords
    override ``config``'s fields) and refuses a keyword that is neither a VS setting nor one of
    the adapter's own fields with :class:`~vs_integrations.SettingsError`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    k: int = _DEFAULTS.k
    """Candidates per distribution."""
    variant: Variant = _DEFAULTS.variant
    """``standard``, ``cot`` or ``multi``."""
    per_turn: int | None = _DEFAULTS.per_turn
    """Candidates per turn for ``multi``."""
    tail: float | None = _DEFAULTS.tail
    """Ask for probabilities below this threshold (an instruction, not a filter)."""
    probability: ProbabilityDefinition = _DEFAULTS.probability
    """What the stated number means."""
    reply_format: ReplyFormat = Field(default=_DEFAULTS.format, alias="format")
    """The reply format asked for (``json``, ``xml``, ``list``); every format is parsed."""
    max_retries: int = _DEFAULTS.max_retries
    """Extra calls when a reply does not parse or holds fewer than ``k`` distinct candidates."""
    on_failure: OnFailure = _DEFAULTS.on_failure
    """After the retries: ``partial`` (keep what was read), ``raise`` or ``fallback`` (the raw reply)."""
    seed: int | None = _DEFAULTS.seed
    """Seed of the draw, ``Distribution.sample(seed)``: the same seed picks the same candidate of the
    same distribution; None draws afresh."""
    valid: ValidPredicate | None = Field(default=None, exclude=True)
    """``valid(text) -> bool`` on a candidate's text (None: every candidate counts). A refused
    candidate is dropped before normalisation (a warning names it, ``raw`` keeps it) and counts
    as missing, so the top-up asks for more and names it. Not serialised (a function, often a
    lambda): set it again on a loaded object."""

    def __init__(self, **data: Any) -> None:
        # Resolved before pydantic validates: pydantic would wrap our errors (ValueErrors) in a
        # ValidationError quoting every input, the inner model's whole repr included.
        try:
            super().__init__(**_resolve_settings(type(self), data))
        except ValidationError as exc:
            raise _settings_error(type(self).__name__, exc) from None

    @property
    def vs_config(self) -> VSConfig:
        """The resolved VS settings (read-only; build a new adapter to change them)."""
        values = tuple(getattr(self, _FORMAT_FIELD if name == "format" else name) for name in SETTINGS)
        return _resolved(type(self).__name__, values)


def _resolve_settings(cls: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the VS keywords (and ``config``) resolved into the flat fields."""
    own = {*cls.model_fields, *(f.alias for f in cls.model_fields.values() if f.alias)}
    refuse_unknown(data, cls.__name__, own)
    values = dict(data)
    flat = {
        ("format" if key == _FORMAT_FIELD else key): values.pop(key)
        for key in list(values)
        if key in SETTINGS or key == _FORMAT_FIELD
    }
    try:
        resolved = resolve_config(values.pop("config", None), owner=cls.__name__, **flat)
    except InvalidSetting as exc:
        raise InvalidSetting(f"{cls.__name__}: {exc}", field=exc.field or "config") from None
    except SettingsError:
        raise
    except (TypeError, ValueError) as exc:  # e.g. a config that is not a VSConfig
        raise InvalidSetting(f"{cls.__name__}: {exc}", field="config") from None
    values.update({(_FORMAT_FIELD if name == "format" else name): v for name, v in resolved.to_dict().items()})
    return values


def _settings_error(owner: str, error: ValidationError) -> InvalidSetting:
    """A pydantic error as a short :class:`InvalidSetting` naming the field (never the inputs' reprs)."""
    first = error.errors()[0]
    cause = first.get("ctx", {}).get("error")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    if isinstance(cause, InvalidSetting):
        return InvalidSetting(f"{owner}: {cause}{more}", field=cause.field or "config")
    field = ".".join(str(part) for part in first["loc"]) or "config"
    message = str(first["msg"]).removeprefix("Value error, ")
    if "got " not in message:
        value = first.get("input")
        short = isinstance(value, (int, float, str, bool, type(None))) and len(repr(value)) < 60
        message += f"; got {value!r}" if short else f"; got a {type(value).__name__}"
    return InvalidSetting(f"{owner}: {field}: {message}{more}", field=field)


@functools.lru_cache(maxsize=256)
def _resolved(owner: str, values: tuple[Any, ...]) -> VSConfig:
    # Read on every call (and by LangChain's tracing): resolve each set of values once.
    return resolve_config(owner=owner, **dict(zip(SETTINGS, values, strict=True)))


class InnerModelSettings(VSSettings):
    """VS settings plus the inner chat model and how the reply schema reaches it."""

    llm: Runnable[LanguageModelInput, BaseMessage] = Field(default_factory=ChatLocalModel)
    """The inner chat model (default: the embedded SmolLM2-135M): a ``BaseChatModel`` or any
    chat-model Runnable (``chat.bind(...)``, ``chat.with_retry()``, ``chat.with_fallbacks([...])``,
    ``chat.configurable_fields(...)``). The reply schema is sent as a ``response_format`` call
    keyword, which every one of these wrappers passes on to the model it wraps."""
    schema_style: SchemaStyle = "auto"
    """How the reply's JSON Schema reaches the inner model: ``json_schema`` (OpenAI's
    ``response_format``), ``json_object`` (llama.cpp's form), ``none`` (prompt only), or
    ``auto``: the form this model accepted earlier in the process, else each in that order
    (see :class:`~vs_integrations.backends.response_format.SchemaNegotiation`)."""

    @field_validator("llm", mode="before")
    @classmethod
    def _a_runnable(cls, value: Any) -> Any:
        if not isinstance(value, Runnable):
            raise ValueError(
                "llm must be a chat model or a Runnable wrapping one (.bind, .with_retry, .with_fallbacks, "
                f"configurable); got {type(value).__name__}"
            )
        return value

    @property
    def chat_model(self) -> BaseChatModel | None:
        """The ``BaseChatModel`` inside :attr:`llm`'s wrappers (the primary one), if there is one."""
        return chat_model_of(self.llm)

    def vs_engine(self, valid: ValidPredicate | None = None, **overrides: Any) -> VSEngine:
        """The core engine for these settings, with per-call ``overrides`` (VS settings, ``valid``)."""
        config = resolve_config(self.vs_config, owner=type(self).__name__, **overrides)
        return VSEngine(config, valid=valid if valid is not None else self.valid)

    def negotiation(self, schema: dict[str, Any] | None) -> SchemaNegotiation:
        """The ``response_format`` forms to try for one request carrying ``schema``."""
        return SchemaNegotiation(endpoint_key(self.llm), schema, self.schema_style)

    def call_inner(
        self, messages: Sequence[Message], schema: dict[str, Any] | None, config: RunnableConfig, **invoke: Any
    ) -> tuple[AIMessage, Reply]:
        """One inner call, sending ``schema`` in the first form the model accepts.

        Returns the inner model's message and, for the engine, the :class:`Reply` read from it
        (see :func:`reply_of`), timed over the call.

        Errors are raised as the package's and LangChain's (see :mod:`._errors`).
        """
        lc_messages = from_core_messages(messages)
        inner = inner_config(config)
        negotiation = self.negotiation(schema)
        start = time.perf_counter()
        message = mapped_errors(
            lambda: negotiate(
                negotiation,
                lambda form: as_ai_message(self.llm.invoke(lc_messages, inner, **with_response_format(invoke, form))),
            )
        )
        return message, reply_of(message, time.perf_counter() - start, negotiation.style)

    async def acall_inner(
        self, messages: Sequence[Message], schema: dict[str, Any] | None, config: RunnableConfig, **invoke: Any
    ) -> tuple[AIMessage, Reply]:
        """Async twin of :meth:`call_inner`."""
        lc_messages = from_core_messages(messages)
        inner = inner_config(config)
        negotiation = self.negotiation(schema)

        async def call(form: dict[str, Any] | None) -> AIMessage:
            return as_ai_message(await self.llm.ainvoke(lc_messages, inner, **with_response_format(invoke, form)))

        start = time.perf_counter()
        message = await amapped_errors(lambda: anegotiate(negotiation, call))
        return message, reply_of(message, time.perf_counter() - start, negotiation.style)


def reply_of(message: BaseMessage, seconds: float, schema_form: str | None) -> Reply:
    """The inner model's ``message`` as the engine's :class:`~vs_integrations.core.calls.Reply`.

    Tokens come from ``usage_metadata`` (a streamed reply's chunks added up carry their sum), the
    finish reason and model from ``response_metadata`` under the names the providers use; a stop
    at the token limit (``max_tokens``, ``MAX_TOKENS``) reads as ``"length"``, the engine's word.
    """
    usage = getattr(message, "usage_metadata", None) or {}
    metadata = message.response_metadata
    finish = next((metadata[key] for key in _FINISH_KEYS if isinstance(metadata.get(key), str)), None)
    model = next((metadata[key] for key in ("model_name", "model") if isinstance(metadata.get(key), str)), None)
    return Reply(
        message.text,
        prompt_tokens=usage.get("input_tokens"),
        completion_tokens=usage.get("output_tokens"),
        finish_reason="length" if finish is not None and finish.lower() in _TOKEN_LIMIT_REASONS else finish,
        model=model,
        seconds=seconds,
        schema_form=schema_form,
    )


def chat_model_of(llm: Runnable[Any, Any]) -> BaseChatModel | None:
    """The ``BaseChatModel`` inside LangChain's wrappers (a fallbacks' primary), or None."""
    seen: Any = llm
    while not isinstance(seen, BaseChatModel):
        wrapped = (getattr(seen, name, None) for name in _WRAPPED_ATTRIBUTES)
        seen = next((inner for inner in wrapped if isinstance(inner, Runnable)), None)
        if seen is None:
            return None
    return seen


def inner_config(config: RunnableConfig) -> RunnableConfig:
    """``config`` for an inner call: tagged so LangGraph's message stream leaves it out."""
    return merge_configs(config, {"tags": [NOSTREAM_TAG]})


def mapped_errors(call: Callable[[], T]) -> T:
    """``call()``, its errors raised as the package's and LangChain's (the original as cause)."""
    try:
        return call()
    except Exception as exc:
        raise_as_framework_error(exc)
        raise


async def amapped_errors(call: Callable[[], Awaitable[T]]) -> T:
    """Async twin of :func:`mapped_errors`."""
    try:
        return await call()
    except Exception as exc:
        raise_as_framework_error(exc)
        raise


def split_call_keywords(owner: str, keywords: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A call's keywords as (VS settings, generation settings for the inner model, the rest).

    Raises:
        InvalidSetting: Naming the field, for a generation setting out of range.
    """
    vs, rest = split_settings(keywords)
    generation = {name: rest.pop(name) for name in GENERATION_KEYWORDS if rest.get(name) is not None}
    for name in GENERATION_KEYWORDS:
        rest.pop(name, None)
    try:
        checked = GenerationSettings(**generation).as_kwargs()
    except InvalidSetting as exc:
        raise InvalidSetting(f"{owner}: {exc}", field=exc.field or "settings") from None
    return vs, checked, rest


def endpoint_key(llm: Runnable[Any, Any]) -> tuple[str, str | None, str | None]:
    """What identifies the server and model behind ``llm``, for the learnt schema form.

    The chat model's class, the model name LangChain reports for tracing, and the base URL (or
    model file), read through any wrappers (for fallbacks, the primary model's).
    """
    chat = chat_model_of(llm)
    if chat is None:
        return f"{type(llm).__module__}.{type(llm).__qualname__}", llm.get_name(), None
    model = chat._get_ls_params().get("ls_model_name")
    where = next((str(value) for name in _ENDPOINT_ATTRIBUTES if (value := getattr(chat, name, None))), None)
    return f"{type(chat).__module__}.{type(chat).__qualname__}", model, where


def with_response_format(invoke: dict[str, Any], form: dict[str, Any] | None) -> dict[str, Any]:
    """The inner call's keywords, with ``response_format`` when a form is sent."""
    return invoke if form is None else {**invoke, "response_format": form}


def as_ai_message(result: Any) -> AIMessage:
    """``result`` when it is an ``AIMessage``; a ``TypeError`` naming its type otherwise."""
    if not isinstance(result, AIMessage):
        raise TypeError(f"the inner model returned {type(result).__name__}, expected an AIMessage")
    return result


def total_usage(replies: Sequence[AIMessage]) -> UsageMetadata | None:
    """The inner calls' usage added up, or None when no call reported any."""
    total: UsageMetadata | None = None
    for reply in replies:
        usage = reply.usage_metadata
        # A reply served from the LLM cache carries no token counts: it cost nothing.
        if usage is not None and "input_tokens" in usage:
            total = usage if total is None else add_usage(total, usage)
    return total


def child_callbacks(run_manager: RunManager | AsyncRunManager) -> CallbackManager:
    """Callbacks for the inner model's runs, nested under ``run_manager``'s run.

    LangChain's LLM-run managers have no ``get_child``; this builds what ``get_child`` builds.
    """
    manager = CallbackManager(handlers=[], parent_run_id=run_manager.run_id)
    manager.set_handlers(run_manager.inheritable_handlers)
    manager.add_tags(run_manager.inheritable_tags)
    manager.add_metadata(run_manager.inheritable_metadata)
    return manager
