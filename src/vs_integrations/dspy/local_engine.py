"""The embedded model as a DSPy LM, through DSPy's engine route (``dspy.LM(..., engine=...)``)."""

from __future__ import annotations

from typing import Any

import dspy
from dspy.clients.engines.base import validate_request
from dspy.lm15 import Message, Request, Response, TextPart, Usage, response_to_events

from ..backends.local import LocalModel
from ..backends.response_format import schema_from_response_format


class LocalEngine:
    """A DSPy engine (``complete(Request) -> Response``) over :class:`~vs_integrations.backends.local.LocalModel`.

    It declares JSON-schema support, so ``dspy.JSONAdapter`` sends the signature's schema and the
    model decodes under it (the embedded model needs that to follow a format).

    Example:
        >>> import dspy
        >>> lm = dspy.LM("local/smollm2", engine=LocalEngine(LocalModel(seed=0)))  # doctest: +SKIP
    """

    supports_response_schema = True
    supported_params = frozenset({"response_format", "temperature", "max_tokens"})

    def __init__(self, model: LocalModel | None = None) -> None:
        self.model = model or LocalModel()

    def complete(self, request: Request) -> Response:
        """Run one request on the embedded model."""
        validate_request(request)
        messages: list[dict[str, str]] = []
        if request.system is not None:
            system = request.system if isinstance(request.system, str) else "".join(p.text for p in request.system)
            messages.append({"role": "system", "content": system})
        messages.extend({"role": m.role, "content": m.text or ""} for m in request.messages)
        completion = self.model.complete(messages, schema_from_response_format(request.config.response_format))
        return Response(
            id=None,
            model=self.model.model_name,
            message=Message.assistant([TextPart(completion.text)]),
            finish_reason="stop",
            usage=Usage(
                input_tokens=completion.prompt_tokens,
                output_tokens=completion.completion_tokens,
                total_tokens=completion.prompt_tokens + completion.completion_tokens,
            ),
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
        **kwargs: Further ``dspy.LM`` settings (e.g. ``temperature``).

    Example:
        >>> import dspy
        >>> dspy.configure(lm=local_lm(), adapter=dspy.JSONAdapter())  # doctest: +SKIP
    """
    engine = LocalEngine(model)
    return dspy.LM(
        f"local/{engine.model.model_name}", engine=engine, async_engine=AsyncLocalEngine(engine), cache=cache, **kwargs
    )
