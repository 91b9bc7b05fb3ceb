"""An LLM judge: scores each candidate's quality 0–10, with a short reason, against a rubric.

Any model under the call contract can judge (a plain function ``(messages, schema) -> str |
Reply`` or an object with ``generate(request)``): the judge asks for JSON under a schema, so a
small embedded model can answer it under constrained decoding. Several candidates go in one
call, named by letters (not numbers a small judge echoes as scores) and shuffled by a seed taken
from their texts (so a candidate's place does not follow its place in the caller's list, and the
same batch is judged the same way in any process). A reply that cannot be read becomes an error
record per candidate (score None, the error and the judge's raw text), never a silent zero. So
does a batch whose call failed after an earlier call was answered: the scores already read are kept.
"""

from __future__ import annotations

import json
import math
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .calls import CallKind, CallRecord, GenerationSettings, Model, ModelFn, ModelRequest, Usage, call_model
from .errors import BackendError, InvalidSetting
from .prompts import Message

MAX_SCORE = 10
MAX_BATCH = len(string.ascii_uppercase)  # candidates are named A..Z
_REASON_CHARS = 120  # the schema's cap on a reason: one short sentence, so a small judge does not ramble
# A judge call's token limit: the JSON around the entries, then one entry (id, a reason of at most
# _REASON_CHARS, the score) per candidate. A reply cut at it is an error record that says so.
JUDGE_TOKENS_PER_CALL = 60
JUDGE_TOKENS_PER_CANDIDATE = 50


@dataclass(frozen=True)
class Rubric:
    """What the judge scores against: a name and the criteria, from 0 (worst) to 10 (best).

    Example:
        >>> Rubric("recipe", "10: a complete recipe a cook can follow; 0: not a recipe.").name
        'recipe'
    """

    name: str
    criteria: str


GENERIC_RUBRIC = Rubric(
    "generic",
    "How well the response does what the prompt asks.\n"
    "10: fully answers the prompt, correct, clear and well written.\n"
    "7: answers the prompt with small flaws.\n"
    "4: partly answers it, or answers it badly (off topic in part, confusing, wrong in part).\n"
    "1: barely related to the prompt.\n"
    "0: does not answer at all: a refusal, an empty or garbled text, a question back, another task.",
)
JOKE_RUBRIC = Rubric(
    "joke",
    "A joke, judged on four criteria as the Verbalized Sampling paper's joke judge does: "
    "funniness, cleverness (wordplay, a twist), originality (not a stock joke) and structure "
    "(a setup and a punchline that pays it off), and it must be about the prompt's topic.\n"
    "10: funny, clever and original, with a clear setup and punchline, on topic.\n"
    "7: a real joke on topic with a working punchline, but familiar or flat.\n"
    "4: joke-shaped but the punchline does not land, or only loosely on topic.\n"
    "1: no punchline: a statement, a question or a story that is not a joke.\n"
    "0: not a joke at all: a refusal, an unrelated text, garbled text.",
)
CREATIVE_WRITING_RUBRIC = Rubric(
    "creative_writing",
    "A poem or story, judged as the paper's creative-writing judge does (after EQ-Bench Creative "
    "Writing v3, rescaled from 0-20 to 0-10): adherence to the prompt, imagery and vivid detail, "
    "coherence, an original voice, emotional effect; clichés, purple prose and repetition cost points.\n"
    "10: follows the prompt, vivid, coherent and original; reads like good published writing.\n"
    "7: follows the prompt and is coherent, with some clichés or flat passages.\n"
    "4: follows the prompt loosely; generic, repetitive or partly incoherent.\n"
    "1: barely a poem or story, or mostly off the prompt.\n"
    "0: not a poem or story: a refusal, a list of instructions, garbled text.",
)
RUBRICS: dict[str, Rubric] = {r.name: r for r in (GENERIC_RUBRIC, JOKE_RUBRIC, CREATIVE_WRITING_RUBRIC)}


def rubric_named(name: str) -> Rubric:
    """The built-in rubric called ``name``.

    Raises:
        InvalidSetting: Naming the rubric and the ones that exist.
    """
    try:
        return RUBRICS[name]
    except KeyError:
        raise InvalidSetting(f"rubric must be one of {', '.join(RUBRICS)}; got {name!r}", field="rubric") from None


@dataclass(frozen=True)
class Score:
    """The judge's verdict on one candidate: a score 0–10 and its reason, or an error record.

    Attributes:
        text: The candidate judged.
        score: 0–10, or None when the judge's reply could not be read for this candidate.
        reason: The judge's reason ("" on an error).
        error: What could not be read (None when scored).
        raw: The judge's whole reply this verdict comes from (kept on errors too).

    Example:
        >>> Score("Decaf? No thanks.", 6.0, "a pun, but thin").ok
        True
    """

    text: str
    score: float | None
    reason: str = ""
    error: str | None = None
    raw: str = ""

    @property
    def ok(self) -> bool:
        """True when the candidate got a score."""
        return self.score is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; the judge's raw reply only on an error (a score holds what was read)."""
        out: dict[str, Any] = {"text": self.text, "score": self.score, "reason": self.reason}
        return out if self.ok else {**out, "error": self.error, "raw": self.raw}


@dataclass(frozen=True)
class Judgement:
    """Every candidate's :class:`Score` (in the candidates' order) and what the judge calls cost.

    Example:
        >>> judged = Judgement([Score("a", 8.0, "good"), Score("b", None, error="no score", raw="?")])
        >>> judged.mean, len(judged.errors)
        (8.0, 1)
    """

    scores: list[Score]
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        """The scores read (errors left out)."""
        return [s.score for s in self.scores if s.score is not None]

    @property
    def mean(self) -> float | None:
        """Mean score of the candidates scored; None if none was."""
        values = self.values
        return sum(values) / len(values) if values else None

    @property
    def errors(self) -> list[Score]:
        """The candidates whose verdict could not be read."""
        return [s for s in self.scores if not s.ok]

    @property
    def usage(self) -> Usage:
        """What the judge calls cost in all."""
        return Usage.of(self.calls)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "mean": self.mean,
            "scored": len(self.values),
            "errors": len(self.errors),
            "scores": [s.to_dict() for s in self.scores],
            "usage": self.usage.to_dict(),
            "calls": [c.to_dict() for c in self.calls],
        }


class Judge:
    """Scores candidates 0–10 for their prompt with any model, several candidates a call.

    Args:
        model: A function ``(messages, schema) -> str | Reply`` or an object with
            ``generate(request)`` (``LocalModel``, ``OpenAICompatibleModel``; LangChain or DSPy
            models through a small function, see docs/evaluation.md).
        rubric: A :class:`Rubric` or a built-in name: ``generic``, ``joke``, ``creative_writing``.
        batch_size: Candidates per judge call (1 to 26: they are named A to Z).
        retries: Extra calls for the candidates whose verdict could not be read (>= 0); what is
            still unreadable after them becomes an error record.
        settings: Overrides of the judge calls' own settings (:func:`judge_settings`: temperature
            0, since a judge should not be sampled, and a token limit sized to the batch); the
            settings it leaves unset keep the judge's, never the model's defaults for answers.

    Raises:
        InvalidSetting: For a bad ``rubric``, ``batch_size`` or ``retries``.

    Example:
        >>> def model(messages, schema):
        ...     return '{"scores": [{"id": "A", "reason": "on topic, lands", "score": 8}]}'
        >>> judged = Judge(model, rubric="joke").score("A coffee joke.", ["Decaf? Depresso."])
        >>> judged.scores[0].score, judged.usage.calls
        (8.0, 1)
    """

    def __init__(
        self,
        model: Model | ModelFn,
        rubric: Rubric | str = GENERIC_RUBRIC,
        *,
        batch_size: int = 5,
        retries: int = 1,
        settings: GenerationSettings | None = None,
    ) -> None:
        for name, value, minimum in (("batch_size", batch_size, 1), ("retries", retries, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise InvalidSetting(f"{name} must be a whole number >= {minimum}; got {value!r}", field=name)
        if batch_size > MAX_BATCH:
            raise InvalidSetting(
                f"batch_size must be at most {MAX_BATCH} (candidates are named A-Z); got {batch_size}",
                field="batch_size",
            )
        self.model = model
        self.rubric = rubric_named(rubric) if isinstance(rubric, str) else rubric
        self.batch_size = batch_size
        self.retries = retries
        self.settings = settings if settings is not None else GenerationSettings()

    def with_rubric(self, rubric: Rubric | str) -> Judge:
        """The same judge (model, batch size, retries, settings) scoring against ``rubric``."""
        return Judge(self.model, rubric, batch_size=self.batch_size, retries=self.retries, settings=self.settings)

    def score(self, prompt: str, candidates: Sequence[str]) -> Judgement:
        """Score every candidate written for ``prompt``; returns them in order, with the calls' cost.

        Each call lists its batch in an order shuffled by a seed taken from the batch's texts, as
        candidates A, B, C...; the verdicts are mapped back to the candidates. A call runs with
        :func:`judge_settings` for its batch, overridden by ``settings``. An unreadable reply
        becomes an error record for its candidates, and they are asked again (``retries``); a
        reply cut at the token limit (finish reason ``length``) says so in its error records. A
        model or server error (a :class:`BackendError`: unreachable, refused) on the first call
        propagates, nothing being scored yet; on a later call it becomes an error record for that
        batch's candidates naming the error (asked again like an unreadable reply), so the
        batches already scored are kept.
        """
        verdicts: dict[int, Score] = {}
        calls: list[CallRecord] = []
        pending = list(range(len(candidates)))
        for attempt in range(self.retries + 1):
            kind: CallKind = "first" if attempt == 0 else "retry"
            for start in range(0, len(pending), self.batch_size):
                batch = presented_order(pending[start : start + self.batch_size], candidates)
                texts = [candidates[i] for i in batch]
                settings = judge_settings(len(texts)).updated(self.settings)
                request = ModelRequest(
                    judge_messages(prompt, texts, self.rubric), judge_schema(len(texts)), settings, kind
                )
                try:
                    reply = call_model(self.model, request)
                except BackendError as error:
                    if not calls:
                        raise
                    failed = f"the judge call failed: {type(error).__name__}: {error}"
                    verdicts.update((i, Score(candidates[i], None, error=failed)) for i in batch)
                    continue
                read = read_scores(reply.text, texts)
                if reply.finish_reason == "length":
                    read = [_cut(verdict, settings.max_tokens) for verdict in read]
                calls.append(CallRecord.of(kind, reply, sum(s.ok for s in read)))
                for index, verdict in zip(batch, read, strict=True):
                    verdicts[index] = verdict
            pending = [i for i in pending if not verdicts[i].ok]
            if not pending:
                break
        return Judgement([verdicts[i] for i in range(len(candidates))], calls)


def presented_order(batch: Sequence[int], candidates: Sequence[str]) -> list[int]:
    """The candidate indexes of ``batch`` in the order a judge call lists them.

    Shuffled by a seed taken from the batch's texts, so a candidate's letter does not follow its
    place in the caller's list (a judge's position bias then does not line up with, say, the
    order a model wrote its candidates in), and the same batch gets the same order in any
    process (a ``str`` seed is hashed with SHA-512, not with the per-process ``hash``).

    Example:
        >>> presented_order([0, 1, 2], ["a", "b", "c"]) == presented_order([0, 1, 2], ["a", "b", "c"])
        True
    """
    order = list(batch)
    random.Random("\x00".join(candidates[i] for i in order)).shuffle(order)
    return order


def judge_settings(count: int) -> GenerationSettings:
    """The judge's own settings for a call judging ``count`` candidates.

    Temperature 0 (a verdict should not be sampled) and a token limit sized to the batch, so a
    rambling reply is cut early rather than at the limit meant for the answers.

    Example:
        >>> judge_settings(5)
        GenerationSettings(temperature=0.0, top_p=None, max_tokens=310, seed=None, stop=None)
    """
    return GenerationSettings(temperature=0.0, max_tokens=JUDGE_TOKENS_PER_CALL + JUDGE_TOKENS_PER_CANDIDATE * count)


def candidate_ids(count: int) -> list[str]:
    """The names of ``count`` candidates in a judge call: letters, not numbers a judge echoes as scores."""
    return list(string.ascii_uppercase[:count])


def judge_messages(prompt: str, candidates: Sequence[str], rubric: Rubric) -> list[Message]:
    """The judge's chat messages: the rubric, the prompt and the candidates named A, B, C..."""
    system = (
        "You are a strict, fair judge of quality. Score each candidate response to the prompt from 0 "
        f"(worst) to {MAX_SCORE} (best) against this rubric, each on its own merits (not against the others "
        "and not by its place in the list):\n\n"
        f"{rubric.criteria}\n\n"
        'Reply with JSON only: {"scores": [{"id": <candidate letter>, "reason": <one short sentence>, '
        '"score": <whole number 0-10>}, ...]}, one entry per candidate.'
    )
    listed = "\n\n".join(
        f"Candidate {letter}:\n{text}" for letter, text in zip(candidate_ids(len(candidates)), candidates, strict=True)
    )
    user = f"Prompt:\n{prompt}\n\n{listed}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def judge_schema(count: int) -> dict[str, Any]:
    """The JSON schema of a judge reply for ``count`` candidates (what constrained decoding follows).

    The id is one of the candidates' letters and the score one of 0..10, both as an ``enum``:
    llama.cpp's grammar ignores ``minimum``/``maximum`` on integers, an enum it enforces. Every
    object lists all its properties as required and forbids others, as OpenAI's strict
    ``json_schema`` requires.
    """
    item = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "enum": candidate_ids(count)},
            "reason": {"type": "string", "maxLength": _REASON_CHARS},
            "score": {"type": "integer", "enum": list(range(MAX_SCORE + 1))},
        },
        "required": ["id", "reason", "score"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"scores": {"type": "array", "items": item, "minItems": count, "maxItems": count}},
        "required": ["scores"],
        "additionalProperties": False,
    }


def read_scores(raw: str, candidates: Sequence[str]) -> list[Score]:
    """One :class:`Score` per candidate (named A, B, C... in this order) from a judge reply.

    Entries are matched to candidates by ``id`` when the ids are usable (each a candidate's
    letter, no repeats), else by position when there is one entry per candidate; unreadable
    parts become error records.

    Example:
        >>> [s.score for s in read_scores('{"scores": [{"id": "B", "score": 3}, {"id": "A", "score": 9}]}', "ab")]
        [9.0, 3.0]
        >>> read_scores("I liked them all", ["a"])[0].error
        'the judge reply is not JSON with a "scores" list'
    """
    entries = _entries(raw)
    if entries is None:
        return [
            Score(text, None, error='the judge reply is not JSON with a "scores" list', raw=raw) for text in candidates
        ]
    letters = candidate_ids(len(candidates))
    ids = [_candidate_index(entry, letters) for entry in entries]
    matched: dict[int, Any] = {}
    if None not in ids and len(set(ids)) == len(ids):
        matched = {index: entry for index, entry in zip(ids, entries, strict=True) if index is not None}
    elif len(entries) == len(candidates):
        matched = dict(enumerate(entries))
    return [_score(text, matched.get(index), letters[index], raw) for index, text in enumerate(candidates)]


def _candidate_index(entry: Any, letters: list[str]) -> int | None:
    """The 0-based candidate an entry's ``id`` names (its letter), or None when it names none."""
    name = entry.get("id") if isinstance(entry, dict) else None
    if not isinstance(name, str) or name.strip().upper() not in letters:
        return None
    return letters.index(name.strip().upper())


def _entries(raw: str) -> list[Any] | None:
    """The reply's ``scores`` list (also inside a code fence or prose), or None."""
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        data = json.loads(raw[start : end + 1])
    except json.JSONDecodeError:
        return None
    scores = data.get("scores") if isinstance(data, dict) else None
    return scores if isinstance(scores, list) else None


def _score(text: str, entry: Any, letter: str, raw: str) -> Score:
    if not isinstance(entry, dict):
        return Score(text, None, error=f"the judge reply has no entry for candidate {letter}", raw=raw)
    value = entry.get("score")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return Score(text, None, error=f"candidate {letter}'s score is not a number: {value!r}", raw=raw)
    if not 0 <= value <= MAX_SCORE:
        return Score(text, None, error=f"candidate {letter}'s score {value:g} is outside 0-{MAX_SCORE}", raw=raw)
    reason = entry.get("reason")
    return Score(text, float(value), reason.strip() if isinstance(reason, str) else "", raw=raw)


def _cut(verdict: Score, max_tokens: int | None) -> Score:
    """A verdict of a reply that stopped at the token limit: an unread one says it was cut."""
    if verdict.ok:
        return verdict
    return replace(
        verdict, error=f"the judge reply was cut at the token limit (max_tokens {max_tokens}): {verdict.error}"
    )


__all__ = [
    "CREATIVE_WRITING_RUBRIC",
    "GENERIC_RUBRIC",
    "JOKE_RUBRIC",
    "JUDGE_TOKENS_PER_CALL",
    "JUDGE_TOKENS_PER_CANDIDATE",
    "MAX_BATCH",
    "MAX_SCORE",
    "RUBRICS",
    "Judge",
    "Judgement",
    "Rubric",
    "Score",
    "candidate_ids",
    "judge_messages",
    "judge_schema",
    "judge_settings",
    "presented_order",
    "read_scores",
]
