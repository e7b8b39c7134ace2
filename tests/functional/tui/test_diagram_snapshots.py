"""SVG snapshots of the graph view (DiagramView) on the bundled transformer block.

The view is shown alone, in an app with nnlab's stylesheet, so the pictures show the
drawing (boxes, arrows, the lit step, dimmed boxes) and do not change when the lab's
other panes do; where the view sits in the lab is asserted in ``test_diagram.py``.

* 80×24, a backward step: the full boxes do not fit, so it collapses to names; the
  step through ``H @ W1 + b1`` lights H, W1 and b1 (whose gradients it computes) and
  marks U (the op it passes through).
* 200×60, a forward step, the full form chosen (names, ops, shapes, small values;
  taller than the screen, so it scrolls to the lit box): the attention weights lit
  and everything after them dimmed.

Update with ``pytest -n 0 tests/functional/tui/test_diagram_snapshots.py --snapshot-update``
after checking the new pictures.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from nnlab.tui.widgets.diagram import DiagramView
from tests.functional.tui.conftest import wait_for

ROOT = Path(__file__).resolve().parents[3]
TRANSFORMER = ROOT / "scenarios" / "transformer-block.yaml"
CSS = ROOT / "nnlab" / "tui" / "nnlab.tcss"


class DiagramApp(App):
    """The graph view alone on one scenario, at the step where ``phase``/``node`` is computed."""

    CSS_PATH = str(CSS)

    def __init__(self, path: Path, phase: str, node: str, detail: str = "auto") -> None:
        super().__init__()
        self.path, self.phase, self.node, self.detail = path, phase, node, detail

    def compose(self) -> ComposeResult:
        yield DiagramView(id="diagram")

    def on_mount(self) -> None:
        from nnlab.tui.model import load_model

        model = load_model(str(self.path))
        view = self.query_one(DiagramView)
        view.detail = self.detail
        view.set_model(model)
        view.show_step(next(s.index for s in model.steps if s.phase == self.phase and s.node == self.node))


async def _drawn(pilot) -> None:
    view = pilot.app.query_one(DiagramView)
    await wait_for(pilot, lambda: view._painted is not None)
    await pilot.pause()


def test_graph_view_80x24_collapses_to_names(snap_compare):
    app = DiagramApp(TRANSFORMER, "backward", "U#1")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_drawn)


def test_graph_view_200x60_full_boxes(snap_compare):
    app = DiagramApp(TRANSFORMER, "forward", "A.weights", detail="full")
    assert snap_compare(app, terminal_size=(200, 60), run_before=_drawn)
