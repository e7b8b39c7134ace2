"""SVG snapshots (pytest-textual-snapshot) of the lab's screens at fixed terminal sizes.

Only three, for what Pilot tests cannot see: the layout of the home screen, of a
convolution step (the window drawn on the padded input, the math pane under it) and of
the check screen. Everything else on screen is asserted as text and state by the Pilot
tests (``test_lab.py``, ``test_reload.py``, ``test_check.py``, ``test_home.py``). Textual is
pinned to a minor version in ``pyproject.toml``, so a renderer change is a deliberate
upgrade that re-baselines these.

The apps are built from the files in ``tests/functional/tui/fixtures`` (run from that folder, so
paths shown on screen do not depend on where the repository is checked out).
Update with ``pytest -n 0 tests/functional/tui/test_snapshots.py --snapshot-update`` after checking
the new pictures.
"""

from __future__ import annotations

import pytest

from nnlab.tui.app import NnlabApp
from tests.functional.tui.conftest import FIXTURES, wait_for, wait_loaded


@pytest.fixture(autouse=True)
def in_fixtures(monkeypatch):
    monkeypatch.chdir(FIXTURES)


def lab(name: str, *keys: str):
    """An app on ``name`` and a run_before that waits for the load, then presses ``keys``."""

    async def run_before(pilot) -> None:
        await wait_loaded(pilot)
        for key in keys:
            await pilot.press(key)
        await wait_for(pilot, lambda: not getattr(pilot.app.screen, "diagnosing", False))  # the check screen's why
        await pilot.pause()

    return NnlabApp(name), run_before


def test_home_screen(snap_compare):
    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: "shapes" in pilot.app.screen.preview_plain)
        await pilot.pause()

    assert snap_compare(NnlabApp(library="."), terminal_size=(80, 24), run_before=run_before)


def test_conv_step_with_its_window_on_the_padded_input(snap_compare):
    app, run_before = lab("conv-pad.yaml", "down")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_check_screen(snap_compare):
    app, run_before = lab("mlp.yaml", "c")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
