"""The drawn computational graph: ``nnlab graph`` as text, and the drawing's parts
(:mod:`nnlab.render.diagram`) — boxes, arrows, which boxes a step lights and dims,
where a click jumps."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnlab.render import diagram as dg
from nnlab.session import open_session
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "scenarios" / "mlp-2layer-backprop.yaml"
TRANSFORMER = ROOT / "scenarios" / "transformer-block.yaml"

TINY = """nnlab: 1
title: tiny
values:
  x: 2
compute:
  - y = 3 * x
backward: y
"""


@pytest.fixture
def tiny(tmp_path):
    f = tmp_path / "tiny.yaml"
    f.write_text(TINY)
    return f


def _drawing(out: str) -> list[str]:
    """The drawing's lines (without the ``step N: …`` header)."""
    lines = out.splitlines()
    return lines[1:] if lines and lines[0].startswith("step ") else lines


# ------------------------------------------------------------------ nnlab graph, exact text
def test_tiny_graph_is_two_boxes_and_one_arrow(tiny):
    p = run_cli("graph", str(tiny))
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "╭────────────────╮",
        "│ x              │",
        "│ value · scalar │",
        "╰───────┬────────╯",
        "        ▼",
        " ┌──────────────┐",
        " │ y            │",
        " │ mul · scalar │",
        " └──────────────┘",
    ]


def test_tiny_forward_step_lights_y_with_heavy_lines_and_writes_the_values(tiny):
    p = run_cli("graph", str(tiny), "--step", "1", "--values")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0].startswith("step 1: ")
    assert _drawing(p.stdout) == [
        "╭────────────────╮",
        "│ x              │",
        "│ value · scalar │",
        "│ 2              │",
        "╰───────┬────────╯",
        "        ▼",
        " ┏━━━━━━━━━━━━━━┓",
        " ┃ y            ┃",
        " ┃ mul · scalar ┃",
        " ┃ 6            ┃",   # 3 × 2
        " ┗━━━━━━━━━━━━━━┛",
    ]


def test_tiny_backward_step_lights_x_whose_gradient_it_computes(tiny):
    p = run_cli("graph", str(tiny), "--step", "2", "--grads")
    assert p.returncode == 0, p.stderr
    assert _drawing(p.stdout) == [
        "┏━━━━━━━━━━━━━━━━┓",   # lit: ∂y/∂x is computed here
        "┃ x              ┃",
        "┃ value · scalar ┃",
        "┃ 3              ┃",   # ∂(3x)/∂x = 3
        "┗━━━━━━━┳━━━━━━━━┛",
        "        ▼",
        " ╔══════════════╗",    # the op the gradient comes through
        " ║ y            ║",
        " ║ mul · scalar ║",
        " ║ 1            ║",    # ∂y/∂y
        " ╚══════════════╝",
    ]


def test_tiny_names_only(tiny):
    p = run_cli("graph", str(tiny), "--names", "--step", "1")
    assert _drawing(p.stdout) == [" x", " ▼", "[y]"]


def test_piped_output_has_no_colour(tiny):
    p = run_cli("graph", str(tiny), "--step", "1", "--values")
    assert "\x1b[" not in p.stdout


def test_a_bundled_scenario_can_be_named_without_its_path():
    assert run_cli("graph", "mlp-2layer-backprop").stdout == run_cli("graph", str(MLP)).stdout
    p = run_cli("graph", "train-perceptron-xor", "--names")
    assert p.returncode == 0 and "w" in p.stdout.split() and "▼" in p.stdout


def test_bad_arguments_are_located_errors_not_tracebacks(tiny, tmp_path):
    p = run_cli("graph", str(tiny), "--step", "3")
    assert p.returncode == 2 and "--step 3" in p.stderr and "1 to 2" in p.stderr
    assert "Traceback" not in p.stderr
    f = tmp_path / "nograd.yaml"
    f.write_text(TINY.replace("backward: y\n", ""))
    p = run_cli("graph", str(f), "--grads")
    assert p.returncode == 2 and "no backward target" in p.stderr
    p = run_cli("graph", str(tmp_path / "missing.yaml"))
    assert p.returncode == 2 and "Traceback" not in p.stderr


# ------------------------------------------------------------------ nnlab graph on the MLP
def _row_of(lines: list[str], name: str) -> int:
    """The row where box ``name`` has its name line (``│ name `` or, in the names form, `` name ``)."""
    for y, line in enumerate(lines):
        cells = line.replace("│", " ").replace("┃", " ").replace("║", " ").replace("╎", " ").split()
        if name in cells:
            return y
    raise AssertionError(f"{name} not drawn:\n" + "\n".join(lines))


@pytest.mark.parametrize("names", [False, True])
def test_mlp_is_drawn_top_down_in_the_order_it_computes(names):
    p = run_cli("graph", str(MLP), *(["--names"] if names else []))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    chain = [_row_of(lines, n) for n in ("x", "z1", "a1", "z2", "yhat", "loss")]
    assert chain == sorted(chain) and len(set(chain)) == 6
    # parameters sit in the layer just above the op that uses them
    assert _row_of(lines, "W1") == _row_of(lines, "b1") == _row_of(lines, "x")
    assert _row_of(lines, "w2") == _row_of(lines, "b2") == _row_of(lines, "a1")
    assert _row_of(lines, "y") == _row_of(lines, "yhat")
    # one arrow head per arrow: W1 x b1 → z1, z1 → a1, w2 a1 b2 → z2, z2 → yhat, yhat y → loss
    assert p.stdout.count("▼") == 10
    # variables have round corners, operations square ones
    if not names:
        assert "│ affine · 2" in p.stdout and "│ param · 2×2" in p.stdout and "│ bce · scalar" in p.stdout
        assert p.stdout.count("╭") >= 6 and p.stdout.count("┌") == 5


def test_mlp_backward_step_through_the_output_layer_lights_its_inputs_with_their_gradients():
    s = open_session(str(MLP))
    k = next(st.index for st in s.steps if st.phase == "backward" and st.node == "z2")
    p = run_cli("graph", str(MLP), "--step", str(k + 1), "--grads")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for name in ("w2", "a1", "b2"):  # ∂loss/∂w2, ∂loss/∂a1, ∂loss/∂b2 are computed by this step
        assert f"┃ {name} " in out
    assert "║ z2 " in out  # the affine the gradient comes back through
    for name in ("W1", "x", "b1", "z1"):  # their gradients are not there yet
        assert f"╎ {name} " in out
    # the gradients just computed (the lecture's numbers, scenario expect:)
    assert "[-0.2539, -0.2286]" in out and "[-0.2079, 0.1247]" in out and "-0.4157" in out
    assert "-1.7115" in out  # ∂loss/∂yhat, computed earlier
    assert "-0.0247" not in out  # ∂loss/∂W1 is computed later


def test_mlp_forward_values_appear_as_they_are_computed():
    s = open_session(str(MLP))
    k = next(st.index for st in s.steps if st.phase == "forward" and st.node == "z2")
    out = run_cli("graph", str(MLP), "--step", str(k + 1), "--values").stdout
    assert "[0.45, 0.2]" in out and "[0.6106, 0.5498]" in out and "0.3404" in out
    assert "0.5843" not in out and "0.5374" not in out  # yhat and loss are not computed yet
    assert "┃ z2 " in out and "╎ yhat " in out and "╎ loss " in out


# ------------------------------------------------------------------ the drawing's parts
def test_temporaries_live_in_their_lines_box_and_constants_are_not_drawn():
    s = open_session(str(TRANSFORMER))
    d = dg.diagram_of(s.run.graph)
    assert "U#1" not in d.boxes and d.owner["U#1"] == "U"
    assert d.boxes["U"].op == "relu(affine)" and d.boxes["U"].members == ("U#1", "U")
    assert {("H", "U"), ("W1", "U"), ("b1", "U")} <= set(d.edges)
    assert d.boxes["A.weights"].op == "softmax" and d.boxes["A.weights"].shape == "3×3"
    assert d.boxes["Wq"].kind == "param" and d.boxes["X"].kind == "value"
    tiny = open_session(str(ROOT / "scenarios" / "mlp-2layer-backprop.yaml"))
    assert not any(b.startswith("const:") for b in dg.diagram_of(tiny.run.graph).boxes)


def test_the_layout_is_the_same_every_time():
    s = open_session(str(TRANSFORMER))
    d = dg.diagram_of(s.run.graph)
    first = dg.draw_forms(d, dg.room_for_numbers(d, s.run))
    again = dg.draw_forms(dg.diagram_of(s.run.graph), dg.room_for_numbers(d, s.run))
    assert all(first[f].rows == again[f].rows for f in dg.FORMS)
    assert first["names"].width < first["boxes"].width < first["full"].width


def test_every_box_and_arrow_is_on_the_grid():
    s = open_session(str(TRANSFORMER))
    d = dg.diagram_of(s.run.graph)
    drawing = dg.draw(d)
    assert set(drawing.boxes) == set(d.boxes)
    assert "".join(drawing.rows).count("▼") == len(d.edges)
    for bid, p in drawing.boxes.items():
        assert drawing.box_at(p.x, p.y) == bid and drawing.box_at(p.x + p.w - 1, p.y + p.h - 1) == bid
        assert bid in drawing.rows[p.y + 1]
    boxes = list(drawing.boxes.values())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            apart = a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y
            assert apart, (a, b)


def test_tracks_keep_vertical_runs_apart_and_share_rows_only_when_apart():
    # edge 0 runs 3 → 7; edge 1 runs 10 → 3: edge 0 leaves from column 3, where edge 1
    # arrives, so edge 0 must turn on a higher row than edge 1
    routed, n = dg._tracks([(0, 3, 7), (1, 10, 3)])
    track = {k: t for k, _, _, t in routed}
    assert n == 2 and track[0] < track[1]
    # 0 → 2 and 5 → 8 are apart: one row; 3 → 4 touches 0 → 2 (adjacent columns): a row of its own
    routed, n = dg._tracks([(0, 0, 2), (1, 5, 8), (2, 3, 4), (3, 6, 6)])
    track = {k: t for k, _, _, t in routed}
    assert n == 2 and track[0] == track[1] == 0 and track[2] == 1 and track[3] == 0  # 3: straight


def _frame(session, k):
    st = session.steps[k]
    d = dg.diagram_of(session.run.graph)
    run = session.run_for(st)
    return dg.frame_at(d, dg.draw(d), dg.progress_of(d, run.steps), session.inner_step(st) or st)


def test_a_forward_step_lights_what_it_computes_and_dims_what_comes_later():
    s = open_session(str(MLP))
    k = next(st.index for st in s.steps if st.phase == "forward" and st.node == "a1")
    f = _frame(s, k)
    assert f.lit == {"a1"} and not f.source
    assert f.dim == {"z2", "yhat", "loss"}
    d = dg.diagram_of(s.run.graph)
    assert {d.edges[e] for e in f.lit_edges} == {("z1", "a1")}


def test_a_backward_step_lights_the_nodes_whose_gradient_it_computes():
    s = open_session(str(TRANSFORMER))
    k = next(st.index for st in s.steps if st.phase == "backward" and st.node == "U#1")  # through H @ W1 + b1
    f = _frame(s, k)
    assert f.lit == {"H", "W1", "b1"} and f.source == {"U"}
    d = dg.diagram_of(s.run.graph)
    assert {d.edges[e] for e in f.lit_edges} == {("H", "U"), ("W1", "U"), ("b1", "U")}
    # H's gradient is complete only here (its 2nd contribution); Q, K, V… come later
    assert {"Q", "K", "V", "A", "Wq", "X"} <= f.dim and "Y" not in f.dim and "F" not in f.dim


def test_an_update_step_lights_its_parameter():
    s = open_session(str(ROOT / "scenarios" / "train-mlp-xor-gd.yaml"))
    k = next(k for k in range(40) if s.steps[k].phase == "update" and s.steps[k].node == "w2")
    f = _frame(s, k)
    assert f.lit == {"w2"} and not f.dim


def test_clicking_a_box_jumps_to_its_step():
    s = open_session(str(MLP))
    d = dg.diagram_of(s.run.graph)
    steps = s.steps
    forward = {st.node: st.index for st in steps if st.phase == "forward"}
    first_back = next(st.index for st in steps if st.phase == "backward")
    assert dg.step_for_box(d, steps, 0, "a1") == forward["a1"]
    assert dg.step_for_box(d, steps, 0, "W1") == forward["z1"]  # a variable: the step that uses it
    z1_back = next(st.index for st in steps if st.phase == "backward" and "W1" in st.inputs)
    assert dg.step_for_box(d, steps, first_back, "W1") == z1_back  # backward: where ∂loss/∂W1 is computed
    assert dg.step_for_box(d, steps, first_back, "loss") == first_back
    t = open_session(str(TRANSFORMER))
    td = dg.diagram_of(t.run.graph)
    u = next(st.index for st in t.steps if st.phase == "forward" and st.node == "U")
    assert dg.step_for_box(td, t.steps, 0, "U") == u  # the line's own step, not its sub-expression's


def test_changed_rows_cover_every_row_that_paints_differently():
    s = open_session(str(TRANSFORMER))
    d = dg.diagram_of(s.run.graph)
    drawing = dg.draw_forms(d, dg.room_for_numbers(d, s.run))["full"]
    pr = dg.progress_of(d, s.run.steps)
    frames = []
    for st in s.steps:
        kind = "grad" if st.phase == "backward" else "value"
        frames.append(dg.frame_at(d, drawing, pr, st, dg.run_numbers(d, s.run, kind)))
    for old, new in zip(frames, frames[1:]):
        rows = drawing.changed_rows(old, new)
        differ = {y for y in range(drawing.height) if dg.paint_row(drawing, old, y) != dg.paint_row(drawing, new, y)}
        assert differ and differ <= rows
