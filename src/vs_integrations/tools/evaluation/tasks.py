"""The seed's evaluation tasks and how each answer is judged."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

from ...core.distribution import ValidPredicate
from ...core.judge import RUBRICS

TaskKind = Literal["dice", "choice", "free", "negatives"]

US_STATES = (
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut", "Delaware", "Florida",
    "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas", "Kentucky", "Louisiana", "Maine",
    "Maryland", "Massachusetts", "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska",
    "Nevada", "New Hampshire", "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota", "Ohio",
    "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island", "South Carolina", "South Dakota", "Tennessee", "Texas",
    "Utah", "Vermont", "Virginia", "Washington", "West Virginia", "Wisconsin", "Wyoming",
)  # fmt: skip
DICE_FACES = ("1", "2", "3", "4", "5", "6")
FLOUR_PROBLEM = (
    "Gary has 6 pounds of flour. He uses 4 pounds to make cakes, which need 0.5 pounds each, and the remaining "
    "2 pounds to bake cupcakes, which need 0.2 pounds each. He sells each cake for $2.50 and each cupcake for "
    "$1.00. How much money does Gary earn? Write an incorrect but logical-looking solution that ends with the "
    "final amount."
)
FLOUR_CORRECT = 30.0
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_FACE_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6"}
# A whole answer that is one face: "4", "four", "I rolled a 4", "The die shows six", "It's a 3".
_DICE_ANSWER = re.compile(
    r"(?:(?:i|you|we)\s+(?:rolled|got|roll|get)\s+"
    r"|(?:the\s+)?(?:die|dice|roll|result|answer|number)\s+(?:is|was|shows|showed|lands\s+on|landed\s+on)\s+"
    r"|it\s*(?:'s|is|was)\s+|rolled\s+)?"
    r"(?:an?\s+)?(?P<face>[1-6]|one|two|three|four|five|six)"
)
# A reply that declines the task instead of doing it (checked at the start of the answer only).
_REFUSAL = re.compile(
    r"(?:i'?m sorry|i am sorry|sorry, (?:but )?i|i apologi[sz]e|unfortunately,? i|as an ai\b"
    r"|i (?:can ?not|can'?t|won'?t|am unable to|am not able to|'m unable to|'m not able to|do not|don'?t) "
    r"(?:help|assist|provide|do that|fulfil|fulfill|comply|create|write|tell|answer|generate))",
    re.IGNORECASE,
)
# Wrapping a bare answer may carry: quotes, Markdown emphasis or code (a closing ".", "!" or ","
# is stripped too: list replies split into "6," "1," ...).
_WRAPPING = "\"'*_`"


def judge_face(answer: str) -> str | None:
    """The face ("1"-"6") if ``answer`` is a die roll and nothing else, else None.

    Accepted: a bare face as a digit or word, optionally quoted or emphasised and ending in ``.``,
    ``!`` or ``,``, or one short sentence around it ("I rolled a 4", "The die shows six", "The
    number is 2", "It's a 3").
    Refused: anything else, e.g. "1. I am a person,", "1, 2, 3", "7", "4.5", "I rolled a 4 and a 2".

    Example:
        >>> judge_face("I rolled a four!"), judge_face("1. I am a person,")
        ('4', None)
    """
    text = " ".join(answer.replace("\u2019", "'").split()).strip(_WRAPPING).rstrip(".!,").strip(_WRAPPING)
    match = _DICE_ANSWER.fullmatch(text.casefold())
    if match is None:
        return None
    face = match["face"]
    return _FACE_WORDS.get(face, face)


def is_refusal(answer: str) -> bool:
    """True when ``answer`` opens by declining ("I'm sorry, but I can't help with that.").

    Example:
        >>> is_refusal("I'm sorry, but I can't help with that."), is_refusal("Sorry I'm late: traffic jam.")
        (True, False)
    """
    return _REFUSAL.match(answer.replace("\u2019", "'").strip()) is not None


def answer_key(answer: str) -> str:
    """The form free-text answers are counted in: case folded, punctuation dropped, spacing collapsed.

    Punctuation inside a number stays ("$2.50", "1,000").

    Example:
        >>> answer_key("  What's   the BREW-haha?! ") == answer_key("whats the brewhaha")
        True
        >>> answer_key("Total: $2.50.")
        'total $2.50'
    """
    text = answer.casefold()
    kept = [
        ch
        for i, ch in enumerate(text)
        if not unicodedata.category(ch).startswith("P")
        or (0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit())
    ]
    return " ".join("".join(kept).split())


def judge_one_of(answer: str, answers: tuple[str, ...], not_answers: tuple[str, ...] = ()) -> str | None:
    """The one answer of ``answers`` that ``answer`` names, or None if it names none or several.

    Matching ignores case and needs whole words; the longest answer at a place wins, so "West
    Virginia" names West Virginia only, not Virginia too. Phrases in ``not_answers`` (e.g.
    "Washington, D.C.") are removed first: they contain an answer but do not name it. Naming the
    same answer twice counts once.

    Example:
        >>> judge_one_of("I'd say West Virginia.", ("Virginia", "West Virginia"))
        'West Virginia'
    """
    text = answer
    for phrase in not_answers:
        text = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", " ", text, flags=re.IGNORECASE)
    by_length = sorted(answers, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(a) for a in by_length) + r")\b", re.IGNORECASE)
    canonical = {a.casefold(): a for a in answers}
    named = {canonical[m.group(1).casefold()] for m in pattern.finditer(text)}
    return named.pop() if len(named) == 1 else None


STATE_NOT_ANSWERS = (
    "Washington, D.C.", "Washington D.C.", "Washington DC", "Washington, DC", "New York City", "Kansas City",
    "Oklahoma City", "Iowa City", "Virginia Beach",
)  # fmt: skip


def whole_match(pattern: str) -> ValidPredicate:
    """The ``--valid REGEX`` rule of ``vs compare`` and ``vs sample``: ``pattern`` matches the whole stripped text.

    Case counts (start the pattern with ``(?i)`` to ignore it). The predicate pickles, so it
    can be sent to worker processes.

    Raises:
        ValueError: When ``pattern`` is not a regular expression (the message quotes it).

    Example:
        >>> is_state = whole_match("Ohio|Utah")
        >>> is_state(" Ohio "), is_state("Ohio City"), is_state("ohio")
        (True, False, False)

    """
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"valid is not a regular expression ({exc}): {pattern!r}") from None
    return partial(_matches_whole, compiled)


def _matches_whole(pattern: re.Pattern[str], text: str) -> bool:
    return pattern.fullmatch(text.strip()) is not None


@dataclass(frozen=True)
class Task:
    """One prompt, the rule that judges an answer, and the k it asks VS for.

    Attributes:
        name: Short identifier (used in reports and ``--tasks``).
        prompt: What the model is asked.
        kind: ``dice`` (one face, see :func:`judge_face`), ``choice`` (names exactly one of
            ``answers``, see :func:`judge_one_of`), ``free`` (any non-empty text), ``negatives``
            (a worked solution ending in a number other than ``correct``).
        answers: The valid answers of a ``choice`` task (also its coverage and KL support).
        correct: The correct final number of a ``negatives`` task.
        k: The k Sequence and VS ask for on this task; None: the run's k. A task whose answer
            set is small and known asks for all of it: the die's k is 6 (with k = 5 a model that
            lists five faces can never get KL to uniform below ln(6/5) = 0.18).
        not_answers: Phrases that contain an answer without naming it (``choice`` only).
        rubric: The judge's rubric for this task's quality (a name in ``core.judge.RUBRICS``).
        valid: A regular expression a valid answer must match as a whole (stripped), on top of the
            kind's rule (``vs compare --valid``).

    Example:
        >>> BUILTIN_TASKS["states"].judge("I'd say West Virginia.")
        'West Virginia'
        >>> BUILTIN_TASKS["states"].judge("California or Texas") is None
        True
    """

    name: str
    prompt: str
    kind: TaskKind
    answers: tuple[str, ...] = field(default=())
    correct: float | None = None
    k: int | None = None
    not_answers: tuple[str, ...] = field(default=())
    rubric: str = "generic"
    valid: str | None = None

    def __post_init__(self) -> None:
        if self.rubric not in RUBRICS:
            raise ValueError(f"rubric must be one of {', '.join(RUBRICS)}; got {self.rubric!r}")
        if self.valid is not None:
            whole_match(self.valid)

    @property
    def support(self) -> tuple[str, ...]:
        """The answers KL and coverage are measured over (empty for open-ended tasks)."""
        return DICE_FACES if self.kind == "dice" else self.answers

    @property
    def rule(self) -> str:
        """The judge's rule in words, as the report states it."""
        rule = self._kind_rule()
        return rule if self.valid is None else f"{rule}, matching /{self.valid}/"

    def _kind_rule(self) -> str:
        if self.kind == "dice":
            return 'one face and nothing else: "4", "four", or a short "I rolled a 4" (strict)'
        if self.kind == "choice":
            return f"names exactly one of the {len(self.answers)} answers (several, or none: invalid)"
        if self.kind == "negatives":
            return f"ends in a number other than the correct {self.correct:g}, not a refusal"
        return "any non-empty text that is not a refusal"

    def judge(self, answer: str) -> str | None:
        """The normalised valid answer, or None if ``answer`` is not valid for this task."""
        text = answer.strip()
        if not text or (self.valid is not None and not whole_match(self.valid)(text)):
            return None
        if self.kind == "dice":
            return judge_face(text)
        if self.kind == "choice":
            return judge_one_of(text, self.answers, self.not_answers)
        if is_refusal(text):
            return None
        if self.kind == "negatives":
            numbers = _NUMBER.findall(text.replace(",", ""))
            if not numbers or self.correct is None or float(numbers[-1]) == self.correct:
                return None
        return answer_key(text)


BUILTIN_TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("dice", "Roll a fair six-sided die. Reply with the number only.", "dice", k=len(DICE_FACES)),
        Task(
            "states",
            "Name a US state. Reply with the name only.",
            "choice",
            US_STATES,
            not_answers=STATE_NOT_ANSWERS,
        ),
        Task("joke", "Tell a joke about coffee.", "free", rubric="joke"),
        Task(
            "poem", 'Write a short poem starting with "I stand alone in darkness,"', "free", rubric="creative_writing"
        ),
        Task("story", "Write a short story about a bear.", "free", rubric="creative_writing"),
        Task("negatives", FLOUR_PROBLEM, "negatives", correct=FLOUR_CORRECT),
    )
}


def known_task(prompt: str) -> Task | None:
    """The built-in task ``prompt`` asks, or None.

    A prompt is a task's when it equals the task's prompt, or its first sentence (the question
    without the reply-format instruction: "Name a US state." asks the states task), ignoring case,
    punctuation and spacing.

    Example:
        >>> known_task("name a US state").name, known_task("Name a colour.") is None
        ('states', True)
    """
    key = answer_key(prompt)
    for task in BUILTIN_TASKS.values():
        first_sentence = re.split(r"(?<=[.?!])\s", task.prompt, maxsplit=1)[0]
        if key in (answer_key(task.prompt), answer_key(first_sentence)):
            return task
    return None


def load_tasks(path: Path) -> list[Task]:
    """User tasks from JSONL, one a line.

    A line: ``{"name", "prompt", "kind"?, "answers"?, "correct"?, "k"?, "rubric"?, "valid"?}``.
    A dice task asks for k = 6 unless the line sets ``k``; other tasks use the run's k.

    Raises:
        ValueError: On a malformed line (the message names the line).
    """
    tasks = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            kind = record.get("kind", "choice" if record.get("answers") else "free")
            if kind not in ("dice", "choice", "free", "negatives"):
                raise ValueError(f"kind must be dice, choice, free or negatives; got {kind!r}")
            if kind == "choice" and not record.get("answers"):
                raise ValueError("a choice task needs a non-empty 'answers' list")
            if kind == "negatives" and record.get("correct") is None:
                raise ValueError("a negatives task needs 'correct'")
            k = record.get("k", len(DICE_FACES) if kind == "dice" else None)
            if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
                raise ValueError(f"k must be a whole number >= 1; got {k!r}")
            tasks.append(
                Task(
                    str(record["name"]),
                    str(record["prompt"]),
                    kind,
                    tuple(str(a) for a in record.get("answers", ())),
                    None if record.get("correct") is None else float(record["correct"]),
                    k,
                    rubric=str(record.get("rubric", "generic")),
                    valid=None if record.get("valid") is None else str(record["valid"]),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
    return tasks
