"""`vs eval` with the task's validity rule inside the VS loop (``VSEngine(valid=...)``).

`vs eval` runs VS without ``valid`` and judges validity afterwards; this wrapper gives the VS
engine the task's own rule, so refused candidates are dropped, named in the follow-up and
topped up, as a user would run it. Everything else is `vs eval`:

    python docs/results/valid_in_loop.py --tasks states --methods standard ...
"""

import functools
import sys

from vs_integrations.core.engine import VSEngine
from vs_integrations.tools.cli import main
from vs_integrations.tools.evaluation import BUILTIN_TASKS, runner


def engine_for(task_names: list[str]) -> functools.partial[VSEngine]:
    """A VSEngine factory whose ``valid`` is the (single) task's own judge."""
    (name,) = task_names
    judge = BUILTIN_TASKS[name].judge
    return functools.partial(VSEngine, valid=lambda text: judge(text) is not None)


if __name__ == "__main__":
    argv = sys.argv[1:]
    # run_method builds its engine from this module name: give it one that knows the rule
    setattr(runner, "VSEngine", engine_for(argv[argv.index("--tasks") + 1].split(",")))  # noqa: B010
    sys.exit(main(["eval", *argv]))
