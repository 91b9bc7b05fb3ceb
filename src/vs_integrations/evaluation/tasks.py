"""The seed's evaluation tasks and how each answer is judged."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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


@dataclass(frozen=True)
class Task:
    """One prompt and the rule that judges an answer.

    Attributes:
        name: Short identifier (used in reports and ``--tasks``).
        prompt: What the model is asked.
        kind: ``dice`` (a face 1-6), ``choice`` (one of ``answers``), ``free`` (any non-empty
            text), ``negatives`` (a worked solution ending in a number other than ``correct``).
        answers: The valid answers of a ``choice`` task (also its coverage and KL support).
        correct: The correct final number of a ``negatives`` task.

    Example:
        >>> BUILTIN_TASKS["states"].judge("I'd say West Virginia.")
        'West Virginia'
    """

    name: str
    prompt: str
    kind: TaskKind
    answers: tuple[str, ...] = field(default=())
    correct: float | None = None

    @property
    def support(self) -> tuple[str, ...]:
        """The answers KL and coverage are measured over (empty for open-ended tasks)."""
        return DICE_FACES if self.kind == "dice" else self.answers

    def judge(self, answer: str) -> str | None:
        """The normalised valid answer, or None if ``answer`` is not valid for this task."""
        text = answer.strip()
        if not text:
            return None
        if self.kind == "dice":
            numbers = _NUMBER.findall(text)
            return numbers[0] if len(numbers) == 1 and numbers[0] in DICE_FACES else None
        if self.kind == "choice":
            return _first_mention(text, self.answers)
        if self.kind == "negatives":
            numbers = _NUMBER.findall(text.replace(",", ""))
            if not numbers or self.correct is None or float(numbers[-1]) == self.correct:
                return None
            return " ".join(text.split()).casefold()
        return " ".join(text.split()).casefold()


def _first_mention(text: str, answers: tuple[str, ...]) -> str | None:
    """The answer mentioned first in ``text`` (the longest one at that place: West Virginia, not Virginia)."""
    best: tuple[int, int, str] | None = None
    for answer in answers:
        match = re.search(rf"\b{re.escape(answer)}\b", text, re.IGNORECASE)
        if match is not None:
            key = (match.start(), -len(answer), answer)
            best = key if best is None or key < best else best
    return best[2] if best else None


BUILTIN_TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("dice", "Roll a fair six-sided die. Reply with the number only.", "dice"),
        Task("states", "Name a US state. Reply with the name only.", "choice", US_STATES),
        Task("joke", "Tell a joke about coffee.", "free"),
        Task("poem", 'Write a short poem starting with "I stand alone in darkness,"', "free"),
        Task("story", "Write a short story about a bear.", "free"),
        Task("negatives", FLOUR_PROBLEM, "negatives", correct=FLOUR_CORRECT),
    )
}


def load_tasks(path: Path) -> list[Task]:
    """User tasks from JSONL: ``{"name", "prompt", "kind"?, "answers"?, "correct"?}`` a line.

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
            tasks.append(
                Task(
                    str(record["name"]),
                    str(record["prompt"]),
                    kind,
                    tuple(str(a) for a in record.get("answers", ())),
                    None if record.get("correct") is None else float(record["correct"]),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
    return tasks
