"""The one retry policy of the package: exponential backoff with jitter, honouring ``Retry-After``.

Used by the OpenAI-compatible backend (each HTTP call), ``vs generate`` and Ray, so a rate limit
is waited out the same way everywhere, and the total wait of one call is bounded.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass

from ..core.errors import InvalidSetting
from .base import check_positive


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure (a 429, a 5xx, a reset connection).

    Delay before retry ``n`` (1-based): ``base * 2 ** (n - 1)``, capped at ``cap``, scaled by a
    random factor in [0.5, 1] (jitter, so clients that failed together do not retry together);
    a server's ``Retry-After`` replaces it when given. Retrying stops after ``attempts`` attempts
    in all, or when the next wait would pass ``max_total`` seconds of waiting, or when the
    server's ``Retry-After`` is longer than ``cap``: a retry sent before the server's time is
    refused again, so :meth:`next_wait` gives up and the caller raises the error, whose
    ``retry_after`` says how long the server wants.

    Args:
        attempts: Attempts in all, the first included (>= 1).
        base: First delay in seconds (> 0).
        cap: Longest single delay in seconds (>= base).
        max_total: Longest total waiting for one call, in seconds (> 0).

    Example:
        >>> policy = RetryPolicy(attempts=3, base=1.0, cap=8.0, max_total=20.0)
        >>> policy.delay(1, retry_after=6.0)
        6.0
        >>> policy.next_wait(1, 0.0, retry_after=9.0) is None  # longer than cap: not waited out
        True
        >>> 0.5 <= policy.delay(1) <= 1.0
        True
    """

    attempts: int = 3
    base: float = 1.0
    cap: float = 30.0
    max_total: float = 60.0

    def __post_init__(self) -> None:
        check_positive("attempts", self.attempts, integer=True)
        for name in ("base", "cap", "max_total"):
            check_positive(name, getattr(self, name))
        if self.cap < self.base:
            raise InvalidSetting(f"cap ({self.cap}) must be >= base ({self.base})", field="cap")

    def delay(self, retry: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry): ``retry_after`` when given."""
        if retry_after is not None:
            return max(retry_after, 0.0)
        backoff = min(self.base * 2.0 ** (retry - 1), self.cap)
        return backoff * (0.5 + 0.5 * (rng or random).random())

    def next_wait(
        self, attempt: int, waited: float, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """The wait before the attempt after ``attempt`` (1-based), or None to stop retrying.

        ``waited`` is the time already spent waiting for this call. A ``retry_after`` longer than
        ``cap``, or than what is left of ``max_total``, is None too: waiting less would only be
        refused again.
        """
        if attempt >= self.attempts:
            return None
        wait = self.delay(attempt, retry_after, rng)
        return None if wait > self.cap or waited + wait > self.max_total else wait


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date; None if absent or unreadable.

    Example:
        >>> parse_retry_after("6")
        6.0
        >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412478.0)
        2.0
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


DEFAULT_POLICY = RetryPolicy()
