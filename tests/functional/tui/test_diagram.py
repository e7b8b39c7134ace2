"""The lab's graph view (DiagramView): shown beside the steps on a wide screen, a toggle
on a small one, the step's boxes lit as the user steps, a click on a box jumps to its step."""

from __future__ import annotations

from pathlib import Path

from nnlab.tui.widgets.diagram import DiagramView
from tests.functional.tui.conftest import open_lab, wait_for

ROOT = Path(__file__).resolve().parents[3]
MLP = str(ROOT / "scenarios" / "mlp-2layer-backprop.yaml")
TRANSFORMER = str(ROOT / "scenarios" / "transformer-block.yaml")


async def drawn(pilot, lab) -> DiagramView:
    view = lab.query_one(DiagramView)
    await wait_for(pilot, lambda: bool(view.drawings) and view._painted is not None)
    await pilot.pause()
    return view


def painted_text(view: DiagramView, name: str) -> tuple[str, list]:
    """The painted line (as on screen) holding box ``name``'s name, and its segments."""
    drawing = view._painted
    p = drawing.boxes[name]
    row = p.y + (0 if drawing.names_only else 1)
    view.scroll_to(max(0, p.x - 2), max(0, row - 2), animate=False, immediate=True)
    strip = view.render_line(row - int(view.scroll_y))
    return strip.text, list(strip)


def step_of(lab, phase: str, node: str) -> int:
    return next(s.index for s in lab.model.steps if s.phase == phase and s.node == node)


async def test_wide_screen_shows_the_graph_beside_the_steps_and_lights_each_step():
    async with open_lab(MLP, size=(200, 60)) as (app, pilot, lab):
        view = await drawn(pilot, lab)
        assert view.display and lab.query_one("#right").display
        assert view.region.x > lab.query_one("#graph").region.x  # beside the step list
        assert view.frame.lit == {"z1"} and "loss" in view.frame.dim
        await pilot.press("right")
        assert view.frame.lit == {"a1"} and "a1" not in view.frame.dim and "z2" in view.frame.dim
        lab.goto(step_of(lab, "forward", "loss"))
        await pilot.pause()
        assert view.frame.lit == {"loss"} and not view.frame.dim
        # backward through sigmoid(z2): the step computes ∂loss/∂z2, so z2 is lit, yhat is what it comes through
        view.detail = "full"  # with numbers (auto picks it when it fits the pane's width)
        lab.goto(step_of(lab, "backward", "yhat"))
        await pilot.pause()
        assert view.frame.lit == {"z2"} and view.frame.source == {"yhat"}
        assert view.frame.values["z2"] == ("-0.4157",)  # ∂loss/∂z2 = ŷ − y, written in the box
        text, segments = painted_text(view, "z2")
        assert "┃ z2" in text  # heavy lines: lit also without colour
        lit = view.get_component_rich_style("diagram-view--lit-name")
        name = next(s for s in segments if "z2" in s.text)
        assert name.style.bgcolor == lit.bgcolor and name.style.bold
        # the backward step through the output layer's affine: three gradients at once
        lab.goto(step_of(lab, "backward", "z2"))
        await pilot.pause()
        assert view.frame.lit == {"w2", "a1", "b2"} and view.frame.source == {"z2"}
        assert {"W1", "x", "b1", "z1"} <= view.frame.dim


async def test_the_step_s_box_is_scrolled_into_view():
    async with open_lab(TRANSFORMER, size=(200, 60)) as (app, pilot, lab):
        view = await drawn(pilot, lab)
        lab.goto(step_of(lab, "forward", "Y"))
        await pilot.pause()
        p = view._painted.boxes["Y"]
        top, height = int(view.scroll_y), view.scrollable_content_region.height
        assert top <= p.y and p.y + p.h <= top + height
        lab.goto(step_of(lab, "backward", "Q"))  # computes ∂/∂X and ∂/∂Wq, at the top
        await pilot.pause()
        assert view.frame.lit == {"X", "Wq"}
        p = view._painted.boxes["Wq"]
        assert int(view.scroll_y) <= p.y < int(view.scroll_y) + view.scrollable_content_region.height


async def test_clicking_a_box_jumps_to_its_step():
    async with open_lab(MLP, size=(200, 60)) as (app, pilot, lab):
        view = await drawn(pilot, lab)
        view.scroll_to(0, 0, animate=False, immediate=True)
        await pilot.pause()

        async def click(name: str) -> None:
            p = view._painted.boxes[name]
            x, y = p.x + 1 - int(view.scroll_x), p.y + 1 - int(view.scroll_y)
            await pilot.click(DiagramView, offset=(x + 1, y + 1))  # +1: the pane's border
            await pilot.pause()

        await click("yhat")
        assert lab.step == step_of(lab, "forward", "yhat")
        assert view.frame.lit == {"yhat"}
        lab.goto(step_of(lab, "backward", "loss"))
        await pilot.pause()
        view.scroll_to(0, 0, animate=False, immediate=True)
        await pilot.pause()
        await click("W1")  # backward: the step that computes ∂loss/∂W1
        assert lab.step == next(s.index for s in lab.model.steps if s.phase == "backward" and "W1" in s.inputs)
        assert "W1" in view.frame.lit


async def test_80x24_hides_it_and_d_shows_it_in_place_of_the_tensors_collapsed_to_names():
    async with open_lab(TRANSFORMER, size=(80, 24)) as (app, pilot, lab):
        view = lab.query_one(DiagramView)
        assert not view.display and lab.query_one("#right").display
        await pilot.press("d")
        view = await drawn(pilot, lab)
        assert view.display and not lab.query_one("#right").display and lab.has_class("-diagram-only")
        assert view._painted.names_only  # the full boxes do not fit 80 columns
        assert view._painted.width <= view.scrollable_content_region.width
        await pilot.press("right", "right", "right")  # Q, K, V, then A.scores
        assert view.frame.lit == {"A.scores"}
        text, _ = painted_text(view, "A.scores")
        assert "[A.scores]" in text  # lit, brackets also without colour
        await pilot.press("d")
        assert not view.display and lab.query_one("#right").display


async def test_the_palette_switches_the_form():
    async with open_lab(MLP, size=(200, 60)) as (app, pilot, lab):
        view = await drawn(pilot, lab)
        from nnlab.tui.commands import _diagram_detail

        _diagram_detail(lab, "names")
        await pilot.pause()
        assert view._painted is view.drawings["names"]
        _diagram_detail(lab, "full")
        await pilot.pause()
        assert view._painted is view.drawings["full"] and view._painted.value_slots


async def test_an_edit_of_the_file_redraws_the_graph(tmp_path):
    f = tmp_path / "tiny.yaml"
    f.write_text("nnlab: 1\ntitle: tiny\nvalues:\n  x: 2\ncompute:\n  - y = 3 * x\nbackward: y\n")
    async with open_lab(str(f), size=(200, 60)) as (app, pilot, lab):
        view = await drawn(pilot, lab)
        assert set(view.diagram.boxes) == {"x", "y"}
        f.write_text("nnlab: 1\ntitle: tiny\nvalues:\n  x: 2\ncompute:\n  - y = 3 * x\n  - z = y * x\nbackward: z\n")
        await wait_for(pilot, lambda: view.diagram is not None and "z" in view.diagram.boxes)
        await pilot.pause()
        assert set(view.diagram.edges) == {("x", "y"), ("y", "z"), ("x", "z")}
        assert view._painted is view.drawing and "z" in view._painted.boxes
