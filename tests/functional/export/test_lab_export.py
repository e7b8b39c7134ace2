"""The lab's palette exports the worked solution: next to the scenario, or here for a bundled one."""

from __future__ import annotations

import shutil

import pytest

from nnlab.export.files import beside
from nnlab.library import find


async def _wait(pilot, condition, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


async def _export_from_palette(path: str, kind: str):
    from nnlab.tui.app import NnlabApp

    app = NnlabApp(path)
    notes: list[str] = []
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        lab = app.screen
        await _wait(pilot, lambda: getattr(lab, "model", None) is not None)
        original = lab.notify
        lab.notify = lambda message, **kw: (notes.append(str(message)), original(message, **kw))
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*f"export: worked solution as {kind}")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await _wait(pilot, lambda: any(n.startswith(("wrote", "export failed")) for n in notes))
    return notes


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


async def test_palette_writes_html_next_to_the_scenario(tmp_path):
    scenario = tmp_path / "conv.yaml"
    shutil.copy(find("conv-lecture"), scenario)
    notes = await _export_from_palette(str(scenario), "HTML")
    target = tmp_path / "conv.html"
    assert f"wrote {target}" in notes
    html = target.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<math" in html and "19" in html


async def test_palette_writes_a_bundled_scenarios_export_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    notes = await _export_from_palette(str(find("conv-lecture")), "Markdown")
    target = tmp_path / "conv-lecture.md"
    assert f"wrote {target}" in notes
    assert r"$$Y[0,0] = 0\times 0 + 1\times 1 + 3\times 2 + 4\times 3 = 19$$" in target.read_text(encoding="utf-8")
    assert not (find("conv-lecture").parent / "conv-lecture.md").exists()


def test_beside(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert beside(str(tmp_path / "a" / "x.yaml"), "tex") == tmp_path / "a" / "x.tex"
    assert beside(str(find("gru-step")), "md") == tmp_path / "gru-step.md"
