"""The engine end to end on the lecture's worked numbers, traces and explanations."""

import numpy as np
import pytest

from nnlab.engine.explain import explain
from nnlab.errors import NnlabError
from tests.helpers import check_yaml, run_yaml

TWO_LAYER = """
nnlab: 1
title: two-layer
values:
  x: [1.0, 2.0]
  W1: [[0.1, -0.2], [0.3, 0.4]]
  b1: [0.0, 0.1]
  w2: [0.5, -0.6]
  b2: 0.2
  y: 1
compute:
  - z1 = W1 @ x + b1
  - a1 = sigmoid(z1)
  - z2 = w2 @ a1 + b2
  - yhat = sigmoid(z2)
  - loss = bce(yhat, y)
backward: loss
"""


def _sig(z):
    return 1 / (1 + np.exp(-z))


def test_two_layer_backprop_matches_hand_chain_rule():
    run = run_yaml(TWO_LAYER)
    x, W1, b1, w2, b2, y = np.array([1.0, 2.0]), np.array([[0.1, -0.2], [0.3, 0.4]]), np.array([0, 0.1]), \
        np.array([0.5, -0.6]), 0.2, 1.0
    a1 = _sig(W1 @ x + b1)
    yhat = _sig(w2 @ a1 + b2)
    # The lecture: dl/dw11(1) = (yhat - y) w11(2) a11 (1 - a11) x1
    d_w1 = np.outer((yhat - y) * w2 * a1 * (1 - a1), x)
    assert run.value("yhat") == pytest.approx(yhat, rel=1e-14)
    np.testing.assert_allclose(run.grad("W1"), d_w1, rtol=1e-12)
    assert run.grad("z2") == pytest.approx(yhat - y, rel=1e-12)
    np.testing.assert_allclose(run.grad("w2"), (yhat - y) * a1, rtol=1e-12)


def test_trace_forward_then_backward_in_reverse():
    run = run_yaml(TWO_LAYER)
    phases = [s.phase for s in run.steps]
    assert phases == ["forward"] * 5 + ["backward"] * 5
    fwd = [s.node for s in run.steps if s.phase == "forward"]
    bwd = [s.node for s in run.steps if s.phase == "backward"]
    assert bwd == fwd[::-1]
    # `W @ x + b` is one affine step, explained the way it is written by hand
    assert run.steps[0].label == "z1 = W1 @ x + b1" and run.steps[0].op == "affine"
    assert explain(run, run.steps[0], (0,)).text == "z1[0] = 0.1×1 + (-0.2)×2 + 0 = -0.3"


def test_explain_backward_upstream_times_local():
    run = run_yaml(TWO_LAYER)
    step = next(s for s in run.steps if s.phase == "backward" and s.node == "z2")  # w2 @ a1 + b2
    ex = explain(run, step, (0,), slot=1)  # into a1[0]
    g = run.grad("z2")
    assert ex.lhs == "∂loss/∂a1[0]"
    assert ex.arithmetic == f"({g:.4f})·0.5"
    assert ex.value == pytest.approx(g * 0.5)


def test_gradients_accumulate_when_a_node_is_reused():
    run = run_yaml("""
    nnlab: 1
    title: reuse
    values: {a: 3.0}
    compute:
      - b = a * a
      - c = b + a
    backward: c
    """)
    assert run.grad("a") == pytest.approx(2 * 3.0 + 1)
    mul = next(s for s in run.steps if s.phase == "backward" and s.node == "b")
    add = next(s for s in run.steps if s.phase == "backward" and s.node == "c")
    # a is used 3 times (twice by *, once by +); the steps say which contribution each is.
    assert add.accumulates[1] == (1, 3)
    assert mul.accumulates == ((2, 3), (3, 3))
    ex = explain(run, mul, (), slot=0)
    assert "used 3 times" in ex.note


LECTURE_CONV = """
nnlab: 1
title: conv
values:
  X: [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
  K: [[0, 1], [2, 3]]
compute:
  - Y = conv2d(X, K)
  - Yb = conv2d(X, K, b=1)
  - P = maxpool2d(X, 2, stride=1)
  - A = avgpool2d(X, 2, stride=1)
expect:
  Y: [[19, 25], [37, 43]]
  Yb: [[20, 26], [38, 44]]
  P: [[4, 5], [7, 8]]
  A: [[2, 3], [5, 6]]
"""


def test_lecture_convolution_numbers():
    report = check_yaml(LECTURE_CONV)
    assert report.ok, [(i.ref, i.actual) for i in report.items if not i.ok]
    run = run_yaml(LECTURE_CONV)
    ex = explain(run, run.step_of("Y"), (0, 0))
    assert ex.arithmetic == "0×0 + 1×1 + 3×2 + 4×3"
    assert ex.text.endswith("= 19")
    ex = explain(run, run.step_of("P"), (0, 0))
    assert ex.arithmetic == "max(0, 1, 3, 4)" and ex.value == 4


def test_lecture_multichannel_stride_and_shape_quiz():
    run = run_yaml("""
    nnlab: 1
    title: conv
    values:
      X2: [[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]]
      K2: [[[0, 1], [2, 3]], [[1, 2], [3, 4]]]
      X: {shape: [3, 3], init: range}
      K: {shape: [2, 2], init: range}
      Q: {shape: [9, 13]}
      Kq: {shape: [3, 3]}
    compute:
      - Y2 = conv2d(X2, K2)
      - S = conv2d(X, K, stride=[3, 2], padding=1)
      - total = conv2d(Q, Kq, stride=2, padding_total=2)
      - side = conv2d(Q, Kq, stride=2, padding=2)
    """)
    assert run.value("Y2")[0, 0] == 56
    assert run.value("S").tolist() == [[0, 8], [6, 8]]
    assert run.value("total").shape == (5, 7)
    assert run.value("side").shape == (6, 8)


def test_parameter_counts():
    report = check_yaml("""
    nnlab: 1
    title: params
    values:
      x: [0.5, -0.5]
      W1: {shape: [1024, 2]}
      b1: {shape: [1024]}
      W2: {shape: [512, 1024]}
      b2: {shape: [512]}
      W3: {shape: [3, 512]}
      b3: {shape: [3]}
    learn: [W1, b1, W2, b2, W3, b3]
    compute:
      - h1 = sigmoid(W1 @ x + b1)
      - h2 = sigmoid(W2 @ h1 + b2)
      - p = softmax(W3 @ h2 + b3)
    expect:
      params: 529411
      size(W2): 524288
      shape(W3): [3, 512]
    """)
    assert report.ok, [(i.ref, i.actual, i.error) for i in report.items]


def test_bce_quiz_sigma_2_minus_1():
    report = check_yaml("""
    nnlab: 1
    title: quiz
    values: {z: 2.0, y: 1}
    compute:
      - yhat = sigmoid(z)
      - loss = bce(yhat, y)
    backward: loss
    expect:
      grad(z): 'sigmoid(2) - 1'
      grad(z) - (sigmoid(2) - 1): 0
    """)
    assert report.ok, [(i.ref, i.actual, i.error) for i in report.items]


def test_attention_composite_names_and_mask():
    run = run_yaml("""
    nnlab: 1
    title: attention
    values:
      Q: [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
      K: [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
      V: [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    compute:
      - C = attention(Q, K, V, mask='causal')
      - s = sum(C)
    backward: s
    """)
    Q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    scores = Q @ Q.T / np.sqrt(2)
    np.testing.assert_allclose(run.value("C.scores"), scores)
    w = run.value("C.weights")
    assert w[0, 1] == 0 and w[0, 2] == 0 and w[1, 2] == 0
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(run.value("C"), w @ np.array([[1, 2], [3, 4], [5, 6.0]]))


def _gru_values():
    rng = np.random.default_rng(1)
    P = {n: rng.normal(size=(3, 2)).round(2).tolist() for n in ("W_ir", "W_iz", "W_in")}
    P.update({n: rng.normal(size=(3, 3)).round(2).tolist() for n in ("W_hr", "W_hz", "W_hn")})
    P.update({n: rng.normal(size=3).round(2).tolist() for n in ("b_ir", "b_hr", "b_iz", "b_hz", "b_in", "b_hn")})
    return P


@pytest.mark.parametrize("variant", ["reset_after", "reset_before"])
def test_gru_cell_both_variants(variant):
    P = _gru_values()
    import json

    run = run_yaml(f"""
    nnlab: 1
    title: gru
    values:
      x: [0.5, -1.0]
      h0: [0.1, 0.2, -0.3]
      P: {json.dumps(P)}
    compute:
      - h1 = gru_cell(x, h0, P, variant='{variant}')
    """)
    p = {k: np.array(v) for k, v in P.items()}
    x, h = np.array([0.5, -1.0]), np.array([0.1, 0.2, -0.3])
    r = _sig(p["W_ir"] @ x + p["b_ir"] + p["W_hr"] @ h + p["b_hr"])
    z = _sig(p["W_iz"] @ x + p["b_iz"] + p["W_hz"] @ h + p["b_hz"])
    if variant == "reset_after":
        n = np.tanh(p["W_in"] @ x + p["b_in"] + r * (p["W_hn"] @ h + p["b_hn"]))
    else:
        n = np.tanh(p["W_in"] @ x + p["b_in"] + p["W_hn"] @ (r * h) + p["b_hn"])
    np.testing.assert_allclose(run.value("h1.r"), r, rtol=1e-12)
    np.testing.assert_allclose(run.value("h1.n"), n, rtol=1e-12)
    np.testing.assert_allclose(run.value("h1"), z * h + (1 - z) * n, rtol=1e-12)


def test_step_at_zero_option_and_exact_decimals():
    run = run_yaml("""
    nnlab: 1
    title: step
    values: {w: [0.1, 0.2], x: [1, 1], b: -0.3}
    compute:
      - z = w @ x + b
      - y = step(z)
    """)
    # 0.1 + 0.2 - 0.3 is exactly 0 by hand, 5.55e-17 in float64
    assert run.arithmetic == "exact"
    assert run.value("z") == 0.0 and run.value("y") == 0.0
    run = run_yaml("""
    nnlab: 1
    title: step
    values: {w: [0.1, 0.2], x: [1, 1], b: -0.3}
    options: {step_at_zero: 1, arithmetic: float}
    compute:
      - z = w @ x + b
      - y = step(z)
    """)
    assert run.arithmetic == "float64" and run.value("z") != 0.0


def test_nan_is_reported_at_its_step():
    with pytest.raises(NnlabError) as info:
        run_yaml("""
        nnlab: 1
        title: nan
        values: {x: [1.0, 0.0]}
        compute:
          - a = x * 2
          - b = log(x)
        """)
    assert "step 2" in info.value.message and "b = log(x)" in info.value.message
    assert info.value.loc.line == 7


@pytest.mark.parametrize("shape", [(7,), (3, 5), (1, 64, 64)])
def test_finite_check_finds_every_nan_and_inf(shape):
    from nnlab.engine.run import _finite

    a = np.random.default_rng(0).normal(size=shape)
    assert _finite(a) and _finite(a.T) and _finite(a * 1e200)   # huge but finite: no false alarm
    for bad in (np.nan, np.inf, -np.inf):
        for pos in (0, a.size // 2, a.size - 1):
            b = a.copy()
            b.flat[pos] = bad
            assert not _finite(b) and not _finite(b.T)
    c = a.copy()
    c.flat[0], c.flat[-1] = np.inf, -np.inf            # inf − inf would cancel to nan in a plain sum
    assert not _finite(c)
