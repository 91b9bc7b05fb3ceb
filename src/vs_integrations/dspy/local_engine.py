"""The embedded model as a DSPy LM, through DSPy's engine route (``dspy.LM(..., engine=...)``)."""

from __future__ import annotations

from typing import Any

import dspy
from dspy import lm15
from dspy.clients.engines.base import validate_request
from dspy.lm15 import Message, Request, Response, TextPart, Usage, response_to_events

from ..backends.local import LocalModel
from ..backends.response_format import schema_from_response_format
from ..core.calls import GenerationSettings, Model, ModelRequest, as_reply
from ..core.errors import BackendUnreachable, ContextTooLong, InvalidSetting, RequestRefused

_FINISH_REASONS = frozenset({"stop", "length", "tool_call", "content_filter", "error"})


class LocalEngine:
    """A DSPy engine (``complete(Request) -> Response``) over :class:`~vs_integrations.backends.local.LocalModel`.

    It declares JSON-schema support, so ``dspy.JSONAdapter`` sends the signature's schema and the
    model decodes under it (the embedded model needs that to follow a format). Each request's
    ``temperature``, ``top_p``, ``max_tokens``, ``seed`` and ``stop`` reach the model as the
    call's :class:`~vs_integrations.core.calls.GenerationSettings`; one left unset keeps the
    model's own default (e.g. ``LocalModel(temperature=...)``). The reply's tokens are the
    response's usage, which DSPy's usage tracking sums. The model's errors become DSPy's
    engine errors (a prompt too long a ``ContextWindowExceededError``, an unloadable model a
    transport error, a refused setting an invalid request), the package's error kept as the cause.

    Args:
        model: The backend (default ``LocalModel()``), or any object with ``generate(request)``.

    Example:
        >>> import dspy
        >>> lm = dspy.LM("local/smollm2", engine=LocalEngine(LocalModel(seed=0)))  # doctest: +SKIP
        >>> lm("Write a long story", max_tokens=8)  # doctest: +SKIP
    """

    supports_response_schema = True
    supported_params = frozenset({"response_format", *GenerationSettings.names()})

    def __init__(self, model: Model | None = None) -> None:
        self.model: Model = model if model is not None else LocalModel()

    @property
    def model_name(self) -> str:
        """The model's name (the GGUF file's for :class:`LocalModel`)."""
        return str(getattr(self.model, "model_name", type(self.model).__name__))

    def complete(self, request: Request) -> Response:
        """Run one request on the embedded model, with the request's generation settings."""
        validate_request(request)
        messages: list[dict[str, str]] = []
        if request.system is not None:
            system = request.system if isinstance(request.system, str) else "".join(p.text for p in request.system)
            messages.append({"role": "system", "content": system})
        messages.extend({"role": m.role, "content": m.text or ""} for m in request.messages)
        config = request.config
        try:
            settings = GenerationSettings(
                temperature=config.temperature,
                top_p=config.top_p,
                max_tokens=config.max_tokens,
                seed=config.seed,
                stop=config.stop or None,
            )
            schema = schema_from_response_format(config.response_format)
            reply = as_reply(self.model.generate(ModelRequest(messages, schema, settings)))
        except ContextTooLong as exc:
            raise lm15.ContextLengthError(str(exc), provider="local") from exc
        except BackendUnreachable as exc:
            raise lm15.TransportError(str(exc), provider="local") from exc
        except (RequestRefused, InvalidSetting) as exc:
            raise lm15.InvalidRequestError(str(exc), provider="local") from exc
        prompt, completion = reply.prompt_tokens or 0, reply.completion_tokens or 0
        finish = reply.finish_reason if reply.finish_reason in _FINISH_REASONS else "stop"
        return Response(
            id=None,
            model=reply.model or self.model_name,
            message=Message.assistant([TextPart(reply.text)]),
            finish_reason=finish,
            usage=Usage(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion),
        )

    def stream(self, request: Request) -> Any:
        """One buffered event stream of :meth:`complete`'s response."""
        return response_to_events(self.complete(request))

    def close(self) -> None:
        """Nothing to release: the model stays loaded for the process."""


class AsyncLocalEngine:
    """Async twin of :class:`LocalEngine` (runs the call in a worker thread)."""

    supports_response_schema = True
    supported_params = LocalEngine.supported_params

    def __init__(self, sync: LocalEngine) -> None:
        self.sync = sync

    async def complete(self, request: Request) -> Response:
        """Run one request on the embedded model without blocking the event loop."""
        import asyncio

        return await asyncio.to_thread(self.sync.complete, request)

    async def stream(self, request: Request) -> Any:
        """One buffered event stream."""
        for event in response_to_events(await self.complete(request)):
            yield event

    async def aclose(self) -> None:
        """Nothing to release."""


def local_lm(model: LocalModel | None = None, *, cache: bool = True, **kwargs: Any) -> dspy.LM:
    """A ``dspy.LM`` running the embedded model offline (``local`` extra).

    Use it with ``dspy.JSONAdapter()`` so the signature's JSON Schema constrains decoding.

    Args:
        model: The backend; default ``LocalModel()`` (SmolLM2-135M).
        cache: DSPy's response cache (on by default, as for any ``dspy.LM``).
        **kwargs: Further ``dspy.LM`` settings (e.g. ``temperature``); unset ones keep the
            model's own defaults. Per-call settings (``lm("...", max_tokens=8)``) reach the model.

    Example:
        >>> import dspy
        >>> dspy.configure(lm=local_lm(), adapter=dspy.JSONAdapter())  # doctest: +SKIP
    """
    engine = LocalEngine(model)
    return dspy.LM(
        f"local/{engine.model_name}", engine=engine, async_engine=AsyncLocalEngine(engine), cache=cache, **kwargs
    )
