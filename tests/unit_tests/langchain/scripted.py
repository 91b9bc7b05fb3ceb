"""Scripted replies for the LangChain tests: VS JSON, a fake chat model, and a recorder of what it was sent."""

import json
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import GenericFakeChatModel


def vs_reply(*texts: str) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 1 / len(texts)} for t in texts]})


def fake(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(replies))


class Prompts(BaseCallbackHandler):
    """Records the messages of every chat-model call."""

    def __init__(self) -> None:
        self.sent: list[list[Any]] = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.sent.append(messages[0])
