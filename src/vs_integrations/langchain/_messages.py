"""Conversions between LangChain messages and the core's ``{"role", "content"}`` dicts."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue

from ..core.prompts import Message

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
