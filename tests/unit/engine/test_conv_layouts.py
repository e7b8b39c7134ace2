"""conv1d, a batch axis and channels-last layout for conv2d and pooling, every padding
form, ``pad``, and the scratch-space budget.

Checked against PyTorch (float64) where it has the op, with central differences over
many shapes (a batch N inside one example, the engine's example axis in front of it,
channels-last), and with hand-computed values.
"""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.engine.ops.base import ShapeError
from nnlab.engine.ops.conv import Conv1d, Conv2d, same_pads
from nnlab.engine.ops.pad import Pad
from nnlab.engine.ops.pool import AvgPool2d, MaxPool2d
from nnlab.limits import set_memory_budget
from tests.unit.engine.gradcheck import check_op
from tests.unit.engine.test_conv_pool import check_local, forward_for_local

RNG = np.random.default_rng(16)


def torch_grads(fn, *arrays, seed=0):
    """``fn`` on float64 leaf tensors, backpropagating a random upstream gradient."""
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    y = fn(*ts)
    g = np.random.default_rng(seed).normal(size=tuple(y.shape))
    y.backward(torch.tensor(g))
    return y.detach().numpy(), g, [t.grad.numpy() for t in ts]


def assert_close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------ shapes


def test_batch_and_channels_last_shapes():
    assert Conv2d().infer((2, 3, 8, 8), (4, 3, 3, 3), (4,)) == (2, 4, 6, 6)
    assert Conv2d().infer((2, 3, 8, 8), (3, 3, 3)) == (2, 6, 6)
    assert Conv2d(layout="hwc").infer((32, 32, 3), (10, 3, 5, 5)) == (28, 28, 10)
    assert Conv2d(layout="hwc").infer((2, 32, 32, 3), (10, 3, 5, 5)) == (2, 28, 28, 10)
    assert Conv2d(layout="hwc").infer((1024, 1024, 3), (40, 3, 3, 3)) == (1022, 1022, 40)
    assert MaxPool2d(size=2).infer((2, 4, 6, 6)) == (2, 4, 3, 3)
    assert AvgPool2d(size=2, layout="hwc").infer((2, 6, 6, 4)) == (2, 3, 3, 4)
    assert Conv1d().infer((10,), (3,)) == (8,)
    assert Conv1d().infer((2, 10), (4, 2, 3), (4,)) == (4, 8)
    assert Conv1d(stride=2, padding="same").infer((3, 2, 9), (4, 2, 3)) == (3, 4, 5)


def test_padding_forms():
    # a 1×1 kernel with padding 2 (PyTorch accepts it; the outer ring is the bias alone)
    assert Conv2d(padding=2).infer((3, 3), (1, 1)) == (7, 7)
    assert Conv2d(padding=[1, 0]).infer((5, 5), (3, 3)) == (5, 3)
    assert Conv2d(padding=[[1, 0], [0, 2]]).infer((5, 5), (3, 3)) == (4, 5)
    assert Conv2d(padding="valid").infer((5, 5), (3, 3)) == (3, 3)
    assert Conv2d(stride=2, padding="same").infer((9, 13), (3, 3)) == (5, 7)
    assert Conv2d(stride=3, padding="same").infer((10, 1), (4, 1)) == (4, 1)
    assert same_pads((8, 8), (3, 3), (2, 2)) == ((0, 1), (0, 1))   # the odd extra at the bottom/right
    assert same_pads((5, 4), (3, 2), (1, 1)) == ((1, 1), (0, 1))
    assert Conv2d(stride=2, padding="same").shape_rule((9, 13), (3, 3)) == (
        "OH = ⌈H/s⌉ = ⌈9/2⌉ = 5 (padding 1 + 1); OW = ⌈W/s⌉ = ⌈13/2⌉ = 7 (padding 1 + 1)")
    assert Conv2d(padding=[[1, 0], [0, 2]]).shape_rule((5, 5), (3, 3)) == (
        "OH = ⌊(H + p_top + p_bottom − kh)/s⌋ + 1 = ⌊(5 + 1 + 0 − 3)/1⌋ + 1 = 4; "
        "OW = ⌊(W + p_left + p_right − kw)/s⌋ + 1 = ⌊(5 + 0 + 2 − 3)/1⌋ + 1 = 5")
    assert Conv1d(padding=[2, 1]).shape_rule((6,), (3,)) == "OL = ⌊(L + p_left + p_right − k)/s⌋ + 1 = ⌊(6 + 2 + 1 − 3)/1⌋ + 1 = 7"
    assert Pad(p=2, layout="hwc").infer((32, 32, 3)) == (36, 36, 3)
    assert Pad(p=[[1, 0], [2, 3]]).infer((2, 3, 4, 5)) == (2, 3, 5, 10)
    assert Pad(p=[1, 2]).infer((4,)) == (7,)
    assert Pad(p=2).shape_rule((3, 32, 32)) == "H′ = H + 2 + 2 = 32 + 2 + 2 = 36; W′ = W + 2 + 2 = 32 + 2 + 2 = 36"


@pytest.mark.parametrize("op, shapes, words", [
    (Conv2d(), ((2, 2, 3, 8, 8), (4, 3, 3, 3)), ["(N, C, H, W)"]),
    (Conv2d(layout="hwc"), ((8, 8, 3), (4, 2, 3, 3)), ["channel", "K expects 2"]),
    (Conv2d(layout="nhwc"), ((8, 8, 3), (4, 3, 3, 3)), ["layout", "'hwc'"]),
    (Conv2d(padding=[[1, 2, 3], [0, 0]]), ((8, 8), (3, 3)), ["padding"]),
    (Conv2d(padding="full"), ((8, 8), (3, 3)), ["'same'"]),
    (Conv2d(padding="same", padding_total=2), ((8, 8), (3, 3)), ["padding_total"]),
    (Conv1d(), ((2, 3, 4, 9), (3,)), ["(N, C, L)"]),
    (Conv1d(), ((9,), (3, 3)), ["channel"]),
    (Conv1d(stride=[1, 2]), ((9,), (3,)), ["stride"]),
    (Conv1d(padding=[1, 2, 3]), ((9,), (3,)), ["[left, right]"]),
    (Conv1d(), ((2,), (3,)), ["3-wide", "2 wide"]),
    (MaxPool2d(size=2, padding="same"), ((4, 4),), ["'same'"]),
    (MaxPool2d(size=2), ((1, 2, 3, 4, 4),), ["(N, C, H, W)"]),
    (Pad(p=[[1, 2], [3]]), ((4, 4),), ["p="]),
    (Pad(p=[1, 2, 3]), ((4,),), ["[left, right]"]),
    (Pad(p=1, layout="hwc"), ((4, 4),), ["(H, W, C)"]),
    (Pad(p=-1), ((4, 4),), ["at least 0"]),
])
def test_shape_errors(op, shapes, words):
    with pytest.raises(ShapeError) as err:
        op.infer(*shapes)
    for w in words:
        assert w in err.value.message + (err.value.hint or "")


# ------------------------------------------------------------------ hand values


def test_one_by_one_kernel_with_padding_two():
    y = Conv2d(padding=2).forward(np.ones((1, 2, 2)), np.full((1, 1, 1), 3.0), np.array([[0.5]]))[0]
    want = np.full((6, 6), 0.5)
    want[2:4, 2:4] = 3.5
    np.testing.assert_array_equal(y, want)


def test_same_padding_puts_the_odd_zero_bottom_right():
    x = np.arange(16.0).reshape(4, 4)
    k = np.zeros((2, 2))
    k[1, 1] = 1.0                         # picks the bottom-right cell of each window
    y = Conv2d(padding="same").forward(x[None], k[None])[0]
    want = np.zeros((4, 4))
    want[:3, :3] = x[1:, 1:]
    np.testing.assert_array_equal(y, want)


def test_conv1d_by_hand():
    y = Conv1d(padding=1).forward(np.array([[1.0, 2, 3, 4, 5]]), np.array([[1.0, 0, -1]]))[0]
    np.testing.assert_array_equal(y, [-2, -2, -2, -2, 4])
    y = Conv1d(stride=2, padding=[0, 1]).forward(np.array([[1.0, 2, 3, 4, 5]]), np.array([[1.0, 1]]))[0]
    np.testing.assert_array_equal(y, [3, 7, 5])


def test_pad_by_hand_and_exact():
    from fractions import Fraction

    y = Pad(p=[[1, 0], [0, 2]]).forward(np.array([[[1.0, 2], [3, 4]]]))[0]
    np.testing.assert_array_equal(y, [[0, 0, 0, 0], [1, 2, 0, 0], [3, 4, 0, 0]])
    x = np.array([[Fraction(1, 3), Fraction(1, 10)]], dtype=object)
    y = Pad(p=1).forward(x)
    assert y.dtype == object and y[0, 1] == Fraction(1, 3) and y.tolist() == [[0, Fraction(1, 3), Fraction(1, 10), 0]]
    op = Pad(p=1)
    op.forward(np.ones((1, 2)))
    np.testing.assert_array_equal(op.backward(np.arange(4.0)[None])[0], [[1, 2]])


# ------------------------------------------------------------------ PyTorch


CONV2D_CASES = [  # X (N, C, H, W), K (F, C, kh, kw), stride, padding as nnlab writes it, as torch pads it (l, r, t, b)
    ((2, 3, 7, 8), (4, 3, 3, 3), 1, 1, (1, 1, 1, 1)),
    ((3, 2, 9, 8), (4, 2, 3, 2), [2, 3], [[1, 0], [2, 1]], (2, 1, 1, 0)),
    ((2, 1, 3, 3), (2, 1, 1, 1), 1, 2, (2, 2, 2, 2)),
    ((2, 2, 8, 9), (3, 2, 3, 3), 2, "same", (1, 1, 0, 1)),
    ((1, 2, 6, 6), (3, 2, 2, 2), 1, "same", (0, 1, 0, 1)),
    ((2, 2, 6, 7), (3, 2, 4, 3), [3, 2], "valid", (0, 0, 0, 0)),
    ((2, 3, 5, 5), (2, 3, 3, 3), 2, [4, 1], (1, 1, 4, 4)),
]


@pytest.mark.parametrize("xs, ks, stride, padding, tpad", CONV2D_CASES)
@pytest.mark.parametrize("layout", [None, "hwc"])
def test_conv2d_batch_against_pytorch(xs, ks, stride, padding, tpad, layout):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, k, b = RNG.normal(size=xs), RNG.normal(size=ks), RNG.normal(size=ks[0])
    y_t, g, (gx_t, gk_t, gb_t) = torch_grads(lambda x, k, b: F.conv2d(F.pad(x, tpad), k, b, stride=stride), x, k, b)
    op = Conv2d(stride=stride, padding=padding, layout=layout)
    if layout == "hwc":   # channels-last in, channels-last out
        x_in, g_in = x.transpose(0, 2, 3, 1), g.transpose(0, 2, 3, 1)
        y = op.forward(x_in[None], k[None], b[None])[0].transpose(0, 3, 1, 2)
        gx, gk, gb = op.backward(g_in[None])
        gx = gx[0].transpose(0, 3, 1, 2)
    else:
        y = op.forward(x[None], k[None], b[None])[0]
        gx, gk, gb = op.backward(g[None])
        gx = gx[0]
    assert op.infer(x.shape if layout is None else x_in.shape, k.shape, b.shape) == \
        (y_t.shape if layout is None else y_t.transpose(0, 2, 3, 1).shape)
    assert_close(y, y_t)
    assert_close(gx, gx_t)
    assert_close(gk[0], gk_t)
    assert_close(gb[0], gb_t)


def test_torch_same_padding_agrees():
    torch = pytest.importorskip("torch")
    import warnings

    x, k = RNG.normal(size=(2, 3, 7, 6)), RNG.normal(size=(4, 3, 4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torch warns that an even kernel needs a padded copy
        y_t, g, (gx_t, gk_t) = torch_grads(lambda x, k: torch.nn.functional.conv2d(x, k, padding="same"), x, k)
    op = Conv2d(padding="same")
    assert_close(op.forward(x[None], k[None])[0], y_t)
    gx, gk, _ = op.backward(g[None])
    assert_close(gx[0], gx_t)
    assert_close(gk[0], gk_t)


def test_example_axis_and_batch_axis_together():
    """A data set of 3 examples, each a batch of 2 images: 6 images through one kernel."""
    torch = pytest.importorskip("torch")
    x, k, b = RNG.normal(size=(3, 2, 2, 6, 5)), RNG.normal(size=(4, 2, 3, 3)), RNG.normal(size=4)
    y_t, g, (gx_t, gk_t, gb_t) = torch_grads(
        lambda x, k, b: torch.nn.functional.conv2d(x, k, b, stride=2, padding=1), x.reshape(6, 2, 6, 5), k, b)
    op = Conv2d(stride=2, padding=1)
    assert_close(op.forward(x, k[None], b[None]), y_t.reshape(3, 2, 4, 3, 3))
    gx, gk, gb = op.backward(g.reshape(3, 2, 4, 3, 3))
    assert_close(gx, gx_t.reshape(x.shape))
    assert_close(gk[0], gk_t)
    assert_close(gb[0], gb_t)


CONV1D_CASES = [  # X, K, stride, padding (nnlab), (left, right) for torch
    ((2, 3, 11), (4, 3, 3), 1, 1, (1, 1)),
    ((2, 3, 11), (4, 3, 4), 2, [2, 0], (2, 0)),
    ((1, 2, 9), (3, 2, 3), 2, "same", (1, 1)),
    ((2, 2, 8), (3, 2, 2), 1, "same", (0, 1)),
    ((1, 1, 5), (1, 1, 1), 1, 3, (3, 3)),
]


@pytest.mark.parametrize("xs, ks, stride, padding, tpad", CONV1D_CASES)
def test_conv1d_against_pytorch(xs, ks, stride, padding, tpad):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, k, b = RNG.normal(size=xs), RNG.normal(size=ks), RNG.normal(size=ks[0])
    y_t, g, (gx_t, gk_t, gb_t) = torch_grads(lambda x, k, b: F.conv1d(F.pad(x, tpad), k, b, stride=stride), x, k, b)
    op = Conv1d(stride=stride, padding=padding)
    assert_close(op.forward(x[None], k[None], b[None])[0], y_t)
    gx, gk, gb = op.backward(g[None])
    assert_close(gx[0], gx_t)
    assert_close(gk[0], gk_t)
    assert_close(gb[0], gb_t)
    # one image (C, L) per example: the engine's example axis stands for N
    op = Conv1d(stride=stride, padding=padding)
    assert_close(op.forward(x, k[None], b[None]), y_t)


def test_conv1d_single_channel_forms():
    torch = pytest.importorskip("torch")
    x, k = RNG.normal(size=9), RNG.normal(size=3)
    want = torch.nn.functional.conv1d(torch.tensor(x)[None, None], torch.tensor(k)[None, None], stride=2).numpy()
    assert_close(Conv1d(stride=2).forward(x[None], k[None])[0], want[0, 0])
    assert_close(Conv1d(stride=2).forward(x[None, None], k[None, None])[0], want[0, 0])


@pytest.mark.parametrize("size, stride, padding, tpad", [
    (2, None, 0, 0), (3, 2, 1, 1), ([2, 3], [1, 2], [1, 1], [1, 1]), (2, 1, "valid", 0)])
@pytest.mark.parametrize("cls, name", [(MaxPool2d, "max_pool2d"), (AvgPool2d, "avg_pool2d")])
@pytest.mark.parametrize("layout", [None, "hwc"])
def test_pool_batch_against_pytorch(size, stride, padding, tpad, cls, name, layout):
    torch = pytest.importorskip("torch")
    fn = getattr(torch.nn.functional, name)
    x = RNG.normal(size=(2, 3, 7, 8))
    y_t, g, (gx_t,) = torch_grads(lambda x: fn(x, size, stride, tpad), x)
    op = cls(size=size, stride=stride, padding=padding, layout=layout)
    if layout == "hwc":
        y = op.forward(x.transpose(0, 2, 3, 1)[None])[0].transpose(0, 3, 1, 2)
        gx = op.backward(g.transpose(0, 2, 3, 1)[None])[0][0].transpose(0, 3, 1, 2)
    else:
        y, gx = op.forward(x[None])[0], op.backward(g[None])[0][0]
    assert_close(y, y_t)
    assert_close(gx, gx_t)


def test_pad_against_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = RNG.normal(size=(2, 3, 4, 5))
    for p, tpad in [(2, (2, 2, 2, 2)), ([1, 0], (0, 0, 1, 1)), ([[1, 0], [2, 3]], (2, 3, 1, 0))]:
        y_t, g, (gx_t,) = torch_grads(lambda x, tpad=tpad: F.pad(x, tpad), x)
        op = Pad(p=p)
        assert_close(op.forward(x[None])[0], y_t)
        assert_close(op.backward(g[None])[0][0], gx_t)
        op = Pad(p=p, layout="hwc")
        assert_close(op.forward(x.transpose(0, 2, 3, 1)[None])[0], y_t.transpose(0, 2, 3, 1))


# ------------------------------------------------------------ finite differences


GRAD_CASES = [  # (op class, per-example X, K or None, b or None, params)
    (Conv2d, (2, 2, 5, 6), (3, 2, 3, 3), (3,), {"stride": 2, "padding": "same"}),
    (Conv2d, (2, 5, 6, 2), (3, 2, 2, 3), (3,), {"stride": [2, 1], "padding": [[0, 2], [1, 0]], "layout": "hwc"}),
    (Conv2d, (5, 6, 2), (2, 3, 3), (), {"padding": 3, "layout": "hwc"}),
    (Conv2d, (2, 1, 4, 4), (2, 2), None, {"padding": [2, 0]}),
    (Conv2d, (3, 3), (1, 1), (), {"padding": 2}),
    (Conv1d, (7,), (3,), (), {"padding": "same"}),
    (Conv1d, (2, 7), (3, 2, 2), (3,), {"stride": 2, "padding": [1, 2]}),
    (Conv1d, (2, 2, 7), (2, 3), None, {"stride": 3, "padding": "valid"}),
]


@pytest.mark.parametrize("cls, xs, ks, bs, params", GRAD_CASES)
@pytest.mark.parametrize("examples", [1, 3])
def test_conv_gradcheck(cls, xs, ks, bs, params, examples):
    b = None if bs is None else RNG.normal(size=(1, *bs))
    check_op(cls, [RNG.normal(size=(examples, *xs)), RNG.normal(size=(1, *ks)), b], batched=True, **params)


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d])
@pytest.mark.parametrize("xs, params", [
    ((2, 3, 5, 6), {"size": 2, "stride": 1, "padding": [[1, 0], [0, 1]]}),
    ((2, 5, 6, 3), {"size": 3, "stride": 2, "padding": 1, "layout": "hwc"}),
    ((5, 6, 2), {"size": [2, 3], "layout": "hwc"}),
])
def test_pool_gradcheck(cls, xs, params):
    check_op(cls, [RNG.normal(size=(2, *xs))], batched=True, **params)


@pytest.mark.parametrize("xs, params", [((5,), {"p": [2, 1]}), ((2, 3, 4), {"p": [[1, 0], [0, 2]]}),
                                        ((2, 3, 4, 2), {"p": 1, "layout": "hwc"})])
def test_pad_gradcheck(xs, params):
    check_op(Pad, [RNG.normal(size=(2, *xs))], batched=True, **params)


# ------------------------------------------------------------ local and dependents


@pytest.mark.parametrize("cls, xs, ks, bs, params", [
    (Conv2d, (2, 2, 3, 3), (2, 2, 2, 2), (2,), {"stride": [2, 1], "padding": [[1, 0], [0, 1]]}),
    (Conv2d, (3, 3, 2), (2, 2, 2, 2), (2,), {"padding": "same", "layout": "hwc"}),
    (Conv2d, (2, 3, 4, 2), (2, 2, 2), None, {"stride": 2, "padding": 1, "layout": "hwc"}),
    (Conv1d, (2, 2, 5), (2, 2, 3), (2,), {"stride": 2, "padding": [1, 0]}),
    (Conv1d, (5,), (2,), (), {"padding": "same"}),
])
def test_conv_local_and_dependents(cls, xs, ks, bs, params):
    inputs = [RNG.normal(size=(2, *xs)), RNG.normal(size=(1, *ks)),
              None if bs is None else RNG.normal(size=(1, *bs))]
    op, xs_, out = forward_for_local(cls, inputs, **params)
    check_local(op, xs_, out)


@pytest.mark.parametrize("params", [{"size": 2, "stride": 1, "padding": [[1, 0], [0, 1]]},
                                    {"size": 2, "layout": "hwc"}])
def test_pool_local_and_dependents(params):
    x = RNG.normal(size=(2, 2, 2, 4, 4))
    for cls, exact in [(AvgPool2d, True), (MaxPool2d, False)]:
        op, xs, out = forward_for_local(cls, [x], **params)
        check_local(op, xs, out, exact=exact)


def test_pad_local_and_dependents():
    op, xs, out = forward_for_local(Pad, [RNG.normal(size=(2, 2, 3))], p=[[1, 0], [0, 2]])
    check_local(op, xs, out)


# --------------------------------------------------------------------- explanations


def _explain(op, index, *xs):
    batch = [None if x is None else np.asarray(x, float)[None] for x in xs]
    y = op.forward(*batch)[0]
    return op.explain(index, [None if x is None else np.asarray(x, float) for x in xs], y, ["X", "K", "b"], "Y", 4)


def test_explain_a_batch_of_images():
    x = np.stack([np.arange(9.0).reshape(1, 3, 3), np.ones((1, 3, 3))])      # (N=2, C=1, 3, 3)
    k = np.arange(4.0).reshape(1, 1, 2, 2)
    e = _explain(Conv2d(padding=[[0, 1], [0, 0]]), (0, 0, 1, 1), x, k, np.array([1.0]))
    assert (e.arithmetic, e.value) == ("4×0 + 5×1 + 7×2 + 8×3 + 1", 44)
    assert e.formula == "Y[n,f,i,j] = Σₐ,ᵦ X[n, 0, i+a, j+b]·K[f,0,a,b] + b[0]"
    assert [u.index for u in e.uses if u.slot == 0] == [(0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 2, 1), (0, 0, 2, 2)]
    e = _explain(Conv2d(padding=[[0, 1], [0, 0]]), (1, 0, 2, 0), x, k, np.array([1.0]))
    assert (e.arithmetic, e.value) == ("1×0 + 1×1 + 0×2 + 0×3 + 1", 2)
    assert e.pads == ((0, ((0, 1), (0, 0))),)
    assert [u.role for u in e.uses if u.slot == 0] == ["used", "used", "padding", "padding"]


def test_explain_channels_last_lists_real_cells_only():
    x = np.arange(18.0).reshape(3, 3, 2)        # (H, W, C)
    k = np.ones((1, 2, 2, 2))
    e = _explain(Conv2d(padding=1, layout="hwc"), (0, 0, 0), x, k)
    assert e.formula == "Y[i,j,f] = Σ_c Σₐ,ᵦ X[i+a−1, j+b−1, c]·K[f,c,a,b]"
    assert e.value == 0 + 1                     # X[0, 0, 0] + X[0, 0, 1]
    assert e.pads == ()
    assert [u.index for u in e.uses if u.slot == 0] == [(0, 0, 0), (0, 0, 1)]
    assert "6 of the 8" in e.note


def test_explain_conv1d_and_pool_and_pad():
    e = _explain(Conv1d(padding=1), (0,), np.array([1.0, 2, 3]), np.array([1.0, 0, -1]))
    assert (e.arithmetic, e.value, e.formula) == ("0×1 + 1×0 + 2×(-1)", -2, "Y[i] = Σₐ X[i+a−1]·K[a]")
    assert e.pads == () and [u.index for u in e.uses if u.slot == 0] == [(0,), (1,)]
    e = _explain(Conv1d(padding=1), (0, 0), np.array([[1.0, 2, 3]]), np.array([[[1.0, 0, -1]]]))
    assert e.pads == ((0, ((0, 0), (1, 1))),) and [u.index for u in e.uses if u.slot == 0][:2] == [(0, 0), (0, 1)]
    x = np.arange(32.0).reshape(2, 4, 4)[None].transpose(0, 2, 3, 1)   # (N=1, H, W, C=2)
    e = _explain(MaxPool2d(size=2, layout="hwc"), (0, 1, 0, 1), x)
    assert (e.arithmetic, e.value) == ("max(24, 25, 28, 29)", 29)
    assert e.formula == "Y[n,i,j,c] = maxₐ,ᵦ X[n, 2i+a, 2j+b, c]"
    assert [u.index for u in e.uses if u.role == "argmax"] == [(0, 3, 1, 1)]
    e = _explain(Pad(p=[[1, 0], [0, 1]]), (1, 0), np.array([[5.0, 6.0]]))
    assert (e.arithmetic, e.value) == ("X[0,0] = 5", 5) and e.uses[0].index == (0, 0)
    e = _explain(Pad(p=[[1, 0], [0, 1]]), (0, 0), np.array([[5.0, 6.0]]))
    assert e.value == 0 and e.uses == ()


# ----------------------------------------------------------------- scratch budget


def test_scratch_space_is_checked_before_allocating():
    x, k = np.ones((1, 1, 64, 64)), np.ones((1, 1, 1, 15, 15))
    set_memory_budget(1 << 20)
    try:
        with pytest.raises(ShapeError) as err:
            Conv2d().forward(x, k)
    finally:
        set_memory_budget(None)
    assert "scratch space (im2col) of 'conv2d'" in err.value.message
    assert "memory budget of 1.0 MiB" in err.value.message
    assert "--max-memory" in err.value.hint
    assert Conv2d().forward(x, k).shape == (1, 1, 50, 50)       # fine under the default budget


def test_scratch_error_is_located(tmp_path):
    from tests.helpers import run_cli

    f = tmp_path / "big.yaml"
    f.write_text("nnlab: 1\ntitle: big kernel\nvalues:\n  X: {shape: [64, 64], init: ones}\n"
                 "  K: {shape: [15, 15], init: ones}\ncompute:\n  - Y = conv2d(X, K)\n")
    try:
        p = run_cli("run", str(f), "--max-memory", "1M")
    finally:
        set_memory_budget(None)
    assert p.returncode == 2
    assert f"{f}:7:" in p.stderr and "scratch space (im2col)" in p.stderr and "Traceback" not in p.stderr


def test_padding_limits_are_the_budget_not_the_kernel():
    # padding far beyond k − 1 is allowed, and stopped only by the budget
    assert Conv2d(padding=1000, stride=1000).infer((3, 3), (1, 1)) == (3, 3)
    set_memory_budget(1 << 20)
    try:
        with pytest.raises(ShapeError, match="scratch"):
            Conv2d(padding=1000, stride=1).forward(np.ones((1, 3, 3)), np.ones((1, 1, 1)))
    finally:
        set_memory_budget(None)


# ------------------------------------------------------------------- through the engine


def test_scenario_with_a_batch_and_data(tmp_path):
    """Examples under data:, each a batch of 2 images: grad(X) per example, of the mean loss."""
    torch = pytest.importorskip("torch")
    from nnlab.engine.graph import build_graph
    from nnlab.engine.run import run_graph
    from nnlab.scenario import loads

    x = RNG.integers(-3, 4, size=(3, 2, 1, 4, 4)).astype(float)
    k = RNG.integers(-2, 3, size=(2, 1, 3, 3)).astype(float)
    text = ("nnlab: 1\ntitle: t\ndata:\n  X: " + str(x.tolist()) + "\nvalues:\n  K: " + str(k.tolist())
            + "\n  b: [0.5, -1]\ncompute:\n  - Y = conv2d(X, K, b, padding='same')\n"
              "  - P = maxpool2d(relu(Y), size=2)\n  - L = sum(P * P)\nbackward: L\n")
    run = run_graph(build_graph(loads(text)), arithmetic="float64")
    xt = torch.tensor(x, requires_grad=True)
    kt = torch.tensor(k, requires_grad=True)
    y = torch.nn.functional.conv2d(xt.reshape(6, 1, 4, 4), kt, torch.tensor([0.5, -1.0]), padding="same")
    p = torch.nn.functional.max_pool2d(torch.relu(y), 2)
    (p * p).reshape(3, -1).sum(1).mean().backward()
    assert_close(np.asarray(run.value("P"), float), p.detach().numpy().reshape(3, 2, 2, 2, 2))
    assert_close(np.asarray(run.grad("K"), float).reshape(k.shape), kt.grad.numpy())
    assert_close(np.asarray(run.grad("X"), float).reshape(x.shape), xt.grad.numpy())


def test_local_check_helper_is_not_vacuous():
    """check_local compares a closed form with the one-hot VJP: a wrong local must fail."""
    op, xs, out = forward_for_local(Conv1d, [RNG.normal(size=(1, 4)), RNG.normal(size=(1, 2))])
    original = op.local
    op.local = lambda k, o, i: original(k, o, i) + (1.0 if k == 1 else 0.0)
    with pytest.raises(AssertionError):
        check_local(op, xs, out)


def test_backward_twice_gives_the_same_gradients():
    """Backward writes ∂cols over the saved columns; a second backward gathers them again."""
    x, k, b = RNG.normal(size=(2, 3, 5, 5)), RNG.normal(size=(1, 2, 3, 2, 2)), RNG.normal(size=(1, 2))
    g = RNG.normal(size=(2, 2, 4, 4))
    op = Conv2d()
    op.forward(x, k, b)
    first, second = op.backward(g), op.backward(g)
    for a, c in zip(first, second):
        np.testing.assert_array_equal(a, c)
    op.needs = (False, True, True)
    np.testing.assert_array_equal(op.backward(g)[1], first[1])


@pytest.mark.parametrize("chunk_bytes", [1, 4000])
def test_images_in_chunks_give_the_same_as_pytorch(monkeypatch, chunk_bytes):
    """The columns are gathered a few images at a time (1 or 2 here): same values, same gradients."""
    from nnlab.engine.ops import conv

    torch = pytest.importorskip("torch")
    monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
    x, k, b = RNG.normal(size=(5, 2, 7, 6)), RNG.normal(size=(3, 2, 3, 2)), RNG.normal(size=3)
    F = torch.nn.functional
    y_t, g, (gx_t, gk_t, gb_t) = torch_grads(lambda x, k, b: F.conv2d(F.pad(x, (1, 0, 2, 1)), k, b, stride=2), x, k, b)
    op = Conv2d(stride=2, padding=[[2, 1], [1, 0]])
    assert op._layout(x.shape, k.shape, b.shape).chunk(5) == (1 if chunk_bytes == 1 else 2)
    assert_close(op.forward(x[None], k[None], b[None])[0], y_t)
    gx, gk, gb = op.backward(g[None])
    assert_close(gx[0], gx_t)
    assert_close(gk[0], gk_t)
    assert_close(gb[0], gb_t)
    op.needs = (True, False, False)
    assert_close(op.backward(g[None])[0][0], gx_t)
