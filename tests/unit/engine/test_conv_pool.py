"""conv2d, maxpool2d and avgpool2d: the lecture's numbers, finite differences, PyTorch.

Every op is checked three ways: the worked examples of the lecture (exact values and
the arithmetic strings students see), central differences over many shapes and
settings (batch-first, float64), and — when installed — PyTorch in float64.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnlab.engine.ops.base import REGISTRY, Op, ShapeError
from nnlab.engine.ops.conv import Conv2d
from nnlab.engine.ops.pool import AvgPool2d, MaxPool2d
from nnlab.engine.trace import Use
from tests.unit.engine.gradcheck import check_op

R3 = np.arange(9.0).reshape(3, 3)
K2 = np.arange(4.0).reshape(2, 2)
X_2CH = np.array([[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]], float)
K_2CH = np.array([[[0, 1], [2, 3]], [[1, 2], [3, 4]]], float)


def run(cls, *xs, **params):
    """Forward on per-example inputs (a batch axis of 1 is added); returns op and Y."""
    op = cls(**params)
    out = op.forward(*[None if x is None else np.asarray(x, float)[None] for x in xs])
    return op, out[0]


def explain(cls, index, *xs, **params):
    op, y = run(cls, *xs, **params)
    names = ["X", "K", "b"][:len(xs)]
    return op.explain(index, [None if x is None else np.asarray(x, float) for x in xs],
                      y, names, "Y", 4)


# ------------------------------------------------------------------ lecture numbers


def test_registered_by_name():
    assert REGISTRY["conv2d"] is Conv2d
    assert REGISTRY["maxpool2d"] is MaxPool2d
    assert REGISTRY["avgpool2d"] is AvgPool2d


def test_lecture_convolution():
    np.testing.assert_array_equal(run(Conv2d, R3, K2)[1], [[19, 25], [37, 43]])


def test_lecture_convolution_layer_with_bias():
    np.testing.assert_array_equal(run(Conv2d, R3, K2, np.array(1.0))[1], [[20, 26], [38, 44]])
    np.testing.assert_array_equal(run(Conv2d, R3, K2, np.array([1.0]))[1], [[20, 26], [38, 44]])


def test_lecture_multiple_input_channels():
    np.testing.assert_array_equal(run(Conv2d, X_2CH, K_2CH)[1], [[56, 72], [104, 120]])


def test_multiple_filters_stack_output_channels():
    k = np.stack([K_2CH, K_2CH + 1])                      # (F=2, C=2, 2, 2)
    y = run(Conv2d, X_2CH, k, np.array([0.0, 1.0]))[1]
    np.testing.assert_array_equal(y[0], [[56, 72], [104, 120]])
    # K + 1 adds each 2×2×2 window's sum (0+1+3+4 + 1+2+4+5 = 20), then the bias 1.
    np.testing.assert_array_equal(y[1], [[77, 101], [149, 173]])
    assert Conv2d().infer((3, 3), (4, 1, 2, 2), (4,)) == (4, 2, 2)   # 2-D X, C = 1


def test_lecture_stride_and_padding():
    np.testing.assert_array_equal(run(Conv2d, R3, K2, stride=[3, 2], padding=1)[1],
                                  [[0, 8], [6, 8]])


def test_lecture_pooling():
    np.testing.assert_array_equal(run(MaxPool2d, R3, size=2, stride=1)[1], [[4, 5], [7, 8]])
    np.testing.assert_array_equal(run(AvgPool2d, R3, size=2, stride=1)[1], [[2, 3], [5, 6]])


def test_quiz_padding_total_versus_per_side():
    assert Conv2d(stride=2, padding_total=2).infer((9, 13), (3, 3)) == (5, 7)
    assert Conv2d(stride=2, padding=2).infer((9, 13), (3, 3)) == (6, 8)
    assert Conv2d(stride=2, padding=2).shape_rule((9, 13), (3, 3)) == (
        "OH = ⌊(H + 2p − kh)/s⌋ + 1 = ⌊(9 + 2·2 − 3)/2⌋ + 1 = 6; "
        "OW = ⌊(W + 2p − kw)/s⌋ + 1 = ⌊(13 + 2·2 − 3)/2⌋ + 1 = 8")
    assert Conv2d(stride=2, padding_total=2).shape_rule((9, 13), (3, 3)) == (
        "OH = ⌊(H − kh + p_h + s)/s⌋ = ⌊(9 − 3 + 2 + 2)/2⌋ = 5; "
        "OW = ⌊(W − kw + p_w + s)/s⌋ = ⌊(13 − 3 + 2 + 2)/2⌋ = 7")
    assert run(Conv2d, np.ones((9, 13)), np.ones((3, 3)), stride=2, padding_total=2)[1].shape == (5, 7)


def test_odd_padding_total_puts_the_extra_row_on_top():
    # Padded input: one zero row on top, one zero column on the left, none after.
    y = run(Conv2d, R3, np.array([[0.0, 0.0], [0.0, 1.0]]), padding_total=1)[1]
    np.testing.assert_array_equal(y, R3)
    y = run(Conv2d, R3, np.array([[1.0, 0.0], [0.0, 0.0]]), padding_total=1)[1]
    np.testing.assert_array_equal(y, [[0, 0, 0], [0, 0, 1], [0, 3, 4]])


def test_pool_shapes_follow_pytorch():
    assert MaxPool2d(size=2).infer((96, 55, 55)) == (96, 27, 27)
    assert AvgPool2d(size=3, stride=2, padding=1).infer((5, 5)) == (3, 3)
    assert MaxPool2d(size=[2, 3], stride=[1, 2]).infer((4, 7)) == (3, 3)


# --------------------------------------------------------------------- explanations


def test_explain_lecture_convolution():
    e = explain(Conv2d, (0, 0), R3, K2)
    assert (e.lhs, e.arithmetic, e.value) == ("Y[0,0]", "0×0 + 1×1 + 3×2 + 4×3", 19)
    assert e.formula == "Y[i,j] = Σₐ,ᵦ X[i+a, j+b]·K[a,b]"
    assert [u.index for u in e.uses if u.slot == 0] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert {u.role for u in e.uses if u.slot == 0} == {"used"}
    assert [(u.index, u.role) for u in e.uses if u.slot == 1] == [
        ((0, 0), "weight"), ((0, 1), "weight"), ((1, 0), "weight"), ((1, 1), "weight")]
    assert e.pads == ((0, ((0, 0), (0, 0))),)
    assert e.text == "Y[0,0] = 0×0 + 1×1 + 3×2 + 4×3 = 19"


def test_explain_bias_and_channels():
    e = explain(Conv2d, (1, 1), R3, K2, np.array(1.0))
    assert (e.arithmetic, e.value) == ("4×0 + 5×1 + 7×2 + 8×3 + 1", 44)
    assert e.uses[-1].slot == 2 and e.uses[-1].index == ()
    e = explain(Conv2d, (0, 0), X_2CH, K_2CH)
    assert e.arithmetic == "(0×0 + 1×1 + 3×2 + 4×3) + (1×1 + 2×2 + 4×3 + 5×4)"
    assert e.value == 56
    assert [u.index for u in e.uses if u.slot == 0][4:] == [(1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)]
    f = explain(Conv2d, (1, 0, 1), X_2CH, np.stack([K_2CH, -K_2CH]), np.array([0.5, -2.0]))
    assert f.arithmetic.endswith(" + (-2)")
    assert "×(-1)" in f.arithmetic and f.value == -72 - 2
    assert f.formula == "Y[f,i,j] = Σ_c Σₐ,ᵦ X[c, i+a, j+b]·K[f,c,a,b] + b[f]"


def test_explain_stride_and_padding():
    e = explain(Conv2d, (0, 1), R3, K2, stride=[3, 2], padding=1)
    assert (e.arithmetic, e.value) == ("0×0 + 0×1 + 1×2 + 2×3", 8)
    assert [(u.index, u.role) for u in e.uses if u.slot == 0] == [
        ((0, 2), "padding"), ((0, 3), "padding"), ((1, 2), "used"), ((1, 3), "used")]
    assert e.pads == ((0, ((1, 1), (1, 1))),)
    assert "2 of the 4" in e.note
    assert e.formula == "Y[i,j] = Σₐ,ᵦ X[3i+a−1, 2j+b−1]·K[a,b]"
    e = explain(Conv2d, (1, 0), R3, K2, stride=[3, 2], padding=1)
    assert (e.arithmetic, e.value) == ("0×0 + 6×1 + 0×2 + 0×3", 6)


def test_explain_pools():
    e = explain(MaxPool2d, (0, 0), R3, size=2, stride=1)
    assert (e.arithmetic, e.value) == ("max(0, 1, 3, 4)", 4)
    assert [u.role for u in e.uses] == ["used", "used", "used", "argmax"]
    e = explain(AvgPool2d, (0, 0), R3, size=2, stride=1)
    assert (e.arithmetic, e.value) == ("(0 + 1 + 3 + 4)/4", 2)
    e = explain(MaxPool2d, (0, 0), -R3, size=3, stride=2, padding=1)
    assert e.arithmetic == "max(0, -1, -3, -4)"
    assert [u.role for u in e.uses].count("padding") == 5
    assert e.uses[4] == Use(0, (1, 1), "argmax")
    e = explain(AvgPool2d, (0, 0), R3 + 1, size=3, stride=2, padding=1)
    assert (e.arithmetic, e.value) == ("(0 + 0 + 0 + 0 + 1 + 2 + 0 + 4 + 5)/9", 12 / 9)
    e = explain(AvgPool2d, (0, 0), R3 + 1, size=3, stride=2, padding=1, count_include_pad=False)
    assert (e.arithmetic, e.value) == ("(1 + 2 + 4 + 5)/4", 3)


def test_explain_max_tie_names_the_first():
    x = np.array([[1.0, 5.0], [5.0, 2.0]])
    e = explain(MaxPool2d, (0, 0), x, size=2)
    assert [u.role for u in e.uses] == ["used", "argmax", "used", "used"]
    assert "tie" in e.note


# ------------------------------------------------------------------------- errors


@pytest.mark.parametrize("shapes, params, words", [
    (((3, 9, 9), (2, 3, 3)), {}, ["channel", "(3, 9, 9)", "(2, 3, 3)", "conv2d"]),
    (((3, 9, 9), (4, 3, 3, 3), (3,)), {}, ["bias", "(4, 3, 3, 3)", "(3,)"]),
    (((9, 9), (3, 3), (2,)), {}, ["bias", "(2,)"]),
    (((3, 3), (4, 4)), {}, ["larger", "(3, 3)", "(4, 4)", "conv2d"]),
    (((3, 3), (4, 4)), {"padding": 1}, None),                       # fits once padded
    (((9,), (3, 3)), {}, ["(H, W)"]),
    (((9, 9), (1, 1, 1, 3, 3)), {}, ["(F, C, kh, kw)"]),
    (((9, 9), (3, 3)), {"stride": 0}, ["stride"]),
    (((9, 9), (3, 3)), {"stride": [1, 2, 3]}, ["stride"]),
    (((9, 9), (3, 3)), {"padding": -1}, ["padding"]),
    (((9, 9), (3, 3)), {"padding": 1.5}, ["padding"]),
    (((9, 9), (3, 3)), {"padding": 1, "padding_total": 2}, ["padding_total"]),
    (((9, 9), (3, 3)), {"padding": [1, 1, 1]}, ["padding", "[[top, bottom], [left, right]]"]),
    (((9, 9), (3, 3)), {"padding": "full"}, ["padding", "'same'"]),
])
def test_conv_shape_errors(shapes, params, words):
    op = Conv2d(**params)
    if words is None:
        assert op.infer(*shapes) == (2, 2)
        return
    with pytest.raises(ShapeError) as err:
        op.infer(*shapes)
    for w in words:
        assert w in err.value.message + err.value.hint
    assert err.value.hint


def test_pool_shape_errors():
    with pytest.raises(ShapeError, match="larger"):
        MaxPool2d(size=4).infer((3, 3))
    with pytest.raises(ShapeError, match="half"):
        AvgPool2d(size=2, padding=2).infer((5, 5))
    with pytest.raises(ShapeError, match="size"):
        MaxPool2d(size=0).infer((5, 5))


def test_kernel_must_not_depend_on_the_example():
    with pytest.raises(ShapeError, match="must not depend on the data"):
        Conv2d().forward(np.zeros((2, 3, 3)), np.zeros((2, 2, 2)))


# --------------------------------------------------------------- finite differences

RNG = np.random.default_rng(42)

CONV_CASES = [  # (X shape, K shape, b shape or None, params)
    ((5, 6), (2, 3), None, {}),
    ((5, 6), (3, 3), (), {"padding": 1}),
    ((5, 6), (2, 3), (1,), {"stride": 2, "padding": [1, 2]}),
    ((6, 7), (2, 2), None, {"stride": [3, 2], "padding": 1}),
    ((2, 5, 6), (2, 3, 2), (), {}),
    ((2, 5, 6), (2, 2, 3, 3), (2,), {"stride": 2, "padding_total": 3}),
    ((3, 6, 5), (4, 3, 2, 2), (4,), {"stride": [3, 2], "padding_total": [2, 1]}),
    ((5, 5), (3, 1, 3, 3), (3,), {"padding": [1, 2]}),
    ((1, 4, 4), (2, 2), None, {"stride": [1, 2]}),
]


@pytest.mark.parametrize("xs, ks, bs, params", CONV_CASES)
def test_conv_gradcheck(xs, ks, bs, params):
    b = None if bs is None else RNG.normal(size=bs)
    check_op(Conv2d, [RNG.normal(size=xs), RNG.normal(size=ks), b], **params)


@pytest.mark.parametrize("xs, ks, bs, params", CONV_CASES[3:7])
def test_conv_gradcheck_batched(xs, ks, bs, params):
    b = None if bs is None else RNG.normal(size=(1, *bs))
    check_op(Conv2d, [RNG.normal(size=(3, *xs)), RNG.normal(size=(1, *ks)), b],
             batched=True, **params)


POOL_CASES = [
    ((6, 7), {"size": 2}),
    ((2, 6, 7), {"size": 3, "stride": 2, "padding": 1}),
    ((2, 5, 6), {"size": [2, 3], "stride": [1, 2], "padding": [1, 1]}),
    ((5, 5), {"size": 3, "stride": 1}),
]


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
@pytest.mark.parametrize("xs, params", POOL_CASES)
def test_pool_gradcheck(cls, xs, params):
    check_op(cls, [RNG.normal(size=xs)], **params)
    check_op(cls, [RNG.normal(size=(3, *xs))], batched=True, **params)


def test_avgpool_gradcheck_without_padding_count():
    check_op(AvgPool2d, [RNG.normal(size=(2, 5, 6))], size=3, stride=2, padding=1,
             count_include_pad=False)


def test_maxpool_tie_sends_the_gradient_to_the_first_maximum():
    x = np.array([[1.0, 5.0, 7.0, 7.0], [5.0, 2.0, 7.0, 7.0]])[None]
    op = MaxPool2d(size=2)
    np.testing.assert_array_equal(op.forward(x), [[[5, 7]]])
    (gx,) = op.backward(np.array([[[10.0, 20.0]]]))
    np.testing.assert_array_equal(gx, [[[0, 10, 20, 0], [0, 0, 0, 0]]])
    # Overlapping windows: the shared maximum collects from every window it wins.
    op = MaxPool2d(size=2, stride=1)
    y = op.forward(np.array([[[3.0, 3.0, 3.0], [3.0, 3.0, 3.0]]]))
    (gx,) = op.backward(np.ones_like(y))
    np.testing.assert_array_equal(gx, [[[1, 1, 0], [0, 0, 0]]])


def test_needs_skips_unneeded_gradients():
    op = Conv2d()
    op.forward(RNG.normal(size=(1, 4, 4)), RNG.normal(size=(1, 2, 2)), RNG.normal(size=(1,)))
    op.needs = (False, True, True)
    gx, gk, gb = op.backward(np.ones((1, 3, 3)))
    assert gx is None and gk.shape == (1, 2, 2) and gb.shape == (1,)


# ------------------------------------------------------------ dependents and local


def forward_for_local(cls, xs, **params):
    op = cls(**params)
    xs = [None if x is None else np.asarray(x, float) for x in xs]
    out = op.forward(*xs)
    op.out_shape = out.shape
    op.in_shapes = [None if x is None else x.shape for x in xs]
    return op, xs, out


def check_local(op, xs, out, exact=True):
    """Closed-form local == one-hot VJP; dependents == the non-zero outputs (per example)."""
    for k, x in enumerate(xs):
        if x is None:
            continue
        for in_idx in itertools.product(*map(range, x.shape)):
            for n in range(out.shape[0]):
                nonzero = set()
                for pe in itertools.product(*map(range, out.shape[1:])):
                    got = op.local(k, (n, *pe), in_idx)
                    want = Op.local(op, k, (n, *pe), in_idx)
                    assert got == pytest.approx(want, abs=1e-12), (k, (n, *pe), in_idx)
                    if want != 0:
                        nonzero.add(pe)
                if x.shape[0] > 1 and in_idx[0] != n:
                    assert not nonzero
                    continue
                deps = set(op.dependents(k, in_idx[1:], out.shape[1:]))
                if exact:
                    assert deps == nonzero, (k, in_idx)
                else:
                    assert nonzero <= deps, (k, in_idx)


@pytest.mark.parametrize("xs, ks, bs, params", [
    ((4, 5), (2, 3), (), {"stride": [1, 2]}),
    ((2, 4, 4), (2, 2, 2, 2), (2,), {"stride": [2, 1], "padding_total": 1}),
    ((3, 3), (2, 2), (1,), {"stride": [3, 2], "padding": 1}),
    ((2, 3, 3), (2, 2, 2), None, {"padding": [0, 1]}),
])
def test_conv_local_and_dependents(xs, ks, bs, params):
    inputs = [RNG.normal(size=(2, *xs)), RNG.normal(size=(1, *ks)),
              None if bs is None else RNG.normal(size=(1, *bs))]
    op, xs_, out = forward_for_local(Conv2d, inputs, **params)
    check_local(op, xs_, out)


@pytest.mark.parametrize("params", [
    {"size": 2, "stride": 1}, {"size": 3, "stride": 2, "padding": 1},
    {"size": [2, 3], "stride": [2, 1], "padding": [1, 0]},
])
def test_pool_local_and_dependents(params):
    x = RNG.normal(size=(2, 2, 4, 5))
    op, xs, out = forward_for_local(AvgPool2d, [x], **params)
    check_local(op, xs, out)
    op, xs, out = forward_for_local(AvgPool2d, [x], count_include_pad=False, **params)
    check_local(op, xs, out)
    op, xs, out = forward_for_local(MaxPool2d, [x], **params)
    check_local(op, xs, out, exact=False)   # dependents: covering windows; non-zero: winners


def test_maxpool_local_is_one_only_at_the_winner():
    x = np.array([[[1.0, 5.0, 7.0], [5.0, 2.0, 0.0]]])
    op, xs, out = forward_for_local(MaxPool2d, [x], size=2, stride=1)
    assert op.dependents(0, (0, 1), out.shape[1:]) == [(0, 0), (0, 1)]
    assert op.local(0, (0, 0, 0), (0, 0, 1)) == 1.0     # 5 wins the left window (first 5)
    assert op.local(0, (0, 0, 0), (0, 1, 0)) == 0.0     # the tied 5 below does not
    assert op.local(0, (0, 0, 1), (0, 0, 1)) == 0.0     # 7 wins the right window


# --------------------------------------------------------------------------- torch


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(7)

    def grads(fn, *arrays):
        ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
        y = fn(*ts)
        g = rng.normal(size=tuple(y.shape))
        y.backward(torch.tensor(g))
        return y.detach().numpy(), g, [t.grad.numpy() for t in ts]

    for stride, padding in [(1, 0), (2, 1), ([3, 2], [1, 2])]:
        x, k, b = rng.normal(size=(3, 2, 9, 8)), rng.normal(size=(4, 2, 3, 3)), rng.normal(size=4)
        y_t, g, (gx_t, gk_t, gb_t) = grads(
            lambda x, k, b: F.conv2d(x, k, b, stride=stride, padding=padding), x, k, b)
        op = Conv2d(stride=stride, padding=padding)
        np.testing.assert_allclose(op.forward(x, k[None], b[None]), y_t, rtol=1e-12, atol=1e-12)
        gx, gk, gb = op.backward(g)
        np.testing.assert_allclose(gx, gx_t, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gk[0], gk_t, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gb[0], gb_t, rtol=1e-12, atol=1e-12)

    x = rng.normal(size=(2, 3, 9, 8))
    for size, stride, padding in [(2, None, 0), (3, 2, 1), ([2, 3], [1, 2], [1, 1])]:
        for cls, fn in [(MaxPool2d, F.max_pool2d), (AvgPool2d, F.avg_pool2d)]:
            y_t, g, (gx_t,) = grads(lambda x: fn(x, size, stride, padding), x)
            op = cls(size=size, stride=stride, padding=padding)
            np.testing.assert_allclose(op.forward(x), y_t, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(op.backward(g)[0], gx_t, rtol=1e-12, atol=1e-12)
    y_t, g, (gx_t,) = grads(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), x)
    op = AvgPool2d(size=3, stride=2, padding=1, count_include_pad=False)
    np.testing.assert_allclose(op.forward(x), y_t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op.backward(g)[0], gx_t, rtol=1e-12, atol=1e-12)


def test_padding_total_against_pytorch_pad():
    torch = pytest.importorskip("torch")
    x, k = np.random.default_rng(3).normal(size=(2, 1, 6, 7)), np.ones((1, 1, 3, 3))
    # padding_total=[3, 1]: 2 rows on top, 1 below, 1 column on the left, 0 on the right.
    want = torch.nn.functional.conv2d(torch.nn.functional.pad(torch.tensor(x), (1, 0, 2, 1)),
                                      torch.tensor(k), stride=2).numpy()
    got = Conv2d(stride=2, padding_total=[3, 1]).forward(x, k[None])
    np.testing.assert_allclose(got, want, rtol=1e-12)
