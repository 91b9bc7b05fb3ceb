"""The package's public surface: lazy top-level names, no framework on import, old paths kept."""

import subprocess
import sys
import warnings

import pytest


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_import_loads_no_framework_and_no_llama_cpp():
    loaded = _fresh(
        "import sys, vs_integrations\n"
        "heavy = ('langchain_core', 'dspy', 'llama_index', 'llama_cpp', 'ray', 'openai', 'rich')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    assert loaded == "[]"


def test_backends_are_top_level_names_loaded_on_first_use():
    import vs_integrations
    from vs_integrations.backends.local import LocalModel
    from vs_integrations.backends.openai_compatible import OpenAICompatibleModel

    assert vs_integrations.LocalModel is LocalModel
    assert vs_integrations.OpenAICompatibleModel is OpenAICompatibleModel
    assert {"LocalModel", "OpenAICompatibleModel", "VSEngine", "Distribution"} <= set(vs_integrations.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        vs_integrations.Nope  # noqa: B018


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("vs_integrations.local", "vs_integrations.backends.local"),
        ("vs_integrations.openai_compatible", "vs_integrations.backends.openai_compatible"),
        ("vs_integrations.response_format", "vs_integrations.backends.response_format"),
        ("vs_integrations.backend", "vs_integrations.backends.base"),
        ("vs_integrations.similarity", "vs_integrations.core.similarity"),
        ("vs_integrations.batch", "vs_integrations.tools.batch"),
        ("vs_integrations.evaluation.metrics", "vs_integrations.tools.evaluation.metrics"),
    ],
)
def test_old_paths_are_the_moved_module_with_a_deprecation_warning(old, new):
    import importlib

    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)


def test_old_cli_path_still_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "vs_integrations.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "usage: vs" in done.stdout
    assert subprocess.run([sys.executable, "-m", "vs_integrations", "--help"], capture_output=True).returncode == 0
