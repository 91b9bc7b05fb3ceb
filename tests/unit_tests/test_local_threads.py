"""The embedded model's thread default (no model is loaded)."""

import pytest

from vs_integrations.backends.local import THREADS_ENV, LocalModel, available_cores, default_threads


def test_default_is_half_the_cores(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert default_threads() == max(available_cores() // 2, 1)
    monkeypatch.setattr("vs_integrations.backends.local.available_cores", lambda: 1)
    assert default_threads() == 1
    monkeypatch.setattr("vs_integrations.backends.local.available_cores", lambda: 8)
    assert default_threads() == 4


def test_vs_threads_overrides_and_is_checked(monkeypatch, tmp_path):
    monkeypatch.setenv(THREADS_ENV, "3")
    assert default_threads() == 3
    assert LocalModel(tmp_path / "model.gguf").n_threads == 3
    assert LocalModel(tmp_path / "model.gguf", n_threads=1).n_threads == 1
    for bad in ("0", "two"):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(ValueError, match=rf"VS_THREADS must be a whole number >= 1; got '{bad}'"):
            default_threads()
