"""Compile a DSPy program for diverse *and* good outputs, offline on the embedded model.

``DistributionMetric`` scores a prediction's whole distribution: the diversity of its valid
candidates times their mean quality. ``BootstrapFewShot`` keeps as demos only the traces whose
distribution scores at least ``metric_threshold``, so the compiled program is shown examples of
several different, on-topic ideas rather than whichever single draw happened to pass.

Quality here is a small rule (on topic, a few words, no refusal); any ``quality(text) -> [0, 1]``
works, e.g. an LLM judge, or your own DSPy metric via ``candidate_metric=``.

On the embedded 135M model few replies hold two valid ideas, so the scores stay low (13.8 of 100
before and after, no demo kept, in a run on this machine): the example shows the pipeline. With
a capable model (``dspy.configure(lm=dspy.LM(...))``) the metric keeps the diverse, good traces.

Run: python examples/dspy_diverse_ideas.py
Needs: pip install "vs-integrations[dspy,local]" (add "eval" for semantic rather than lexical diversity)
"""

import dspy

from vs_integrations import ParseError
from vs_integrations.backends.local import LocalModel
from vs_integrations.dspy import DistributionMetric, VerbalizedSampling, local_lm

TRAIN_TOPICS = ["coffee", "rain", "bicycles", "libraries"]
TEST_TOPICS = ["tea", "trains"]


class BusinessIdea(dspy.Signature):
    """Suggest a small business idea about the topic."""

    topic: str = dspy.InputField()
    idea: str = dspy.OutputField(desc="the business idea, one short sentence")


def is_sentence(fields: dict) -> bool:
    """Valid: a few words, not a bare name or number (the 135M model writes many of those)."""
    return len(str(fields["idea"]).split()) >= 3


class Brainstorm(dspy.Module):
    """One VS call: k ideas with probabilities; the prediction holds them all."""

    def __init__(self) -> None:
        super().__init__()
        # An invalid idea is dropped, listed in a warning, and the top-up asks for another.
        self.ideas = VerbalizedSampling(BusinessIdea, k=3, seed=0, valid=is_sentence)

    def forward(self, topic: str) -> dspy.Prediction:
        return self.ideas(topic=topic)


def make_quality(topic: str):
    """A stand-in judge for one topic: 1 for an on-topic idea of 3+ words, 0.5 off topic, 0 a refusal."""

    def quality(text: str) -> float:
        lowered = text.lower()
        if "sorry" in lowered or len(text.split()) < 3:
            return 0.0
        return 1.0 if topic.rstrip("s") in lowered else 0.5

    return quality


def metric(example: dspy.Example, prediction: dspy.Prediction, trace=None, pred_name=None, pred_trace=None):
    # The quality depends on the example's topic, so the metric is built per example.
    judged = DistributionMetric(make_quality(example.topic))
    return judged(example, prediction, trace, pred_name, pred_trace)


def main() -> None:
    # JSONAdapter sends the signature's JSON Schema, which the small model needs to follow the format.
    dspy.configure(lm=local_lm(LocalModel(seed=0, max_tokens=300)), adapter=dspy.JSONAdapter())
    trainset = [dspy.Example(topic=t).with_inputs("topic") for t in TRAIN_TOPICS]
    testset = [dspy.Example(topic=t).with_inputs("topic") for t in TEST_TOPICS]

    evaluate = dspy.Evaluate(devset=testset, metric=metric, num_threads=1, display_progress=False)
    print(f"before compiling: {evaluate(Brainstorm()).score:.1f}")
    compiled = dspy.BootstrapFewShot(
        metric=metric, metric_threshold=0.3, max_bootstrapped_demos=2, max_labeled_demos=0
    ).compile(Brainstorm(), trainset=trainset)
    demos = compiled.ideas.predict.demos
    print(f"{len(demos)} demo(s) kept, each a whole distribution:")
    for demo in demos:
        print(f"- {demo['topic']}: " + " | ".join(c["idea"] for c in demo["candidates"]))
    print(f"after compiling: {evaluate(compiled).score:.1f}")

    try:
        prediction = compiled(topic="tea")
    except ParseError as error:  # no valid idea within the retries: the model's text is kept
        print("no valid idea for 'tea'; the model wrote:", error.raw[:200])
        return
    result = metric(dspy.Example(topic="tea"), prediction, pred_name="ideas.predict", pred_trace=[])
    print("GEPA would read:", result.feedback)


if __name__ == "__main__":
    main()
