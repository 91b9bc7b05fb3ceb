"""Evaluation: the seed's tasks, direct prompting vs Sequence vs VS, with the paper's metrics."""

from .metrics import (
    bootstrap_mean_interval,
    coverage,
    distinct_n,
    kl_to_uniform,
    mean_pairwise_rouge_l,
    rouge_l_f1,
    semantic_diversity,
)
from .runner import METHODS, MethodRun, judge_run, load_embedder, run_method
from .tasks import BUILTIN_TASKS, Task, answer_key, is_refusal, known_task, load_tasks

__all__ = [
    "BUILTIN_TASKS",
    "METHODS",
    "MethodRun",
    "Task",
    "answer_key",
    "bootstrap_mean_interval",
    "coverage",
    "distinct_n",
    "is_refusal",
    "judge_run",
    "kl_to_uniform",
    "known_task",
    "load_embedder",
    "load_tasks",
    "mean_pairwise_rouge_l",
    "rouge_l_f1",
    "run_method",
    "semantic_diversity",
]
