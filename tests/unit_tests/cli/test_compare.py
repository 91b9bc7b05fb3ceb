"""`vs compare` with a scripted backend: what counts, the judge's quality, --json fields, narrow rendering."""

import json

import pytest

from vs_integrations.backends.base import Backend, Completion
from vs_integrations.tools import cli


def vs_reply(*texts: str) -> str:
    return json.dumps({"responses": [{"text": t, "probability": 1 / len(texts)} for t in texts]})


def judged_texts(messages):
    return [block.split("\n", 1)[1] for block in messages[-1]["content"].split("\n\nCandidate ")[1:]]


class Scripted(Backend):
    """Direct calls pop ``direct``, VS calls pop ``vs``, judge calls score with ``judge(text)``."""

    name = "scripted"

    def __init__(self, direct, vs, judge=None):
        super().__init__()
        self.direct, self.vs, self.judge = list(direct), list(vs), judge
        self.judge_calls = 0

    def _complete(self, messages, schema):
        if schema is not None and "scores" in schema["properties"]:
            self.judge_calls += 1
            texts = judged_texts(messages)
            if self.judge is None:
                return Completion("no idea", 50, 2)
            entries = [{"id": i, "reason": "scripted", "score": self.judge(t)} for i, t in enumerate(texts, start=1)]
            return Completion(json.dumps({"scores": entries}), 50, 10)
        return Completion(self.direct.pop(0) if schema is None else self.vs.pop(0), 10, 5)


@pytest.fixture
def run_compare(monkeypatch, capsys):
    def run(backend, *argv, columns=80):
        monkeypatch.setenv("COLUMNS", str(columns))
        monkeypatch.setattr(cli, "make_backend", lambda args: backend)
        code = cli.main(["compare", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


# The states run: a sentence about the country and a city are not states.
STATES_DIRECT = [
    "New York",
    "new york.",
    "The United States is a federal republic.",
    "Washington D.C.",
    "Texas",
    "NEW YORK",
]
STATES_VS = [vs_reply("California", "Houston", "Ohio"), vs_reply("Maine", "Ohio", "Oregon")]


def test_json_counts_distinct_valid_answers_of_a_known_task(run_compare):
    code, out, _ = run_compare(Scripted(STATES_DIRECT, STATES_VS), "Name a US state.", "-n", "6", "-k", "3", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["task"] == "states" and data["validity"].startswith("names exactly one of the 50 answers")
    assert data["judge"] is None and "judge_usage" not in data
    direct, vs = data["methods"]["direct"], data["methods"]["standard"]
    assert direct["label"] == "direct" and vs["label"] == "VS-standard"
    assert direct["answers"] == STATES_DIRECT  # every answer, as written
    assert direct["valid"] == 4 and direct["distinct"] == 2 and direct["counts"] == {"New York": 3, "Texas": 1}
    assert direct["invalid"] == ["The United States is a federal republic.", "Washington D.C."]
    assert vs["valid"] == 5 and vs["distinct"] == 4 and vs["invalid"] == ["Houston"]
    assert vs["counts"] == {"Ohio": 2, "California": 1, "Maine": 1, "Oregon": 1}
    assert direct["calls"] == 6 and vs["calls"] == 2 and vs["generated_tokens"] == 10
    assert direct["tokens_per_distinct"] == 15 and direct["quality"] is None and direct["scores"] is None
    assert direct["semantic_diversity"] is None  # a state list has an answer set, not free text


# The jokes run: refusals twice, spelling variants, questions that are not jokes.
JOKES_DIRECT = [
    "I'm sorry, but I can't help with that.",
    "Why did the coffee file a police report? It got mugged.",
    "why did the coffee file a police report -- it got MUGGED!",
    "I'm sorry, but I can't help with that.",
]
JOKES_VS = [vs_reply("What's your name?", "Decaf? Depresso.", "What's your job?", "Espresso yourself.")]


def coffee_judge(text):
    return 8 if "coffee" in text.lower() or "presso" in text else 1


def test_free_prompt_counts_without_refusals_and_reports_quality_with_its_interval(run_compare):
    backend = Scripted(JOKES_DIRECT, JOKES_VS, judge=coffee_judge)
    code, out, _ = run_compare(
        backend, "Tell me a one-line joke about coffee.", "-n", "4", "-k", "4", "--judge", "--json"
    )
    assert code == 0
    data = json.loads(out)
    direct, vs = data["methods"]["direct"], data["methods"]["standard"]
    assert data["task"] == "free prompt" and data["rubric"] == "generic" and data["judge"] == "judged by the same model"
    # case, punctuation and spacing folded: the two mugged jokes are one; the refusals do not count
    assert direct["valid"] == 2 and direct["distinct"] == 1 and len(direct["invalid"]) == 2
    assert direct["counts"] == {"Why did the coffee file a police report? It got mugged.": 2}
    assert vs["distinct"] == 4  # questions are valid text: only the judge sees they are not jokes
    # quality: every answer scored (refusals too: a user gets them), identical answers judged once
    assert [s["score"] for s in direct["scores"]] == [1.0, 8.0, 8.0, 1.0]
    assert [s["score"] for s in vs["scores"]] == [1.0, 8.0, 1.0, 8.0]
    assert direct["quality"]["mean"] == 4.5 and direct["quality"]["scored"] == 4 and direct["quality"]["errors"] == 0
    assert direct["quality"]["low"] <= 4.5 <= direct["quality"]["high"]
    assert vs["quality"]["low"] == vs["quality"]["high"] == 4.5  # one call: resampling it changes nothing
    assert backend.judge_calls == 2  # 3 distinct direct texts in one call of 5, 4 VS texts in another
    assert data["judge_usage"]["calls"] == 2 and data["judge_usage"]["prompt_tokens"] == 100


def test_valid_regex_excludes_answers_and_is_checked(run_compare):
    backend = Scripted(["Blue", "blue!", "Sky blue, like the sea"], [vs_reply("Red", "Green", "A colour I love")])
    code, out, _ = run_compare(backend, "Name a colour.", "-n", "3", "-k", "3", "--valid", r"\w+!?", "--json")
    data = json.loads(out)
    assert code == 0 and data["validity"] == "any non-empty text that is not a refusal, matching /\\w+!?/"
    assert data["methods"]["direct"]["counts"] == {"Blue": 2}
    assert data["methods"]["standard"]["invalid"] == ["A colour I love"]
    code, _, err = run_compare(Scripted([], []), "Name a colour.", "--valid", "(")
    assert code == cli.EXIT_USAGE and "--valid: valid is not a regular expression" in err


def test_unreadable_judge_replies_are_counted_as_errors_not_zeros(run_compare):
    backend = Scripted(["Espresso yourself."], [vs_reply("Decaf? Depresso.")], judge=None)
    code, out, _ = run_compare(backend, "A coffee joke.", "-n", "1", "-k", "1", "--judge", "--json")
    vs = json.loads(out)["methods"]["standard"]
    assert code == 0 and vs["quality"]["mean"] is None and vs["quality"]["errors"] == 1
    assert vs["scores"][0]["raw"] == "no idea" and vs["scores"][0]["score"] is None
    assert backend.judge_calls == 4  # each answer asked once more before its error record is kept
    code, out, _ = run_compare(Scripted(["x"], [vs_reply("y")]), "A coffee joke.", "-n", "1", "-k", "1", "--judge")
    assert "no score (1 errors)" in out


def test_semantic_diversity_of_a_free_prompt_when_the_eval_extra_is_there(run_compare, monkeypatch):
    from vs_integrations.tools import evaluation

    def embed(texts):
        return [[1.0, 0.0] if "coffee" in t else [0.0, 1.0] for t in texts]

    monkeypatch.setattr(evaluation, "load_embedder", lambda: embed)
    backend = Scripted(["coffee one", "coffee two"], [vs_reply("coffee three", "tea")])
    _, out, _ = run_compare(backend, "Anything.", "-n", "2", "-k", "2", "--json")
    methods = json.loads(out)["methods"]
    assert methods["direct"]["semantic_diversity"] == 0.0 and methods["standard"]["semantic_diversity"] == 100.0
    _, out, _ = run_compare(
        Scripted(["a", "b"], [vs_reply("c", "d")]), "Anything.", "-n", "2", "-k", "2", "--no-embeddings", "--json"
    )
    assert json.loads(out)["methods"]["direct"]["semantic_diversity"] is None


@pytest.mark.parametrize("columns", [80, 48])
def test_piped_or_narrow_output_fits_and_keeps_whole_words(run_compare, columns):
    long_joke = (
        "Why did the barista bring a ladder to work? Because the coffee was on the house, and so was the long tail."
    )
    backend = Scripted(
        ["Espresso yourself."] * 3,
        [vs_reply(long_joke, "Decaf? Depresso.", "I can't help with that.")],
        judge=coffee_judge,
    )
    code, out, _ = run_compare(backend, "Tell me a coffee joke.", "-n", "3", "-k", "3", "--judge", columns=columns)
    assert code == 0
    lines = out.splitlines()
    assert max(map(len, lines)) <= columns
    assert "…" not in out  # nothing cut: long answers wrap
    text = " ".join(out.split())
    for label in ("distinct valid", "generated tokens", "tokens / distinct valid", "quality (0–10)", "VS-standard"):
        assert label in text
    assert "Espresso yourself. ×3" in out and "the long tail. ×1" in out  # wrapped inside its column
    # side by side: one line holds a direct answer and a VS candidate
    assert any(line.startswith("Espresso yourself. ×3") and "|" in line for line in lines)
    assert "Not counted (invalid or refusals):" in out and "I can't help with that. ×1" in text
    assert "judge (not in the cost above): 2 calls, 120 tokens" in text


def test_a_judge_model_needs_a_server(run_compare):
    code, _, err = run_compare(Scripted([], []), "x", "--judge-model", "big")
    assert code == cli.EXIT_USAGE and "--judge-model needs --judge-base-url" in err
