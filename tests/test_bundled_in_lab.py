"""Every bundled scenario opens in the lab: loaded, no error panel, and stepping through it works."""

import pytest

from nnlab.library import bundled
from tests.tui.conftest import isolated_state, wait_loaded  # noqa: F401  (fixture)

SCENARIOS = bundled()


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_bundled_scenario_opens_in_the_lab(path):
    from nnlab.session import open_session
    from nnlab.tui.app import NnlabApp
    from nnlab.tui.widgets.panes import MathPane

    n_steps = len(open_session(str(path)).steps)

    app = NnlabApp(str(path))
    async with app.run_test(size=(100, 30)) as pilot:
        lab = app.screen
        await wait_loaded(pilot, timeout=30)
        assert not getattr(lab, "error", ""), lab.error
        assert lab.model is not None
        await pilot.press("right", "down", "end")
        await pilot.pause()
        assert lab.step == n_steps - 1
        assert str(lab.query_one(MathPane).render()).strip()
