"""Validated settings shared by the prompt builder, the parser and the engine."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from .errors import InvalidSetting, SettingsError

Variant = Literal["standard", "cot", "multi"]
ProbabilityDefinition = Literal["implicit", "explicit", "relative", "percentage", "confidence", "perplexity", "nll"]
ReplyFormat = Literal["json", "xml", "list"]
OnFailure = Literal["raise", "fallback", "partial"]

VARIANTS: tuple[str, ...] = ("standard", "cot", "multi")
PROBABILITY_DEFINITIONS: tuple[str, ...] = (
    "implicit",
    "explicit",
    "relative",
    "percentage",
    "confidence",
    "perplexity",
    "nll",
)
FORMATS: tuple[str, ...] = ("json", "xml", "list")
ON_FAILURE: tuple[str, ...] = ("partial", "raise", "fallback")
MAX_K = 100
MAX_RETRIES = 20


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidSetting(f"VSConfig.{name} must be one of {', '.join(allowed)}; got {value!r}", field=name)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidSetting(f"VSConfig.{name} must be an integer from {low} to {high}; got {value!r}", field=name)


@dataclass(frozen=True)
class VSConfig:
    """How to ask for, and how to read, a verbalized distribution.

    Args:
        k: Number of candidates to ask for (1-100).
        variant: ``"standard"`` (one call), ``"cot"`` (reasoning first, then the candidates) or
            ``"multi"`` (a conversation collecting ``per_turn`` candidates a turn).
        per_turn: Candidates asked for in each turn of the ``multi`` variant (1..k).
            Defaults to ``ceil(k / 2)``.
        tail: ``None``, or a threshold in (0, 1): the model is told that every candidate's
            probability must be below it, which pushes it toward the tails. It is an
            instruction, never a filter.
        probability: What the number next to each candidate means.
        format: The reply format the model is asked for. The parser reads all formats.
        max_retries: Extra calls allowed when a reply does not parse or holds fewer than ``k``
            distinct candidates (each retry asks only for the missing ones).
        on_failure: When the retries are used up: ``"partial"`` (default) returns what was read,
            with the shortfall in ``warnings`` (a reply with no candidate at all still raises);
            ``"raise"`` raises :class:`ParseError`; ``"fallback"`` returns the raw reply as one
            candidate.
        seed: Seed for the draw from the distribution (and, where an adapter supports it, for
            reproducible calls); None draws afresh every time.

    Example:
        >>> cfg = VSConfig(k=5, tail=0.1)
        >>> cfg.with_(variant="cot").variant
        'cot'

    """

    k: int = 5
    variant: Variant = "standard"
    per_turn: int | None = None
    tail: float | None = None
    probability: ProbabilityDefinition = "explicit"
    format: ReplyFormat = "json"
    max_retries: int = 2
    on_failure: OnFailure = "partial"
    seed: int | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> VSConfig:
        """Refuse a misspelt keyword with :class:`SettingsError` naming the accepted ones.

        It runs before the dataclass ``__init__``, whose ``TypeError`` would name none.
        """
        refuse_unknown(kwargs, cls.__name__)
        return super().__new__(cls)

    def __post_init__(self) -> None:
        _check_int("k", self.k, 1, MAX_K)
        _check_choice("variant", self.variant, VARIANTS)
        _check_choice("probability", self.probability, PROBABILITY_DEFINITIONS)
        _check_choice("format", self.format, FORMATS)
        _check_choice("on_failure", self.on_failure, ON_FAILURE)
        _check_int("max_retries", self.max_retries, 0, MAX_RETRIES)
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise InvalidSetting(f"VSConfig.seed must be None or an integer; got {self.seed!r}", field="seed")
        if self.per_turn is not None:
            _check_int("per_turn", self.per_turn, 1, self.k)
        if self.tail is not None:
            tail = self.tail
            if isinstance(tail, bool) or not isinstance(tail, (int, float)) or not 0 < tail < 1:
                raise InvalidSetting(
                    f"VSConfig.tail must be None or a number strictly between 0 and 1; got {tail!r}", field="tail"
                )

    @property
    def turn_size(self) -> int:
        """Candidates asked for per turn (``k`` except for the ``multi`` variant)."""
        if self.variant != "multi":
            return self.k
        return self.per_turn if self.per_turn is not None else (self.k + 1) // 2

    def with_(self, **changes: Any) -> VSConfig:
        """Return a copy with ``changes`` applied (validated again).

        Raises:
            SettingsError: If a key is not a setting (the message names the accepted ones).

        """
        refuse_unknown(changes, "VSConfig")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


SETTINGS: tuple[str, ...] = tuple(f.name for f in fields(VSConfig))
"""The flat keywords every engine and adapter accepts, in addition to a whole ``config``."""


def refuse_unknown(keywords: Iterable[str], owner: str, own: Iterable[str] = ()) -> None:
    """Raise :class:`SettingsError` for any keyword that is neither a VS setting nor ``owner``'s own.

    The message names each unknown keyword with the closest accepted name, then the VS settings
    and the owner's own keywords, so a user sees everything they could have meant.

    Example:
        >>> try:
        ...     refuse_unknown(["k", "streming"], "Synth", own=["streaming", "llm"])
        ... except SettingsError as err:
        ...     print(str(err).split(";")[0])
        Synth got unknown setting(s) 'streming' (did you mean 'streaming'?)

    """
    own_names = sorted(set(own) - {"config", *SETTINGS})
    unknown = sorted(set(keywords) - {"config", *SETTINGS, *own_names})
    if not unknown:
        return
    candidates = [*SETTINGS, "config", *own_names]
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, candidates, n=1)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    message = f"{owner} got unknown setting(s) {', '.join(hints)}; accepted: config, {', '.join(SETTINGS)}"
    if own_names:
        message += f"; {owner}'s own: {', '.join(own_names)}"
    raise SettingsError(message, unknown)


def resolve_config(
    config: VSConfig | None = None, /, *, owner: str = "VS", own: Iterable[str] = (), **settings: Any
) -> VSConfig:
    """The one way every engine and adapter turns its keywords into a :class:`VSConfig`.

    Keywords set to None are left at the config's value (``tail``, ``per_turn`` and ``seed``
    are None by default anyway), so adapters can forward all their optional fields.

    Args:
        config: A whole config to start from (default ``VSConfig()``).
        owner: The caller's name, used in error messages.
        own: The caller's own (non-VS) keywords, named in the error for a misspelt one.
        **settings: Flat settings (see :data:`SETTINGS`); they override ``config``'s fields.

    Raises:
        SettingsError: If a keyword is not a setting; the message names it, the closest
            accepted name, and every accepted one.
        ValueError: If a value is invalid (the message names the field).

    Example:
        >>> resolve_config(VSConfig(k=3), tail=0.1).to_dict()["tail"]
        0.1

    """
    refuse_unknown(settings, owner, own)
    if config is not None and not isinstance(config, VSConfig):
        raise TypeError(f"{owner}: config must be a VSConfig; got {type(config).__name__}")
    base = config or VSConfig()
    changes = {name: value for name, value in settings.items() if value is not None}
    return replace(base, **changes) if changes else base


def split_settings(keywords: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keywords into VS settings (including ``config``) and everything else.

    Adapters whose framework takes keywords of its own use this, so a VS setting never reaches
    the framework's config.

    Example:
        >>> split_settings({"k": 3, "temperature": 0.7})
        ({'k': 3}, {'temperature': 0.7})

    """
    names = {*SETTINGS, "config"}
    vs = {key: value for key, value in keywords.items() if key in names}
    rest = {key: value for key, value in keywords.items() if key not in names}
    return vs, rest
