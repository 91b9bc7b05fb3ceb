"""Old import paths of modules that moved in 0.2, kept working for one release with a warning.

``vs_integrations.local`` and the other old names resolve to the moved module itself (one module
object under two names, so module state such as the loaded embedded model is never duplicated).
``python -m vs_integrations.cli`` still runs the command line.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import CodeType, ModuleType

MOVED: dict[str, str] = {
    "vs_integrations.backend": "vs_integrations.backends.base",
    "vs_integrations.local": "vs_integrations.backends.local",
    "vs_integrations.openai_compatible": "vs_integrations.backends.openai_compatible",
    "vs_integrations.response_format": "vs_integrations.backends.response_format",
    "vs_integrations.similarity": "vs_integrations.core.similarity",
    "vs_integrations.cli": "vs_integrations.tools.cli",
    "vs_integrations.batch": "vs_integrations.tools.batch",
    "vs_integrations.evaluation": "vs_integrations.tools.evaluation",
}


def _new_name(old: str) -> str | None:
    for moved_from, moved_to in MOVED.items():
        if old == moved_from or old.startswith(moved_from + "."):
            return moved_to + old[len(moved_from) :]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.new}; the old path goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the moved module was imported whole by ``create_module``."""

    def get_code(self, fullname: str) -> CodeType:
        # `python -m vs_integrations.tools.cli` asks runpy for code to run as __main__.
        return compile(f"from {self.new} import main\nraise SystemExit(main())\n", self.new, "exec")


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = _new_name(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    """Register the finder once (idempotent), first in ``sys.meta_path``.

    Later, the path finder would load a moved package's submodule (``vs_integrations.evaluation.metrics``)
    a second time through the alias's ``__path__``.
    """
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
