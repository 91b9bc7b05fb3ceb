"""What the LangChain adapters share: VS settings as pydantic fields and the inner-model call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import CallbackManager
from langchain_core.callbacks.manager import AsyncRunManager, RunManager
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.prompt_values import PromptValue
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ..core.config import ProbabilityDefinition, ReplyFormat, Variant, VSConfig
from ..core.engine import OnFailure, VSEngine
from ..core.prompts import Message
from ..response_format import SCHEMA_STYLES, error_refuses_response_format, response_format

SchemaStyle = Literal["auto", "json_schema", "json_object", "none"]
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function"}


def to_langchain_messages(input: LanguageModelInput) -> list[BaseMessage]:
    """Normalise chat-model input (str, PromptValue, message-likes) the way chat models do."""
    if isinstance(input, PromptValue):
        return input.to_messages()
    if isinstance(input, str):
        return convert_to_messages([("human", input)])
    if isinstance(input, Sequence):
        return convert_to_messages(input)
    raise ValueError(f"invalid input type {type(input).__name__}: expected a str, a PromptValue or a list of messages")


def to_core_messages(messages: Sequence[BaseMessage]) -> list[Message]:
    """LangChain messages as the core's ``{"role", "content"}`` dicts (text content only)."""
    return [{"role": _ROLES.get(m.type, m.type), "content": m.text} for m in messages]


def from_core_messages(messages: Sequence[Message]) -> list[BaseMessage]:
    """The core's message dicts as LangChain messages."""
    return convert_to_messages([(m["role"], m["content"]) for m in messages])


class VSSettings(BaseModel):
    """The VS settings every LangChain adapter takes, as pydantic fields."""

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    k: int = 5
    """Candidates per distribution."""
    variant: Variant = "standard"
    """``standard``, ``cot`` or ``multi``."""
    per_turn: int | None = None
    """Candidates per turn for ``multi``."""
    tail: float | None = None
    """Ask for probabilities below this threshold (an instruction, not a filter)."""
    probability: ProbabilityDefinition = "explicit"
    """What the stated number means."""
    reply_format: ReplyFormat = Field(default="json", alias="format")
    """The reply format asked for (``json``, ``xml``, ``list``); every format is parsed."""
    max_retries: int = 2
    """Extra calls when a reply does not parse or holds fewer than ``k`` distinct candidates."""
    on_failure: OnFailure = "raise"
    """After the retries: ``raise``, ``partial`` (keep the best) or ``fallback`` (the raw reply)."""
    seed: int | None = None
    """Seed of the draw: the same seed gives the same sequence of picks."""
    schema_style: SchemaStyle = "auto"
    """How the reply's JSON Schema reaches the inner model: ``json_schema`` (OpenAI's
    ``response_format``), ``json_object`` (llama.cpp's form), ``none`` (prompt only), or
    ``auto``: try them in that order and keep the first the model accepts."""

    _learnt_style: str | None = PrivateAttr(default=None)

    def vs_config(self) -> VSConfig:
        """The core settings (validated: a bad value raises ``ValueError`` naming it)."""
        return VSConfig(
            k=self.k,
            variant=self.variant,
            per_turn=self.per_turn,
            tail=self.tail,
            probability=self.probability,
            format=self.reply_format,
        )

    def vs_engine(self) -> VSEngine:
        """The core engine for these settings."""
        return VSEngine(self.vs_config(), max_retries=self.max_retries, on_failure=self.on_failure)

    def _attempts(self, schema: dict[str, Any], invoke: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if self._learnt_style is not None:
            styles = [self._learnt_style]
        elif self.schema_style != "auto":
            styles = [self.schema_style]
        else:
            styles = list(SCHEMA_STYLES)
        return [
            (style, invoke if style == "none" else {**invoke, "response_format": response_format(style, schema)})
            for style in styles
        ]

    def call_inner(
        self, llm: BaseChatModel, messages: list[Message], schema: dict[str, Any] | None, **invoke: Any
    ) -> AIMessage:
        """One inner call, sending ``schema`` in the first form the model accepts."""
        lc_messages = from_core_messages(messages)
        if schema is None:
            return _as_ai_message(llm.invoke(lc_messages, **invoke))
        attempts = self._attempts(schema, invoke)
        for position, (style, kwargs) in enumerate(attempts):
            try:
                result = llm.invoke(lc_messages, **kwargs)
            except Exception as exc:
                if position == len(attempts) - 1 or not error_refuses_response_format(exc):
                    raise
                continue
            self._learnt_style = style
            return _as_ai_message(result)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def acall_inner(
        self, llm: BaseChatModel, messages: list[Message], schema: dict[str, Any] | None, **invoke: Any
    ) -> AIMessage:
        """Async twin of :meth:`call_inner`."""
        lc_messages = from_core_messages(messages)
        if schema is None:
            return _as_ai_message(await llm.ainvoke(lc_messages, **invoke))
        attempts = self._attempts(schema, invoke)
        for position, (style, kwargs) in enumerate(attempts):
            try:
                result = await llm.ainvoke(lc_messages, **kwargs)
            except Exception as exc:
                if position == len(attempts) - 1 or not error_refuses_response_format(exc):
                    raise
                continue
            self._learnt_style = style
            return _as_ai_message(result)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _as_ai_message(result: Any) -> AIMessage:
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


def default_llm() -> BaseChatModel:
    """The embedded model as a LangChain chat model (needs the ``local`` extra)."""
    from .local_chat_model import ChatLocalModel

    return ChatLocalModel()
