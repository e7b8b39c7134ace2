"""Shared helpers for the lab's tests: fixture files, an isolated state directory, waiting for loads."""

from __future__ import annotations

import shutil
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    """Recent files go to a temporary state directory, never the user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def copy_fixture(tmp_path):
    """Copy a fixture into a temporary folder (for tests that edit the file)."""

    def copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copy(FIXTURES / name, dest)
        return dest

    return copy


async def wait_loaded(pilot, screen=None, timeout: float = 15.0) -> None:
    """Wait until the lab has a model (or an error)."""
    screen = screen or pilot.app.screen
    steps = int(timeout / 0.02)
    for _ in range(steps):
        if getattr(screen, "model", None) is not None or getattr(screen, "error", ""):
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError("the lab did not load in time")


@asynccontextmanager
async def open_lab(path, size=(100, 30), **kwargs):
    """Run the app on ``path`` and wait for the lab to load: yields ``(app, pilot, lab)``."""
    from nnlab.tui.app import NnlabApp

    app = NnlabApp(path, **kwargs)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot)
        yield app, pilot, app.screen


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    """Wait until ``condition()`` is true."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met in time")
