"""A scripted LlamaIndex CustomLLM (the adapter's tests script every reply)."""

import json
from collections.abc import Sequence
from typing import Any

from llama_index.core import Document
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from pydantic import PrivateAttr


def vs_reply(*texts: str) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 1 / len(texts)} for t in texts]})


class HTTPError(Exception):
    """Shaped like an SDK's HTTP error: a message and a ``status_code``."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class ScriptedLLM(CustomLLM):
    """Replies from a script (an exception in the script is raised) and records every chat."""

    replies: list[Any]
    context_window: int = 4096
    refused_formats: tuple[str, ...] = ()
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens reported in raw, OpenAI-style
    _calls: list = PrivateAttr(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window, num_output=256, is_chat_model=True, model_name="scripted"
        )

    @property
    def calls(self) -> list:
        return self._calls

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self._calls.append((list(messages), kwargs))
        form = (kwargs.get("response_format") or {}).get("type")
        if form in self.refused_formats:
            raise HTTPError(f"response_format type {form!r} is not supported", 400)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        raw = None
        if self.usage is not None:
            prompt, completion = self.usage
            raw = {
                "model": "scripted-1",
                "choices": [{"finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
            }
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=reply), raw=raw)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self.chat([ChatMessage(role=MessageRole.USER, content=prompt)]).message.content)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        yield self.complete(prompt)


DOCS = [
    Document(text="The Eiffel Tower is in Paris. It was finished in 1889."),
    Document(text="The Colosseum is in Rome. It held gladiator games."),
    Document(text="Big Ben is in London. It is a clock tower."),
]
