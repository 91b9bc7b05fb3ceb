"""The engine's loop driven through a LlamaIndex LLM, shared by the synthesizer and ``VerbalizedLLM``.

One generator holds the logic (the engine's steps, the reply-schema negotiation per request, the
inner LLM's errors mapped to the package's); :func:`drive` and :func:`adrive` only pass
:func:`~vs_integrations.core.driver.drive` the call to make.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Hashable
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.callbacks.token_counting import get_tokens_from_response
from llama_index.core.llms import LLM
from llama_index.core.output_parsers.base import OutputParserException

from ..backends.errors import as_backend_error
from ..backends.response_format import SchemaNegotiation
from ..core.calls import ModelRequest, Reply
from ..core.distribution import Distribution
from ..core.driver import drive as core_drive
from ..core.driver import run_sync
from ..core.errors import ParseError, SettingsError
from ._messages import from_core_messages

LLMCall = tuple[list[ChatMessage], dict[str, Any]]
"""One inner LLM call: the messages and the keywords for ``llm.chat``."""


class VerbalizedParseError(ParseError, OutputParserException):
    """No usable reply: a :class:`~vs_integrations.ParseError` and LlamaIndex's ``OutputParserException``.

    Either ``except`` catches it; ``.raw`` keeps the reply.

    Example:
        >>> try:
        ...     raise VerbalizedParseError("no candidate", "just prose")
        ... except OutputParserException as err:
        ...     err.raw
        'just prose'
    """


def check_llm(owner: str, llm: object) -> None:
    """Refuse something other than a LlamaIndex LLM, naming its type only (pydantic would print it whole)."""
    if not isinstance(llm, LLM):
        raise SettingsError(
            f"{owner}: llm must be a LlamaIndex LLM (llama_index.core.llms.LLM); got {type(llm).__name__}", field="llm"
        )


def model_name(llm: LLM) -> str:
    """The LLM's model name, or its class name."""
    return llm.metadata.model_name or type(llm).__name__


def endpoint(llm: LLM) -> Hashable:
    """What identifies the model for the learnt ``response_format`` form."""
    address = getattr(llm, "api_base", None) or getattr(llm, "base_url", None)
    return ("llama_index", llm.class_name(), llm.metadata.model_name, str(address) if address else None)


def engine_calls(
    llm: LLM,
    steps: Generator[ModelRequest, str | Reply, Distribution],
    schema_style: str,
    call_kwargs: dict[str, Any],
) -> Generator[LLMCall, ChatResponse, Distribution]:
    """The engine's ``steps`` as inner LLM calls; yields calls, is sent answers or thrown errors.

    Every request's generation settings go with the call's keywords (``call_kwargs`` first);
    each reply reaches the engine as a :class:`~vs_integrations.core.calls.Reply`, so the
    distribution's ``usage`` and ``calls`` hold what every call cost.

    Raises:
        VerbalizedParseError: When the engine gives up (``on_failure="raise"``, or nothing read).
        ContextTooLong, BackendUnreachable: The inner LLM's errors saying so (the original is the cause).
    """
    try:
        request = next(steps)
        while True:
            reply = yield from _negotiated(llm, request, schema_style, call_kwargs)
            request = steps.send(reply)
    except StopIteration as done:
        distribution: Distribution = done.value
        return distribution
    except VerbalizedParseError:
        raise
    except ParseError as exc:
        raise VerbalizedParseError.of(exc) from exc


def _negotiated(
    llm: LLM, request: ModelRequest, schema_style: str, call_kwargs: dict[str, Any]
) -> Generator[LLMCall, ChatResponse, Reply]:
    """One request: the schema's forms in turn until the LLM accepts one."""
    negotiation = SchemaNegotiation(endpoint(llm), request.schema, schema_style)
    forms = iter(negotiation)
    response_format = next(forms)
    chat = from_core_messages(request.messages)
    kwargs = {**call_kwargs, **request.settings.as_kwargs()}
    while True:
        start = time.perf_counter()
        try:
            response = yield (chat, ({**kwargs, "response_format": response_format} if response_format else kwargs))
        except Exception as exc:
            if negotiation.refused(exc):
                response_format = next(forms)
                continue
            ours = adapter_error(llm, exc)
            if ours is exc:
                raise
            raise ours from exc
        negotiation.accepted()
        return reply_from(response, time.perf_counter() - start, negotiation.style)


def adapter_error(llm: LLM, error: BaseException) -> BaseException:
    """The package's error for an inner LLM's failure (``error`` itself when none fits).

    Classified by :func:`~vs_integrations.backends.errors.classify_error` (a context-length
    message, a connection failure or timeout of Python, ``openai`` or ``httpx``, a server's error
    status); a :class:`~vs_integrations.ContextTooLong` carries the window LlamaIndex's metadata gives.
    """
    ours = as_backend_error(error, model_name(llm), limit=llm.metadata.context_window)
    return error if ours is None else ours


def reply_from(response: ChatResponse, seconds: float, schema_form: str | None = None) -> Reply:
    """The inner LLM's response as the engine's :class:`~vs_integrations.core.calls.Reply`.

    Tokens are read as LlamaIndex's token counter reads them (``raw["usage"]``), else from
    ``additional_kwargs``; the finish reason and model from an OpenAI-shaped ``raw``.
    """
    prompt_tokens, completion_tokens = get_tokens_from_response(response)
    if not (prompt_tokens or completion_tokens):
        extra = response.additional_kwargs
        prompt_tokens, completion_tokens = extra.get("prompt_tokens", 0), extra.get("completion_tokens", 0)
    choices = _field(response.raw, "choices")
    first = choices[0] if isinstance(choices, list | tuple) and choices else None
    finish_reason = _field(first, "finish_reason") or _field(response.raw, "finish_reason")
    model = _field(response.raw, "model")
    return Reply(
        response.message.content or "",
        prompt_tokens=int(prompt_tokens) or None,
        completion_tokens=int(completion_tokens) or None,
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        model=model if isinstance(model, str) else None,
        seconds=seconds,
        schema_form=schema_form,
    )


def _field(value: Any, name: str) -> Any:
    """``value[name]`` of a dict, ``value.name`` of an object (an SDK response), else None."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def drive(llm: LLM, calls: Generator[LLMCall, ChatResponse, Distribution]) -> Distribution:
    """Run :func:`engine_calls` with ``llm.chat``."""
    return run_sync(core_drive(lambda call: llm.chat(call[0], **call[1]), calls))


async def adrive(llm: LLM, calls: Generator[LLMCall, ChatResponse, Distribution]) -> Distribution:
    """Async twin of :func:`drive` (``llm.achat``)."""
    return await core_drive(lambda call: llm.achat(call[0], **call[1]), calls)
