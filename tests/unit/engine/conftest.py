"""Fixtures of the engine tests."""

import pytest

from nnlab.engine import train_cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The cache on, in a folder of its own, saving every training however fast."""
    monkeypatch.setenv("NNLAB_CACHE", "1")
    monkeypatch.setenv("NNLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(train_cache, "WORTH_MS", 0.0)
    return tmp_path / "cache"
