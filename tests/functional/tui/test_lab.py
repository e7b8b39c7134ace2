"""Pilot tests of the lab screen: every binding, clicks and the command palette.

Each test asserts on real state — the step index, the element, what is highlighted
in the tensor pane and the text of the math pane and status bar — not on pixels.
"""

from __future__ import annotations

from textual import events

from nnlab.tui.app import NnlabApp
from nnlab.tui.screens.check import CheckScreen
from nnlab.tui.screens.help import HelpScreen
from nnlab.tui.screens.jump import JumpScreen
from nnlab.tui.screens.lab import LabScreen
from nnlab.tui.widgets.graph import GraphView
from nnlab.tui.widgets.panes import MathPane, StatusBar
from nnlab.tui.widgets.tensor import TensorPane
from tests.functional.tui.conftest import FIXTURES, open_lab, wait_for, wait_loaded

CONV = str(FIXTURES / "conv-pad.yaml")
MLP = str(FIXTURES / "mlp.yaml")
MULTI = str(FIXTURES / "multichannel.yaml")
DATA = str(FIXTURES / "data.yaml")
TRAIN = str(FIXTURES / "train.yaml")
SIZE = (100, 30)


def text_of(widget) -> str:
    """The plain text a Static-like widget shows."""
    return str(widget.render())


def math(lab: LabScreen) -> str:
    return lab.query_one(MathPane).plain


def status(lab: LabScreen) -> str:
    return text_of(lab.query_one(StatusBar))


async def test_opens_at_the_first_step_with_everything_shown():
    app = NnlabApp(CONV)
    async with app.run_test(size=SIZE) as pilot:
        lab = app.screen
        assert isinstance(lab, LabScreen)
        await wait_loaded(pilot)
        assert lab.step == 0 and lab.element == 0
        assert "forward" in status(lab) and "step 1/6" in status(lab)
        assert "padding 1 per side" in status(lab)
        assert "Y[0,0] = 0×0 + 0×1 + 0×2 + 0×3 = 0" in math(lab)
        assert "3 of the 4 window cells are padding" in math(lab)
        assert lab.query_one(GraphView).current == 0
        pane = lab.query_one(TensorPane)
        assert [b.op.title for b in pane.blocks] == ["X", "K", "Y"]
        assert pane.role_at(-1, (0, 0)) == "current"


async def test_right_and_left_step_and_grey_out_at_the_ends():
    async with open_lab(CONV, size=SIZE) as (app, pilot, lab):
        assert lab.check_action("prev_step", ()) is None   # greyed at the start
        await pilot.press("right")
        assert lab.step == 1
        assert "P = maxpool2d" in lab.query_one(MathPane).border_title
        await pilot.press("left")
        assert lab.step == 0
        await pilot.press("left")                           # nothing before the first step
        assert lab.step == 0
        await pilot.press("end")
        assert lab.step == 5
        assert lab.check_action("next_step", ()) is None    # greyed at the end
        await pilot.press("right")
        assert lab.step == 5
        await pilot.press("home")
        assert lab.step == 0


async def test_down_and_up_move_the_element_and_its_conv_window():
    async with open_lab(CONV, size=SIZE) as (app, pilot, lab):
        await pilot.press("down")
        assert lab.element == 1
        pane = lab.query_one(TensorPane)
        assert pane.role_at(-1, (0, 1)) == "current"
        assert pane.role_at(-1, (0, 0)) is None
        # Y[0,1] with stride [3, 2], padding 1: padded rows 0–1, columns 2–3
        assert pane.role_at(0, (1, 2)) == "used"       # X[0,1] = 1
        assert pane.role_at(0, (1, 3)) == "used"       # X[0,2] = 2
        assert pane.role_at(0, (0, 2)) == "padding"    # the padding row
        assert pane.role_at(1, (1, 1)) == "weight"
        assert "Y[0,1] = 0×0 + 0×1 + 1×2 + 2×3 = 8" in math(lab)
        assert "element 2/4" in status(lab)
        await pilot.press("down", "down", "down")      # stops at the last element
        assert lab.element == 3
        await pilot.press("up")
        assert lab.element == 2
        # the element is remembered per step
        await pilot.press("right", "left")
        assert lab.element == 2


async def test_padding_cells_are_drawn_in_the_padded_frame():
    async with open_lab(CONV, size=SIZE) as (app, pilot, lab):
        pane = lab.query_one(TensorPane)
        x_block = pane.blocks[0]
        assert x_block.op.shape == (5, 5) and x_block.op.pads == ((1, 1), (1, 1))
        assert x_block.op.is_pad((0, 0)) and not x_block.op.is_pad((1, 1))
        lines = pane.plain_lines()
        assert "padded by 1" in lines[0]
        assert "-1" in lines[1]                         # column labels in the input's own frame


async def test_n_p_and_pagedown_pageup_jump_between_phases():
    async with open_lab(CONV, size=SIZE) as (app, pilot, lab):
        await pilot.press("n")
        assert lab.step == 3 and lab.model.steps[3].phase == "backward"
        assert lab.check_action("next_phase", ()) is None
        await pilot.press("p")
        assert lab.step == 0
        await pilot.press("pagedown")
        assert lab.step == 3
        await pilot.press("right", "pageup")           # inside a phase: back to its start
        assert lab.step == 3
        await pilot.press("pageup")
        assert lab.step == 0


async def test_brackets_jump_between_epochs_of_a_training_run():
    async with open_lab(TRAIN, size=SIZE) as (app, pilot, lab):
        m = lab.model
        assert m.epochs == [1, 2, 3, 4, 5, 6]
        await pilot.press("right_square_bracket")
        assert m.steps[lab.step].epoch == 2 and m.steps[lab.step - 1].epoch == 1
        await pilot.press("right_square_bracket")
        assert m.steps[lab.step].epoch == 3
        await pilot.press("left_square_bracket")
        assert m.steps[lab.step].epoch == 2
        await pilot.press("right", "left_square_bracket")  # inside an epoch: back to its start
        assert m.steps[lab.step].epoch == 2 and m.steps[lab.step - 1].epoch == 1
        assert "epoch 2" in status(lab)


async def test_brackets_are_hidden_without_training():
    async with open_lab(CONV, size=SIZE) as (app, pilot, lab):
        assert lab.check_action("next_epoch", ()) is False
        await pilot.press("right_square_bracket")
        assert lab.step == 0


async def test_update_steps_show_before_and_after():
    async with open_lab(TRAIN, size=SIZE) as (app, pilot, lab):
        await pilot.press("right", "right")
        st = lab.model.steps[lab.step]
        assert st.phase == "update" and st.node == "w"
        pane = lab.query_one(TensorPane)
        assert [b.op.title for b in pane.blocks] == ["w before", "w after"]
        assert "w ← w + η·(y − ŷ)·∂z/∂w" in math(lab)
        assert "w[0] (update 1, epoch 1) = 0 + 1·(0 − 0)·0 = 0" in math(lab)
        assert "note: ŷ = y: no change" in math(lab)
        shown = status(lab)
        for words in ("update", "step 3/96", "element 1/2", "example #0", "epoch 1 · update 1", "exact",
                      "perceptron η=1"):
            assert words in shown, words
        graph = [r.text for r in lab.query_one(GraphView).rows]
        assert graph[:4] == ["epoch 1", "update 1", "z = w @ x + b", "yhat = step(z)"]
        assert pane.blocks[0].op.array.tolist() == [0, 0] and pane.blocks[1].op.array.tolist() == [0, 0]


async def test_g_jumps_to_a_node_by_name():
    async with open_lab(CONV, size=SIZE) as (app, pilot, lab):
        await pilot.press("g")
        assert isinstance(app.screen, JumpScreen)
        await pilot.press("P", "enter")
        assert app.screen is lab and lab.step == 1
        await pilot.press("g", *"grad(Y)", "enter")   # the step that computes ∂loss/∂Y
        assert lab.step == 4 and lab.model.steps[4].label == "∂loss/∂Y ← through maxpool2d"
        await pilot.press("g", "escape")
        assert app.screen is lab and lab.step == 4


async def test_c_opens_the_check_screen_and_escape_returns():
    async with open_lab(MLP, size=SIZE) as (app, pilot, lab):
        await pilot.press("c")
        assert isinstance(app.screen, CheckScreen)
        await pilot.press("escape")
        assert app.screen is lab


async def test_question_mark_shows_every_key():
    async with open_lab(CONV, size=SIZE) as (app, pilot, lab):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = " ".join(f"{k} {d}" for k, d in app.screen.rows)
        for words in ("Next step", "Next element of this step", "Next phase", "Next epoch",
                      "Jump to a node by name", "Check your answers", "Reload", "Quit"):
            assert words in shown
        await pilot.press("escape")
        assert app.screen is lab


async def test_q_quits():
    app = NnlabApp(CONV)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


async def test_r_reloads_the_file_now(copy_fixture):
    path = copy_fixture("conv-pad.yaml")
    async with open_lab(str(path), size=SIZE) as (app, pilot, lab):
        first = lab.model
        await pilot.press("down")
        path.write_text(path.read_text().replace("K: [[0, 1], [2, 3]]", "K: [[1, 1], [2, 3]]"))
        lab._stamp = lab._file_stamp()  # keep the watcher out of it: this is the key's job
        await pilot.press("r")
        await wait_for(pilot, lambda: lab.model is not first)
        assert lab.step == 0 and lab.element == 1
        assert "Y[0,1] = 0×1 + 0×1 + 1×2 + 2×3 = 8" in math(lab)


async def test_channel_keys_move_through_output_channels_shown_side_by_side():
    app = NnlabApp(MULTI)
    async with app.run_test(size=(120, 36)) as pilot:
        lab = app.screen
        await wait_loaded(pilot)
        pane = lab.query_one(TensorPane)
        # two channels fit: each is its own block; a 4-D kernel keeps its selector
        titles = [pane._header_text(b.op, b.lead, b)[0].split()[0] for b in pane.blocks]
        assert titles == ["X[0]", "X[1]", "K", "b", "Y[0]", "Y[1]"]
        assert pane.role_at(0, (1, 0, 0)) == "used" and pane.role_at(0, (0, 0, 0)) == "used"
        await pilot.press("greater_than_sign")
        assert lab.element == 4 and pane.focus_index == (1, 0, 0)
        assert pane.role_at(-1, (1, 0, 0)) == "current"
        assert "Y[1,0,0]" in math(lab)
        await pilot.press("less_than_sign")
        assert lab.element == 0
        await pilot.press("down")
        assert "Y[0,0,1] = (1×0 + 2×1 + 4×2 + 5×3) + (2×1 + 3×2 + 5×3 + 6×4) + 0 = 72" in math(lab)
        assert "Y[f,i,j] = Σ_c Σₐ,ᵦ X[c, i+a, j+b]·K[f,c,a,b] + b[f]" in math(lab)
        assert "stride 1 · no kernel flip" in status(lab) and "element 2/8" in status(lab)
        lines = [line.rstrip() for line in pane.plain_lines()]
        assert lines[0].startswith("X[0]  3×3   X[1]  3×3   K  2×2×2×2  ‹ [0,0,:,:] 1/4 ›   b  2")
        assert lines[2].startswith("0  0 1 2    0  1 2 3    0  0 1")
        assert lines[6:10] == ["Y[0]  2×2     Y[1]  2×2", "     0   1         0   1",
                               "0   56  72    0   11  15", "1  104 120    1   23  27"]


async def test_a_big_tensor_shows_one_channel_with_a_selector():
    app = NnlabApp(str(FIXTURES / "alexnet-conv1.yaml"))
    async with app.run_test(size=(120, 36)) as pilot:
        lab = app.screen
        await wait_loaded(pilot)
        pane = lab.query_one(TensorPane)
        k = next(b for b in pane.blocks if b.op.slot == 1)
        assert not k.fixed and k.lead == (0, 0) and k.vis_rows < 11 + 1
        assert "‹ [0,0,:,:] 1/288 ›" in pane.plain_lines()[k.y - pane.scroll]
        pane.post_message(TensorPane.SliceChanged(pane, 1, 1))    # › in K's header
        await pilot.pause()
        k = next(b for b in pane.blocks if b.op.slot == 1)
        assert k.lead == (0, 1) and pane.role_at(1, (0, 1, 0, 0)) == "weight"
        await pilot.press("greater_than_sign")                    # next output channel
        assert pane.focus_index == (1, 0, 0) and lab.element == 55 * 55
        x = next(b for b in pane.blocks if b.op.slot == 0)
        assert x.vis_rows < x.rows                                 # 227 rows: a viewport
        assert x.row_off == 0 and x.col_off == 0
        # the wheel over a block scrolls that block
        gx, gy = x.x + 5 + pane.gutter.left, x.y + 3 - pane.scroll + pane.gutter.top
        pane.post_message(events.MouseScrollDown(pane, gx, gy, 0, 1, 0, False, False, False))
        await pilot.pause()
        assert x.row_off == 3 and x.pinned


async def test_e_shows_the_next_example():
    async with open_lab(DATA, size=SIZE) as (app, pilot, lab):
        assert "example 1/3" in status(lab)
        before = math(lab)
        await pilot.press("e")
        assert lab.example == 1
        assert "example 2/3" in status(lab)
        assert math(lab) != before
        await pilot.press("e", "e")
        assert lab.example == 0


async def test_plus_and_minus_change_the_precision():
    async with open_lab(MLP, size=SIZE) as (app, pilot, lab):
        await pilot.press("g", "a", "1", "enter")         # a1 = sigmoid(z1)
        assert "σ(0.5) = 0.6225" in math(lab)
        await pilot.press("plus")
        assert lab.digits == 5 and "= 0.62246" in math(lab)
        await pilot.press("minus", "minus")
        assert lab.digits == 3 and "= 0.622" in math(lab)


async def test_backward_step_shows_upstream_times_local():
    async with open_lab(MLP, size=SIZE) as (app, pilot, lab):
        target = lab.model.step_for_name("grad(W2)")
        await pilot.press("n")
        assert lab.model.steps[lab.step].phase == "backward"
        lab.goto(target)
        await pilot.pause()
        text = math(lab)
        assert "∂loss/∂W2[0,0] = ∂loss/∂yhat[0] · ∂yhat[0]/∂W2[0,0]" in text
        assert "upstream · local = (-2.1461)·0.6225" in text and "= -1.3358" in text
        pane = lab.query_one(TensorPane)
        assert pane.blocks[0].op.title == "∂loss/∂yhat"
        assert pane.role_at(-2, (0,)) == "used"       # the upstream element it used
        await pilot.press("down")                        # the next element: ∂loss/∂W2[0,1]
        text = math(lab)
        assert "∂loss/∂W2[0,1] = ∂loss/∂yhat[0] · ∂yhat[0]/∂W2[0,1]" in text
        assert "upstream · local = (-2.1461)·0.7685" in text and "= -1.6493" in text
        assert [b.op.title for b in pane.blocks] == ["∂loss/∂yhat", "∂loss/∂W2", "∂loss/∂a1"]
        assert pane.role_at(0, (0, 1)) == "current"
        shown = status(lab)
        assert "backward" in shown and "step 6/8" in shown and "element 2/4" in shown
        graph = lab.query_one(GraphView)
        assert "▶" in graph.render_line(lab.model.row_of_step(lab.step)).text
        assert "∂loss/∂W2" in graph.render_line(lab.model.row_of_step(lab.step)).text


async def test_tab_focuses_the_graph_where_arrows_move_a_cursor_and_enter_jumps():
    async with open_lab(CONV, size=SIZE) as (app, pilot, lab):
        graph = lab.query_one(GraphView)
        await pilot.press("tab")
        assert graph.has_focus
        await pilot.press("down", "down")
        assert lab.step == 0                             # the cursor moved, not the step
        await pilot.press("enter")
        assert lab.step == 2
        await pilot.press("right")                       # Right still steps
        assert lab.step == 3
        await pilot.press("escape")
        assert not graph.has_focus
        await pilot.press("down")
        assert lab.element == 0 or lab.model.element_count(lab.step) == 1


async def test_clicking_a_step_and_a_cell():
    async with open_lab(CONV, size=SIZE) as (app, pilot, lab):
        row = lab.model.row_of_step(2)
        await pilot.click(GraphView, offset=(4, 1 + row))
        assert lab.step == 2
        await pilot.click(GraphView, offset=(4, 1 + lab.model.row_of_step(0)))
        assert lab.step == 0
        pane = lab.query_one(TensorPane)
        x, y = pane.cell_offset(-1, (1, 1))
        await pilot.click(TensorPane, offset=(x, y))
        assert lab.element == 3 and pane.role_at(-1, (1, 1)) == "current"


async def test_command_palette_offers_namespaced_commands():
    async with open_lab(CONV, size=SIZE) as (app, pilot, lab):
        await pilot.press("ctrl+p")
        await pilot.press(*"step: jump to backward pass")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is lab)
        assert lab.step == 3


async def test_step_argument_by_number_and_by_name():
    async with open_lab(CONV, step="P", size=SIZE) as (app, pilot, lab):
        assert lab.step == 1
    async with open_lab(CONV, step="5", size=SIZE) as (app, pilot, lab):
        assert lab.step == 4


async def test_graph_dims_steps_not_reached():
    async with open_lab(CONV, size=SIZE) as (app, pilot, lab):
        graph = lab.query_one(GraphView)
        labels = [r.text for r in graph.rows]
        assert labels[:4] == ["forward", "Y = conv2d(X, K, stride=[3, 2], padding=1)",
                              "P = maxpool2d(Y, size=2, stride=1)", "loss = sum(P)"]
        assert "backward" in labels and "∂loss/∂Y ← through maxpool2d" in labels
        current = graph.render_line(lab.model.row_of_step(0))
        later = graph.render_line(lab.model.row_of_step(4))
        assert "▶" in current.text and "▶" not in later.text
        assert later._segments[0].style.color != current._segments[0].style.color


async def test_s_shows_the_symbolic_chain_of_a_gradient_element():
    app = NnlabApp(MLP)
    async with app.run_test(size=(100, 36)) as pilot:
        lab = app.screen
        await wait_loaded(pilot)
        lab.goto(lab.model.step_for_name("grad(W1)"))
        await pilot.pause()
        assert lab.model.element_at(lab.step, lab.element) == (0, (0, 0))   # W1[0,0]
        await pilot.press("s")
        await wait_for(pilot, lambda: "backprop:" in lab.chain_text, timeout=30)
        assert "∂loss/∂yhat[0] · ∂yhat[0]/∂a1[0] · ∂a1[0]/∂z1[0] · ∂z1[0]/∂W1[0,0]" in lab.chain_text
        assert "✓ agrees" in lab.chain_text and "backprop:" in math(lab)
        await pilot.press("s")
        assert lab.chain_text == "" and "backprop:" not in math(lab)
