"""Resumable batch generation: one JSON line per prompt, appended as each finishes.

What ``vs generate`` runs, usable from Python::

    from vs_integrations.tools.batch import PromptsFile, run_batch

    prompts = PromptsFile("prompts.jsonl")
    prompts.check()  # every line validated in one streamed pass, nothing kept but the ids
    result = run_batch(prompts, "out.jsonl", VSEngine(k=5), model, concurrency=4)

**What becomes a record, what stops the run.** A prompt that fails after its attempts becomes an
*error record* and the batch goes on: a refused request (4xx), a server error that stays (5xx),
a malformed answer, an unparseable reply, a reset connection, a request past its timeout. The run
stops early (``BatchResult.unreachable``) only when the server itself is gone: it refuses
connections (or its name does not resolve, or the embedded model cannot be loaded), or
:data:`SERVER_CHECK_AFTER` different prompts in a row lost their connection and a health probe
of the endpoint (``GET {base_url}/models``) gets no answer either. One prompt alone can
therefore never stop a run, so a rerun cannot stop at the same prompt forever.

**Resume.** A rerun on the same output skips prompts that already have a good record and retries
the failed ones (their error records are replaced), so the file ends with one record per prompt
id. The output is read in one streamed pass keeping only the done and failed ids; the prompts
file is read lazily.

**Files.** The output is held with an advisory lock for the run (a second run on it is refused);
a symlinked output is resolved once, so appends and rewrites both go to its target; a rewrite
goes to a fresh temporary file in the output's folder (created exclusively, never through a
link), then renamed over it. An output that is the prompts file, is not a regular file, or holds
a line that is not a record of this batch is refused. ``"-"`` writes records to standard output
as they complete (nothing to resume from).

Ctrl-C stops submitting at once and keeps every result that completes within a grace period; a
second Ctrl-C leaves at once.

Records (one JSON object a line):

- good: ``{"id", "prompt", "sampled", "distribution", "attempts"}``; with ``distinct=N`` the
  distribution is the merged one holding the prompt's N distinct candidates (fewer, with a
  warning in ``distribution["warnings"]``, when the call budget ran out);
- failed: ``{"id", "prompt", "error": {"type", "message", ...}, "attempts"}``, where ``error``
  also holds ``status`` and ``body`` (what the server sent), ``raw`` (the reply that could not be
  parsed), ``limit`` and ``prompt_tokens`` (context too long), when known. Credentials in a URL
  (``user:key@``) are redacted from messages and bodies.
"""

from __future__ import annotations

import base64
import errno
import functools
import json
import os
import queue
import random
import re
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

from ..backends.errors import causes
from ..backends.local import LocalModelError
from ..backends.retry import RetryPolicy
from ..core.calls import ModelFn
from ..core.distribution import Distribution
from ..core.engine import VSEngine, check_distinct
from ..core.errors import BackendError, BackendUnreachable, ContextTooLong, ParseError, RequestRefused, VSError

_BOM = b"\xef\xbb\xbf"
# Statuses worth another attempt: the server was busy or failed on its side.
_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
# OS errors that mean no connection could be made at all: the server (or its address) is not there.
_NO_SERVER_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH})
# Opening the output: created when missing, never through a symlink (the flags POSIX has).
_OPEN_OUTPUT = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_URL_CREDENTIALS = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/?#@]+@")

DEFAULT_RETRY = RetryPolicy(attempts=3, base=1.0, cap=30.0, max_total=60.0)
"""Retries of one prompt: 3 attempts, about 1 s then 2 s apart (a ``Retry-After`` replaces the
wait), at most 60 s of waiting in all."""

SERVER_CHECK_AFTER = 2
"""Different prompts in a row that lost their connection before the endpoint is probed."""


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


# ----------------------------------------------------------------------------- prompts
class PromptsFile:
    """A JSONL prompts file read lazily: ``{"prompt": ..., "id": ...}`` (id optional) or a JSON string a line.

    Ids default to the line number. A UTF-8 byte-order mark is accepted; blank lines are skipped.
    :meth:`check` validates every line in one streamed pass (keeping only the ids); iterating
    yields the prompts, reading the file again line by line.

    Args:
        path: The JSONL file.

    Example:
        >>> prompts = PromptsFile("prompts.jsonl")  # doctest: +SKIP
        >>> prompts.check()  # doctest: +SKIP
        3
        >>> [prompt.id for prompt in prompts]  # doctest: +SKIP
        ['1', '2', '3']
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._ids: dict[str, None] | None = None

    def check(self) -> int:
        """Validate the whole file; returns the number of prompts.

        Raises:
            BatchInputError: If the file is missing, binary, not UTF-8 text, empty, or a line is
                not a prompt (the message names the line).
        """
        if self.path.is_dir():
            raise BatchInputError(f"{self.path} is a directory, not a prompts file")
        with self._open() as file:
            # NUL bytes first: a binary file is named as such, not by its first undecodable byte.
            for chunk in iter(functools.partial(file.read, 1 << 20), b""):
                if b"\x00" in chunk:
                    raise BatchInputError(f"{self.path} is a binary file, not JSONL text (it holds NUL bytes)")
        self._ids = dict.fromkeys(prompt.id for prompt in self._read())
        if not self._ids:
            raise BatchInputError(f"{self.path} holds no prompts")
        return len(self._ids)

    def ids(self) -> dict[str, None]:
        """The prompts' ids in file order (a dict used as an ordered set); checks the file first."""
        if self._ids is None:
            self.check()
        assert self._ids is not None
        return self._ids

    def __iter__(self) -> Iterator[Prompt]:
        return self._read()

    def _open(self) -> IO[bytes]:
        try:
            return self.path.open("rb")
        except FileNotFoundError:
            raise BatchInputError(f"prompts file not found: {self.path}") from None
        except OSError as exc:
            raise BatchInputError(f"cannot read {self.path}: {exc.strerror}") from None

    def _read(self) -> Iterator[Prompt]:
        seen: set[str] = set()
        with self._open() as file:
            for number, line in enumerate(file, start=1):
                if number == 1:
                    line = line.removeprefix(_BOM)
                prompt = self._prompt(number, line)
                if prompt is None:
                    continue
                if prompt.id in seen:
                    raise BatchInputError(f"{self.path}:{number}: duplicate id {prompt.id!r}")
                seen.add(prompt.id)
                yield prompt

    def _prompt(self, number: int, line: bytes) -> Prompt | None:
        where = f"{self.path}:{number}"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BatchInputError(f"{where}: not UTF-8 text (byte 0x{line[exc.start]:02x})") from None
        if not text.strip():
            return None
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BatchInputError(f"{where}: not JSON ({exc.msg})") from None
        if isinstance(record, str):
            record = {"prompt": record}
        if not isinstance(record, dict) or not isinstance(record.get("prompt"), str):
            raise BatchInputError(f'{where}: expected {{"prompt": "..."}} or a JSON string')
        if not record["prompt"].strip():
            raise BatchInputError(f"{where}: the prompt is empty")
        raw_id = record.get("id", number)
        if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
            raise BatchInputError(f"{where}: id must be a string or a whole number; got {raw_id!r}")
        return Prompt(str(raw_id), record["prompt"])


def read_prompts(path: str | os.PathLike[str]) -> list[Prompt]:
    """Every prompt of a JSONL file, checked (see :class:`PromptsFile`; this one holds them all).

    Raises:
        BatchInputError: If the file or a line is not a prompts file (the message names the line).

    Example:
        >>> read_prompts("prompts.jsonl")[0]  # doctest: +SKIP
        Prompt(id='1', text='Name a US state.')
    """
    prompts = PromptsFile(path)
    prompts.check()
    return list(prompts)


# ----------------------------------------------------------------------------- errors
def redact_credentials(text: str) -> str:
    """``text`` with the ``user:key@`` part of every URL in it replaced by ``***@``.

    Example:
        >>> redact_credentials("could not reach https://me:sk-123@example.com/v1")
        'could not reach https://***@example.com/v1'
    """
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def describe_error(error: BaseException) -> dict[str, Any]:
    """An error as a JSON-ready dict: type and message, plus what the server or model sent.

    Credentials in a URL are redacted from the message and the body.

    Example:
        >>> describe_error(ParseError("no list", raw="I refuse."))
        {'type': 'ParseError', 'message': 'no list', 'raw': 'I refuse.'}
    """
    described: dict[str, Any] = {"type": type(error).__name__, "message": redact_credentials(str(error))}
    if isinstance(error, BackendError):
        if error.status is not None:
            described["status"] = error.status
        if error.body:
            described["body"] = redact_credentials(error.body)
    if isinstance(error, ContextTooLong):
        described.update(
            {key: value for key, value in (("limit", error.limit), ("prompt_tokens", error.prompt_tokens)) if value}
        )
    if isinstance(error, ParseError):
        described["raw"] = error.raw
    return described


def timed_out(error: BaseException) -> bool:
    """Whether the request ran past its timeout (a ``TimeoutError`` anywhere in its causes)."""
    return any(isinstance(cause, TimeoutError) for cause in causes(error))


def no_server(error: BaseException) -> bool:
    """Whether the backend itself is not there.

    That is: connection refused, an unknown host, no route, or an embedded model that cannot be loaded.
    """
    if isinstance(error, LocalModelError):
        return True
    return any(
        isinstance(cause, socket.gaierror) or (isinstance(cause, OSError) and cause.errno in _NO_SERVER_ERRNOS)
        for cause in causes(error)
    )


def is_transient(error: BaseException) -> bool:
    """Whether another attempt may succeed: a lost connection, or a busy/failing server (408, 429, 5xx...).

    A request that ran past its timeout is not retried: another would most likely wait as long.
    """
    if isinstance(error, BackendUnreachable):
        return not timed_out(error)
    if isinstance(error, RequestRefused) and not isinstance(error, ContextTooLong) and error.status is not None:
        return error.status in _TRANSIENT_STATUSES or error.status >= 500
    return False


def endpoint_probe(base_url: str, api_key: str | None = None, timeout: float = 5.0) -> Callable[[], bool]:
    """A health probe of an OpenAI-compatible endpoint: ``GET {base_url}/models`` answered in time.

    Any HTTP answer counts (even 401 or 404: the server is there); no connection, a reset or no
    answer within ``timeout`` seconds does not. Credentials in the URL are sent as basic auth.

    Example:
        >>> endpoint_probe("http://127.0.0.1:9/v1", timeout=1.0)()
        False
    """
    parts = urllib.parse.urlsplit(base_url.rstrip("/") + "/models")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    if parts.username is not None:
        login = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    request = urllib.request.Request(urllib.parse.urlunsplit(parts), headers=headers)

    def probe() -> bool:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read(1 << 16)
        except urllib.error.HTTPError:
            return True
        except (OSError, ValueError):  # URLError, timeouts and resets are OSErrors
            return False
        return True

    return probe


class _ServerWatch:
    """Tells a prompt's lost connection from a server that is gone (see the module's docstring)."""

    def __init__(self, probe: Callable[[], bool] | None, after: int) -> None:
        self._probe = probe
        self._after = after
        self._streak: set[str] = set()
        self._lock = threading.Lock()

    def answered(self) -> None:
        """The server answered a prompt (with a reply or an error status): it is there."""
        with self._lock:
            self._streak.clear()

    def server_gone(self, prompt: Prompt, error: BackendUnreachable) -> bool:
        """Whether this prompt's connection failure means the server is gone."""
        if no_server(error):
            return True
        with self._lock:
            self._streak.add(prompt.id)
            if len(self._streak) < self._after:
                return False
        if self._probe is None:
            return True
        if self._probe():
            self.answered()
            return False
        return True


# ----------------------------------------------------------------------------- output
_GOOD_KEYS = frozenset({"id", "prompt", "sampled", "distribution", "attempts"})
_ERROR_KEYS = frozenset({"id", "prompt", "error", "attempts"})


def _record(line: bytes) -> dict[str, Any] | None:
    """The line as a record this batch wrote (good or error), or None."""
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return None
    keys = record.keys()
    return record if keys >= _GOOD_KEYS or (keys >= _ERROR_KEYS and isinstance(record["error"], dict)) else None


def _error_type(record: dict[str, Any]) -> str:
    return str(record["error"].get("type", "error"))


class _Scan:
    """What one streamed pass over an output found: done and failed ids, and whether to rewrite."""

    def __init__(self) -> None:
        self.good: set[str] = set()
        self.last_error: dict[str, tuple[int, str]] = {}  # id -> (line number, error type)
        self.error_lines = 0
        self.untidy = False  # a BOM, blank lines, a torn or unterminated last line, a duplicate


class OutputFile:
    """The batch's JSONL output, held for the run: which ids are done, and appending records.

    Use it as a context manager: entering checks the path, takes the advisory lock (creating the
    file and its folders when missing) and leaves the lock on exit, whatever happens.

    Args:
        path: The JSONL file. A symlink is resolved once: the run reads, appends to and
            rewrites its target.
        prompts: The prompts file, refused as the output.

    Raises:
        BatchInputError: If the path is a directory or not a regular file, is the prompts file,
            or another run holds it.

    Example:
        >>> with OutputFile("out.jsonl") as out:  # doctest: +SKIP
        ...     done = out.prepare({"1": None}, retry_failed=True)
    """

    def __init__(self, path: str | os.PathLike[str], *, prompts: str | os.PathLike[str] | None = None) -> None:
        self.shown = Path(path)
        try:
            self.path = self.shown.resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            raise BatchInputError(f"cannot use the output {self.shown}: {exc}") from None
        self._prompts = None if prompts is None else Path(prompts)
        self._fd: int | None = None
        self._errors: dict[str, str] = {}  # kept error records' types, by id

    def __enter__(self) -> OutputFile:
        self._check_path()
        self._fd = self._lock_existing(self.path)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor leaves the lock
            self._fd = None

    def _check_path(self) -> None:
        if self.path.is_dir():
            raise BatchInputError(f"the output path {self.shown} is a directory; give a file name")
        if self._prompts is not None and (
            self.path == self._prompts.resolve() or (self.path.exists() and _same_file(self.path, self._prompts))
        ):
            raise BatchInputError(f"the output {self.shown} is the prompts file; give another -o")
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise BatchInputError(f"cannot use the output {self.shown}: {exc.strerror}") from None
        if not stat.S_ISREG(mode):
            raise BatchInputError(
                f"the output {self.shown} is not a regular file; use -o - for standard output, or give a file name"
            )

    def _lock_existing(self, path: Path) -> int:
        """Open ``path`` (created if missing, never through a link) and lock it.

        The lock must be on the file the path names *after* locking: a rewrite renames a new file over it.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BatchInputError(f"cannot create the output's folder {self.shown.parent}: {exc.strerror}") from None
        for _ in range(10):
            try:
                fd = os.open(path, _OPEN_OUTPUT, 0o666)
            except OSError as exc:
                raise BatchInputError(f"cannot write the output {self.shown}: {exc.strerror}") from None
            if not _try_lock(fd):
                os.close(fd)
                raise BatchInputError(
                    f"another vs generate run is writing {self.shown}; wait for it to end or give another -o"
                )
            held = os.fstat(fd)
            try:
                named = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                named = None
            if named is not None and (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino):
                if not stat.S_ISREG(held.st_mode):
                    os.close(fd)
                    raise BatchInputError(f"the output {self.shown} is not a regular file")
                return fd
            os.close(fd)  # another run replaced the file between our open and our lock: lock the new one
        raise BatchInputError(f"the output {self.shown} keeps being replaced by another program")

    def prepare(self, wanted: Iterable[str], *, retry_failed: bool = True) -> set[str]:
        """Read the output once and return the ids not to run again.

        Drops a torn last line; with ``retry_failed``, drops the error records of the ``wanted``
        ids (the rerun replaces them); keeps one good record per id. The file is rewritten
        (to a fresh temporary file renamed over it) only when something changes.

        Raises:
            BatchInputError: If a line is not a record this batch wrote (the line is named).
        """
        asked: Container[str] = wanted if isinstance(wanted, dict | set) else set(wanted)
        scan = self._scan()
        kept_errors = {
            record_id: where
            for record_id, where in scan.last_error.items()
            if record_id not in scan.good and not (retry_failed and record_id in asked)
        }
        self._errors = {record_id: kind for record_id, (_, kind) in kept_errors.items() if record_id in asked}
        if scan.untidy or scan.error_lines != len(kept_errors):
            self._rewrite({record_id: number for record_id, (number, _) in kept_errors.items()})
        scan.good.update(kept_errors)  # in place: no second set of 100,000 ids
        return scan.good

    def kept_errors(self) -> dict[str, str]:
        """The error records :meth:`prepare` kept for wanted ids (not retried): type by id."""
        return self._errors

    def _lines(self) -> Iterator[tuple[int, bytes, bool]]:
        """``(number, line, whole)`` for every line of the held file, streamed.

        ``whole`` is False for a last line without its newline.
        """
        assert self._fd is not None, "use OutputFile as a context manager"
        os.lseek(self._fd, 0, os.SEEK_SET)
        with os.fdopen(os.dup(self._fd), "rb") as file:
            for number, line in enumerate(file, start=1):
                yield number, line, line.endswith(b"\n")

    def _scan(self) -> _Scan:
        scan = _Scan()
        try:
            for number, line, whole in self._lines():
                if number == 1 and line.startswith(_BOM):
                    line = line.removeprefix(_BOM)
                    scan.untidy = True
                if not line.strip():
                    scan.untidy = True
                    continue
                record = _record(line)
                if not whole:
                    scan.untidy = True  # a torn line is dropped; a whole record gets its newline
                    if record is None:
                        break
                elif record is None:
                    raise BatchInputError(
                        f"{self.shown}:{number}: not a record vs generate wrote; "
                        "give another -o, or fix or remove that line to resume"
                    )
                record_id = record["id"]
                if "error" in record:
                    scan.error_lines += 1
                    scan.last_error[record_id] = (number, _error_type(record))
                elif record_id in scan.good:
                    scan.untidy = True
                else:
                    scan.good.add(record_id)
        except OSError as exc:
            raise BatchInputError(f"cannot read the output {self.shown}: {exc.strerror}") from None
        return scan

    def _rewrite(self, errors_kept: dict[str, int]) -> None:
        """Copy the records to keep into a fresh file in the same folder and rename it over the output."""
        try:
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as exc:
            raise BatchInputError(f"cannot write the output {self.shown}: {exc.strerror}") from None
        try:
            assert self._fd is not None
            os.fchmod(fd, stat.S_IMODE(os.fstat(self._fd).st_mode))
            written: set[str] = set()
            with os.fdopen(os.dup(fd), "wb") as file:
                for number, line, _ in self._lines():
                    record = _record(line.removeprefix(_BOM) if number == 1 else line)
                    if record is None:
                        continue  # blank, or the torn last line
                    record_id = record["id"]
                    if "error" in record:
                        if errors_kept.get(record_id) != number:
                            continue
                    elif record_id in written:
                        continue
                    written.add(record_id)
                    file.write(line.rstrip(b"\r\n") + b"\n")
                file.flush()
                os.fsync(file.fileno())
            # Lock the new file before it takes the output's name: a run opening the name
            # afterwards must find it held.
            _try_lock(fd)
            os.replace(temporary, self.path)
        except BaseException as exc:
            os.close(fd)
            Path(temporary).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise BatchInputError(f"cannot write the output {self.shown}: {exc.strerror}") from None
            raise
        os.close(self._fd)
        self._fd = fd

    def append(self, record: dict[str, Any]) -> None:
        """Write one record at the end of the file."""
        assert self._fd is not None, "use OutputFile as a context manager"
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            os.lseek(self._fd, 0, os.SEEK_END)
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:
            raise BatchInputError(f"cannot write the output {self.shown}: {exc.strerror}") from None


class StdoutOutput:
    """Records written to standard output as they complete (``-o -``): nothing is read or resumed.

    Example:
        >>> with StdoutOutput() as out:  # doctest: +SKIP
        ...     out.append({"id": "1"})
    """

    shown = "standard output"

    def __init__(self) -> None:
        # Taken now: a progress display started later may replace sys.stdout with a proxy to itself.
        self._stream = sys.stdout

    def __enter__(self) -> StdoutOutput:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        pass

    def prepare(self, wanted: Iterable[str], *, retry_failed: bool = True) -> set[str]:
        """Nothing is done yet: every prompt runs."""
        return set()

    def kept_errors(self) -> dict[str, str]:
        """No old error records."""
        return {}

    def append(self, record: dict[str, Any]) -> None:
        """Print the record as one JSON line, at once."""
        try:
            self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._stream.flush()
        except OSError as exc:
            raise BatchInputError(f"cannot write to standard output: {exc.strerror}") from None


Output = OutputFile | StdoutOutput


def _same_file(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _try_lock(fd: int) -> bool:
    """Take the advisory lock on ``fd`` without waiting; False when another process holds it."""
    if sys.platform == "win32":  # no flock: concurrent runs are not detected there
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


# ----------------------------------------------------------------------------- the run
@dataclass
class _Outcome:
    prompt: Prompt
    record: dict[str, Any] | None  # None: no record (the server is gone, or the prompt was abandoned)
    unreachable: BackendUnreachable | None = None


_INTERRUPT = "interrupt"  # queued by the SIGINT handler or a worker whose model raised KeyboardInterrupt
_LEAVE = "leave"  # queued by a second Ctrl-C: stop waiting for the prompts in flight
_WORKER_DONE = "worker done"


def run_batch(
    prompts: Iterable[Prompt],
    output: str | os.PathLike[str] | Output,
    engine: VSEngine,
    model: ModelFn,
    *,
    concurrency: int = 1,
    retry: RetryPolicy = DEFAULT_RETRY,
    retry_failed: bool = True,
    seed: int | None = None,
    grace: float = 5.0,
    probe: Callable[[], bool] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    on_stop: Callable[[BatchResult], None] | None = None,
    distinct: int | None = None,
    max_calls: int | None = None,
) -> BatchResult:
    """Run ``engine`` on every prompt not yet done in ``output``, appending one record each.

    Args:
        prompts: What to run: a :class:`PromptsFile` (read lazily) or any collection of
            :class:`Prompt` that can be iterated twice (ids first, then the prompts).
        output: The JSONL file records are appended to (its done ids are skipped), or an
            :class:`OutputFile` / :class:`StdoutOutput` already entered.
        engine: The VS settings and call loop.
        model: The backend (any :data:`~vs_integrations.ModelFn`).
        concurrency: Prompts in flight at once (worker threads).
        retry: When to retry a prompt whose error is transient (a lost connection, 408/429/5xx):
            backoff with jitter, a ``Retry-After`` honoured, the total wait bounded; other errors
            (a timeout included) are recorded at once.
        retry_failed: Rerun prompts whose record is an error (the old record is replaced);
            False keeps error records as they are.
        seed: Seeds each prompt's draw from its distribution (with the prompt id).
        grace: Seconds, after Ctrl-C or an unreachable backend, to wait for calls in flight; a
            result completing within them is kept, the rest are abandoned (daemon threads).
        probe: Health probe of the endpoint (see :func:`endpoint_probe`), asked after
            :data:`SERVER_CHECK_AFTER` different prompts in a row lost their connection; without
            one, such a streak stops the run.
        on_start: Called with the number of prompts to run, before the first is submitted.
        on_record: Called with each record after it is written (progress display).
        on_stop: Called once when the run starts winding down early (Ctrl-C, or the server is
            gone), before the grace period; the result says which.
        distinct: Collect this many distinct candidates per prompt with
            :meth:`VSEngine.distinct <vs_integrations.VSEngine.distinct>` (several calls, one
            merged distribution) instead of one :meth:`~vs_integrations.VSEngine.run`.
        max_calls: The call budget per prompt for ``distinct`` (default the engine's).

    Returns:
        What was done; ``interrupted`` is set on Ctrl-C (the KeyboardInterrupt is not re-raised),
        ``unreachable`` when the backend could not be reached.

    Raises:
        BatchInputError: If the output cannot be used, read or written.

    Example:
        >>> def model(messages, schema):
        ...     return '{"responses": [{"text": "a", "probability": 0.6}, {"text": "b", "probability": 0.4}]}'
        >>> run_batch([Prompt("1", "Say a letter.")], "out.jsonl", VSEngine(k=2), model).succeeded  # doctest: +SKIP
        1
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an integer >= 1; got {concurrency!r}")
    if iter(prompts) is prompts:
        raise TypeError("prompts must be a PromptsFile or a collection (they are read twice), not an iterator")
    sample = prompt_runner(engine, distinct, max_calls)
    wanted = prompts.ids() if isinstance(prompts, PromptsFile) else dict.fromkeys(prompt.id for prompt in prompts)
    if isinstance(output, OutputFile | StdoutOutput):
        return _run(prompts, wanted, output, sample, model, concurrency, retry, retry_failed, seed, grace, probe,
                    on_start, on_record, on_stop)  # fmt: skip
    with OutputFile(output) as out:
        return _run(prompts, wanted, out, sample, model, concurrency, retry, retry_failed, seed, grace, probe,
                    on_start, on_record, on_stop)  # fmt: skip


def _run(
    prompts: Iterable[Prompt],
    wanted: dict[str, None],
    out: Output,
    sample: Callable[[ModelFn, str], Distribution],
    model: ModelFn,
    concurrency: int,
    retry: RetryPolicy,
    retry_failed: bool,
    seed: int | None,
    grace: float,
    probe: Callable[[], bool] | None,
    on_start: Callable[[int], None] | None,
    on_record: Callable[[dict[str, Any]], None] | None,
    on_stop: Callable[[BatchResult], None] | None,
) -> BatchResult:
    done = out.prepare(wanted, retry_failed=retry_failed)
    todo = sum(1 for prompt_id in wanted if prompt_id not in done)
    result = BatchResult(total=len(wanted), skipped=len(wanted) - todo)
    stop = threading.Event()
    watch = _ServerWatch(probe, SERVER_CHECK_AFTER)
    outcomes: queue.SimpleQueue[_Outcome | str | BaseException] = queue.SimpleQueue()
    source = iter(prompts)
    source_lock = threading.Lock()

    def next_prompt() -> Prompt | None:
        with source_lock:
            for prompt in source:
                if prompt.id not in done:
                    return prompt
            return None

    def work() -> None:
        try:
            while not stop.is_set():
                prompt = next_prompt()
                if prompt is None:
                    return
                outcome = _attempt(sample, model, prompt, retry, seed, stop, watch)
                if outcome.unreachable is not None:
                    stop.set()  # before the next prompt is taken: the batch stops here
                outcomes.put(outcome)
        except KeyboardInterrupt:
            # Raised by the model function: the main thread must hear of it.
            stop.set()
            outcomes.put(_INTERRUPT)
        except BaseException as exc:  # a prompts line gone bad since the check, SystemExit...
            stop.set()
            outcomes.put(exc)
        finally:
            outcomes.put(_WORKER_DONE)

    if on_start is not None:
        on_start(todo)
    workers = min(concurrency, todo)
    written: set[str] = set()
    new_errors: dict[str, str] = {}
    deadline: float | None = None

    def wind_down() -> None:
        nonlocal deadline
        stop.set()
        if deadline is None:
            deadline = time.monotonic() + grace
            if on_stop is not None:
                on_stop(result)

    with _sigint_to(outcomes):
        # Daemon threads: an abandoned call (Ctrl-C, a hung server) must not keep the process alive.
        for _ in range(workers):
            threading.Thread(target=work, name="vs-batch", daemon=True).start()
        try:
            while workers:
                # A bounded wait even without a deadline: the loop never depends on a signal waking it.
                timeout = 1.0 if deadline is None else deadline - time.monotonic()
                if timeout is not None and timeout <= 0:
                    break
                try:
                    item = outcomes.get(timeout=timeout)
                except queue.Empty:
                    continue
                if item == _WORKER_DONE:
                    workers -= 1
                elif item == _LEAVE:
                    break
                elif item == _INTERRUPT:
                    result.interrupted = True
                    wind_down()
                elif isinstance(item, BaseException):
                    raise item
                elif isinstance(item, _Outcome):
                    if item.record is None:
                        if item.unreachable is not None and result.unreachable is None:
                            result.unreachable = item.unreachable
                            wind_down()
                        continue
                    out.append(item.record)
                    written.add(item.prompt.id)
                    if "error" in item.record:
                        result.failed += 1
                        new_errors[item.prompt.id] = _error_type(item.record)
                    else:
                        result.succeeded += 1
                    if on_record is not None:
                        on_record(item.record)
        except KeyboardInterrupt:  # a third Ctrl-C, or one raised by the progress display's callback
            result.interrupted = True
        finally:
            stop.set()
    kept = out.kept_errors()
    result.failures = dict(Counter([*kept.values(), *new_errors.values()]))
    result.left = [prompt_id for prompt_id in wanted if prompt_id not in done and prompt_id not in written]
    return result


class _sigint_to:
    """Ctrl-C as a message: while active (in the main thread), the first one queues ``_INTERRUPT``.

    Raising KeyboardInterrupt at an arbitrary point could leave a lock held (the progress
    display's, say) and hang the exit. A second Ctrl-C queues ``_LEAVE`` (stop waiting for the
    prompts in flight); a third raises KeyboardInterrupt, for a main thread stuck elsewhere.
    """

    def __init__(self, outcomes: queue.SimpleQueue[Any]) -> None:
        self._outcomes = outcomes
        self._previous: Any = None
        self._installed = False
        self._pressed = 0

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._pressed += 1
        if self._pressed > 2:
            raise KeyboardInterrupt
        # SimpleQueue.put is reentrant: safe in a signal handler.
        self._outcomes.put(_INTERRUPT if self._pressed == 1 else _LEAVE)

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)


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
    check_distinct(distinct, max_calls)
    if distinct is None:
        return engine.run
    return functools.partial(engine.distinct, n=distinct, max_calls=max_calls)


def _attempt(
    sample: Callable[[ModelFn, str], Distribution],
    model: ModelFn,
    prompt: Prompt,
    retry: RetryPolicy,
    seed: int | None,
    stop: threading.Event,
    watch: _ServerWatch,
) -> _Outcome:
    """Run one prompt, retrying transient errors.

    An error that stays becomes an error record, unless it shows the server itself is gone.
    """
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        try:
            distribution = sample(model, prompt.text)
        except Exception as exc:  # every failure of one prompt is isolated into its record
            wait = retry.next_wait(attempt, waited, getattr(exc, "retry_after", None)) if is_transient(exc) else None
            if wait is not None:
                if stop.wait(wait):
                    return _Outcome(prompt, None)  # stopped while waiting: left for a rerun
                waited += wait
                continue
            if isinstance(exc, BackendUnreachable):
                if watch.server_gone(prompt, exc):
                    return _Outcome(prompt, None, exc)
            else:
                watch.answered()
            return _Outcome(prompt, error_record(prompt, exc, attempt))
        watch.answered()
        return _Outcome(prompt, good_record(prompt, distribution, attempt, seed))


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
