"""The lab highlights every element a large sum uses from one box record (issue 18): the
explanation reports the 10,000 cells as one ``Use`` with an extent, and the tensor pane
draws them all as used without expanding them."""

from __future__ import annotations

from nnlab.tui.widgets.tensor import TensorPane
from tests.functional.tui.conftest import open_lab, wait_for


async def test_a_sum_over_ten_thousand_elements_highlights_them_all(tmp_path):
    path = tmp_path / "big-sum.yaml"
    path.write_text("nnlab: 1\ntitle: a large sum\nvalues:\n  x: {shape: [100, 100], init: uniform}\n"
                    "compute:\n  - s = sum(x)\n", encoding="utf-8")
    async with open_lab(str(path)) as (_, pilot, lab):
        pane = lab.query_one(TensorPane)
        await wait_for(pilot, lambda: pane.role_at(-1, ()) == "current")
        boxes = pane.marks[0].boxes
        assert len(boxes) == 1 and boxes[0].extent == (100, 100)
        assert len(pane.marks[0]) == 0                      # no cell by cell marks
        for cell in ((0, 0), (57, 3), (99, 99)):
            assert pane.role_at(0, cell) == "used"
        # the drawn cells of x are styled as used
        k = next(i for i, b in enumerate(pane.blocks) if b.op.slot == 0)
        assert pane._row_boxes[k] == [(0, 100, 0, 100, "used")]
