"""Conversions between LangChain messages and the core's ``{"role", "content"}`` dicts.

An agent's history holds more than text turns. The VS request is a plain conversation (the
inner model is asked for candidates, never given tools), so every message is rendered as text:

* ``AIMessage`` with ``tool_calls``: an assistant turn, its text followed by one line per call,
  ``[tool call <name> (id <id>): <arguments as JSON>]``.
* ``ToolMessage`` / ``FunctionMessage``: a user turn ``[tool result <name> (id <id>)]`` then the
  result's text (a tool result is input to the model, as the user's words are).
* ``ChatMessage`` with a role other than user/assistant/system: a user turn ``[<role>]`` then
  its text.
* Content blocks: text blocks are joined; reasoning/thinking blocks (a model's earlier private
  reasoning) are left out; any other block (image, audio, file) is refused with
  :class:`UnsupportedMessage` naming the message and block type.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    ToolMessage,
    convert_to_messages,
)
from langchain_core.prompt_values import PromptValue

from ..core.errors import VSError
from ..core.prompts import Message

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "developer": "system"}
_CORE_ROLES = ("user", "assistant", "system")


class UnsupportedMessage(VSError, ValueError):
    """A message the VS request cannot carry as text (e.g. an image block); names its type.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> image = {"type": "image", "url": "https://example.com/cat.png"}
        >>> try:
        ...     to_core_messages([HumanMessage(content=[image])])
        ... except UnsupportedMessage as err:
        ...     err.message_type, err.block_type
        ('HumanMessage', 'image')
    """

    def __init__(self, message: str, *, message_type: str, block_type: str | None = None) -> None:
        super().__init__(message)
        self.message_type = message_type
        self.block_type = block_type


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
    """LangChain messages as the core's message dicts, rendered as the module docstring says.

    Raises:
        UnsupportedMessage: For content that is not text (naming the message and block type).
    """
    return [_render(message) for message in messages]


def _render(message: BaseMessage) -> Message:
    text = _text(message)
    if isinstance(message, (ToolMessage, FunctionMessage)):
        call_id = getattr(message, "tool_call_id", None)
        label = " ".join(part for part in ("tool result", message.name, f"(id {call_id})" if call_id else None) if part)
        return {"role": "user", "content": f"[{label}]\n{text}"}
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = [
            f"[tool call {call['name']} (id {call.get('id')}): {json.dumps(call['args'], ensure_ascii=False)}]"
            for call in message.tool_calls
        ]
        return {"role": "assistant", "content": "\n".join([text, *calls] if text else calls)}
    if isinstance(message, ChatMessage):
        role = _ROLES.get(message.role, message.role)
        if role in _CORE_ROLES:
            return {"role": role, "content": text}
        return {"role": "user", "content": f"[{message.role}]\n{text}"}
    plain_role = _ROLES.get(message.type)
    if plain_role is None:
        raise UnsupportedMessage(
            f"{type(message).__name__} (type {message.type!r}) has no rendering in a VS request",
            message_type=type(message).__name__,
        )
    return {"role": plain_role, "content": text}


def _text(message: BaseMessage) -> str:
    """The message's text blocks joined (reasoning left out); other blocks refused."""
    if isinstance(message.content, str):
        return message.content
    parts = []
    for block in message.content:
        if isinstance(block, str):
            parts.append(block)
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind not in ("reasoning", "thinking"):
            raise UnsupportedMessage(
                f"{type(message).__name__} holds a {kind!r} content block; a VS request carries text only "
                "(describe the content in text, or call the model directly)",
                message_type=type(message).__name__,
                block_type=str(kind),
            )
    return "".join(parts)


def from_core_messages(messages: Sequence[Message]) -> list[BaseMessage]:
    """The core's message dicts as LangChain messages."""
    return convert_to_messages([(m["role"], m["content"]) for m in messages])
