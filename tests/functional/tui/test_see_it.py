"""Pilot tests of what #12 added to the lab: steps named by what they compute, hidden data
gradients, the local derivative always shown, notes, the training overview, plots, and a
readable highlight in every theme.

Values are the trace's own (or worked by hand where said): a plot's data is compared
with the training records and the run, not with a copy of itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.library import find
from nnlab.render import plots
from nnlab.session import open_session
from nnlab.tui.app import NnlabApp
from nnlab.tui.widgets.graph import GraphView
from nnlab.tui.widgets.panes import AboutPane, KeyBar, MathPane, StatusBar
from nnlab.tui.widgets.tensor import TensorPane
from nnlab.tui.widgets.training import EpochTable
from tests.functional.tui.conftest import open_lab, wait_for

MLP = str(find("mlp-2layer-backprop"))
XOR = str(find("train-perceptron-xor"))
AND = str(find("train-perceptron-and"))
ATTENTION = str(find("attention-causal"))
VANISHING = str(find("vanishing-gradients"))


def text_of(widget) -> str:
    return str(widget.render())


def rows(lab) -> list[str]:
    g = lab.query_one(GraphView)
    return [g.rows[k].text for k in range(len(g.rows))]


# ---------------------------------------------------------------- names of backward steps


async def test_backward_steps_say_what_they_compute_and_hide_data_gradients():
    async with open_lab(MLP, size=(120, 40)) as (app, pilot, lab):
        assert rows(lab)[7:] == ["∂loss/∂yhat ← through bce", "∂loss/∂z2 ← through sigmoid",
                                 "∂loss/∂w2, ∂loss/∂a1, ∂loss/∂b2 ← through affine",
                                 "∂loss/∂z1 ← through sigmoid", "∂loss/∂W1, ∂loss/∂b1 ← through affine"]
        last = len(lab.model.steps) - 1
        lab.goto(last)
        await pilot.pause()
        # ∂loss/∂x (x is the input, not learned) is hidden: W1's 4 elements, then b1's 2
        assert lab.model.element_count(last) == 6
        assert [b.op.title for b in lab.query_one(TensorPane).blocks] == ["∂loss/∂z1", "∂loss/∂W1", "∂loss/∂b1"]
        await pilot.press("a")                       # show all gradients
        assert lab.model.show_hidden and lab.model.element_count(last) == 8
        assert "∂loss/∂W1, ∂loss/∂x, ∂loss/∂b1 ← through affine" in rows(lab)
        assert "∂loss/∂yhat, ∂loss/∂y ← through bce" in rows(lab)
        await pilot.press("a")
        assert not lab.model.show_hidden and lab.model.element_count(last) == 6
        # g finds the parameter's gradient under its own name
        assert lab.model.step_for_name("∂loss/∂W1") == last
        assert lab.model.step_for_name("grad(W1)") == last


async def test_a_matrix_target_says_sum_and_the_local_derivative_is_a_formula_with_numbers():
    async with open_lab(ATTENTION, size=(120, 40)) as (app, pilot, lab):
        assert "backward · gradients of sum(C)" in rows(lab)
        await pilot.press("n")
        assert "gradients of sum(C)" in text_of(lab.query_one(StatusBar))
    async with open_lab(MLP, size=(120, 40)) as (app, pilot, lab):
        await pilot.press("n")                       # ∂loss/∂yhat through bce: y = 1, ŷ = 0.5843
        await wait_for(pilot, lambda: "(1 − y)" in lab.query_one(MathPane).plain, timeout=30)
        text = lab.query_one(MathPane).plain
        assert "∂loss/∂ŷ = (1 − y)/(1 − ŷ) − y/ŷ = (1 − 1)/(1 − 0.5843) − 1/0.5843 = -1.7115" in text
        # by hand: −1/0.584338… = −1.71134…; the engine's value shown is the same number
        assert abs(-1 / lab.model.run.value("yhat") - float(lab.model.run.grad("yhat"))) < 1e-12
        await pilot.press("right")                   # through sigmoid: ŷ(1 − ŷ) with ŷ's value
        await wait_for(pilot, lambda: "ŷ·(1 − ŷ) = 0.5843·(1 − 0.5843) = 0.2429" in lab.query_one(MathPane).plain,
                       timeout=30)


async def test_a_gradient_added_twice_is_headed_as_one_contribution():
    import tempfile

    text = ("nnlab: 1\ntitle: reuse\nvalues: {x: 3.0}\ncompute:\n  - y = x * x\nbackward: y\n")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    async with open_lab(f.name, size=(100, 30)) as (app, pilot, lab):
        await pilot.press("n")
        titles = [b.op.title for b in lab.query_one(TensorPane).blocks]
        assert titles == ["∂y/∂y", "∂y/∂x contribution 1 of 2", "∂y/∂x contribution 2 of 2"]


# ---------------------------------------------------------------- keys, notes, layout


async def test_footer_offers_only_keys_that_do_something_here():
    async with open_lab(XOR, size=(200, 60)) as (app, pilot, lab):
        shown = [d for _, d, _, _ in lab.query_one(KeyBar).items()]
        assert "Example" not in shown                 # one example per perceptron update: e does nothing
        assert "Chain rule" not in shown and "All grads" not in shown   # no backward pass
        assert "Plot" in shown and "Epoch" in shown
    async with open_lab(MLP, size=(200, 60)) as (app, pilot, lab):
        shown = [d for _, d, _, _ in lab.query_one(KeyBar).items()]
        assert "Chain rule" in shown and "All grads" in shown and "Epoch" not in shown


async def test_about_notes_are_in_the_lab_and_every_text_pane_scrolls():
    async with open_lab(MLP, size=(200, 60)) as (app, pilot, lab):
        about = lab.query_one(AboutPane)
        assert about.display and "chain-rule walk" in about.about
        assert about.region.height > 5
    async with open_lab(MLP, size=(80, 24)) as (app, pilot, lab):
        about = lab.query_one(AboutPane)
        assert not about.display                     # no room at 80×24: i shows it
        await pilot.press("i")
        assert about.display and about.region.height > 0
        about.focus()
        await pilot.pause()
        assert about.max_scroll_y > 0                # longer than its share of the screen: it scrolls
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: about.scroll_y > 0)
        await pilot.press("escape")
        assert app.focused is None


# ---------------------------------------------------------------- training overview


async def test_end_says_why_training_stopped_and_the_epoch_table_follows():
    async with open_lab(XOR, size=(200, 60)) as (app, pilot, lab):
        tr = lab.model.training
        await pilot.press("end")
        shown = text_of(lab.query_one(StatusBar))
        assert f"stopped: cycle from epoch {tr.cycle_start}, length {tr.cycle_length}" in shown
        table = lab.query_one(EpochTable)
        assert table.display and table.rows == [(e + 1, m) for e, m in enumerate(tr.mistakes)]
        assert table.current == tr.epochs
        await pilot.press("home", "2", "]")          # a count: two epochs ahead
        assert lab.model.steps[lab.step].epoch == 3 and table.current == 3
        await pilot.press("[")
        assert lab.model.steps[lab.step].epoch == 2


async def test_g_takes_an_epoch_or_an_update():
    async with open_lab(AND, size=(120, 40)) as (app, pilot, lab):
        m = lab.model
        assert m.steps[m.step_for_name("epoch 3")].epoch == 3
        k = m.step_for_name("update 5")
        assert m.steps[k].update == 5 and (k == 0 or m.steps[k - 1].update == 4)
        assert m.step_for_name("epoch 999") is None


# ---------------------------------------------------------------- plots


def test_loss_plot_is_the_trace_per_epoch_with_the_stop_reason():
    s = open_session(XOR)
    tr = s.training
    p = plots.make(s, "loss", 5)
    assert p.series[-1].ys == tuple(float(m) for m in tr.mistakes)
    assert p.vline == tr.records[4].epoch
    assert f"cycle from epoch {tr.cycle_start}, length {tr.cycle_length}" in " ".join(p.notes)
    gd = open_session(str(find("train-mlp-xor-gd")))
    q = plots.make(gd, "loss")
    losses = [r.loss for r in gd.training.records]    # full batch: one update per epoch
    assert np.allclose(q.series[-1].ys, losses) and "epoch limit (2000 epochs)" in q.notes[0]


def test_boundary_separates_and_but_not_xor():
    last_and = plots.make(open_session(AND), "boundary")
    assert "0 of 4 point(s) on the wrong side" in last_and.notes[0]
    xor = open_session(XOR)
    for u in range(1, len(xor.training.records) + 1):   # no update of the perceptron gets XOR right
        assert "0 of 4" not in plots.make(xor, "boundary", u).notes[0]
    # the perceptron's region is the half-plane w·x + b > 0 of the trace's parameters
    s = open_session(AND)
    w = np.array([float(v) for v in s.training.snapshots[len(s.training.records)]["w"][0]])
    b = float(s.training.snapshots[len(s.training.records)]["b"][0])
    region = plots.make(s, "boundary").series[0]
    pts = np.array([region.xs, region.ys]).T
    assert len(pts) and np.all(pts @ w + b > 0)


def test_attention_and_gradient_plots_hold_the_runs_numbers():
    s = open_session(ATTENTION)
    p = plots.make(s, "attention")
    m = np.array(p.matrix)
    w = s.run.value("C.weights")
    assert np.isnan(m[0, 1]) and np.isnan(m[0, 2]) and np.isnan(m[1, 2])   # causal: masked
    keep = ~np.isnan(m)
    assert np.allclose(m[keep], w[keep])
    v = open_session(VANISHING)
    g = plots.make(v, "gradients").series[0]
    sizes = dict(zip(g.labels, g.ys))
    for k in range(1, 10):                           # through sigmoid layers the gradient shrinks
        assert sizes[f"h{k}"] < sizes[f"h{k + 1}"]
    assert sizes["h10"] == 1.0
    with pytest.raises(Exception, match="no 'boundary' plot here"):
        plots.make(v, "boundary")


async def test_v_cycles_the_plots_and_the_plot_follows_the_update():
    async with open_lab(XOR, size=(200, 60)) as (app, pilot, lab):
        assert lab.model.plot_kinds == ["loss", "boundary"]
        await pilot.press("v")
        await wait_for(pilot, lambda: lab.query("#plot") and lab.query_one("#plot").shown is not None)
        pane = lab.query_one("#plot")
        assert pane.shown.kind == "loss" and pane.shown.vline == 1.0
        await pilot.press("end")
        await wait_for(pilot, lambda: pane.shown.vline == float(lab.model.training.epochs))
        await pilot.press("v")
        await wait_for(pilot, lambda: pane.shown.kind == "boundary")
        assert f"after update {len(lab.model.training.records)}" in pane.shown.title
        await pilot.press("v")
        assert lab.plot_kind is None and not pane.display


# ---------------------------------------------------------------- contrast


def _luminance(c) -> float:
    def lin(v: float) -> float:
        v = v / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = c.get_truecolor()  # an ANSI theme's colours as rich's standard terminal palette draws them
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast(style) -> float:
    """WCAG 2 contrast ratio of a rich style's foreground on its background (computed here, not by nnlab)."""
    a, b = sorted((_luminance(style.color), _luminance(style.bgcolor)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_contrast_by_the_book():
    from rich.style import Style

    assert round(contrast(Style(color="#ffffff", bgcolor="#000000")), 2) == 21.0
    assert round(contrast(Style(color="#777777", bgcolor="#ffffff")), 2) == 4.48   # the WCAG example


async def test_the_highlighted_element_reads_in_every_theme():
    app = NnlabApp(MLP)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.model is not None)
        lab = app.screen
        themes = sorted(app.available_themes)
        assert len(themes) > 5
        for theme in themes:
            app.theme = theme
            await pilot.pause()
            tensor = lab.query_one(TensorPane)
            cell = tensor._style("current")                         # the style the current cell is drawn in
            graph = lab.query_one(GraphView)
            row = graph.render_line(lab.model.row_of_step(lab.step))._segments[0].style
            from nnlab.tui.widgets.diagram import DiagramView

            diagram = lab.query_one(DiagramView)
            diagram._styles = {}
            lit = [diagram._style(role) for role in ("lit", "lit-name")]
            for part, style in (("tensor cell", cell), ("step row", row), ("lit box", lit[0]), ("lit name", lit[1])):
                assert contrast(style) >= 4.5, (theme, part, str(style))


async def test_the_palette_offers_the_chain_rule_notes_and_plots():
    async with open_lab(XOR, size=(120, 40)) as (app, pilot, lab):
        await pilot.press("ctrl+p")
        await pilot.press(*"view: plot boundary")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is lab and lab.query("#plot") and lab.query_one("#plot").shown
                       is not None)
        assert lab.plot_kind == "boundary" and lab.query_one("#plot").shown.kind == "boundary"
    async with open_lab(MLP, size=(120, 40)) as (app, pilot, lab):
        await pilot.press("n", "ctrl+p")
        await pilot.press(*"step: chain rule")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is lab)
        assert lab.show_chain
