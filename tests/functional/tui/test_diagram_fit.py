"""Beside the steps, the graph pane takes the columns its fullest drawing needs (when that is at most
half the screen), so a small graph is drawn with its numbers instead of collapsing to names."""

from __future__ import annotations

from textual.css.scalar import Unit

from nnlab.library import scenarios_dir
from nnlab.tui.widgets.diagram import DiagramView
from tests.functional.tui.conftest import open_lab, wait_for


async def drawn(path: str, size: tuple[int, int]):
    async with open_lab(str(scenarios_dir() / path), size=size) as (app, pilot, lab):
        view = lab.query_one(DiagramView)
        await wait_for(pilot, lambda: bool(view.drawings) and view.frame is not None)
        await pilot.pause()
        return view.drawing is view.drawings["full"], view.drawings["full"].width, view.size.width, view.styles.width


async def test_a_small_graph_is_drawn_in_full_beside_the_steps():
    full, width, pane, fixed = await drawn("train-perceptron-xor.yaml", (200, 60))
    assert full and pane >= width and fixed.unit is Unit.CELLS and fixed.value == width + 3  # border + scrollbar


async def test_a_big_graph_keeps_the_stylesheets_share():
    full, width, pane, fixed = await drawn("transformer-block.yaml", (200, 60))
    assert width > 100 and fixed.unit is Unit.FRACTION and not full


async def test_narrow_the_graph_takes_the_place_of_the_panes_at_its_own_width():
    async with open_lab(str(scenarios_dir() / "train-perceptron-xor.yaml"), size=(80, 24)) as (app, pilot, lab):
        await pilot.press("d")
        view = lab.query_one(DiagramView)
        await wait_for(pilot, lambda: bool(view.drawings))
        assert view.styles.width.unit is Unit.FRACTION  # not fixed to the drawing
