"""Resumable batch generation: one JSON line per prompt, appended as each finishes.

What ``vs generate`` runs, usable from Python::

    from vs_integrations.tools.batch import read_prompts, run_batch

    result = run_batch(read_prompts("prompts.jsonl"), "out.jsonl", VSEngine(k=5), model, concurrency=4)

A prompt that fails after its attempts becomes an *error record* and the batch goes on; only a
backend that cannot be reached stops it early. A rerun on the same output skips prompts that
already have a good record and retries the failed ones (their error records are replaced), so the
file ends with one record per prompt id. Ctrl-C stops submitting at once and keeps every result
that completes within a grace period.

Records (one JSON object a line):

- good: ``{"id", "prompt", "sampled", "distribution", "attempts"}``; with ``distinct=N`` the
  distribution is the merged one holding the prompt's N distinct candidates (fewer, with a
  warning in ``distribution["warnings"]``, when the call budget ran out);
- failed: ``{"id", "prompt", "error": {"type", "message", ...}, "attempts"}``, where ``error``
  also holds ``status`` and ``body`` (what the server sent), ``raw`` (the reply that could not be
  parsed), ``limit`` and ``prompt_tokens`` (context too long), when known.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.calls import ModelFn
from ..core.distribution import Distribution
from ..core.engine import VSEngine
from ..core.errors import BackendError, BackendUnreachable, ContextTooLong, ParseError, RequestRefused, VSError

_BOM = b"\xef\xbb\xbf"
# Statuses worth another attempt: the server was busy or failed on its side.
_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


class BatchInputError(VSError, ValueError):
    """A prompts or output file the batch cannot use; the message names the file and line.

    Example:
        >>> str(BatchInputError("p.jsonl:3: not JSON"))
        'p.jsonl:3: not JSON'
    """


@dataclass(frozen=True)
class Prompt:
    """One prompt of a batch and the id its record carries.

    Example:
        >>> Prompt("q1", "Name a US state.").id
        'q1'
    """

    id: str
    text: str


@dataclass
class BatchResult:
    """What one :func:`run_batch` call did.

    Attributes:
        total: Prompts given.
        skipped: Prompts that already had a record and were not run.
        succeeded: New good records written.
        failed: New error records written.
        failures: Error records in the output for these prompts, by error type (old and new).
        interrupted: Ctrl-C stopped the batch.
        unreachable: The backend error that stopped the batch early, if one did.
        left: Ids of prompts with no record yet (a rerun does them).

    Example:
        >>> BatchResult(total=3, succeeded=3).complete
        True
    """

    total: int = 0
    skipped: int = 0
    succeeded: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    unreachable: BackendUnreachable | None = None
    left: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every prompt has a good record."""
        return not self.left and not self.failures


def read_prompts(path: str | os.PathLike[str]) -> list[Prompt]:
    """Prompts from JSONL: ``{"prompt": ..., "id": ...}`` (id optional) or a JSON string a line.

    Ids default to the line number. A UTF-8 byte-order mark is accepted; blank lines are skipped.

    Raises:
        BatchInputError: If the file is missing, not UTF-8 text, empty, or a line is not a prompt
            (the message names the line).
    """
    path = Path(path)
    if path.is_dir():
        raise BatchInputError(f"{path} is a directory, not a prompts file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BatchInputError(f"prompts file not found: {path}") from None
    except OSError as exc:
        raise BatchInputError(f"cannot read {path}: {exc.strerror}") from None
    if b"\x00" in data:
        raise BatchInputError(f"{path} is a binary file, not JSONL text (it holds NUL bytes)")
    data = data.removeprefix(_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        raise BatchInputError(f"{path}:{row}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    prompts: list[Prompt] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BatchInputError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if isinstance(record, str):
            record = {"prompt": record}
        if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
            raise BatchInputError(f'{path}:{number}: expected {{"prompt": "..."}} or a JSON string')
        if not record["prompt"].strip():
            raise BatchInputError(f"{path}:{number}: the prompt is empty")
        raw_id = record.get("id", number)
        if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
            raise BatchInputError(f"{path}:{number}: id must be a string or a whole number; got {raw_id!r}")
        prompt_id = str(raw_id)
        if prompt_id in seen:
            raise BatchInputError(f"{path}:{number}: duplicate id {prompt_id!r}")
        seen.add(prompt_id)
        prompts.append(Prompt(prompt_id, record["prompt"]))
    if not prompts:
        raise BatchInputError(f"{path} holds no prompts")
    return prompts


def describe_error(error: BaseException) -> dict[str, Any]:
    """An error as a JSON-ready dict: type and message, plus what the server or model sent.

    Example:
        >>> describe_error(ParseError("no list", raw="I refuse."))
        {'type': 'ParseError', 'message': 'no list', 'raw': 'I refuse.'}
    """
    described: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, BackendError):
        if error.status is not None:
            described["status"] = error.status
        if error.body:
            described["body"] = error.body
    if isinstance(error, ContextTooLong):
        described.update(
            {key: value for key, value in (("limit", error.limit), ("prompt_tokens", error.prompt_tokens)) if value}
        )
    if isinstance(error, ParseError):
        described["raw"] = error.raw
    return described


def is_transient(error: BaseException) -> bool:
    """Whether another attempt may succeed: unreachable, or a busy/failing server (408, 429, 5xx...)."""
    if isinstance(error, BackendUnreachable):
        return True
    if isinstance(error, RequestRefused) and not isinstance(error, ContextTooLong) and error.status is not None:
        return error.status in _TRANSIENT_STATUSES or error.status >= 500
    return False


class OutputFile:
    """The batch's JSONL output: which ids are done, and appending records.

    Args:
        path: The JSONL file (created with its folders when missing).

    Example:
        >>> out = OutputFile("out.jsonl")  # doctest: +SKIP
        >>> done = out.prepare([Prompt("1", "x")], retry_failed=True)  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise BatchInputError(f"the output path {self.path} is a directory; give a file name")

    def _records(self) -> list[tuple[bytes, dict[str, Any]]]:
        """Every record with its line; a torn last line (a hard kill mid-write) is left out."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise BatchInputError(f"cannot read the output {self.path}: {exc.strerror}") from None
        data = data.removeprefix(_BOM)
        lines = data.split(b"\n")
        last = lines.pop()  # b"" when the file ends with a newline
        records = []
        for number, line in enumerate(lines, start=1):
            if line.strip():
                record = _record(line)
                if record is None:
                    raise BatchInputError(
                        f"{self.path}:{number}: not a record this batch wrote; fix or remove that line to resume"
                    )
                records.append((line, record))
        complete = _record(last) if last.strip() else None
        if complete is not None:  # a whole record missing only its newline is kept
            records.append((last, complete))
        return records

    def prepare(self, prompts: Sequence[Prompt], *, retry_failed: bool = True) -> set[str]:
        """Make the file ready to append and return the ids not to run again.

        Drops a torn last line; with ``retry_failed``, drops the error records of these prompts
        (the rerun replaces them); keeps one good record per id. The file is rewritten
        atomically, and only when something changes.
        """
        records = self._records()
        wanted = {prompt.id for prompt in prompts}
        good: set[str] = set()
        kept: list[bytes] = []
        for line, record in records:
            record_id = str(record["id"])
            if "error" not in record:
                if record_id not in good:
                    good.add(record_id)
                    kept.append(line)
        failed: dict[str, bytes] = {}
        for line, record in records:
            record_id = str(record["id"])
            if "error" in record and record_id not in good and not (retry_failed and record_id in wanted):
                failed[record_id] = line  # the last error record of an id stands
        kept += failed.values()
        new = b"".join(line + b"\n" for line in kept)
        if not self.path.exists() or new != self.path.read_bytes():
            self._rewrite(new)
        return good | set(failed)

    def _rewrite(self, data: bytes) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, self.path)
        except OSError as exc:
            raise BatchInputError(f"cannot write the output {self.path}: {exc.strerror}") from None

    def failures(self, ids: Iterable[str]) -> dict[str, int]:
        """Error records among ``ids`` (those without a good record), counted by error type."""
        wanted = set(ids)
        good = {str(r["id"]) for _, r in self._records() if "error" not in r}
        last_error: dict[str, str] = {}
        for _, record in self._records():
            record_id = str(record["id"])
            if "error" in record and record_id in wanted and record_id not in good:
                error = record["error"]
                last_error[record_id] = str(error.get("type", "error")) if isinstance(error, dict) else "error"
        counts: dict[str, int] = {}
        for kind in last_error.values():
            counts[kind] = counts.get(kind, 0) + 1
        return counts


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) and "id" in record else None


@dataclass
class _Outcome:
    prompt: Prompt
    record: dict[str, Any] | None
    unreachable: BackendUnreachable | None = None
    interrupted: bool = False


def run_batch(
    prompts: Sequence[Prompt],
    output: str | os.PathLike[str],
    engine: VSEngine,
    model: ModelFn,
    *,
    concurrency: int = 1,
    attempts: int = 3,
    retry_failed: bool = True,
    seed: int | None = None,
    retry_delay: float = 1.0,
    grace: float = 5.0,
    on_start: Callable[[int], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    distinct: int | None = None,
    max_calls: int | None = None,
) -> BatchResult:
    """Run ``engine`` on every prompt not yet done in ``output``, appending one record each.

    Args:
        prompts: What to run (see :func:`read_prompts`).
        output: The JSONL file records are appended to; its done ids are skipped.
        engine: The VS settings and call loop.
        model: The backend (any :data:`~vs_integrations.ModelFn`).
        concurrency: Prompts in flight at once (worker threads).
        attempts: Tries per prompt when the error is transient (unreachable, 408/429/5xx), with
            ``retry_delay`` doubling between them; other errors are recorded at once.
        retry_failed: Rerun prompts whose record is an error (the old record is replaced);
            False keeps error records as they are.
        seed: Seeds each prompt's draw from its distribution (with the prompt id).
        retry_delay: Seconds before the second attempt.
        grace: Seconds, after Ctrl-C or an unreachable backend, to wait for calls in flight; a
            result completing within them is kept, the rest are abandoned (daemon threads).
        on_start: Called with the number of prompts to run, before the first is submitted.
        on_record: Called with each record after it is written (progress display).
        distinct: Collect this many distinct candidates per prompt with
            :meth:`VSEngine.distinct <vs_integrations.VSEngine.distinct>` (several calls, one
            merged distribution) instead of one :meth:`~vs_integrations.VSEngine.run`.
        max_calls: The call budget per prompt for ``distinct`` (default the engine's).

    Returns:
        What was done; ``interrupted`` is set on Ctrl-C (the KeyboardInterrupt is not re-raised),
        ``unreachable`` when the backend could not be reached.

    Raises:
        BatchInputError: If the output cannot be read or written.

    Example:
        >>> def model(messages, schema):
        ...     return '{"responses": [{"text": "a", "probability": 0.6}, {"text": "b", "probability": 0.4}]}'
        >>> run_batch([Prompt("1", "Say a letter.")], "out.jsonl", VSEngine(k=2), model).succeeded  # doctest: +SKIP
        1
    """
    if concurrency < 1 or attempts < 1:
        raise ValueError(f"concurrency and attempts must be >= 1; got {concurrency} and {attempts}")
    sample = prompt_runner(engine, distinct, max_calls)
    out = OutputFile(output)
    done = out.prepare(prompts, retry_failed=retry_failed)
    todo = [prompt for prompt in prompts if prompt.id not in done]
    result = BatchResult(total=len(prompts), skipped=len(prompts) - len(todo))
    stop = threading.Event()
    jobs: queue.SimpleQueue[Prompt] = queue.SimpleQueue()
    outcomes: queue.SimpleQueue[_Outcome] = queue.SimpleQueue()
    for prompt in todo:
        jobs.put(prompt)
    if on_start is not None:
        on_start(len(todo))

    def work() -> None:
        while not stop.is_set():
            try:
                prompt = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                outcome = _attempt(sample, model, prompt, attempts, retry_delay, seed, stop)
            except BaseException:
                # KeyboardInterrupt or SystemExit raised by the model function: the main thread
                # must hear of it, or it would wait for this prompt forever.
                stop.set()
                outcomes.put(_Outcome(prompt, None, interrupted=True))
                return
            if outcome.unreachable is not None:
                stop.set()  # before the next prompt is taken: the batch stops here
            outcomes.put(outcome)

    # Daemon threads: an abandoned call (Ctrl-C, a hung server) must not keep the process alive.
    for _ in range(min(concurrency, len(todo))):
        threading.Thread(target=work, name="vs-batch", daemon=True).start()
    pending = {prompt.id for prompt in todo}
    deadline: float | None = None

    def wind_down() -> None:
        nonlocal deadline
        stop.set()
        deadline = time.monotonic() + grace
        pending.difference_update(_drain(jobs))

    try:
        with out.path.open("a", encoding="utf-8") as file:
            while pending:
                try:
                    timeout = 0.2 if deadline is None else deadline - time.monotonic()
                    if timeout <= 0:
                        break
                    try:
                        outcome = outcomes.get(timeout=timeout)
                    except queue.Empty:
                        continue
                    pending.discard(outcome.prompt.id)
                    if outcome.interrupted:
                        raise KeyboardInterrupt
                    if outcome.record is None:
                        if result.unreachable is None:
                            result.unreachable = outcome.unreachable
                            wind_down()
                        continue
                    file.write(json.dumps(outcome.record, ensure_ascii=False) + "\n")
                    file.flush()
                    if "error" in outcome.record:
                        result.failed += 1
                    else:
                        result.succeeded += 1
                    if on_record is not None:
                        on_record(outcome.record)
                except KeyboardInterrupt:
                    if result.interrupted:  # a second Ctrl-C: leave now
                        break
                    result.interrupted = True
                    wind_down()
    except OSError as exc:
        raise BatchInputError(f"cannot write the output {out.path}: {exc.strerror}") from None
    finally:
        stop.set()
    written = {str(r["id"]) for _, r in out._records()}
    result.left = [prompt.id for prompt in prompts if prompt.id not in written]
    result.failures = out.failures(prompt.id for prompt in prompts)
    return result


def _drain(jobs: queue.SimpleQueue[Prompt]) -> set[str]:
    """Take every prompt not yet started off the queue; returns their ids."""
    ids = set()
    while True:
        try:
            ids.add(jobs.get_nowait().id)
        except queue.Empty:
            return ids


def prompt_runner(
    engine: VSEngine, distinct: int | None = None, max_calls: int | None = None
) -> Callable[[ModelFn, str], Distribution]:
    """What one prompt runs: ``engine.run``, or ``engine.distinct`` with ``distinct=N``.

    Raises:
        ValueError: If ``distinct`` or ``max_calls`` is not a positive integer, or ``max_calls``
            is given without ``distinct`` (checked here, before any prompt is sent).

    Example:
        >>> replies = iter(['{"responses": [{"text": "a", "probability": 1.0}]}',
        ...                 '{"responses": [{"text": "b", "probability": 1.0}]}'])
        >>> prompt_runner(VSEngine(k=1), distinct=2)(lambda messages, schema: next(replies), "A letter?").texts
        ['a', 'b']
    """
    # The engine validates these at its generator's first step: take that step, send nothing.
    next(engine.steps("validation only", distinct=distinct, max_calls=max_calls))
    if distinct is None:
        return engine.run
    return functools.partial(engine.distinct, n=distinct, max_calls=max_calls)


def _attempt(
    sample: Callable[[ModelFn, str], Distribution],
    model: ModelFn,
    prompt: Prompt,
    attempts: int,
    retry_delay: float,
    seed: int | None,
    stop: threading.Event,
) -> _Outcome:
    """Run one prompt, retrying transient errors; an error that stays becomes an error record."""
    for attempt in range(1, attempts + 1):
        try:
            distribution = sample(model, prompt.text)
        except Exception as exc:  # every failure of one prompt is isolated into its record
            if is_transient(exc) and attempt < attempts and not stop.wait(retry_delay * 2 ** (attempt - 1)):
                continue
            if isinstance(exc, BackendUnreachable):
                return _Outcome(prompt, None, exc)
            return _Outcome(prompt, error_record(prompt, exc, attempt))
        return _Outcome(prompt, good_record(prompt, distribution, attempt, seed))
    raise AssertionError("unreachable: the last attempt returns")


def good_record(prompt: Prompt, distribution: Distribution, attempts: int, seed: int | None) -> dict[str, Any]:
    """The record of a prompt that produced a distribution: the draw and the whole distribution."""
    picked = distribution.sample(None if seed is None else random.Random(f"{seed}:{prompt.id}"))
    return {
        "id": prompt.id,
        "prompt": prompt.text,
        "sampled": picked.text,
        "distribution": distribution.to_dict(),
        "attempts": attempts,
    }


def error_record(prompt: Prompt, error: BaseException, attempts: int) -> dict[str, Any]:
    """The record of a prompt that failed: the error and what the server or model sent."""
    return {"id": prompt.id, "prompt": prompt.text, "error": describe_error(error), "attempts": attempts}
