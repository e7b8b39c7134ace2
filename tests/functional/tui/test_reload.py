"""The authoring loop: the lab watches its file, re-runs on change, and shows errors without crashing."""

from __future__ import annotations

import os

from nnlab.tui.screens.check import CheckScreen
from nnlab.tui.widgets.panes import ErrorPanel, MathPane, StatusBar
from tests.functional.tui.conftest import FIXTURES, open_lab, wait_for

SIZE = (100, 30)
BAD_K = "K: [[0, 1], [2, 3, 4]]"


def error_text(panel: ErrorPanel) -> str:
    return panel.message


async def test_a_change_on_disk_reruns_and_keeps_the_step(copy_fixture):
    path = copy_fixture("mlp.yaml")
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        first = lab.model
        lab.goto(lab.model.step_for_name("yhat"))
        await pilot.pause()
        step = lab.step
        path.write_text(path.read_text().replace("W2: [[0.5, -0.5]]", "W2: [[1.0, -0.5]]"))
        await wait_for(pilot, lambda: lab.model is not first)
        assert lab.step == step and lab.model.steps[lab.step].node == "yhat"
        assert "1×0.6225" in lab.query_one(MathPane).plain


async def test_a_step_that_disappears_lands_on_the_nearest(copy_fixture):
    path = copy_fixture("conv-pad.yaml")
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        first = lab.model
        await pilot.press("end")
        assert lab.step == 5
        text = path.read_text().replace("backward: loss\n", "")
        path.write_text(text)
        await wait_for(pilot, lambda: lab.model is not first)
        assert len(lab.model.steps) == 3
        assert lab.step == 2


async def test_an_invalid_edit_shows_the_error_and_keeps_the_last_good_run(copy_fixture):
    path = copy_fixture("conv-pad.yaml")
    good = path.read_text()
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        model = lab.model
        await pilot.press("right")
        path.write_text(good.replace("K: [[0, 1], [2, 3]]", BAD_K))
        await wait_for(pilot, lambda: lab.error_panel() is not None and lab.error_panel().display)
        panel = lab.error_panel()
        message = error_text(panel)
        assert "conv-pad.yaml:10:" in message and "error:" in message
        assert BAD_K in message and "^" in message       # the line and a caret under it
        assert lab.model is model and lab.step == 1      # the last good run stays, usable
        await pilot.press("right")
        assert lab.step == 2
        path.write_text(good)                            # fixing the file clears the panel
        await wait_for(pilot, lambda: not panel.display)
        assert lab.model is not model and lab.step == 2 and lab.error == ""


async def test_a_broken_file_at_start_shows_the_error_alone_and_loads_once_fixed(copy_fixture):
    path = copy_fixture("broken.yaml")
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        await pilot.pause()
        panel = lab.error_panel()
        assert lab.model is None and panel.display and panel.has_class("-alone")
        assert "broken.yaml:7:" in error_text(panel) and "hint:" in error_text(panel)
        head = str(panel.query_one(".error-head").render())
        code = str(panel.query_one(".error-code").render())
        assert "broken.yaml:7:9: error: shapes (2, 2) @ (3,) do not match" in head
        assert code.splitlines() == ["   7 |   - y = W @ x", "     |         ^^^^^"]
        assert "transpose (.T)" in str(panel.query_one(".error-hint").render())
        assert "cannot load" in str(lab.query_one(StatusBar).render())
        await pilot.press("right", "down", "n", "g", "c")   # nothing to move through: no crash
        assert app.screen is lab and lab.model is None
        path.write_text(path.read_text().replace("x: [1, 2, 3]", "x: [1, 2]"))
        await wait_for(pilot, lambda: lab.model is not None)
        assert not panel.display and lab.step == 0


async def test_an_internal_error_in_the_worker_becomes_a_panel(monkeypatch):
    from nnlab.tui import model

    def boom(path):
        raise RuntimeError("something inside nnlab broke")

    monkeypatch.setattr(model, "load_model", boom)
    async with open_lab(str(FIXTURES / "conv-pad.yaml"), size=SIZE) as (app, pilot, lab):
        assert "internal error: RuntimeError: something inside nnlab broke" in lab.error
        await pilot.pause()
        assert lab.error_panel().display
        assert app.is_running


async def test_typed_answers_survive_a_reload(copy_fixture):
    path = copy_fixture("mlp.yaml")
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        first = lab.model
        await pilot.press("c")
        check = app.screen
        assert isinstance(check, CheckScreen)
        row = next(r for r in check.rows if r.ref == "grad(W2)[0, 0]")
        row.input.focus()
        row.input.value = ""
        await pilot.press(*"-1.336")
        assert check.items[row.k].ok
        path.write_text(path.read_text().replace("# forward", "# forward pass"))
        await wait_for(pilot, lambda: lab.model is not first)
        await pilot.pause(0.6)                              # the check screen follows the reload
        assert row.input.value == "-1.336" and check.items[row.k].ok
        await pilot.press("escape", "c")
        again = app.screen
        row = next(r for r in again.rows if r.ref == "grad(W2)[0, 0]")
        assert row.input.value == "-1.336"


async def test_the_watcher_survives_an_editors_delete_and_recreate(copy_fixture):
    path = copy_fixture("mlp.yaml")
    text = path.read_text()
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        first = lab.model
        path.unlink()                                   # the editor deletes the file …
        await pilot.pause(1.2)                          # … for two polls
        assert lab.model is first and lab.error == ""   # nothing reloaded, no error shown
        path.write_text(text.replace("W2: [[0.5, -0.5]]", "W2: [[1.0, -0.5]]"))  # … and writes it anew
        await wait_for(pilot, lambda: lab.model is not first)
        second = lab.model
        tmp = path.with_name("mlp.yaml.new")            # rename-over, as many editors save
        tmp.write_text(text)
        tmp.replace(path)
        await wait_for(pilot, lambda: lab.model is not second)
        assert float(lab.model.session.run.value("W2")[0, 0]) == 0.5


async def test_the_watcher_sees_the_last_of_rapid_same_size_writes(copy_fixture):
    """Saves within one clock tick: same size, same mtime (set back, as a coarse clock gives) — the last one shows."""
    path = copy_fixture("mlp.yaml")
    text = path.read_text()
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        first = lab.model
        mtime = path.stat().st_mtime_ns
        for value in ("0.1", "0.2", "0.3", "0.4", "0.9"):   # same length each time: the size never changes
            path.write_text(text.replace("W2: [[0.5, -0.5]]", f"W2: [[{value}, -0.5]]"))
            os.utime(path, ns=(mtime, mtime))
        await wait_for(pilot, lambda: lab.model is not first
                       and float(lab.model.session.run.value("W2")[0, 0]) == 0.9)
        await pilot.pause(1.2)                           # and nothing reloads again for no reason
        settled = lab.model
        await pilot.pause(1.2)
        assert lab.model is settled


def test_the_watch_does_not_load_the_file_again_before_the_first_load(monkeypatch):
    """The first load starts after the first paint; on a busy machine the watch's first poll (every
    0.5 s) could come before it, load the file a second time and say "reloaded" over the screen."""
    from nnlab.tui.screens.lab import LabScreen

    screen = LabScreen(str(FIXTURES / "conv-pad.yaml"))
    loads = []
    monkeypatch.setattr(screen, "reload", lambda: loads.append(screen.path))
    screen._poll_file()
    assert loads == []
