"""Message translation between LlamaIndex and the core."""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.base.llms.types import ChatMessage, MessageRole

from ..core.prompts import Message


def to_core_messages(messages: Sequence[ChatMessage]) -> list[Message]:
    """LlamaIndex chat messages as the core's ``{"role", "content"}`` dicts (text only)."""
    return [{"role": str(m.role.value), "content": m.content or ""} for m in messages]


def from_core_messages(messages: Sequence[Message]) -> list[ChatMessage]:
    """The core's message dicts as LlamaIndex chat messages."""
    return [ChatMessage(role=MessageRole(m["role"]), content=m["content"]) for m in messages]
