"""Evaluation: the seed's tasks, direct prompting vs Sequence vs VS, with the paper's metrics."""

from .metrics import coverage, distinct_n, kl_to_uniform, mean_pairwise_rouge_l, rouge_l_f1, semantic_diversity
from .runner import METHODS, MethodRun, load_embedder, run_method
from .tasks import BUILTIN_TASKS, Task, load_tasks

__all__ = [
    "BUILTIN_TASKS",
    "METHODS",
    "MethodRun",
    "Task",
    "coverage",
    "distinct_n",
    "kl_to_uniform",
    "load_embedder",
    "load_tasks",
    "mean_pairwise_rouge_l",
    "rouge_l_f1",
    "run_method",
    "semantic_diversity",
]
