"""SVG snapshot of the lab's plot pane: the XOR perceptron's decision boundary (#12).

The picture shows what Pilot tests cannot: the points by class and the dotted region the
perceptron predicts 1 for, after its last update — a line that leaves two of the four
points on the wrong side. Update with ``pytest -n 0 tests/functional/tui/test_plot_snapshots.py
--snapshot-update`` after looking at the new picture.
"""

from __future__ import annotations

from nnlab.library import find
from nnlab.tui.app import NnlabApp
from tests.functional.tui.conftest import wait_for, wait_loaded


def test_boundary_plot_of_the_xor_perceptron(snap_compare):
    async def run_before(pilot) -> None:
        await wait_loaded(pilot)
        lab = pilot.app.screen
        await pilot.press("end", "v", "v")            # the last update; loss, then boundary
        await wait_for(pilot, lambda: lab.query("#plot") and lab.query_one("#plot").shown is not None
                       and lab.query_one("#plot").shown.kind == "boundary")
        await pilot.pause()

    assert snap_compare(NnlabApp(str(find("train-perceptron-xor"))), terminal_size=(200, 60), run_before=run_before)
