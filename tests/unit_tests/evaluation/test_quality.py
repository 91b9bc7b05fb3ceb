"""Quality in the evaluation: judging runs, the bootstrap interval, `vs eval --judge`, prompts as tasks."""

import json

import pytest

from vs_integrations.backends.base import Backend, Completion
from vs_integrations.core.judge import JOKE_RUBRIC, Judge
from vs_integrations.tools import cli
from vs_integrations.tools.evaluation import (
    BUILTIN_TASKS,
    MethodRun,
    bootstrap_mean_interval,
    judge_run,
    known_task,
    load_tasks,
)
from vs_integrations.tools.evaluation.report import markdown_table


def judged_texts(messages):
    return [block.split("\n", 1)[1] for block in messages[-1]["content"].split("\n\nCandidate ")[1:]]


class ScoreByLength:
    """A judge model: the score is the text's length (capped at 10); records what it was asked."""

    def __init__(self):
        self.asked = []

    def __call__(self, messages, schema):
        texts = judged_texts(messages)
        self.asked.append((messages[0]["content"], texts))
        return json.dumps(
            {"scores": [{"id": i, "reason": "len", "score": min(len(t), 10)} for i, t in enumerate(texts, 1)]}
        )


def test_judge_run_scores_every_answer_judging_each_text_once_with_the_task_rubric():
    judge_model = ScoreByLength()
    run = MethodRun(BUILTIN_TASKS["joke"], "direct", ["abc", "abc ", "a", "abc"], [1, 1, 1, 1])
    judged = judge_run(run, Judge(judge_model))
    assert run.judgement is judged
    assert [s.score for s in judged.scores] == [3.0, 3.0, 1.0, 3.0]
    assert len(judge_model.asked) == 1 and sorted(judge_model.asked[0][1]) == ["a", "abc"]
    assert JOKE_RUBRIC.criteria in judge_model.asked[0][0]  # the joke task's own rubric
    quality = run.quality()
    assert quality["mean"] == 2.5 and quality["scored"] == 4 and quality["errors"] == 0
    assert 1.0 <= quality["low"] < 2.5 < quality["high"] <= 3.0 and quality["judge_calls"] == 1
    row = run.summary()
    assert row["quality"] == 2.5 and row["quality_interval"] == [quality["low"], quality["high"]]
    assert f"| 2.5 | {quality['low']:.1f}–3.0 | 0 |" in markdown_table([row])
    assert MethodRun(BUILTIN_TASKS["joke"], "direct", ["x"]).quality() is None


def test_bootstrap_mean_interval_resamples_whole_groups_and_is_seeded():
    assert bootstrap_mean_interval([[5.0, 5.0], [5.0]]) == (5.0, 5.0)
    groups = [[1.0], [9.0], [4.0], [7.0], [2.0]]
    low, high = bootstrap_mean_interval(groups, seed=3)
    assert 1.0 <= low < 4.6 < high <= 9.0
    assert bootstrap_mean_interval(groups, seed=3) == (low, high)  # seeded: the same interval
    # one call holding every score: resampling calls cannot move the mean
    assert bootstrap_mean_interval([[1.0, 9.0, 4.0, 7.0, 2.0]]) == (4.6, 4.6)
    assert bootstrap_mean_interval([[], []]) is None
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mean_interval(groups, confidence=1.0)


class Scripted(Backend):
    name = "scripted"

    def _complete(self, messages, schema):
        if schema is not None and "scores" in schema["properties"]:
            texts = judged_texts(messages)
            entries = [{"id": i, "reason": "ok", "score": 6} for i in range(1, len(texts) + 1)]
            return Completion(json.dumps({"scores": entries}), 40, 8)
        if schema is None:
            return Completion("Espresso yourself.", 10, 3)
        return Completion(
            json.dumps({"responses": [{"text": t, "probability": 0.5} for t in ("Decaf? Depresso.", "Brew-tiful.")]}),
            10,
            3,
        )


def test_vs_eval_with_a_judge_reports_quality_beside_diversity(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "make_backend", lambda args: Scripted())
    out = tmp_path / "report"
    argv = [
        "eval",
        "--tasks",
        "joke",
        "-n",
        "4",
        "-k",
        "2",
        "--methods",
        "direct,standard",
        "--no-embeddings",
        "--judge",
    ]
    assert cli.main([*argv, "-o", str(out)]) == 0
    rows = json.loads((out / "summary.json").read_text())
    assert [(r["method"], r["quality"], r["quality_interval"], r["judge_errors"]) for r in rows] == [
        ("direct", 6.0, [6.0, 6.0], 0),
        ("standard", 6.0, [6.0, 6.0], 0),
    ]
    report = (out / "report.md").read_text()
    assert "quality (0–10) | quality 95% CI | judge errors" in report and "judged by the same model" in report
    records = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert [s["score"] for s in records[0]["scores"]] == [6.0] * 4
    assert records[0]["judge_usage"]["calls"] == 1  # four identical direct answers, judged once


def test_a_prompt_is_recognised_as_its_task():
    assert known_task("Name a US state.").name == "states"
    assert known_task("  name a us STATE ").name == "states"
    assert known_task("Name a US state. Reply with the name only.").name == "states"
    assert known_task("Roll a fair six-sided die.").name == "dice"
    assert known_task("Tell a joke about coffee.").rubric == "joke"
    assert known_task("Name a US state capital.") is None


def test_task_files_set_a_rubric_and_a_validity_pattern(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text(json.dumps({"name": "pun", "prompt": "A pun.", "rubric": "joke", "valid": r"[^?]+"}) + "\n")
    (pun,) = load_tasks(path)
    assert pun.rubric == "joke" and pun.judge("Decaf? Depresso.") is None and pun.judge("Brew-tiful.") == "brewtiful"
    assert pun.rule == "any non-empty text that is not a refusal, matching /[^?]+/"
    path.write_text(json.dumps({"name": "pun", "prompt": "A pun.", "rubric": "puns"}) + "\n")
    with pytest.raises(ValueError, match=r"tasks.jsonl:1: rubric must be one of generic, joke, creative_writing"):
        load_tasks(path)
