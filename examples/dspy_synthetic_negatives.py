"""Synthetic negatives with DSPy, offline on the embedded model.

The seed task: incorrect but logical-looking solutions to Gary's flour problem (the correct
answer is $30), useful as hard negatives for training a verifier.

Run: python examples/dspy_synthetic_negatives.py
Needs: pip install "vs-integrations[dspy,local]"
"""

import dspy

from vs_integrations.backends.local import LocalModel
from vs_integrations.dspy import VerbalizedSampling, local_lm

PROBLEM = (
    "Gary has 6 pounds of flour. He uses 4 pounds to make cakes, which need 0.5 pounds each, and the "
    "remaining 2 pounds to bake cupcakes, which need 0.2 pounds each. He sells each cake for $2.50 and "
    "each cupcake for $1.00. How much money does Gary earn?"
)
CORRECT = 30


class IncorrectSolution(dspy.Signature):
    """Write an incorrect but logical-looking step-by-step solution to the math problem."""

    problem: str = dspy.InputField()
    solution: str = dspy.OutputField(desc="short worked steps containing a plausible mistake")
    final_answer: float = dspy.OutputField(desc="the (wrong) amount in dollars")


def main() -> None:
    # JSONAdapter sends the signature's JSON Schema, which the small model needs to follow the format.
    dspy.configure(lm=local_lm(LocalModel(seed=0, max_tokens=600)), adapter=dspy.JSONAdapter())
    # seed=0 makes the run repeat (rollout ids and draws derive from it); each call on the same
    # problem still asks afresh. A reply with fewer than k candidates is kept (on_failure="partial").
    generate = VerbalizedSampling(IncorrectSolution, k=3, seed=0)
    negatives = []
    for _ in range(3):
        prediction = generate(problem=PROBLEM)
        for solution, answer in zip(prediction.completions.solution, prediction.completions.final_answer, strict=True):
            valid = answer is not None and float(answer) != CORRECT
            negatives.append((valid, answer, solution))
        for warning in prediction.distribution.warnings:
            print("note:", warning)
    distinct = {(answer, solution) for valid, answer, solution in negatives if valid}
    print(f"{len(negatives)} candidates, {len(distinct)} distinct valid negatives (final answer != ${CORRECT}):")
    for answer, solution in sorted(distinct, key=str):
        print(f"- ${answer}: {solution[:160]}")


if __name__ == "__main__":
    main()
