"""The lab's model adapter and answer handling (no Textual involved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnlab.errors import NnlabError
from nnlab.scenario.model import load
from nnlab.tui import model as model_module
from nnlab.tui.answers import answer_spans, parse_answer, save_answers, yaml_value
from nnlab.tui.model import LabModel, load_model
from tests.functional.tui.conftest import FIXTURES


def model(name: str) -> LabModel:
    return load_model(str(FIXTURES / name))


def test_forward_conv_operands_are_padded_and_the_window_is_marked():
    m = model("conv-pad.yaml")
    ops = m.operands(0)
    assert [(o.title, o.shape, o.pads) for o in ops] == [
        ("X", (5, 5), ((1, 1), (1, 1))), ("K", (2, 2), None), ("Y", (2, 2), None)]
    np.testing.assert_array_equal(ops[0].array[1:4, 1:4], np.arange(9).reshape(3, 3))
    assert ops[0].array[0].tolist() == [0] * 5
    f = m.focus(0, 3)                                    # Y[1,1]: padded rows 3–4, cols 2–3
    assert (f.slot, f.index) == (-1, (1, 1))
    assert f.marks[0] == {(3, 2): "used", (3, 3): "used", (4, 2): "padding", (4, 3): "padding"}
    assert f.marks[-1] == {(1, 1): "current"}
    assert f.explanation.text == "Y[1,1] = 7×0 + 8×1 + 0×2 + 0×3 = 8"


def test_backward_operands_and_elements_cover_every_input_gradient():
    m = model("conv-pad.yaml")
    k = m.find_step("backward", "Y")
    ops = m.operands(k)
    assert [(o.slot, o.title, o.role) for o in ops] == [
        (-2, "∂loss/∂Y", "upstream"), (0, "∂loss/∂X", "grad"), (1, "∂loss/∂K", "grad")]
    assert m.element_count(k) == 13
    assert m.element_at(k, 9) == (1, (0, 0))
    assert m.element_number(k, 1, (1, 1)) == 12
    f = m.focus(k, 9)
    assert f.slot == 1 and f.marks[1] == {(0, 0): "current"}
    assert "(upstream" not in f.explanation.text   # the pane adds the wording; the engine gives numbers


def test_max_pool_marks_the_argmax():
    m = model("conv-pad.yaml")
    f = m.focus(1, 0)
    assert "argmax" in f.marks[0].values()


def test_rows_group_steps_by_phase_and_training_by_epoch_and_update():
    m = model("conv-pad.yaml")
    assert [r.text for r in m.rows if r.kind == "header"] == ["forward", "backward"]
    t = model("train.yaml")
    heads = [r.text for r in t.rows[:4]]
    assert heads[:2] == ["epoch 1", "update 1"] and t.rows[2].kind == "step"
    assert t.epochs == [1, 2, 3, 4, 5, 6]
    assert t.steps[t.first_of_epoch(2)].epoch == 2


def test_names_and_nearest_steps():
    m = model("conv-pad.yaml")
    assert m.step_for_name("P") == 1
    assert m.step_for_name("grad(Y)") == 4      # the step that computes ∂loss/∂Y (through maxpool2d)
    assert m.step_for_name("∂loss/∂P") == 3
    assert m.step_for_name("grad(K)") == 5
    assert m.step_for_name("2") == 1
    assert m.step_for_name("nothing") is None
    assert m.nearest_step(m.steps[4], 4) == 4
    assert m.nearest_step(None, 99) == len(m.steps) - 1


def test_conventions_and_shape_rule():
    m = model("conv-pad.yaml")
    assert m.conventions(0) == "padding 1 per side · stride [3, 2] · no kernel flip"
    assert m.step_shape_rule(0) == "OH = ⌊(3 + 2·1 − 2)/3⌋ + 1 = 2; OW = ⌊(3 + 2·1 − 2)/2⌋ + 1 = 2"


def test_large_elementwise_backward_uses_the_recorded_arrays(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("nnlab: 1\ntitle: big\nvalues:\n  X: {shape: [300, 300], init: normal}\n"
                    "compute:\n  - A = sigmoid(X)\n  - loss = sum(A)\nbackward: loss\n")
    m = load_model(str(path))
    k = m.find_step("backward", "A")
    assert m.cheap(k)
    f = m.focus(k, 7)
    x = m.run.value("X")[0, 7]
    s = 1 / (1 + np.exp(-x))
    assert f.explanation.value == pytest.approx(s * (1 - s))
    assert f.marks[-2] == {(0, 7): "used"}
    # the forward sum over 90,000 elements is explained in the background
    assert not m.cheap(m.find_step("forward", "loss"))
    assert m.pending_focus(1, 0).explanation is None


def test_one_view_per_step_element_example_and_digits_is_cached():
    m = model("data.yaml")
    f = m.focus(0, 0)
    assert m.focus(0, 0) is f and m.has_focus(0, 0)
    assert not m.has_focus(0, 0, digits=6)
    assert m.focus(0, 0, digits=6) is not f
    if m.examples_at(0) > 1:
        assert m.focus(0, 0, example=1) is not f
    assert m.operands(0) is m.operands(0)


def test_a_label_is_not_an_element_of_the_loss_backward_step(tmp_path):
    path = tmp_path / "ce.yaml"
    path.write_text("nnlab: 1\ntitle: ce\nvalues:\n  f: [2.0, 1.0, 0.1]\n  y: 0\n"
                    "compute:\n  - loss = cross_entropy(f, y)\nbackward: loss\n")
    m = load_model(str(path))
    k = m.find_step("backward", "loss")
    assert m.element_count(k) == 3
    assert [o.title for o in m.operands(k)] == ["∂loss/∂loss", "∂loss/∂f"]
    for e in range(3):
        f = m.focus(k, e)
        assert f.error == "" and f.explanation is not None


def test_the_model_asks_the_engine_and_catches_only_what_it_expects():
    source = (Path(model_module.__file__)).read_text()
    assert "getattr(" not in source and "hasattr(" not in source
    assert "except Exception" not in source


def test_training_update_steps_show_before_gradient_after():
    t = model("train.yaml")
    k = next(s.index for s in t.steps if s.phase == "update")
    assert t.element_count(k) == int(np.prod(t.steps[k].shape))
    titles = [o.title for o in t.operands(k)]
    assert titles[0].endswith(" before") and titles[-1].endswith(" after")
    f = t.focus(k, 0)
    assert f.explanation is not None and "update" in f.explanation.lhs
    assert t.conventions(k).split(" η=")[0] in ("gd", "perceptron")


def test_each_update_shows_the_tensors_of_its_own_run():
    t = model("train.yaml")
    group = t.steps.group
    for k in (0, group, 2 * group):                      # the same forward step in updates 1, 2, 3
        run, _ = t.context(k)
        for op in t.operands(k):
            np.testing.assert_array_equal(op.array, run.value(op.node).reshape(op.array.shape))


def test_parse_answer_reads_like_the_expect_block():
    entry = load(str(FIXTURES / "mlp.yaml")).expect[2]
    a = parse_answer("-1.336", entry)
    assert a.answer == -1.336 and a.abs_tol == pytest.approx(0.0005)
    a = parse_answer("[1, 2.5]", entry)
    assert a.answer.tolist() == [1.0, 2.5] and a.abs_tol.tolist() == [0.0, 0.05]
    a = parse_answer("sigmoid(2) - 1", entry)
    assert a.raw == "sigmoid(2) - 1" and a.abs_tol == 0.0
    with pytest.raises(NnlabError):
        parse_answer("sigmoid(", entry)
    with pytest.raises(NnlabError):
        parse_answer("  ", entry)


def test_save_answers_edits_only_the_answers(tmp_path):
    path = tmp_path / "s.yaml"
    text = ("nnlab: 1\ntitle: t\nvalues:\n  a: 2\ncompute:\n  - b = a * 3\nexpect:\n"
            "  # my answers\n  b: 5   # first try\n  a: {value: 2, abs: 0.1}\n  'b * 2': [12]\n")
    path.write_text(text)
    assert set(answer_spans(text)) == {"b", "a", "b * 2"}
    changed = save_answers(str(path), {"b": "6", "a": "2", "b * 2": "b + b", "nope": "1"})
    assert changed == ["b", "b * 2"]
    assert path.read_text() == text.replace("b: 5   #", "b: 6   #").replace("'b * 2': [12]", "'b * 2': 'b + b'")
    assert yaml_value("0.5") == "0.5" and yaml_value("[1, 2]") == "[1, 2]" and yaml_value("true") == "true"
    assert yaml_value("it's") == "'it''s'" and yaml_value("a: b") == "'a: b'"
