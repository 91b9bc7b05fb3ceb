"""LangChain's standard chat-model suites, offline, on a GenericFakeChatModel scripted with VS replies."""

import itertools
import json
from typing import Any

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from vs_integrations.langchain import VerbalizedChatModel

REPLY = json.dumps(
    {
        "responses": [
            {"text": "Hello there!", "probability": 0.4},
            {"text": "Hi, how can I help?", "probability": 0.3},
            {"text": "Greetings.", "probability": 0.2},
            {"text": "Hey!", "probability": 0.1},
            {"text": "Good day to you.", "probability": 0.05},
        ]
    }
)


def scripted_inner() -> GenericFakeChatModel:
    usage = {"input_tokens": 12, "output_tokens": 40, "total_tokens": 52}
    return GenericFakeChatModel(messages=itertools.cycle([AIMessage(content=REPLY, usage_metadata=usage)]))


class VerbalizedParams:
    @property
    def chat_model_class(self) -> type[VerbalizedChatModel]:
        return VerbalizedChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"llm": scripted_inner(), "k": 5, "seed": 0}

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        # The wrapper holds no credentials (the inner model does), and refuses unknown keywords.
        params = super().standard_chat_model_params
        params.pop("api_key", None)
        return params

    @property
    def supports_model_override(self) -> bool:
        return False

    # bind_tools is overridden only to say what to do instead: no tool calling, no structured output.
    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False


class TestVerbalizedChatModelUnit(VerbalizedParams, ChatModelUnitTests):
    pass


class TestVerbalizedChatModelIntegration(VerbalizedParams, ChatModelIntegrationTests):
    pass
