"""``VerbalizedPromptTemplate``: any LlamaIndex prompt template in its VS form."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.prompts import BasePromptTemplate, PromptTemplate
from llama_index.core.types import BaseOutputParser
from pydantic import PrivateAttr

from ..core.config import VSConfig, resolve_config
from ..core.errors import SettingsError
from ..core.prompts import build_messages, system_prompt
from ._messages import from_core_messages, to_core_messages


class VerbalizedPromptTemplate(BasePromptTemplate):
    r"""Wraps a prompt template (e.g. the default text-QA template) so it asks for a VS reply.

    The variables stay those of the wrapped template (``context_str``/``query_str`` for QA). Chat
    messages get the core's VS instruction as (or appended to) the system message; a text prompt
    gets it as a preamble.

    Args:
        template: The template to wrap, or its text (made a ``PromptTemplate``, as LlamaIndex
            takes one). Wrapping a ``VerbalizedPromptTemplate`` again wraps its inner template,
            starting from its settings (the settings given here override them).
        config: A whole :class:`~vs_integrations.VSConfig` to start from.
        output_parser: LlamaIndex's output parser of the template.
        template_var_mappings: LlamaIndex's variable renames.
        function_mappings: LlamaIndex's computed variables.
        **settings: Flat VS settings (``k``, ``variant``, ``tail``, ``format``...) overriding
            ``config``; an unknown name raises :class:`~vs_integrations.SettingsError`.

    Example:
        >>> from llama_index.core.prompts import PromptTemplate
        >>> qa = VerbalizedPromptTemplate(PromptTemplate("Context: {context_str}\nQ: {query_str}"), k=3)
        >>> qa.template_vars, qa.vs_config.k
        (['context_str', 'query_str'], 3)
        >>> "3 different responses" in qa.format(context_str="c", query_str="q")
        True
    """

    inner: BasePromptTemplate
    _vs_config: VSConfig = PrivateAttr(default_factory=VSConfig)

    def __init__(
        self,
        template: BasePromptTemplate | str,
        config: VSConfig | None = None,
        *,
        output_parser: BaseOutputParser | None = None,
        template_var_mappings: dict[str, Any] | None = None,
        function_mappings: dict[str, Any] | None = None,
        **settings: Any,
    ) -> None:
        if isinstance(template, str):
            template = PromptTemplate(template)
        elif not isinstance(template, BasePromptTemplate):
            raise SettingsError(
                "VerbalizedPromptTemplate: template must be a LlamaIndex prompt template or a string; "
                f"got {type(template).__name__}",
                field="template",
            )
        if isinstance(template, VerbalizedPromptTemplate):
            # Re-wrapping replaces the settings instead of stacking two VS instructions.
            config = config or template.vs_config
            template = template.inner
        vs_config = resolve_config(
            config,
            owner="VerbalizedPromptTemplate",
            own=("template", "output_parser", "template_var_mappings", "function_mappings"),
            **settings,
        )
        super().__init__(  # type: ignore[call-arg]  # pydantic fields of this class
            inner=template,
            template_vars=list(template.template_vars),
            metadata=dict(template.metadata),
            # The wrapped template's partial values, so LlamaIndex's PromptHelper counts them.
            kwargs=dict(template.kwargs),
            output_parser=output_parser,
            template_var_mappings=template_var_mappings or {},
            function_mappings=function_mappings or {},
        )
        self._vs_config = vs_config

    @property
    def vs_config(self) -> VSConfig:
        """The VS settings (read-only)."""
        return self._vs_config

    def partial_format(self, **kwargs: Any) -> VerbalizedPromptTemplate:
        """Fill some variables now (on the wrapped template), keeping every other setting."""
        return VerbalizedPromptTemplate(
            self.inner.partial_format(**self._map_template_vars(kwargs)),
            self._vs_config,
            output_parser=self.output_parser,
            template_var_mappings=self.template_var_mappings,
            function_mappings=self.function_mappings,
        )

    def _mapped(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """This template's variable and function mappings applied, as LlamaIndex's templates do."""
        return self._map_all_vars({**self.kwargs, **kwargs})

    def format_messages(self, llm: BaseLLM | None = None, **kwargs: Any) -> list[ChatMessage]:
        """The wrapped template's messages with the VS instruction added."""
        messages = from_core_messages(build_messages(self.inner_messages(llm, **kwargs), self._vs_config))
        if self.output_parser is not None:
            messages = self.output_parser.format_messages(messages)
        return messages

    def inner_messages(self, llm: BaseLLM | None = None, **kwargs: Any) -> list[dict[str, str]]:
        """The wrapped template's messages, without the VS instruction (the engine adds it)."""
        return to_core_messages(self.inner.format_messages(llm=llm, **self._mapped(kwargs)))

    def format(self, llm: BaseLLM | None = None, **kwargs: Any) -> str:
        """A text prompt: the VS instruction, then the wrapped template's text."""
        prompt = f"{system_prompt(self._vs_config)}\n\n{self.inner.format(llm=llm, **self._mapped(kwargs))}"
        return self.output_parser.format(prompt) if self.output_parser is not None else prompt

    def get_template(self, llm: BaseLLM | None = None) -> str:
        """The template text: the VS instruction, then the wrapped template.

        LlamaIndex's formatter leaves braces that are not ``{variable}`` as they are (it does
        not unescape ``{{``), so the instruction is not escaped: escaping would send doubled
        braces to the model. The instruction holds no ``{name}`` placeholder.
        """
        return f"{system_prompt(self._vs_config)}\n\n{self.inner.get_template(llm=llm)}"
