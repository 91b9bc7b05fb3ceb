"""Any server speaking ``/v1/chat/completions`` (OpenAI, vLLM, Ollama, llama.cpp's server...).

The reply's JSON Schema is sent as ``response_format`` in the forms
:class:`~vs_integrations.backends.response_format.SchemaNegotiation` tries (OpenAI's ``json_schema``,
llama.cpp's ``json_object`` + ``schema``, then none: the parser reads prompt-only replies); the
form an endpoint accepted, and every form it refused, is remembered for the process.

Calls go through one sync and one async ``openai`` client per model (pooled connections), with
the client's own retries off: the package's :class:`~vs_integrations.backends.retry.RetryPolicy`
retries a 408/409/429/5xx answer or a failed connection, honouring ``Retry-After`` on 429 and
503. A reply-schema refusal (a 400/422 naming the format, or a 500 whose body names it) is never
retried: the next form is tried.

``max_in_flight`` caps the requests one model object has at the server at once (sync calls and
each event loop's async calls alike); a request waits for a slot before it is sent, so the wait
never counts against ``timeout``. Without it, a server that runs few requests at a time
(``llama_cpp.server`` answers one at a time) queues the rest, and the queued ones can run out of
time.

Every failure is one of the package's typed errors, keeping what the server sent:
:class:`~vs_integrations.BackendUnreachable` (connection refused or not accepted in time),
:class:`~vs_integrations.BackendTimeout` (a ``BackendUnreachable``: the server took the request but
did not answer within ``timeout``: busy or hung),
:class:`~vs_integrations.ContextTooLong` (with the limit and the prompt's tokens when the message
gives them), :class:`~vs_integrations.ResponseFormatRefused`, :class:`~vs_integrations.RequestRefused`
(any other error status; ``retry_after`` set when the server asked for a wait) and
:class:`~vs_integrations.MalformedResponse` (an answer that is not a chat completion: HTML, JSON
without ``choices``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..core.calls import GenerationSettings, ModelRequest, Reply
from ..core.errors import (
    BackendError,
    BackendTimeout,
    BackendUnreachable,
    ContextTooLong,
    InvalidSetting,
    MalformedResponse,
    RequestRefused,
    ResponseFormatRefused,
)
from .base import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, DEFAULT_TOP_P, Backend, check_positive
from .errors import context_sizes, is_context_length_error
from .response_format import (
    SchemaNegotiation,
    anegotiate,
    learnt_style,
    negotiate,
    refuses_response_format,
)
from .retry import DEFAULT_POLICY, RetryPolicy, parse_retry_after

T = TypeVar("T")
# The retry waits, looked up at call time so tests can record them instead of waiting.
_sleep = time.sleep
_async_sleep = asyncio.sleep
_INSTALL_HINT = "install the 'cli' extra: pip install 'vs-integrations[cli]'"
_RETRIED_STATUSES = frozenset({408, 409, 429})  # and every 5xx
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_SHOWN = 300  # characters of a body quoted in a message (the whole body stays on the error)


class RequestSlots:
    """At most ``limit`` requests in flight at once, and what waiting for a slot cost.

    One per :class:`OpenAICompatibleModel` (its ``slots``): sync calls share one
    ``threading.Semaphore``; async calls share an ``asyncio.Semaphore`` per event loop (an
    asyncio semaphore belongs to one loop, as the async client's pool does). A request holds a
    slot while it is sent and answered; the retry waits between its attempts hold none.

    Args:
        limit: Requests in flight at once (None: no limit; only counted).

    Attributes:
        limit: The cap, or None.
        in_flight: Requests being sent or answered now.
        waiting: Requests waiting for a slot now.
        waited_seconds: Seconds requests spent waiting for a slot, all added up.
        longest_wait: The longest one wait for a slot, in seconds.

    Example:
        >>> slots = RequestSlots(2)
        >>> with slots.held():
        ...     slots.in_flight
        1
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.in_flight = 0
        self.waiting = 0
        self.waited_seconds = 0.0
        self.longest_wait = 0.0
        self._lock = threading.Lock()
        self._sync = threading.Semaphore(limit) if limit is not None else None
        self._per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    @contextlib.contextmanager
    def held(self) -> Iterator[float]:
        """Hold a slot (waiting for one first); yields the seconds waited."""
        semaphore = self._sync
        waited = 0.0
        if semaphore is not None:
            start = self._wait_starts()
            try:
                semaphore.acquire()
            finally:
                waited = self._wait_ends(start)
        try:
            with self._holding():
                yield waited
        finally:
            if semaphore is not None:
                semaphore.release()

    @contextlib.asynccontextmanager
    async def aheld(self) -> AsyncIterator[float]:
        """Async twin of :meth:`held`: the wait does not block the event loop."""
        semaphore = None
        waited = 0.0
        if self.limit is not None:
            loop = asyncio.get_running_loop()
            with self._lock:
                semaphore = self._per_loop.setdefault(loop, asyncio.Semaphore(self.limit))
            start = self._wait_starts()
            try:
                await semaphore.acquire()
            finally:  # cancelled while waiting: no longer waiting, and holding nothing
                waited = self._wait_ends(start)
        try:
            with self._holding():
                yield waited
        finally:
            if semaphore is not None:
                semaphore.release()

    def _wait_starts(self) -> float:
        with self._lock:
            self.waiting += 1
        return time.perf_counter()

    def _wait_ends(self, start: float) -> float:
        waited = time.perf_counter() - start
        with self._lock:
            self.waiting -= 1
            self.waited_seconds += waited
            self.longest_wait = max(self.longest_wait, waited)
        return waited

    @contextlib.contextmanager
    def _holding(self) -> Iterator[None]:
        with self._lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1


class LoopClients:
    """One async client per event loop, each closed on its own loop.

    An async client's connections belong to the event loop they were opened on, so each loop
    gets its own client. With it starts a keeper: an async generator the loop finalises when it
    shuts down (``asyncio.run`` and pytest-asyncio do), which closes the client while its loop
    still runs. :meth:`close` has every open loop close its client; :meth:`aclose` also closes the
    running loop's client before it returns. Entries of loops that have closed are dropped
    whenever a client is added or closed.

    Args:
        new_client: Makes a client (called inside the loop that will use it); it must have an
            async ``close()``.

    Example:
        >>> import asyncio
        >>> class Client:
        ...     closed = False
        ...     async def close(self):
        ...         self.closed = True
        >>> clients = LoopClients(Client)
        >>> async def use():
        ...     return await clients.get()
        >>> asyncio.run(use()).closed  # closed as asyncio.run shut its loop down
        True
    """

    def __init__(self, new_client: Callable[[], Any]) -> None:
        self._new_client = new_client
        self._lock = threading.Lock()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, AsyncGenerator[None, None]]] = (
            weakref.WeakKeyDictionary()
        )

    def __len__(self) -> int:
        """Clients held now (of loops not yet seen closed)."""
        return len(self._clients)

    async def get(self) -> Any:
        """The running loop's client, made on first use."""
        loop = asyncio.get_running_loop()
        with self._lock:
            held = self._clients.get(loop)
            if held is not None:
                return held[0]
            self._forget_closed_loops()
            client = self._new_client()
            keeper = _closed_with_its_loop(client)
            self._clients[loop] = (client, keeper)
        # Its first step registers the keeper with the loop, which finalises it as it shuts down.
        await keeper.__anext__()
        return client

    def close(self) -> None:
        """Have each open loop close its client (it runs the close as soon as it runs)."""
        with self._lock:
            held, self._clients = dict(self._clients), weakref.WeakKeyDictionary()
        for loop, (_, keeper) in held.items():
            if not loop.is_closed():
                # A closed loop closed its client as it shut down (or can no longer close it).
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(_close_keeper, loop, keeper)

    async def aclose(self) -> None:
        """Close the running loop's client now, and the others as :meth:`close` does."""
        loop = asyncio.get_running_loop()
        with self._lock:
            own = self._clients.pop(loop, None)
        if own is not None:
            await own[1].aclose()
        self.close()

    def _forget_closed_loops(self) -> None:
        for loop in [loop for loop in self._clients if loop.is_closed()]:
            del self._clients[loop]


async def _closed_with_its_loop(client: Any) -> AsyncGenerator[None, None]:
    """Suspended until its loop finalises it (or it is closed): then closes ``client``."""
    try:
        yield
    finally:
        await client.close()


# The closes scheduled by LoopClients.close, held until done: a loop keeps only weak references to its tasks.
_closing: set[asyncio.Task[None]] = set()


def _close_keeper(loop: asyncio.AbstractEventLoop, keeper: AsyncGenerator[None, None]) -> None:
    task = loop.create_task(keeper.aclose())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


class OpenAICompatibleModel(Backend):
    """A chat model behind an OpenAI-compatible endpoint.

    A request's settings (``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stop``)
    override the ones given here for that call. Use it as a context manager (``with`` or
    ``async with``), or call :meth:`close` / :meth:`aclose`, to release the connections.

    ``max_in_flight`` caps the requests this object has at the server at once; the others wait
    for a slot in the client, and that wait counts against neither ``timeout`` nor the reply's
    ``seconds`` (:attr:`slots` adds the waits up). Set it to what the server runs at once
    (``llama_cpp.server``: 1; llama.cpp's ``llama-server``: its ``--parallel`` slots) when you
    start many calls together; the default (None) sends every request at once, as hosted APIs
    expect.

    Args:
        model: Model name; default ``$OPENAI_MODEL``.
        base_url: Server URL (``http://`` or ``https://``) ending in ``/v1``; default
            ``$OPENAI_BASE_URL`` or OpenAI's.
        api_key: Key; default ``$OPENAI_API_KEY`` (a placeholder is sent when a local server
            needs none).
        temperature: Sampling temperature (the paper uses 0.7).
        top_p: Nucleus sampling (the paper uses 1.0).
        max_tokens: Cap on generated tokens per call.
        seed: The server's sampling seed, sent with every call (None: not sent).
        timeout: Seconds per HTTP attempt (> 0), from when it is sent (a wait for a slot excluded).
        retry: The retry policy (default :data:`~vs_integrations.backends.retry.DEFAULT_POLICY`).
        max_retries: Shorthand for ``retry=RetryPolicy(attempts=max_retries + 1)``.
        max_in_flight: Requests in flight at once from this object, at most (a positive integer;
            None: no cap). Sync calls share the cap; async calls share it per event loop.

    Attributes:
        slots: The :class:`RequestSlots`: requests in flight and waiting now, and the time
            spent waiting for a slot.

    Raises:
        InvalidSetting: At construction, naming the argument whose value is refused.
        BackendTimeout, BackendUnreachable, ContextTooLong, ResponseFormatRefused, RequestRefused,
        MalformedResponse: From calls; see the module's docstring.

    Example:
        >>> from vs_integrations import VSEngine
        >>> with OpenAICompatibleModel("qwen2.5", base_url="http://127.0.0.1:8000/v1") as model:  # doctest: +SKIP
        ...     VSEngine().run(model, "Tell a joke about coffee.")
        >>> busy = OpenAICompatibleModel("qwen2.5", base_url="http://127.0.0.1:8000/v1", max_in_flight=1)
        >>> busy.slots.limit
        1
    """

    name = "openai-compatible"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        top_p: float = DEFAULT_TOP_P,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        seed: int | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        super().__init__(GenerationSettings(temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed))
        try:
            import httpx
            import openai
        except ImportError as exc:
            raise ImportError(f"the openai package is not installed: {_INSTALL_HINT}") from exc
        resolved = model or os.environ.get("OPENAI_MODEL")
        if not resolved:
            raise InvalidSetting("no model name: pass model= (or --model), or set OPENAI_MODEL", field="model")
        if not isinstance(resolved, str):
            raise InvalidSetting(f"model must be a string; got {resolved!r}", field="model")
        url = base_url or os.environ.get("OPENAI_BASE_URL")
        if url is not None:
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                raise InvalidSetting(f"base_url must be an http:// or https:// URL; got {url!r}", field="base_url")
        check_positive("timeout", timeout)
        if max_in_flight is not None:
            check_positive("max_in_flight", max_in_flight, integer=True)
        self.slots = RequestSlots(max_in_flight)
        self.retry = _policy(retry, max_retries)
        self.model_name = resolved
        self.timeout = timeout
        self._openai = openai
        self._connect_timeout = httpx.ConnectTimeout
        self._options: dict[str, Any] = {
            "base_url": url,
            "api_key": api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
            "timeout": timeout,
            "max_retries": 0,  # the package's retry policy decides (one policy for every path)
        }
        self._client = openai.OpenAI(**self._options)
        self._async_clients = LoopClients(self._new_async_client)

    @property
    def base_url(self) -> str:
        """The endpoint's base URL."""
        return str(self._client.base_url)

    @property
    def endpoint(self) -> tuple[str, str]:
        """``(base_url, model)``: the key under which the accepted reply-schema form is remembered."""
        return (self.base_url, self.model_name)

    @property
    def schema_style(self) -> str | None:
        """The ``response_format`` form this endpoint accepted in this process (None: not learnt yet)."""
        return learnt_style(self.endpoint)

    def _new_async_client(self) -> Any:
        # A plain pool (the SDK's defaults): the SDK's own wrapper, dropped after its loop
        # closed, would schedule its close on the next loop and fail there.
        return self._openai.AsyncOpenAI(**self._options, http_client=self._openai.DefaultAsyncHttpxClient())

    def close(self) -> None:
        """Close the sync client's connections, and have each event loop close its async client.

        An async client can only be closed on its own event loop: one whose loop is still open
        is closed there (at once when the loop runs; else when it next runs or shuts down), and
        one whose loop ended was closed as that loop shut down (``asyncio.run`` does that).
        Inside a running loop, ``await aclose()`` closes this loop's client before returning.
        """
        self._client.close()
        self._async_clients.close()

    async def aclose(self) -> None:
        """Close the sync client and this event loop's async client now; the others as :meth:`close` does."""
        self._client.close()
        await self._async_clients.aclose()

    def _body(self, request: ModelRequest, settings: GenerationSettings, form: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model_name, "messages": request.messages, **settings.as_kwargs()}
        if form is not None:
            body["response_format"] = form
        return body

    def _generate(self, request: ModelRequest) -> Reply:
        # The raw response: the client would hand back a bare str for an HTML body, or a
        # completion with choices=None for JSON without them, and lose the body either way.
        # Read inside the negotiation: a form is remembered only once a real completion came back.
        settings = self.settings_for(request)
        negotiation = SchemaNegotiation(self.endpoint, request.schema)
        create = self._client.chat.completions.with_raw_response.create
        tally = _CallTally()

        def call(form: dict[str, Any] | None) -> Reply:
            def send() -> Any:
                return create(**self._body(request, settings, form)).http_response

            response = self._retrying(send, form is not None, settings, tally)
            return self._reply(response.status_code, response.text)

        return tally.recorded(negotiate(negotiation, call), negotiation)

    async def agenerate(self, request: ModelRequest) -> Reply:
        """Native async :meth:`generate` (the async client; the event loop is never blocked)."""
        start = time.perf_counter()
        settings = self.settings_for(request)
        negotiation = SchemaNegotiation(self.endpoint, request.schema)
        create = (await self._async_clients.get()).chat.completions.with_raw_response.create
        tally = _CallTally(start)

        async def call(form: dict[str, Any] | None) -> Reply:
            async def send() -> Any:
                return (await create(**self._body(request, settings, form))).http_response

            response = await self._aretrying(send, form is not None, settings, tally)
            return self._reply(response.status_code, response.text)

        return self._record(tally.recorded(await anegotiate(negotiation, call), negotiation), start)

    def _retrying(
        self, send: Callable[[], T], sent_schema: bool, settings: GenerationSettings, tally: _CallTally | None
    ) -> T:
        """``send()``, retried under the policy; a failure as the package's typed error.

        With a ``tally``, each attempt holds a request slot (not the waits between attempts)
        and is counted there; without one, the caller holds the slot.
        """
        attempt, waited = 1, 0.0
        while True:
            with self.slots.held() if tally is not None else contextlib.nullcontext(0.0) as queued:
                if tally is not None:
                    tally.attempt(queued)
                try:
                    return send()
                except self._openai.APIError as exc:
                    error = self._typed(exc, sent_schema, settings)
                    wait = self._wait_before_retry(exc, error, attempt, waited)
                    if wait is None:
                        raise error from exc
            _sleep(wait)
            attempt, waited = attempt + 1, waited + wait

    async def _aretrying(
        self, send: Callable[[], Awaitable[T]], sent_schema: bool, settings: GenerationSettings, tally: _CallTally
    ) -> T:
        """Async twin of :meth:`_retrying` (the same policy; the waits do not block the loop)."""
        attempt, waited = 1, 0.0
        while True:
            async with self.slots.aheld() as queued:
                tally.attempt(queued)
                try:
                    return await send()
                except self._openai.APIError as exc:
                    error = self._typed(exc, sent_schema, settings)
                    wait = self._wait_before_retry(exc, error, attempt, waited)
                    if wait is None:
                        raise error from exc
            await _async_sleep(wait)
            attempt, waited = attempt + 1, waited + wait

    def _wait_before_retry(self, exc: Exception, error: BackendError, attempt: int, waited: float) -> float | None:
        """Seconds to wait before retrying after attempt number ``attempt``; None: do not retry.

        Retried: a failed connection, and a 408/409/429/5xx that is neither a reply-schema
        refusal nor a context overflow. A timeout is not: ``timeout`` bounds each attempt.
        """
        if isinstance(exc, self._openai.APITimeoutError):
            return None
        if isinstance(exc, self._openai.APIStatusError):
            transient = exc.status_code in _RETRIED_STATUSES or exc.status_code >= 500
            if not transient or isinstance(error, ResponseFormatRefused | ContextTooLong):
                return None
        elif not isinstance(exc, self._openai.APIConnectionError):
            return None
        return self.retry.next_wait(attempt, waited, error.retry_after)

    def _reply(self, status: int, body: str) -> Reply:
        where = f"{self.base_url} (model {self.model_name})"
        try:
            data = json.loads(body)
        except ValueError:
            raise MalformedResponse(
                f"{where} answered HTTP {status} with a body that is not JSON: {_quote(body)}", status=status, body=body
            ) from None
        choices = data.get("choices") if isinstance(data, dict) else None
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        message = choice.get("message")
        if not isinstance(message, dict):
            said = _error_message(data)
            detail = f" (it says: {said})" if said else ""
            raise MalformedResponse(
                f"{where} answered HTTP {status} with JSON that is not a chat completion "
                f"(no choices[0].message){detail}: {_quote(body)}",
                status=status,
                body=body,
            )
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        finish_reason = choice.get("finish_reason")
        model = data.get("model")
        text, finish_reason = _message_text(message, finish_reason if isinstance(finish_reason, str) else None)
        return Reply(
            text,
            _tokens(usage.get("prompt_tokens")),
            _tokens(usage.get("completion_tokens")),
            finish_reason=finish_reason,
            model=model if isinstance(model, str) and model else self.model_name,
        )

    def _stream(self, request: ModelRequest) -> Generator[str, None, Reply]:
        """Yield the reply as the server streams it; return it with the finish reason and tokens sent.

        The request asks for the token counts (``stream_options.include_usage``); a server that
        does not send them leaves the reply's counts None.

        Raises:
            MalformedResponse: If the server answers with something other than an event stream.
        """
        with self.slots.held():  # for the whole stream: the server is answering until its end
            return (yield from self._read_stream(request))

    def _read_stream(self, request: ModelRequest) -> Generator[str, None, Reply]:
        start = time.perf_counter()
        schema = request.schema
        merged = self.settings_for(request)
        negotiation = SchemaNegotiation(self.endpoint, schema)
        create: Any = self._client.chat.completions.create

        def call(form: dict[str, Any] | None) -> Any:
            def send() -> Any:
                body = self._body(request, merged, form)
                return create(stream=True, stream_options={"include_usage": True}, **body)

            return self._retrying(send, form is not None, merged, None)

        stream = negotiate(negotiation, call)
        content_type = stream.response.headers.get("content-type", "")
        if "text/event-stream" not in content_type:
            status = stream.response.status_code
            body = stream.response.read().decode("utf-8", "replace")
            stream.close()
            raise MalformedResponse(
                f"{self.base_url} answered a streaming request with {content_type or 'no content type'}, "
                f"not an event stream: {_quote(body)}",
                status=status,
                body=body,
            )
        pieces: list[str] = []
        finish_reason: str | None = None
        usage: Any = None
        model = self.model_name
        try:
            for chunk in stream:
                usage = chunk.usage or usage  # the last event when include_usage is honoured
                model = chunk.model or model
                if chunk.choices:
                    finish_reason = chunk.choices[0].finish_reason or finish_reason
                    piece = chunk.choices[0].delta.content
                    if piece:
                        pieces.append(piece)
                        yield piece
        except self._openai.APIError as exc:
            raise self._typed(exc, schema is not None, merged) from exc
        finally:  # counted however the stream ends (read to the end, closed early, failed)
            stream.close()
            reply = self._record(
                Reply(
                    "".join(pieces),
                    _tokens(getattr(usage, "prompt_tokens", None)),
                    _tokens(getattr(usage, "completion_tokens", None)),
                    finish_reason=finish_reason,
                    model=model,
                    schema_form=negotiation.style,
                ),
                start,
            )
        return reply

    def _typed(self, exc: Exception, sent_schema: bool, settings: GenerationSettings) -> BackendError:
        """The package's error for an ``openai`` exception, keeping the server's body."""
        where = f"{self.base_url} (model {self.model_name})"
        if isinstance(exc, self._openai.APITimeoutError):
            if isinstance(exc.__cause__, self._connect_timeout):
                return BackendUnreachable(f"{where} did not accept a connection within {self.timeout:g} s")
            return self._timed_out(where)
        if isinstance(exc, self._openai.APIConnectionError):
            return BackendUnreachable(f"could not reach {where}: {exc.__cause__ or exc}")
        if not isinstance(exc, self._openai.APIStatusError):
            return MalformedResponse(f"{where} sent an answer the client could not read: {exc}", body=str(exc))
        status = exc.status_code
        body = exc.response.text
        message = _error_message(exc.body) or body.strip() or exc.message
        described = f"{where} refused the request with HTTP {status}: {_quote(message)}"
        if is_context_length_error(message) or is_context_length_error(body):
            limit, prompt_tokens = context_sizes(message + " " + body, settings.max_tokens)
            return ContextTooLong(
                f"the prompt does not fit the model's context"
                f"{f' of {limit} tokens' if limit else ''}: {where} answered HTTP {status}: {_quote(message)}",
                limit=limit,
                prompt_tokens=prompt_tokens,
                status=status,
                body=body,
            )
        if sent_schema and refuses_response_format(status, message):
            return ResponseFormatRefused(described, status=status, body=body)
        retry_after = _retry_after(exc.response.headers) if status in _RETRY_AFTER_STATUSES else None
        if retry_after is not None:
            described += f" (it asks to retry after {retry_after:g} s)"
        return RequestRefused(described, status=status, body=body, retry_after=retry_after)

    def _timed_out(self, where: str) -> BackendTimeout:
        """The error of a request the server took but did not answer in time, with what may help."""
        in_flight = self.slots.in_flight
        if self.slots.limit is None:
            advice = (
                f"{in_flight} request(s) of this model were in flight: if the server runs fewer at once "
                f"(llama_cpp.server: one), the rest queue there; pass max_in_flight= "
                f"(requests at once) or a longer timeout="
            )
        else:
            advice = (
                f"at most {self.slots.limit} request(s) at once (max_in_flight); "
                f"if the server runs fewer, lower it, or pass a longer timeout="
            )
        return BackendTimeout(
            f"{where} accepted the request but did not answer within {self.timeout:g} s (busy or hung; {advice})",
            timeout=self.timeout,
            in_flight=in_flight,
        )


def _policy(retry: RetryPolicy | None, max_retries: int | None) -> RetryPolicy:
    """The retry policy from ``retry=`` or the ``max_retries=`` shorthand (not both)."""
    if max_retries is None:
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidSetting(f"retry must be a RetryPolicy; got {retry!r}", field="retry")
        return retry or DEFAULT_POLICY
    if retry is not None:
        raise InvalidSetting("pass retry= or max_retries=, not both", field="max_retries")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InvalidSetting(f"max_retries must be an integer >= 0; got {max_retries!r}", field="max_retries")
    return RetryPolicy(attempts=max_retries + 1)


@dataclass
class _CallTally:
    """One call's HTTP attempts and its seconds waiting for a request slot."""

    start: float = field(default_factory=time.perf_counter)
    attempts: int = 0
    queued: float = 0.0

    def attempt(self, queued: float) -> None:
        """Count an attempt that waited ``queued`` seconds for its slot."""
        self.attempts += 1
        self.queued += queued

    def recorded(self, reply: Reply, negotiation: SchemaNegotiation) -> Reply:
        """``reply`` with its reply-schema form, attempts, and seconds without the waits for a slot."""
        seconds = time.perf_counter() - self.start - self.queued
        return replace(reply, schema_form=negotiation.style, attempts=self.attempts, seconds=seconds)


def _retry_after(headers: Any) -> float | None:
    """The wait a server asks for: ``retry-after-ms`` (as OpenAI sends) or ``Retry-After``."""
    milliseconds = parse_retry_after(headers.get("retry-after-ms"))
    return milliseconds / 1000 if milliseconds is not None else parse_retry_after(headers.get("retry-after"))


def _error_message(data: Any) -> str:
    """The human message inside an error body: ``{"error": {"message"}}``, ``{"message"}``, ``{"detail"}``."""
    if not isinstance(data, dict):
        return ""
    inner = data.get("error", data)
    if isinstance(inner, str):
        return inner
    if isinstance(inner, dict):
        for key in ("message", "detail", "msg"):
            value = inner.get(key)
            if isinstance(value, str) and value:
                return value
    detail = data.get("detail")
    return json.dumps(detail) if detail else ""


def _message_text(message: dict[str, Any], finish_reason: str | None) -> tuple[str, str | None]:
    """The reply's text and finish reason: the content, else what the model said instead of it.

    A model that declines answers with ``content`` null and a ``refusal`` (OpenAI): that text is
    the reply, with the finish reason ``"refusal"``. A reasoning model that spent its tokens
    thinking answers with the ``reasoning_content`` alone: that text is the reply, with the
    server's finish reason. Either way the engine gets the model's words to report.
    """
    content = message.get("content")
    if isinstance(content, str) and content:
        return content, finish_reason
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        return refusal, "refusal"
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        return reasoning, finish_reason
    return "", finish_reason


def _tokens(value: Any) -> int | None:
    """A token count the server reported; None when it did not."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SHOWN else flat[:_SHOWN] + "…"
