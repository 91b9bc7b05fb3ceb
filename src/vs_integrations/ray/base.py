"""Verbalized Sampling over Ray Data: one VS distribution per row, on one machine or a cluster.

Two ways in:

* :func:`verbalize` sends every row to an OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp's
  server, OpenAI...) through the package's own backend and engine, so each row gets the engine's
  retries, the reply-schema negotiation and the typed errors. A row that fails becomes an error
  row; no row is dropped.
* :func:`preprocess` and :func:`postprocess` plug VS into ``ray.data.llm.build_processor``, so a
  cluster running vLLM or SGLang engine processors (or the HTTP processor) gets VS prompts, the
  reply schema as guided decoding, and parsed distributions. That path is one pass: one engine
  call per row, no retries.

Both take ``distinct=N``. :func:`verbalize` runs :meth:`VSEngine.distinct
<vs_integrations.VSEngine.distinct>` per row (calls pooled until N distinct candidates are held,
within ``max_calls``). The processor path has one call per row, so there ``distinct=N`` asks for
N candidates in that call (``k=N``); a reply holding fewer is kept with the shortfall in the
distribution's ``warnings`` (under the default ``on_failure="partial"``).

Output columns, in both: ``distribution`` (``Distribution.to_dict()`` with its trace: ``calls``,
one record per model call, and their sum ``usage``; or None), ``sampled`` (one text drawn from it,
or None) and ``error`` (None, or the dict :func:`error_record` makes, with the calls the row made).

Generation settings (``temperature``, ``top_p``, ``max_tokens``, ``stop``, or a whole
:class:`~vs_integrations.GenerationSettings` as ``settings=``, whose ``seed`` is the model's own
sampling seed) are checked when :func:`verbalize` or :func:`preprocess` is called, before any
row runs, and go with every call of a row (top-ups and ``distinct`` follow-ups included).

What a seed reproduces: the VS setting ``seed`` seeds the draw only. A row's ``sampled`` is
``distribution.sample(f"{seed}:{prompt}")`` (the package's one draw, with a str seed; ``prompt``
is the row's prompt text, or its chat messages as JSON), so the same distribution and the same
prompt give the same ``sampled`` text on any worker, in any process, on either path. It does not
make the model's replies repeat: for that, set the model's sampling seed
(``settings=GenerationSettings(seed=...)``) on a server that honours it.
"""

from __future__ import annotations

import json
import math
import numbers
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

try:
    import pyarrow as pa
    import ray  # absolute: this module's own name does not shadow the ray package
    import ray.data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("ray is not installed: install the 'ray' extra: pip install 'vs-integrations[ray]'") from exc

from ..backends.base import DEFAULT_SETTINGS
from ..backends.response_format import SCHEMA_STYLES, error_status, is_context_length_error, response_format
from ..core.calls import CallRecord, GenerationSettings, Model, ModelRequest, Reply, as_reply
from ..core.config import VSConfig, resolve_config
from ..core.distribution import Distribution, ValidPredicate
from ..core.driver import drive, run_sync
from ..core.engine import VSEngine, check_valid
from ..core.errors import BackendError, ContextTooLong, InvalidSetting, MalformedResponse, ParseError, RequestRefused
from ..core.prompts import Message, build_messages

if TYPE_CHECKING:
    from ray.data import Dataset

__all__ = ["OUTPUT_TYPES", "error_record", "postprocess", "preprocess", "verbalize"]

Processor = Literal["vllm", "sglang", "http"]
PROCESSORS: tuple[str, ...] = ("vllm", "sglang", "http")
DEFAULT_SAMPLING_PARAMS: dict[str, Any] = DEFAULT_SETTINGS.as_kwargs()
"""Sent unless overridden: vLLM's own default of 16 new tokens would cut every reply short."""
_SGLANG_NAMES = {"max_tokens": "max_new_tokens", "seed": "sampling_seed"}
"""SGLang's names for the generation settings vLLM and the OpenAI API spell otherwise."""
_GENERATION_KEYWORDS = ("temperature", "top_p", "max_tokens", "stop", "settings")
_CANDIDATE = pa.struct(
    [("text", pa.string()), ("probability", pa.float64()), ("raw_probability", pa.float64()), ("index", pa.int64())]
)
_CALL = pa.struct(
    [
        ("kind", pa.string()),
        ("added", pa.int64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("seconds", pa.float64()),
        ("finish_reason", pa.string()),
        ("model", pa.string()),
        ("schema_form", pa.string()),
        ("attempts", pa.int64()),
    ]
)
"""One :class:`~vs_integrations.core.calls.CallRecord` (its ``to_dict()``)."""
_USAGE = pa.struct(
    [
        ("calls", pa.int64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("seconds", pa.float64()),
        ("unreported", pa.int64()),
    ]
)
OUTPUT_TYPES: dict[str, pa.DataType] = {
    "distribution": pa.struct(
        [
            ("candidates", pa.list_(_CANDIDATE)),
            ("raw", pa.string()),
            ("warnings", pa.list_(pa.string())),
            ("truncated", pa.bool_()),
            ("reasoning", pa.string()),
            ("calls", pa.list_(_CALL)),
            ("usage", _USAGE),
        ]
    ),
    "sampled": pa.string(),
    "error": pa.struct(
        [
            ("type", pa.string()),
            ("message", pa.string()),
            ("status", pa.int64()),
            ("body", pa.string()),
            ("calls", pa.list_(_CALL)),
        ]
    ),
}
"""The Arrow types of the columns :func:`verbalize` adds: the same in every block, whatever its rows
hold, so blocks written to Parquet read back as one table."""
_PROMPT_KEPT = "_vs_prompt"  # engine processors overwrite ``prompt`` with the chat-templated text
_CALL_SENT = "_vs_call"  # the request's token limit and schema form, which the reply row does not carry
_ADDED_BY_PREPROCESS = ("messages", "sampling_params", "payload", _PROMPT_KEPT, _CALL_SENT)


def error_record(exc: BaseException, calls: Sequence[CallRecord] | None = None) -> dict[str, Any]:
    """The ``error`` column's value for a failed row: what failed, everything the server sent, the calls made.

    Keys: ``type`` (the exception's class name, e.g. ``"ContextTooLong"``), ``message``,
    ``status`` (the HTTP status, or None), ``body`` (the server's response body for a
    :class:`BackendError`, the model's raw reply, every attempt's, for a :class:`ParseError`,
    else None) and ``calls`` (one ``CallRecord.to_dict()`` per model call the row made: ``calls``
    when given, else the exception's own trace, as a :class:`ParseError` from the engine carries).

    Example:
        >>> error_record(ParseError("no candidates", "I'd rather not."))["body"]
        "I'd rather not."

    """
    status: int | None
    body: str | None
    if isinstance(exc, BackendError):
        status, body = exc.status, exc.body
    elif isinstance(exc, ParseError):
        status, body = None, exc.raw
    else:
        status, body = error_status(exc), None
    made = getattr(exc, "calls", ()) if calls is None else calls
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "status": status,
        "body": body,
        "calls": [record.to_dict() for record in made if isinstance(record, CallRecord)],
    }


# ----------------------------------------------------------------------------- checks
def _count(owner: str, name: str, value: object) -> int:
    """``value`` if it is an integer >= 1, else InvalidSetting naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSetting(f"{owner}: {name} must be an integer >= 1; got {value!r}", field=name)
    return value


def _positive(owner: str, name: str, value: object) -> float:
    """``value`` if it is a finite number > 0, else InvalidSetting naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InvalidSetting(f"{owner}: {name} must be a finite number > 0; got {value!r}", field=name)
    return float(value)


def _column(owner: str, name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidSetting(
            f"{owner}: prompt_column must be a column name (a non-empty str); got {name!r}", field="prompt_column"
        )
    return name


def _distinct(owner: str, distinct: int | None, max_calls: int | None = None) -> None:
    if distinct is not None:
        _count(owner, "distinct", distinct)
    if max_calls is not None:
        if distinct is None:
            raise InvalidSetting(
                f"{owner}: max_calls applies only with distinct=N; got max_calls={max_calls!r}", field="max_calls"
            )
        _count(owner, "max_calls", max_calls)


def _generation(
    owner: str, base: dict[str, Any], settings: GenerationSettings | None, **fields: Any
) -> GenerationSettings:
    """``base``, then ``settings``, then the keyword ``fields`` that are set, checked field by field.

    Raises:
        InvalidSetting: Naming the field (``settings`` when it is not a GenerationSettings).
    """
    if settings is not None and not isinstance(settings, GenerationSettings):
        raise InvalidSetting(
            f"{owner}: settings must be a GenerationSettings; got {type(settings).__name__}", field="settings"
        )
    try:
        return GenerationSettings(**base).updated(settings, **fields)
    except InvalidSetting as exc:
        raise InvalidSetting(f"{owner}: {exc}", field=exc.field or "settings") from exc


# ----------------------------------------------------------------------------- rows
def _instruction(value: Any, column: str) -> str | list[Message]:
    """A row's prompt: a string, or a list of chat messages (Ray hands lists over as arrays).

    Raises:
        InvalidSetting: The value is neither (the row becomes an error row).
    """
    if isinstance(value, str):
        return value
    try:
        messages = [{"role": str(message["role"]), "content": str(message["content"])} for message in value]
    except (TypeError, KeyError, IndexError):
        messages = []  # not a list of {"role", "content"} mappings: refused below
    if not messages:
        raise InvalidSetting(
            f"the {column!r} column must hold a string or a list of chat messages "
            f"({{'role': ..., 'content': ...}}); got {str(value)[:80]!r}",
            field=column,
        ) from None
    return messages


def _draw(distribution: Distribution, seed: int | None, instruction: str | list[Message]) -> str:
    # The one draw with a str seed: the same prompt draws the same text on any worker or path.
    prompt = instruction if isinstance(instruction, str) else json.dumps(instruction, ensure_ascii=False)
    return distribution.sample(None if seed is None else f"{seed}:{prompt}").text


def _result(distribution: Distribution | None, sampled: str | None, error: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "distribution": None if distribution is None else distribution.to_dict(),
        "sampled": sampled,
        "error": error,
    }


def _failure(exc: Exception, calls: Sequence[CallRecord]) -> dict[str, Any]:
    """An error row; ``calls`` are the row's calls unless the error carries the engine's own trace."""
    if isinstance(exc, ParseError):
        # The engine's trace (with what each call added) and the best short distribution it read.
        return _result(exc.distribution, None, error_record(exc))
    return _result(None, None, error_record(exc, calls))


class _CallLog:
    """The backend as the engine sees it for one row: each call noted, so a failed row says what it cost."""

    def __init__(self, backend: Model) -> None:
        self.backend = backend
        self.records: list[CallRecord] = []

    def generate(self, request: ModelRequest) -> Reply:
        start = time.perf_counter()
        try:
            value = self.backend.generate(request)
        except Exception:
            # The failed call itself: what it was and how long it took (no reply, no tokens).
            self.records.append(CallRecord(request.kind, seconds=round(time.perf_counter() - start, 6)))
            raise
        reply = as_reply(value, time.perf_counter() - start)
        self.records.append(CallRecord.of(request.kind, reply, 0))  # added 0: a failed row keeps nothing
        return reply


class _VerbalizeWorker:
    """One per Ray actor: the HTTP client is built once, a batch's rows are sent concurrently."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        prompt_column: str,
        config: VSConfig,
        settings: GenerationSettings,
        requests_per_worker: int,
        timeout: float,
        distinct: int | None = None,
        max_calls: int | None = None,
        valid: ValidPredicate | None = None,
    ) -> None:
        from ..backends.openai_compatible import OpenAICompatibleModel

        # The settings go with every call (run's settings=); the backend also takes the ones it
        # has fields for as its defaults, so they hold whether or not it reads a request's own.
        defaults = {k: v for k, v in settings.as_kwargs().items() if k in ("temperature", "top_p", "max_tokens")}
        self.backend = OpenAICompatibleModel(model, base_url=base_url, api_key=api_key, timeout=timeout, **defaults)
        self.engine = VSEngine(config, valid=valid)
        self.settings = settings
        self.distinct = distinct
        self.max_calls = max_calls
        self.prompt_column = prompt_column
        self.pool = ThreadPoolExecutor(max_workers=requests_per_worker)

    def one(self, prompt: Any) -> dict[str, Any]:
        """The three output columns for one prompt; any failure becomes an error row."""
        log = _CallLog(self.backend)
        try:
            instruction = _instruction(prompt, self.prompt_column)
            if self.distinct is None:
                distribution = self.engine.run(log, instruction, settings=self.settings)
            else:
                distribution = self.engine.distinct(
                    log, instruction, self.distinct, max_calls=self.max_calls, settings=self.settings
                )
            return _result(distribution, _draw(distribution, self.engine.config.seed, instruction), None)
        except Exception as exc:  # one row's failure must not stop the others
            return _failure(exc, log.records)

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.prompt_column not in batch.column_names:
            raise KeyError(f"verbalize: prompt_column {self.prompt_column!r} is not a column; got {batch.column_names}")
        results = list(self.pool.map(self.one, batch.column(self.prompt_column).to_pylist()))
        for name, type_ in OUTPUT_TYPES.items():
            field, column = pa.field(name, type_), pa.array([result[name] for result in results], type=type_)
            # A re-run over earlier output replaces its columns rather than adding twins.
            index = batch.schema.get_field_index(name)
            batch = batch.set_column(index, field, column) if index >= 0 else batch.append_column(field, column)
        return batch


def verbalize(
    ds: Dataset,
    *,
    base_url: str,
    model: str,
    api_key: str | None = None,
    prompt_column: str = "prompt",
    concurrency: int | tuple[int, int] = 2,
    requests_per_worker: int = 4,
    batch_size: int = 16,
    num_cpus: float = 0.25,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    stop: str | Sequence[str] | None = None,
    settings: GenerationSettings | None = None,
    timeout: float = 120.0,
    distinct: int | None = None,
    max_calls: int | None = None,
    valid: ValidPredicate | None = None,
    config: VSConfig | None = None,
    **vs_settings: Any,
) -> Dataset:
    """Add a VS distribution, a drawn text and an error column to every row of ``ds``.

    Each row's prompt goes through :class:`VSEngine` against an OpenAI-compatible endpoint, with
    the engine's retries for that row alone. A row whose call or parse fails gets
    ``distribution=None`` (or the short distribution the engine kept), ``sampled=None`` and an
    ``error`` dict; the other rows are unaffected and no row is dropped.

    Args:
        ds: The input dataset; every column is kept.
        base_url: The endpoint, ending in ``/v1``.
        model: The served model's name.
        api_key: The endpoint's key (None for a local server).
        prompt_column: The column holding each prompt (a string, or a list of chat messages).
        concurrency: Ray workers (actors) sending requests: an integer >= 1, or ``(min, max)``
            for an autoscaling pool.
        requests_per_worker: Requests each worker keeps in flight (threads).
        batch_size: Rows handed to a worker at a time.
        num_cpus: CPUs reserved per worker; the work waits on the network, so a fraction.
        temperature: Sampling temperature of every call (None: the backend's 0.7).
        top_p: Nucleus sampling of every call (None: the backend's 1.0).
        max_tokens: Cap on generated tokens per call (None: the backend's 1024).
        stop: Stop sequences of every call.
        settings: All of these (and the model's sampling ``seed``) as one
            :class:`~vs_integrations.GenerationSettings`; the keywords above win over it.
        timeout: Seconds per request.
        distinct: Collect this many distinct candidates per row with
            :meth:`VSEngine.distinct <vs_integrations.VSEngine.distinct>` (several calls of ``k``,
            pooled into one distribution); None makes one VS call per row.
        max_calls: The per-row call budget of ``distinct`` (default ``2 * ceil(N / k) + 1``).
        valid: ``valid(text) -> bool`` on a candidate's text: a refused candidate is dropped
            (a warning names it, ``raw`` keeps it) and counts as missing, so the row's top-up
            asks for more, naming it; ``k`` and ``distinct`` count valid candidates. It is
            pickled to the workers with Ray's cloudpickle: a lambda or a closure works, and so
            does anything it captures that pickles (a compiled regex, a set of answers).
        config: A whole :class:`VSConfig` to start from.
        **vs_settings: VS settings (``k``, ``variant``, ``tail``, ``max_retries``, ``seed``...);
            ``seed`` seeds the draw of ``sampled`` (see the module's docstring).

    Returns:
        A lazy dataset: the input columns plus ``distribution``, ``sampled`` and ``error``.

    Raises:
        SettingsError: At call time, before any work, for an unknown VS setting or a ``valid``
            that is not a function.
        InvalidSetting: At call time, before any work, naming the field: a generation setting
            out of range (``temperature=nan``, ``max_tokens=0``...), a ``concurrency``,
            ``requests_per_worker``, ``batch_size``, ``distinct`` or ``max_calls`` that is not an
            integer >= 1 (``max_calls`` without ``distinct``), a ``num_cpus`` or ``timeout`` that
            is not > 0, or a ``prompt_column`` that is not a name. (It is a ``ValueError`` too.)

    Example:
        >>> import ray
        >>> from vs_integrations.ray import verbalize
        >>> ds = ray.data.from_items([{"prompt": "Name a US state."}])  # doctest: +SKIP
        >>> out = verbalize(ds, base_url="http://127.0.0.1:8000/v1", model="qwen", k=5)  # doctest: +SKIP
        >>> out.take(1)[0]["sampled"]  # doctest: +SKIP
        'Oregon'

    """
    owner = "verbalize"
    resolved = resolve_config(config, owner=owner, own=_GENERATION_KEYWORDS, **vs_settings)
    generation = _generation(
        owner, {}, settings, temperature=temperature, top_p=top_p, max_tokens=max_tokens, stop=stop
    )
    _distinct(owner, distinct, max_calls)
    check_valid(valid, owner)
    if isinstance(concurrency, tuple | list) and len(concurrency) == 2:
        low, high = (_count(owner, "concurrency", size) for size in concurrency)
        if low > high:
            raise InvalidSetting(
                f"{owner}: concurrency (min, max) needs min <= max; got {concurrency!r}", field="concurrency"
            )
        compute = ray.data.ActorPoolStrategy(min_size=low, max_size=high)
    else:
        compute = ray.data.ActorPoolStrategy(size=_count(owner, "concurrency", concurrency))
    worker = {
        "base_url": base_url,
        "model": model,
        "api_key": api_key,
        "prompt_column": _column(owner, prompt_column),
        "config": resolved,
        "settings": generation,
        "requests_per_worker": _count(owner, "requests_per_worker", requests_per_worker),
        "timeout": _positive(owner, "timeout", timeout),
        "distinct": distinct,
        "max_calls": max_calls,
        "valid": valid,
    }
    rows, cpus = _count(owner, "batch_size", batch_size), _positive(owner, "num_cpus", num_cpus)
    return ds.map_batches(
        _VerbalizeWorker,
        fn_constructor_kwargs=worker,
        compute=compute,
        batch_size=rows,
        batch_format="pyarrow",
        num_cpus=cpus,
    )


def _one_pass_config(
    owner: str, config: VSConfig | None, vs_settings: dict[str, Any], distinct: int | None, own: Sequence[str] = ()
) -> VSConfig:
    resolved = resolve_config(config, owner=owner, own=own, **vs_settings)
    _distinct(owner, distinct)
    if distinct is not None:
        # One call per row: the N distinct candidates are asked for in that call.
        resolved = resolved.with_(k=distinct)
    if resolved.variant == "multi":
        raise InvalidSetting(
            f"{owner}: variant='multi' needs a conversation of several calls; a processor makes one call per row "
            "(use verbalize() for it)",
            field="variant",
        )
    # One engine call per row: the reply is read once, as the engine's last attempt.
    return resolved.with_(max_retries=0)


def preprocess(
    *,
    processor: Processor = "vllm",
    prompt_column: str = "prompt",
    model: str | None = None,
    sampling_params: dict[str, Any] | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    stop: str | Sequence[str] | None = None,
    settings: GenerationSettings | None = None,
    schema_style: str = "json_schema",
    distinct: int | None = None,
    config: VSConfig | None = None,
    **vs_settings: Any,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The ``preprocess`` row function for ``ray.data.llm.build_processor``: VS prompt and schema.

    Each row gets ``messages`` (the VS system prompt and the row's prompt) and, for the engine
    processors, ``sampling_params`` carrying the reply's JSON Schema as guided decoding (vLLM:
    ``structured_outputs={"json": schema}``; SGLang: ``json_schema``). For
    ``HttpRequestProcessorConfig`` (``processor="http"``) the row instead gets ``payload``, an
    OpenAI chat request with the schema as ``response_format``.

    The generation settings start from :data:`DEFAULT_SAMPLING_PARAMS`; ``sampling_params``,
    then ``settings``, then the keywords override them, and all are checked here, before any
    row runs. SGLang gets its own names (``max_new_tokens``, ``sampling_seed``).

    Args:
        processor: ``"vllm"``, ``"sglang"`` or ``"http"``: which processor config the function
            feeds.
        prompt_column: The column holding each prompt (a string or a list of chat messages).
        model: The served model's name (required for ``"http"``, unused otherwise).
        sampling_params: Overrides :data:`DEFAULT_SAMPLING_PARAMS`; keys other than the
            generation settings (``repetition_penalty``...) are passed to the engine as they are.
        temperature: Sampling temperature.
        top_p: Nucleus sampling.
        max_tokens: Cap on generated tokens.
        stop: Stop sequences.
        settings: These and the model's sampling ``seed`` as one
            :class:`~vs_integrations.GenerationSettings`.
        schema_style: For ``"http"``: the ``response_format`` dialect (``"json_schema"`` for
            OpenAI and vLLM, ``"json_object"`` for llama.cpp's server, ``"none"``).
        distinct: Ask for this many distinct candidates in the row's one call (it sets ``k``;
            give :func:`postprocess` the same value).
        config: A whole :class:`VSConfig` to start from.
        **vs_settings: VS settings (``k``, ``tail``, ``probability``...); ``variant="multi"`` is
            refused (it needs several calls per row).

    Raises:
        SettingsError: At call time for an unknown VS setting.
        InvalidSetting: At call time, naming the field: an unknown processor or schema style, a
            missing ``model`` for ``"http"``, ``variant="multi"``, a ``distinct`` that is not an
            integer >= 1, a generation setting out of range. (It is a ``ValueError`` too.)

    Example:
        >>> from vs_integrations.ray import preprocess
        >>> row = preprocess(k=3)({"prompt": "Name a colour."})
        >>> row["messages"][1]["content"], row["sampling_params"]["max_tokens"]
        ('Name a colour.', 1024)

    """
    owner = "preprocess"
    resolved = _one_pass_config(owner, config, vs_settings, distinct, own=_GENERATION_KEYWORDS)
    if processor not in PROCESSORS:
        raise InvalidSetting(
            f"{owner}: processor must be one of {', '.join(PROCESSORS)}; got {processor!r}", field="processor"
        )
    if schema_style not in SCHEMA_STYLES:
        raise InvalidSetting(
            f"{owner}: schema_style must be one of {', '.join(SCHEMA_STYLES)}; got {schema_style!r}",
            field="schema_style",
        )
    if processor == "http" and not model:
        raise InvalidSetting(f"{owner}: processor='http' needs model= (the served model's name)", field="model")
    column = _column(owner, prompt_column)
    extra = dict(sampling_params or {})
    named = {name: extra.pop(name) for name in GenerationSettings.names() if name in extra}
    generation = _generation(
        owner,
        {**DEFAULT_SAMPLING_PARAMS, **named},
        settings,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        stop=stop,
    )
    params = generation.as_kwargs()
    if processor == "sglang":
        params = {_SGLANG_NAMES.get(name, name): value for name, value in params.items()}
    params.update(extra)
    engine = VSEngine(resolved)
    schema = engine.schema()
    limit = params.get("max_new_tokens" if processor == "sglang" else "max_tokens")
    guided: dict[str, Any] = {}
    format_: dict[str, Any] | None = None
    if schema is None:
        form = "none"
    elif processor == "http":
        format_ = response_format(schema_style, schema)
        form = schema_style if format_ is not None else "none"
    else:
        # As a JSON string: a dict would be stored as an Arrow struct between stages.
        text = json.dumps(schema)
        form = "structured_outputs" if processor == "vllm" else "json_schema"
        guided = {"structured_outputs": {"json": text}} if processor == "vllm" else {"json_schema": text}
    sent = {"max_tokens": limit, "schema_form": form}

    def vs_preprocess(row: dict[str, Any]) -> dict[str, Any]:
        prompt = row[column]
        messages = build_messages(_instruction(prompt, column), resolved)
        out = {**row, _PROMPT_KEPT: prompt, _CALL_SENT: sent, "messages": messages}
        if processor == "http":
            out["payload"] = {"model": model, "messages": messages, **params}
            if format_ is not None:
                out["payload"]["response_format"] = format_
        else:
            out["sampling_params"] = {**params, **guided}
        return out

    return vs_preprocess


def _reply_text(row: dict[str, Any]) -> str:
    """The model's reply in a processor's output row (engine ``generated_text`` or HTTP JSON).

    Raises:
        RequestRefused: The HTTP answer was an error object (``ContextTooLong`` for a context
            length error).
        MalformedResponse: There was no reply text where one should be.

    """
    if "generated_text" in row:
        text = row["generated_text"]
        if not isinstance(text, str):
            raise MalformedResponse(f"generated_text is not a string: {text!r}", body=repr(text))
        return text
    response = row.get("http_response")
    body = json.dumps(response, default=str)
    if isinstance(response, dict) and response.get("error"):
        error = response["error"]
        message = str(error.get("message", error) if isinstance(error, dict) else error)
        if is_context_length_error(message):
            raise ContextTooLong(message, body=body)
        raise RequestRefused(message, body=body)
    try:
        content = response["choices"][0]["message"]["content"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError) as exc:
        raise MalformedResponse(f"the reply has no choices[0].message.content ({exc!r})", body=body) from exc
    if not isinstance(content, str):
        raise MalformedResponse("choices[0].message.content is not a string", body=body)
    return content


def _tokens(value: object) -> int | None:
    # Ray hands numbers over as numpy scalars: numbers.Integral takes those too.
    count = int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else None
    return count if count is not None and count >= 0 else None


def _call_facts(row: dict[str, Any]) -> dict[str, Any]:
    """What a processor's output row says of its one call, as :class:`Reply` fields (None: not said).

    The HTTP processor keeps the chat completion: its ``usage``, ``choices[0].finish_reason`` and
    ``model``. The engine processors give ``num_input_tokens``, ``num_generated_tokens`` and
    ``time_taken_llm`` but no finish reason: it is read off the token limit :func:`preprocess`
    sent (``"length"`` when the reply used all of it, else ``"stop"``).
    """
    sent = row.get(_CALL_SENT) or {}
    facts: dict[str, Any] = {"schema_form": sent.get("schema_form")}
    response = row.get("http_response")
    if isinstance(response, dict):
        usage = response.get("usage") or {}
        try:
            finish = response["choices"][0]["finish_reason"]
        except (KeyError, IndexError, TypeError):
            finish = None
        model = response.get("model")
        return {
            **facts,
            "prompt_tokens": _tokens(usage.get("prompt_tokens")),
            "completion_tokens": _tokens(usage.get("completion_tokens")),
            "finish_reason": finish if isinstance(finish, str) else None,
            "model": model if isinstance(model, str) else None,
        }
    generated, limit = _tokens(row.get("num_generated_tokens")), _tokens(sent.get("max_tokens"))
    taken = row.get("time_taken_llm")  # -1 on a row the engine failed
    seconds = float(taken) if isinstance(taken, numbers.Real) and not isinstance(taken, bool) else None
    return {
        **facts,
        "prompt_tokens": _tokens(row.get("num_input_tokens")),
        "completion_tokens": generated,
        "finish_reason": None if generated is None or limit is None else "length" if generated >= limit else "stop",
        "seconds": seconds if seconds is not None and 0 <= seconds < math.inf else None,
    }


def postprocess(
    *,
    prompt_column: str = "prompt",
    distinct: int | None = None,
    valid: ValidPredicate | None = None,
    config: VSConfig | None = None,
    **vs_settings: Any,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The ``postprocess`` row function for ``ray.data.llm.build_processor``: parsed distributions.

    Reads ``generated_text`` (vLLM, SGLang) or ``http_response`` (HTTP processor) with the core
    parser and the engine's rules for a short reply (``on_failure``). A reply that does not parse,
    or an HTTP error answer, becomes an error row, never an exception. The row keeps its own
    columns (the prompt restored) and the engine's outputs, without the columns
    :func:`preprocess` added. The one call is in the trace (``distribution["calls"]``, or the
    error's ``calls``) with what the processor reported of it: tokens always; the finish reason
    and model from the HTTP processor; seconds and a finish reason read off the token limit from
    the engine processors.

    Args:
        prompt_column: The prompt column given to :func:`preprocess`.
        distinct: The ``distinct`` given to :func:`preprocess`: a reply with fewer distinct
            candidates is kept with the shortfall as a warning (``on_failure="partial"``).
        valid: ``valid(text) -> bool`` on a candidate's text: a refused candidate is dropped (a
            warning names it, ``raw`` keeps it) and counts as missing; with one call per row
            there is no top-up, so the row keeps fewer (``on_failure``) or, when every
            candidate is refused, becomes an error row. Pickled like any Ray function (a lambda
            works).
        config: A whole :class:`VSConfig` to start from.
        **vs_settings: The same VS settings as :func:`preprocess`.

    Raises:
        SettingsError: At call time for an unknown VS setting or a ``valid`` that is not a function.
        InvalidSetting: At call time for an invalid value (``distinct`` included) or
            ``variant="multi"``.

    Example:
        >>> from vs_integrations.ray import postprocess
        >>> reply = '{"responses": [{"text": "red", "probability": 0.6}, {"text": "blue", "probability": 0.4}]}'
        >>> row = postprocess(k=2, seed=0)({"prompt": "Name a colour.", "generated_text": reply})
        >>> row["sampled"] in {"red", "blue"}, row["error"], row["distribution"]["usage"]["calls"]
        (True, None, 1)

    """
    resolved = _one_pass_config("postprocess", config, vs_settings, distinct)
    column = _column("postprocess", prompt_column)
    engine = VSEngine(resolved, valid=check_valid(valid, "postprocess"))

    def vs_postprocess(row: dict[str, Any]) -> dict[str, Any]:
        prompt = row.get(_PROMPT_KEPT, row.get(column))
        out = {key: value for key, value in row.items() if key not in _ADDED_BY_PREPROCESS}
        out[column] = prompt
        facts = _call_facts(row)
        try:
            instruction = _instruction(prompt, column)
            reply = Reply(_reply_text(row), **facts)
            # The engine's loop with no retries left: it reads the one reply by the engine's rules.
            distribution = run_sync(drive(lambda _request: reply, engine.steps(instruction)))
        except Exception as exc:  # one row's failure must not stop the others
            return {**out, **_failure(exc, [CallRecord("first", **facts)])}
        return {**out, **_result(distribution, _draw(distribution, resolved.seed, instruction), None)}

    return vs_postprocess
