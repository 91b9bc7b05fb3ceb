"""`vs eval` on the embedded model, small."""

import json
import subprocess
import sys

import pytest

from vs_integrations.tools.evaluation import BUILTIN_TASKS

pytestmark = pytest.mark.integration


def test_vs_eval_on_the_embedded_model(tmp_path):
    out = tmp_path / "eval"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vs_integrations.tools.cli",
            "eval",
            "--tasks",
            "dice",
            "-n",
            "4",
            "--methods",
            "direct,standard",
            "--no-embeddings",
            "--seed",
            "0",
            "--max-tokens",
            "200",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads((out / "summary.json").read_text())
    assert [row["method"] for row in rows] == ["direct", "standard"]
    assert all(row["answers"] == 4 and row["tokens"] > 0 for row in rows)
    assert [row["k"] for row in rows] == [None, 6]  # the die asks for every face
    report = (out / "report.md").read_text()
    assert "## dice" in report and "k = 6 (set by the task)" in report and (out / "dice_answers.png").exists()
    answers = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    for record, row in zip(answers, rows, strict=True):  # the report's counts follow the strict judge
        assert row["valid"] == sum(BUILTIN_TASKS["dice"].judge(a) is not None for a in record["answers"])


def test_vs_compare_with_the_same_model_as_judge():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vs_integrations.tools.cli",
            "compare",
            "Name a US state.",
            "-n",
            "3",
            "-k",
            "3",
            "--judge",
            "--seed",
            "0",
            "--max-tokens",
            "200",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["task"] == "states" and data["judge"] == "judged by the same model"
    assert data["judge_usage"]["calls"] >= 2 and data["judge_usage"]["completion_tokens"] > 0
    for method in data["methods"].values():
        assert len(method["answers"]) == 3 and len(method["scores"]) == 3
        assert method["valid"] == sum(BUILTIN_TASKS["states"].judge(a) is not None for a in method["answers"])
        quality = method["quality"]
        assert quality["scored"] + quality["errors"] == 3
        for score in method["scores"]:  # a score in range, or an error record with the judge's raw reply
            assert (score["score"] is not None and 0 <= score["score"] <= 10) or (score["error"] and "raw" in score)
