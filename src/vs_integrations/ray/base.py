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

Output columns, in both: ``distribution`` (``Distribution.to_dict()``, or None), ``sampled`` (one
text drawn from it, or None) and ``error`` (None, or the dict :func:`error_record` makes).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

try:
    import pyarrow as pa
    import ray  # absolute: this module's own name does not shadow the ray package
    import ray.data
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("ray is not installed: install the 'ray' extra: pip install 'vs-integrations[ray]'") from exc

from ..backends.response_format import SCHEMA_STYLES, error_status, is_context_length_error, response_format
from ..core.config import VSConfig, resolve_config
from ..core.distribution import Distribution
from ..core.engine import VSEngine
from ..core.errors import BackendError, ContextTooLong, MalformedResponse, ParseError, RequestRefused
from ..core.prompts import Message

if TYPE_CHECKING:
    from ray.data import Dataset

__all__ = ["OUTPUT_TYPES", "error_record", "postprocess", "preprocess", "verbalize"]

Processor = Literal["vllm", "sglang", "http"]
PROCESSORS: tuple[str, ...] = ("vllm", "sglang", "http")
DEFAULT_SAMPLING_PARAMS: dict[str, Any] = {"temperature": 0.7, "top_p": 1.0, "max_tokens": 1024}
"""Sent unless overridden: vLLM's own default of 16 new tokens would cut every reply short."""
_CANDIDATE = pa.struct(
    [("text", pa.string()), ("probability", pa.float64()), ("raw_probability", pa.float64()), ("index", pa.int64())]
)
OUTPUT_TYPES: dict[str, pa.DataType] = {
    "distribution": pa.struct(
        [
            ("candidates", pa.list_(_CANDIDATE)),
            ("raw", pa.string()),
            ("warnings", pa.list_(pa.string())),
            ("truncated", pa.bool_()),
            ("reasoning", pa.string()),
        ]
    ),
    "sampled": pa.string(),
    "error": pa.struct(
        [("type", pa.string()), ("message", pa.string()), ("status", pa.int64()), ("body", pa.string())]
    ),
}
"""The Arrow types of the columns :func:`verbalize` adds: the same in every block, whatever its rows
hold, so blocks written to Parquet read back as one table."""
_PROMPT_KEPT = "_vs_prompt"  # engine processors overwrite ``prompt`` with the chat-templated text
_ADDED_BY_PREPROCESS = ("messages", "sampling_params", "payload", _PROMPT_KEPT)


def error_record(exc: BaseException) -> dict[str, Any]:
    """The ``error`` column's value for a failed row: what failed and everything the server sent.

    Keys: ``type`` (the exception's class name, e.g. ``"ContextTooLong"``), ``message``,
    ``status`` (the HTTP status, or None) and ``body`` (the server's response body for a
    :class:`BackendError`, the model's raw reply for a :class:`ParseError`, else None).

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
    return {"type": type(exc).__name__, "message": str(exc), "status": status, "body": body}


def _instruction(value: Any) -> str | list[Message]:
    """A row's prompt: a string, or a list of chat messages (Ray hands lists over as arrays)."""
    if isinstance(value, str):
        return value
    if value is None:
        raise ValueError("the prompt is missing (None)")
    return [{"role": str(message["role"]), "content": str(message["content"])} for message in value]


def _draw(distribution: Distribution, seed: int | None, prompt: Any) -> str:
    # Seeded per prompt, so a rerun draws the same text whichever worker handles the row.
    rng = None if seed is None else random.Random(f"{seed}:{prompt}")
    return distribution.sample(rng).text


def _result(distribution: Distribution | None, sampled: str | None, error: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "distribution": None if distribution is None else distribution.to_dict(),
        "sampled": sampled,
        "error": error,
    }


def _failure(exc: Exception) -> dict[str, Any]:
    # A ParseError may carry the best short distribution the engine read: keep it.
    partial = exc.distribution if isinstance(exc, ParseError) else None
    return _result(partial, None, error_record(exc))


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
        requests_per_worker: int,
        temperature: float,
        max_tokens: int,
        timeout: float,
        distinct: int | None = None,
        max_calls: int | None = None,
    ) -> None:
        from ..backends.openai_compatible import OpenAICompatibleModel

        self.backend = OpenAICompatibleModel(
            model, base_url=base_url, api_key=api_key, temperature=temperature, max_tokens=max_tokens, timeout=timeout
        )
        self.engine = VSEngine(config)
        self.distinct = distinct
        self.max_calls = max_calls
        self.prompt_column = prompt_column
        self.pool = ThreadPoolExecutor(max_workers=requests_per_worker)

    def one(self, prompt: Any) -> dict[str, Any]:
        """The three output columns for one prompt; any failure becomes an error row."""
        try:
            instruction = _instruction(prompt)
            if self.distinct is None:
                distribution = self.engine.run(self.backend, instruction)
            else:
                distribution = self.engine.distinct(self.backend, instruction, self.distinct, max_calls=self.max_calls)
            return _result(distribution, _draw(distribution, self.engine.config.seed, prompt), None)
        except Exception as exc:  # one row's failure must not stop the others
            return _failure(exc)

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
    temperature: float = 0.7,
    max_tokens: int = 1024,
    timeout: float = 120.0,
    distinct: int | None = None,
    max_calls: int | None = None,
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
        concurrency: Ray workers (actors) sending requests: a number, or ``(min, max)`` for an
            autoscaling pool.
        requests_per_worker: Requests each worker keeps in flight (threads).
        batch_size: Rows handed to a worker at a time.
        num_cpus: CPUs reserved per worker; the work waits on the network, so a fraction.
        temperature: Sampling temperature sent with every request.
        max_tokens: Cap on generated tokens per request.
        timeout: Seconds per request.
        distinct: Collect this many distinct candidates per row with
            :meth:`VSEngine.distinct <vs_integrations.VSEngine.distinct>` (several calls of ``k``,
            pooled into one distribution); None makes one VS call per row.
        max_calls: The per-row call budget of ``distinct`` (default ``2 * ceil(N / k) + 1``).
        config: A whole :class:`VSConfig` to start from.
        **vs_settings: VS settings (``k``, ``variant``, ``tail``, ``max_retries``, ``seed``...).

    Returns:
        A lazy dataset: the input columns plus ``distribution``, ``sampled`` and ``error``.

    Raises:
        SettingsError: At call time, before any work, for an unknown VS setting.
        ValueError: At call time for an invalid setting value or worker count, or a
            ``distinct``/``max_calls`` that is not a positive integer (``max_calls`` without
            ``distinct``).

    Example:
        >>> import ray
        >>> from vs_integrations.ray import verbalize
        >>> ds = ray.data.from_items([{"prompt": "Name a US state."}])  # doctest: +SKIP
        >>> out = verbalize(ds, base_url="http://127.0.0.1:8000/v1", model="qwen", k=5)  # doctest: +SKIP
        >>> out.take(1)[0]["sampled"]  # doctest: +SKIP
        'Oregon'

    """
    resolved = resolve_config(config, owner="verbalize", **vs_settings)
    try:
        # The engine checks distinct/max_calls at its loop's first step: take it now, send nothing.
        next(VSEngine(resolved).steps("validation only", distinct=distinct, max_calls=max_calls))
    except ValueError as exc:
        raise ValueError(f"verbalize: {exc}") from exc
    if requests_per_worker < 1 or batch_size < 1:
        raise ValueError(
            f"verbalize: requests_per_worker and batch_size must be >= 1; got {requests_per_worker}, {batch_size}"
        )
    if isinstance(concurrency, int):
        compute = ray.data.ActorPoolStrategy(size=concurrency)
    else:
        low, high = concurrency
        compute = ray.data.ActorPoolStrategy(min_size=low, max_size=high)
    return ds.map_batches(
        _VerbalizeWorker,
        fn_constructor_kwargs={
            "base_url": base_url,
            "model": model,
            "api_key": api_key,
            "prompt_column": prompt_column,
            "config": resolved,
            "requests_per_worker": requests_per_worker,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "timeout": timeout,
            "distinct": distinct,
            "max_calls": max_calls,
        },
        compute=compute,
        batch_size=batch_size,
        batch_format="pyarrow",
        num_cpus=num_cpus,
    )


def _one_pass_config(
    owner: str, config: VSConfig | None, vs_settings: dict[str, Any], distinct: int | None
) -> VSConfig:
    resolved = resolve_config(config, owner=owner, **vs_settings)
    if distinct is not None:
        if isinstance(distinct, bool) or not isinstance(distinct, int) or distinct < 1:
            raise ValueError(f"{owner}: distinct must be a positive integer; got {distinct!r}")
        # One call per row: the N distinct candidates are asked for in that call.
        resolved = resolved.with_(k=distinct)
    if resolved.variant == "multi":
        raise ValueError(
            f"{owner}: variant='multi' needs a conversation of several calls; a processor makes one call per row "
            "(use verbalize() for it)"
        )
    # One engine call per row: the reply is read once, as the engine's last attempt.
    return resolved.with_(max_retries=0)


def preprocess(
    *,
    processor: Processor = "vllm",
    prompt_column: str = "prompt",
    model: str | None = None,
    sampling_params: dict[str, Any] | None = None,
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

    Args:
        processor: ``"vllm"``, ``"sglang"`` or ``"http"``: which processor config the function
            feeds.
        prompt_column: The column holding each prompt (a string or a list of chat messages).
        model: The served model's name (required for ``"http"``, unused otherwise).
        sampling_params: Overrides :data:`DEFAULT_SAMPLING_PARAMS` (temperature, max_tokens...).
        schema_style: For ``"http"``: the ``response_format`` dialect (``"json_schema"`` for
            OpenAI and vLLM, ``"json_object"`` for llama.cpp's server, ``"none"``).
        distinct: Ask for this many distinct candidates in the row's one call (it sets ``k``;
            give :func:`postprocess` the same value).
        config: A whole :class:`VSConfig` to start from.
        **vs_settings: VS settings (``k``, ``tail``, ``probability``...); ``variant="multi"`` is
            refused (it needs several calls per row).

    Raises:
        SettingsError: At call time for an unknown VS setting.
        ValueError: At call time for an unknown processor or schema style, a missing ``model``
            for ``"http"``, ``variant="multi"``, or a ``distinct`` that is not a positive integer.

    Example:
        >>> from vs_integrations.ray import preprocess
        >>> row = preprocess(k=3)({"prompt": "Name a colour."})
        >>> row["messages"][1]["content"], row["sampling_params"]["max_tokens"]
        ('Name a colour.', 1024)

    """
    resolved = _one_pass_config("preprocess", config, vs_settings, distinct)
    if processor not in PROCESSORS:
        raise ValueError(f"preprocess: processor must be one of {', '.join(PROCESSORS)}; got {processor!r}")
    if schema_style not in SCHEMA_STYLES:
        raise ValueError(f"preprocess: schema_style must be one of {', '.join(SCHEMA_STYLES)}; got {schema_style!r}")
    if processor == "http" and not model:
        raise ValueError("preprocess: processor='http' needs model= (the served model's name)")
    engine = VSEngine(resolved)
    schema = engine.schema()
    params = {**DEFAULT_SAMPLING_PARAMS, **(sampling_params or {})}
    guided: dict[str, Any] = {}
    if schema is not None:
        # As a JSON string: a dict would be stored as an Arrow struct between stages.
        text = json.dumps(schema)
        guided = {"structured_outputs": {"json": text}} if processor == "vllm" else {"json_schema": text}

    def vs_preprocess(row: dict[str, Any]) -> dict[str, Any]:
        prompt = row[prompt_column]
        messages, _ = next(engine.steps(_instruction(prompt)))
        out = {**row, _PROMPT_KEPT: prompt, "messages": messages}
        if processor == "http":
            out["payload"] = {"model": model, "messages": messages, **params}
            format_ = None if schema is None else response_format(schema_style, schema)
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


def postprocess(
    *,
    prompt_column: str = "prompt",
    distinct: int | None = None,
    config: VSConfig | None = None,
    **vs_settings: Any,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The ``postprocess`` row function for ``ray.data.llm.build_processor``: parsed distributions.

    Reads ``generated_text`` (vLLM, SGLang) or ``http_response`` (HTTP processor) with the core
    parser and the engine's rules for a short reply (``on_failure``). A reply that does not parse,
    or an HTTP error answer, becomes an error row, never an exception. The row keeps its own
    columns (the prompt restored) and the engine's outputs, without the columns
    :func:`preprocess` added.

    Args:
        prompt_column: The prompt column given to :func:`preprocess`.
        distinct: The ``distinct`` given to :func:`preprocess`: a reply with fewer distinct
            candidates is kept with the shortfall as a warning (``on_failure="partial"``).
        config: A whole :class:`VSConfig` to start from.
        **vs_settings: The same VS settings as :func:`preprocess`.

    Raises:
        SettingsError: At call time for an unknown VS setting.
        ValueError: At call time for an invalid value (``distinct`` included) or ``variant="multi"``.

    Example:
        >>> from vs_integrations.ray import postprocess
        >>> reply = '{"responses": [{"text": "red", "probability": 0.6}, {"text": "blue", "probability": 0.4}]}'
        >>> row = postprocess(k=2, seed=0)({"prompt": "Name a colour.", "generated_text": reply})
        >>> row["sampled"] in {"red", "blue"}, row["error"]
        (True, None)

    """
    resolved = _one_pass_config("postprocess", config, vs_settings, distinct)
    engine = VSEngine(resolved)

    def vs_postprocess(row: dict[str, Any]) -> dict[str, Any]:
        prompt = row.get(_PROMPT_KEPT, row.get(prompt_column))
        out = {key: value for key, value in row.items() if key not in _ADDED_BY_PREPROCESS}
        out[prompt_column] = prompt
        try:
            # The engine's loop with no retries left: it reads the one reply by the engine's rules.
            steps = engine.steps(_instruction(prompt))
            next(steps)
            steps.send(_reply_text(row))
        except StopIteration as done:
            distribution: Distribution = done.value
            return {**out, **_result(distribution, _draw(distribution, resolved.seed, prompt), None)}
        except Exception as exc:  # one row's failure must not stop the others
            return {**out, **_failure(exc)}
        raise AssertionError("unreachable: with max_retries=0 the engine stops after one reply")

    return vs_postprocess
