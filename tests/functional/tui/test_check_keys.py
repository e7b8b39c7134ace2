"""Keys on the check screen that must not lose presses."""

from __future__ import annotations

from nnlab.library import scenarios_dir
from nnlab.tui.screens.check import CheckScreen
from tests.functional.tui.conftest import open_lab, wait_for


async def test_fast_down_presses_each_move_one_answer():
    """Textual applies focus() a tick later; ↓ held down (two presses in one tick) must still move twice."""
    async with open_lab(str(scenarios_dir() / "broadcast-error.yaml"), size=(100, 30)) as (app, pilot, lab):
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CheckScreen))
        check = app.screen
        inputs = [r.input for r in check.rows]
        await wait_for(pilot, lambda: check.focused is inputs[0])
        check.action_move(1)
        check.action_move(1)      # before the first focus has arrived
        await pilot.pause()
        assert check.focused is inputs[2]
        check.action_move(-1)
        await pilot.pause()
        assert check.focused is inputs[1]
        inputs[0].focus()          # a click elsewhere: ↓ counts from there
        await pilot.pause()
        check.action_move(1)
        await pilot.pause()
        assert check.focused is inputs[1]
