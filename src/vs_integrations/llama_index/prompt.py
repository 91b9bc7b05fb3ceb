"""``VerbalizedPromptTemplate``: any LlamaIndex prompt template in its VS form."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.prompts import BasePromptTemplate
from pydantic import Field

from ..core.config import VSConfig
from ..core.prompts import build_messages, system_prompt
from ._messages import from_core_messages, to_core_messages


class VerbalizedPromptTemplate(BasePromptTemplate):
    r"""Wraps a prompt template (e.g. the default text-QA template) so it asks for a VS reply.

    The variables stay those of the wrapped template (``context_str``/``query_str`` for QA). Chat
    messages get the core's VS instruction as (or appended to) the system message; a text prompt
    gets it as a preamble.

    Args:
        template: The template to wrap.
        config: The VS settings (default ``VSConfig()``).

    Example:
        >>> from llama_index.core.prompts import PromptTemplate
        >>> qa = VerbalizedPromptTemplate(PromptTemplate("Context: {context_str}\\nQ: {query_str}"))
        >>> qa.template_vars
        ['context_str', 'query_str']
        >>> "5 different responses" in qa.format(context_str="c", query_str="q")
        True
    """

    inner: BasePromptTemplate
    vs_config: Any = Field(default_factory=VSConfig)

    def __init__(self, template: BasePromptTemplate, config: VSConfig | None = None, **kwargs: Any) -> None:
        if isinstance(template, VerbalizedPromptTemplate):
            template = template.inner  # re-wrapping replaces the settings instead of stacking them
        super().__init__(  # type: ignore[call-arg]  # pydantic fields of this class
            inner=template,
            vs_config=config or VSConfig(),
            template_vars=list(template.template_vars),
            metadata=dict(template.metadata),
            kwargs={},
            output_parser=kwargs.pop("output_parser", None),
            **kwargs,
        )

    def partial_format(self, **kwargs: Any) -> VerbalizedPromptTemplate:
        """Fill some variables now (on the wrapped template)."""
        return VerbalizedPromptTemplate(self.inner.partial_format(**kwargs), self.vs_config)

    def format_messages(self, llm: BaseLLM | None = None, **kwargs: Any) -> list[ChatMessage]:
        """The wrapped template's messages with the VS instruction added."""
        messages = from_core_messages(build_messages(self.inner_messages(llm, **kwargs), self.vs_config))
        if self.output_parser is not None:
            messages = self.output_parser.format_messages(messages)
        return messages

    def inner_messages(self, llm: BaseLLM | None = None, **kwargs: Any) -> list[dict[str, str]]:
        """The wrapped template's messages, without the VS instruction (the engine adds it)."""
        return to_core_messages(self.inner.format_messages(llm=llm, **kwargs))

    def format(self, llm: BaseLLM | None = None, **kwargs: Any) -> str:
        """A text prompt: the VS instruction, then the wrapped template's text."""
        prompt = f"{system_prompt(self.vs_config)}\n\n{self.inner.format(llm=llm, **kwargs)}"
        return self.output_parser.format(prompt) if self.output_parser is not None else prompt

    def get_template(self, llm: BaseLLM | None = None) -> str:
        """The template text: the VS instruction, then the wrapped template.

        LlamaIndex's formatter leaves braces that are not ``{variable}`` as they are (it does
        not unescape ``{{``), so the instruction is not escaped: escaping would send doubled
        braces to the model. The instruction holds no ``{name}`` placeholder.
        """
        return f"{system_prompt(self.vs_config)}\n\n{self.inner.get_template(llm=llm)}"
