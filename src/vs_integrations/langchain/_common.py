"""What the LangChain adapters share: the VS settings surface and the inner-model call."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManager
from langchain_core.callbacks.manager import AsyncRunManager, RunManager
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..backends.response_format import SchemaNegotiation, SchemaStyle, anegotiate, negotiate
from ..core.config import (
    SETTINGS,
    OnFailure,
    ProbabilityDefinition,
    ReplyFormat,
    Variant,
    VSConfig,
    refuse_unknown,
    resolve_config,
)
from ..core.engine import VSEngine
from ..core.prompts import Message
from ._messages import from_core_messages
from .local_chat_model import ChatLocalModel

_DEFAULTS = VSConfig()
# The pydantic field holding VSConfig.format (``format`` is its alias).
_FORMAT_FIELD = "reply_format"
# Attributes that tell one server (or model file) apart, first found wins.
_ENDPOINT_ATTRIBUTES = ("openai_api_base", "base_url", "api_base", "endpoint_url", "model_path")


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
    """Seed of the draw: the same seed gives the same sequence of picks."""

    @model_validator(mode="before")
    @classmethod
    def _resolve_vs_settings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        own = {*cls.model_fields, *(f.alias for f in cls.model_fields.values() if f.alias)}
        refuse_unknown(data, cls.__name__, own)
        values = dict(data)
        flat = {
            ("format" if key == _FORMAT_FIELD else key): values.pop(key)
            for key in list(values)
            if key in SETTINGS or key == _FORMAT_FIELD
        }
        resolved = resolve_config(values.pop("config", None), owner=cls.__name__, **flat)
        values.update({(_FORMAT_FIELD if name == "format" else name): v for name, v in resolved.to_dict().items()})
        return values

    @property
    def vs_config(self) -> VSConfig:
        """The resolved VS settings (read-only; build a new adapter to change them)."""
        values = tuple(getattr(self, _FORMAT_FIELD if name == "format" else name) for name in SETTINGS)
        return _resolved(type(self).__name__, values)


@functools.lru_cache(maxsize=256)
def _resolved(owner: str, values: tuple[Any, ...]) -> VSConfig:
    # Read on every call (and by LangChain's tracing): resolve each set of values once.
    return resolve_config(owner=owner, **dict(zip(SETTINGS, values, strict=True)))


class InnerModelSettings(VSSettings):
    """VS settings plus the inner chat model and how the reply schema reaches it."""

    llm: BaseChatModel = Field(default_factory=ChatLocalModel)
    """The inner chat model (default: the embedded SmolLM2-135M)."""
    schema_style: SchemaStyle = "auto"
    """How the reply's JSON Schema reaches the inner model: ``json_schema`` (OpenAI's
    ``response_format``), ``json_object`` (llama.cpp's form), ``none`` (prompt only), or
    ``auto``: the form this model accepted earlier in the process, else each in that order
    (see :class:`~vs_integrations.backends.response_format.SchemaNegotiation`)."""

    def vs_engine(self, **overrides: Any) -> VSEngine:
        """The core engine for these settings, with per-call ``overrides`` (VS settings only)."""
        return VSEngine(resolve_config(self.vs_config, owner=type(self).__name__, **overrides))

    def negotiation(self, schema: dict[str, Any] | None) -> SchemaNegotiation:
        """The ``response_format`` forms to try for one request carrying ``schema``."""
        return SchemaNegotiation(endpoint_key(self.llm), schema, self.schema_style)

    def call_inner(self, messages: Sequence[Message], schema: dict[str, Any] | None, **invoke: Any) -> AIMessage:
        """One inner call, sending ``schema`` in the first form the model accepts."""
        lc_messages = from_core_messages(messages)
        return negotiate(
            self.negotiation(schema),
            lambda form: as_ai_message(self.llm.invoke(lc_messages, **with_response_format(invoke, form))),
        )

    async def acall_inner(self, messages: Sequence[Message], schema: dict[str, Any] | None, **invoke: Any) -> AIMessage:
        """Async twin of :meth:`call_inner`."""
        lc_messages = from_core_messages(messages)

        async def call(form: dict[str, Any] | None) -> AIMessage:
            return as_ai_message(await self.llm.ainvoke(lc_messages, **with_response_format(invoke, form)))

        return await anegotiate(self.negotiation(schema), call)


def endpoint_key(llm: BaseChatModel) -> tuple[str, str | None, str | None]:
    """What identifies the server and model behind ``llm``, for the learnt schema form.

    The class, the model name LangChain reports for tracing, and the base URL (or model file).
    """
    model = llm._get_ls_params().get("ls_model_name")
    where = next((str(value) for name in _ENDPOINT_ATTRIBUTES if (value := getattr(llm, name, None))), None)
    return f"{type(llm).__module__}.{type(llm).__qualname__}", model, where


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
