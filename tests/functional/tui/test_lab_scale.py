"""The lab at scale (issue 12): a long training is shown without per-step objects made up
front, and what the first screen does not show is not built (benchmarks/lab_scale.py times it)."""

from __future__ import annotations

from nnlab.library import find
from nnlab.tui.model import TrainRows
from nnlab.tui.widgets.diagram import DiagramView
from nnlab.tui.widgets.graph import GraphView
from tests.functional.tui.conftest import open_lab, wait_for

XOR_GD = str(find("train-mlp-xor-gd"))  # 2,000 epochs of full-batch gd: 28,000 steps


async def test_a_long_training_makes_only_the_rows_it_paints(monkeypatch):
    made = []
    original = TrainRows.__getitem__

    def counted(self, k):
        made.append(k)
        return original(self, k)

    monkeypatch.setattr(TrainRows, "__getitem__", counted)
    async with open_lab(XOR_GD, size=(120, 40)) as (_app, pilot, lab):
        m = lab.model
        assert len(m.steps) == 28_000 and isinstance(m.rows, TrainRows)
        assert len(m.rows) > 28_000  # every step, an update header each, an epoch header each
        assert 0 < len(made) < 400  # the rows on screen (and a few lookups), not 30,000
        made.clear()
        await pilot.press("end")
        await pilot.pause()
        graph = lab.query_one(GraphView)
        assert lab.step == 27_999 and graph.rows[graph.cursor_row].step == 27_999
        assert len(made) < 400


async def test_the_graph_view_is_laid_out_when_first_shown():
    async with open_lab(XOR_GD, size=(120, 40)) as (_app, pilot, lab):
        view = lab.query_one(DiagramView)
        assert not view.display and not view.drawings  # hidden at 120 columns: no layout made
        await pilot.press("d")
        await wait_for(pilot, lambda: view.drawings and view._painted is not None)
        assert view.display and view.step == lab.step


async def test_the_math_pane_hidden_behind_the_graph_view_is_laid_out_when_shown_again():
    from nnlab.tui.widgets.panes import MathPane

    async with open_lab(str(find("transformer-block")), size=(80, 24)) as (_app, pilot, lab):
        math = lab.query_one(MathPane)
        await pilot.press("d")  # at 80×24 the graph view takes the place of the tensors and the math
        await pilot.pause()
        assert not math.region
        for _ in range(5):
            await pilot.press("right")  # the math pane's text changes while hidden (no layout for it)
        await pilot.pause()
        await pilot.press("d")
        await pilot.pause()
        assert math.region and lab.step == 5
        assert str(math.border_title).startswith("step 6 ·")
        console = lab.app.console
        lines = console.render_lines(math.text, console.options.update(width=math.body.content_region.width),
                                     pad=False)
        assert math.body.size.height == len(lines) > 1  # laid out for the text it shows now
