"""nnlab.engine.explain: elements of a step, explanations, and what a step shows beside them."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.engine import explain as E
from nnlab.errors import NnlabError
from tests.helpers import run_yaml

CONV = """
nnlab: 1
title: conv
values:
  X: [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
  K: [[0, 1], [2, 3]]
compute:
  - Y = conv2d(X, K, stride=[3, 2], padding=1)
  - P = maxpool2d(Y, size=2, stride=1)
  - loss = sum(P)
backward: loss
"""

LABELS = """
nnlab: 1
title: labels
values:
  f: [2.0, 1.0, 0.1]
  t: 0
compute:
  - loss = cross_entropy(f, t)
backward: loss
"""

TANH = """
nnlab: 1
title: tanh
values:
  z: [0.5, -1.0]
compute:
  - a = tanh(z)
  - loss = sum(a)
backward: loss
"""


def back(run, node):
    return run.step_of(node, "backward")


def test_elements_of_a_backward_step_are_every_input_gradient_in_slot_order():
    run = run_yaml(CONV)
    step = back(run, "Y")
    assert E.element_spaces(run, step) == [(0, (3, 3)), (1, (2, 2))]
    assert E.element_count(run, step) == 13
    assert E.element_at(run, step, 9) == (1, (0, 0))
    assert all(E.element_number(run, step, *E.element_at(run, step, k)) == k for k in range(13))
    assert E.element_number(run, step, 1, (2, 0)) is None     # outside K
    assert E.element_number(run, step, -1, (0, 0)) is None    # not an element of a backward step
    with pytest.raises(IndexError):
        E.element_at(run, step, 13)
    fwd = run.step_of("Y")
    assert E.element_spaces(run, fwd) == [(-1, (2, 2))]


def test_a_label_input_gets_no_element_and_explaining_it_says_why():
    run = run_yaml(LABELS)
    step = back(run, "loss")
    assert E.element_spaces(run, step) == [(0, (3,))]
    with pytest.raises(NnlabError, match="no gradient flows into t"):
        E.explain(run, step, (0,), slot=1)


def test_explain_accepts_a_step_index_and_defaults_to_the_first_element():
    run = run_yaml(CONV)
    assert E.explain(run, 0).text == "Y[0,0] = 0×0 + 0×1 + 0×2 + 0×3 = 0"
    ex = E.explain(run, back(run, "Y"))                    # slot: the first non-constant input
    assert ex.lhs == "∂loss/∂X[0,0]"


def test_backward_derivative_is_written_with_the_steps_names():
    run = run_yaml(TANH)
    ex = E.explain(run, back(run, "a"), (1,))
    assert ex.formula == ("∂loss/∂z[1] = ∂loss/∂a[1] · ∂a[1]/∂z[1]   where ∂a/∂z = 1 − tanh²(z) = 1 − a²")
    assert ex.value == pytest.approx(1 - np.tanh(-1.0) ** 2)
    assert [u.slot for u in ex.uses] == [-2, 0]


def test_pads_conventions_and_shape_rule_of_a_padded_strided_convolution():
    run = run_yaml(CONV)
    conv = run.step_of("Y")
    assert E.pads(run, conv) == {0: ((1, 1), (1, 1))}
    assert E.pad_note(((1, 1), (1, 1))) == "padded by 1"
    assert E.pad_note(((1, 0), (1, 0))) == "padded 1,0 rows · 1,0 cols"
    assert E.pads(run, run.step_of("loss")) == {}
    assert E.conventions(run, conv) == "padding 1 per side · stride [3, 2] · no kernel flip"
    assert E.conventions(run, back(run, "P")) == "stride 1 · size 2"
    assert E.shape_rule(run, conv) == "OH = ⌊(3 + 2·1 − 2)/3⌋ + 1 = 2; OW = ⌊(3 + 2·1 − 2)/2⌋ + 1 = 2"
    assert E.shape_rule(run, back(run, "Y")) == ""


def test_large_steps_quick_or_not():
    run = run_yaml("""
        nnlab: 1
        title: big
        values:
          X: {shape: [150, 150], init: normal}
        compute:
          - A = sigmoid(X)
          - S = softmax(A)
          - loss = sum(S * S)
        backward: loss
        """)
    assert E.quick(run, run.step_of("A")) and E.quick(run, back(run, "A"))
    assert not E.quick(run, run.step_of("loss"))        # a sum over 22,500 products
    # softmax does not say which outputs an input feeds; 22,500 outputs are too many to ask
    step = back(run, "S")
    assert E.quick(run, step)
    ex = E.explain(run, step, (3, 4))
    assert ex.value == run.contributions[("S", 0)][0, 3, 4]
    assert ex.formula.startswith("∂loss/∂A[3,4] = Σₒ ∂loss/∂S[o] · ∂S[o]/∂A[3,4]")
    assert "22500 elements of S" in ex.note and ex.arithmetic == ""


def test_every_element_of_a_small_run_is_explained_with_the_value_the_run_recorded():
    run = run_yaml(CONV)
    for step in run.steps:
        for k in range(E.element_count(run, step)):
            slot, index = E.element_at(run, step, k)
            ex = E.explain(run, step, index, slot=None if slot < 0 else slot)
            recorded = run.values[step.node][(0,) + index] if slot < 0 else \
                run.contributions[(step.node, slot)][(0,) + index]
            assert float(ex.value) == float(recorded), (step.label, k)
