"""One test per catalog id: a wrong answer made by that misconception is diagnosed with it.

Each wrong answer comes from an independent oracle — the scenario rewritten the way
the student misread it (another padding, the kernel flipped in ``values:``, no bias,
``step_at_zero: 1`` …) and run by the ordinary engine — never from the diagnosis code.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from nnlab.diagnosis import CATALOG
from tests.functional.diagnosis.util import MLP, answer_text, check, gd, ids, value

CONV = """
nnlab: 1
title: conv
values:
  X: [[1, 2, 0, 1, 3], [0, 1, 2, 3, 1], [1, 0, 1, 2, 2], [2, 1, 0, 1, 0], [1, 3, 1, 0, 2]]
  K: [[1, 0, -1], [2, 1, 0], [0, 1, 3]]
  b: 0.5
compute:
  - Y = conv2d(X, K, b{args})
"""


def conv(args: str = "") -> str:
    return CONV.format(args=args)


def test_padding_convention_conv_shape():
    quiz = """
    nnlab: 1
    title: quiz
    values:
      X: {shape: [9, 13], init: range}
      K: {shape: [3, 3], init: ones}
    compute:
      - Y = conv2d(X, K, stride=2, padding_total=2)
    """
    item = check(quiz, "shape(Y)", "[6, 8]")
    assert not item.ok and "padding-convention" in ids(item)
    assert "5" in item.diagnosis[0].message  # the right formula, with the lecture's numbers


def test_padding_convention_conv_values():
    wrong = value(conv(", padding_total=2"), "Y")
    item = check(conv(", padding=2"), "Y", answer_text(wrong))
    assert "padding-convention" in ids(item)


def test_padding_convention_pool():
    text = """
    nnlab: 1
    title: pool
    values:
      X: {shape: [5, 5], init: range}
    compute:
      - Y = maxpool2d(X, size=3, stride=2, padding=1)
    """
    # padding 1 read as a total: one row on top, one column on the left, none after
    item = check(text, "shape(Y)", "[2, 2]")
    assert "padding-convention" in ids(item)


def test_stride_ignored():
    wrong = value(conv(""), "Y")
    item = check(conv(", stride=2"), "Y", answer_text(wrong))
    assert "stride-ignored" in ids(item)
    assert check(conv(", stride=2"), "shape(Y)", "[3, 3]").diagnosis[0].id == "stride-ignored"


def test_kernel_flipped():
    flipped = conv("").replace("K: [[1, 0, -1], [2, 1, 0], [0, 1, 3]]", "K: [[3, 1, 0], [0, 1, 2], [-1, 0, 1]]")
    item = check(conv(""), "Y", answer_text(value(flipped, "Y")))
    assert ids(item) == ["kernel-flipped"]


def test_bias_missing_value_and_params():
    wrong = value(MLP.replace("b2: 0.2", "b2: 0"), "z2")
    item = check(MLP, "z2", answer_text(wrong))
    assert "bias-missing" in ids(item)
    assert ids(check(MLP + "learn: [W1, b1, w2, b2]\n", "params", "6")) == ["bias-missing"]


def test_weights_transposed():
    wrong = value(MLP.replace("W1: [[0.1, 0.3], [-0.2, 0.4]]", "W1: [[0.1, -0.2], [0.3, 0.4]]"), "z1")
    item = check(MLP, "z1", answer_text(wrong))
    assert ids(item) == ["weights-transposed"]


def test_activation_missing():
    item = check(MLP, "a1", answer_text(value(MLP, "z1")))
    assert ids(item) == ["activation-missing"]


def test_activation_derivative_missing():
    # ∂ℓ/∂W1[0,0] without σ'(z1[0]): (ŷ − y)·w2[0]·x[0]
    g = value(MLP, "grad(a1)[0]") * 0.5
    item = check(MLP, "grad(W1)[0, 0]", answer_text(g))
    assert "activation-derivative-missing" in ids(item)


def test_sign_flipped():
    item = check(MLP, "grad(z2)", answer_text(-value(MLP, "grad(z2)")))
    assert ids(item) == ["sign-flipped"]
    assert item.diagnosis[0].step is not None


REG = """
nnlab: 1
title: reg
values:
  x: [1.0, 2.0, 0.5]
  w: [0.3, -0.2, 0.5]
  y: [1.0, 0.0, 2.0]
compute:
  - yhat = w * x
  - loss = mse(yhat, y{args})
backward: loss
"""


def test_mse_half():
    half = REG.format(args="").replace("- loss = mse(yhat, y)", "- loss = 0.5 * mse(yhat, y)")
    assert "mse-half" in ids(check(REG.format(args=""), "loss", answer_text(value(half, "loss"))))
    assert "mse-half" in ids(check(REG.format(args=""), "grad(w)", answer_text(value(half, "grad(w)"))))
    # and the other way round: the scenario has the ½, the answer has none
    assert "mse-half" in ids(check(half, "loss", answer_text(value(REG.format(args=""), "loss"))))


def test_sum_vs_mean():
    total = REG.format(args=", reduction='sum'")
    item = check(REG.format(args=""), "loss", answer_text(value(total, "loss")))
    assert "sum-vs-mean" in ids(item)


def test_sum_vs_mean_over_a_batch():
    text = """
    nnlab: 1
    title: batch
    values: {w: [0.5, -0.5]}
    data:
      x: [[1, 2], [0, 1], [2, 1]]
      y: [1, 0, 2]
    learn: [w]
    compute:
      - yhat = w @ x
      - loss = mse(yhat, y)
    backward: loss
    """
    item = check(text, "grad(w)", answer_text(value(text, "grad(w)") * 3))
    assert "sum-vs-mean" in ids(item)


GD = gd(2)


def test_update_sign_gd():
    g = value(GD, "epoch(0).grad(w)")
    uphill = np.array([0.5, -0.5]) + 0.1 * g
    item = check(GD, "epoch(1).w", answer_text(uphill))
    assert "update-sign" in ids(item)


AND = """
nnlab: 1
title: and
values: {w: [0, 0], b: 0}
data:
  x: [[0, 0], [0, 1], [1, 0], [1, 1]]
  y: [0, 0, 0, 1]
learn: [w, b]
compute:
  - z = w @ x + b
  - yhat = step(z)
train: {rule: perceptron, predict: yhat, target: y, lr: 1, epochs: 50}
"""


def test_update_sign_perceptron():
    # w ← w + η(ŷ − y)x: the perceptron rule with the error the wrong way round, replayed by hand
    w, b = np.zeros(2), 0.0
    xs, ys = [[0, 0], [0, 1], [1, 0], [1, 1]], [0, 0, 0, 1]
    for x, y in zip(xs, ys):
        yhat = 1.0 if w @ x + b > 0 else 0.0
        w, b = w + (yhat - y) * np.array(x), b + (yhat - y)
    item = check(AND, "epoch(1).w", answer_text(w, digits=0))
    assert "update-sign" in ids(item)


def test_step_at_zero_in_training():
    other = AND.replace("train:", "options: {step_at_zero: 1}\ntrain:")
    ref = next(r for r in ("epoch(1).b", "epoch(1).w", "epoch(2).b", "epoch(2).w")
               if not np.array_equal(value(other, r), value(AND, r)))
    item = check(AND, ref, answer_text(value(other, ref), digits=0))
    assert "step-at-zero" in ids(item)


def test_rounding():
    # the student rounds every value to 2 decimals before using it
    def r(v):
        return round(v, 2)
    z1 = [r(0.1 * 0.5 + 0.3 * 1.0 + 0.1), r(-0.2 * 0.5 + 0.4 * 1.0 - 0.1)]
    a1 = [r(1 / (1 + math.exp(-z))) for z in z1]
    z2 = r(0.5 * a1[0] - 0.3 * a1[1] + 0.2)
    yhat = r(1 / (1 + math.exp(-z2)))
    loss = -math.log(yhat)
    item = check(MLP, "loss", answer_text(loss, digits=4))
    assert ids(item) == ["rounding"]
    assert "2 decimals" in item.diagnosis[0].message


def test_carried_error():
    text = MLP + "expect:\n  z2: 0.1404\n  yhat: 0.5350\n"  # z2 without b2, then σ of it
    report = check(text)
    z2, yhat = report.items
    assert "bias-missing" in ids(z2) and not z2.carried
    assert ids(yhat)[0] == "carried-error" and yhat.via == ("z2",) and not yhat.ok
    assert report.first_mistake is z2


BCE = """
nnlab: 1
title: bce
values: {z: 2, y: 1}
compute:
  - yhat = sigmoid(z)
  - loss = bce(yhat, y)
backward: loss
"""


def test_log_base():
    item = check(BCE, "loss", answer_text(-math.log10(1 / (1 + math.exp(-2)))))
    assert ids(item) == ["log-base"]
    assert "log₁₀" in item.diagnosis[0].message


ATT = """
nnlab: 1
title: att
values:
  Q: [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
  K: [[1.0, 0.5], [0.0, 1.0], [-1.0, 0.5]]
  V: [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
compute:
  - C = attention(Q, K, V)
"""


def _softmax(s, axis):
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_attention_unscaled():
    Q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    K = np.array([[1.0, 0.5], [0.0, 1.0], [-1.0, 0.5]])
    item = check(ATT, "C.weights", answer_text(_softmax(Q @ K.T, -1)))
    assert ids(item) == ["attention-unscaled"]


def test_softmax_axis():
    Q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    K = np.array([[1.0, 0.5], [0.0, 1.0], [-1.0, 0.5]])
    item = check(ATT, "C.weights", answer_text(_softmax(Q @ K.T / math.sqrt(2), 0)))
    assert ids(item) == ["softmax-axis"]


GRU = """
nnlab: 1
title: gru
values:
  x: [1.0, -1.0, 0.5]
  h: [0.5, -0.5]
  P:
    W_ir: [[0.1, 0.2, -0.1], [0.0, -0.3, 0.4]]
    W_hr: [[0.5, -0.2], [0.3, 0.1]]
    W_iz: [[-0.2, 0.1, 0.3], [0.4, 0.0, -0.1]]
    W_hz: [[0.2, 0.4], [-0.5, 0.3]]
    W_in: [[0.3, -0.4, 0.2], [0.1, 0.5, -0.2]]
    W_hn: [[-0.3, 0.6], [0.4, -0.1]]
compute:
  - h1 = gru_cell(x, h, P{args})
"""


def test_gru_update_swapped():
    text = GRU.format(args="")
    z, n, h = value(text, "h1.z"), value(text, "h1.n"), np.array([0.5, -0.5])
    item = check(text, "h1", answer_text(z * n + (1 - z) * h))
    assert ids(item) == ["gru-update-swapped"]


def test_gru_reset_variant():
    wrong = value(GRU.format(args=", variant='reset_before'"), "h1")
    item = check(GRU.format(args=""), "h1", answer_text(wrong))
    assert ids(item) == ["gru-reset-variant"]


def test_step_at_zero_forward():
    text = """
    nnlab: 1
    title: step
    values: {w: [0.5, -0.5], x: [1, 1], b: 0}
    compute:
      - z = w @ x + b
      - o = step(z)
    """
    item = check(text, "o", "1")
    assert ids(item) == ["step-at-zero"]


def test_avgpool_count_pad():
    text = """
    nnlab: 1
    title: avg
    values:
      X: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    compute:
      - Y = avgpool2d(X, size=2, stride=2, padding=1{args})
    """
    wrong = value(textwrap.dedent(text).format(args=", count_include_pad=False"), "Y")
    item = check(textwrap.dedent(text).format(args=""), "Y", answer_text(wrong))
    assert "avgpool-count-pad" in ids(item)


def test_every_id_has_a_test_here():
    from pathlib import Path

    here = Path(__file__).parent
    source = (here / "test_catalog.py").read_text() + (here / "test_follow_through.py").read_text()
    missing = [i for i in CATALOG if f'"{i}"' not in source]
    assert missing == []


@pytest.mark.parametrize("which", ["mlp", "conv", "gd", "and", "gru", "att", "bce"])
def test_a_random_wrong_answer_gets_no_diagnosis(which):
    """Far-off random answers (independent per answer) are never explained by a guess."""
    rng = np.random.default_rng(7)
    text, refs = {
        "mlp": (MLP, ["z1", "a1", "z2", "yhat", "loss", "grad(z2)", "grad(W1)", "grad(b1)"]),
        "conv": (conv(", stride=2, padding=1"), ["Y", "shape(Y)"]),
        "gd": (GD, ["epoch(1).w", "epoch(1).b", "epoch(0).grad(w)", "epoch(2).yhat"]),
        "and": (AND, ["epoch(1).w", "epoch(2).b", "z"]),
        "gru": (GRU.format(args=""), ["h1", "h1.z", "h1.n"]),
        "att": (ATT, ["C", "C.weights", "C.scores"]),
        "bce": (BCE, ["loss", "grad(z)"]),
    }[which]
    lines = []
    for ref in refs:
        true = np.asarray(value(text, ref), dtype=float)
        wrong = true + rng.uniform(0.3, 3.0, size=true.shape) * rng.choice([-1, 1], size=true.shape) + 0.123
        lines.append(f"  {ref}: {answer_text(wrong)}")
    report = check(textwrap.dedent(text) + "expect:\n" + "\n".join(lines) + "\n")
    assert [(i.ref, ids(i)) for i in report.items if i.diagnosis] == []
    assert all(not i.ok for i in report.items)


PARAMS = """
nnlab: 1
title: params
values:
  x: [0.5, -1.0]
  W1: {shape: [4, 2], init: ones}
  b1: {shape: [4], init: zeros}
  W2: {shape: [3, 4], init: ones}
  b2: {shape: [3], init: zeros}
learn: [W1, b1, W2, b2]
compute:
  - h = sigmoid(W1 @ x + b1)
  - f = W2 @ h + b2
"""


def test_shapes_and_counts_without_running():
    assert ids(check(PARAMS, "params", "20")) == ["bias-missing"]              # 4·2 + 3·4
    assert ids(check(PARAMS, "size(W2) + size(b2)", "12")) == ["bias-missing"]
    assert ids(check(PARAMS, "shape(W1)", "2x4")) == ["weights-transposed"]   # (in, out) instead of (out, in)
    assert ids(check(PARAMS, "params", "22")) == []                            # nothing gives 22


def test_sum_vs_mean_in_the_reference():
    total = float(np.sum(value(GD, "epoch(0).loss")))
    assert "sum-vs-mean" in ids(check(GD, "mean(epoch(0).loss)", answer_text(total)))
