"""min and keepdims on the reductions, concat/stack, W[idx] (issue 16): values, shapes,
float64 central differences over several shapes, accumulation, PyTorch."""

import numpy as np
import pytest

from nnlab.engine.ops import REGISTRY
from nnlab.errors import NnlabError
from tests.helpers import run_yaml
from tests.unit.engine.gradcheck import check_op

RNG = np.random.default_rng(1616)
X = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]


def _run(values: str, *lines: str, backward: str | None = None, options: str = ""):
    text = f"nnlab: 1\ntitle: t\nvalues: {values}\ncompute:\n" + "".join(f"  - {line}\n" for line in lines)
    return run_yaml(text + (f"backward: {backward}\n" if backward else "") + options)


# ----------------------------------------------------------------------- min, keepdims


def test_min_gives_the_whole_gradient_to_the_first_minimum():
    run = _run("{x: [[3, 1, 1], [2, 5, 0]]}", "m = min(x, axis=1)", "a = min(x)", "L = sum(m) + 10 * a",
               backward="L")
    assert run.value("m").tolist() == [1, 0] and run.value("a") == 0
    assert run.grad("x").tolist() == [[0, 1, 0], [0, 0, 11]]  # the tie at [0, 1], [0, 2]: the first one


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod"])
def test_keepdims_keeps_each_reduced_axis_with_length_one(name):
    x = np.array([[[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]])  # (1, 2, 3)
    for axis, want in ((None, (1, 1, 1)), (1, (1, 1, 3)), (-1, (1, 2, 1)), ([0, 2], (1, 2, 1))):
        axis_text = "" if axis is None else f", axis={axis}"
        run = _run(f"{{x: {x.tolist()}}}", f"y = {name}(x{axis_text}, keepdims=True)",
                   f"z = {name}(x{axis_text})")
        assert run.value("y").shape == want
        np.testing.assert_array_equal(run.value("y").reshape(-1), np.asarray(run.value("z")).reshape(-1))


def test_keepdims_broadcasts_back_like_numpy():
    run = _run(f"{{x: {X}}}", "c = x - mean(x, axis=1, keepdims=True)", "L = sum(c * c)", backward="L")
    x = np.array(X)
    np.testing.assert_allclose(run.value("c"), x - x.mean(axis=1, keepdims=True))
    np.testing.assert_allclose(run.grad("x"), 2 * (run.value("c") - run.value("c").mean(axis=1, keepdims=True)))


def test_keepdims_must_be_a_boolean():
    with pytest.raises(NnlabError, match="keepdims must be True or False"):
        _run(f"{{x: {X}}}", "y = sum(x, keepdims=1)")


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod"])
@pytest.mark.parametrize("shape,axis", [((4,), None), ((2, 3), 0), ((2, 3), -1), ((2, 3, 2), [0, 2])])
def test_reductions_gradcheck_with_and_without_keepdims(name, shape, axis):
    x = RNG.permutation(np.linspace(-2, 2, int(np.prod(shape)))).reshape(shape) + 0.1  # distinct: no ties
    for keep in (False, True):
        check_op(REGISTRY[name], [x], axis=axis, keepdims=keep)


def test_reductions_with_keepdims_against_torch():
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=(2, 3, 4))
    g = RNG.normal(size=(2, 1, 4))
    for name, fn in (("sum", lambda t: t.sum(1, keepdim=True)), ("mean", lambda t: t.mean(1, keepdim=True)),
                     ("max", lambda t: t.max(1, keepdim=True).values), ("min", lambda t: t.min(1, keepdim=True).values),
                     ("prod", lambda t: t.prod(1, keepdim=True))):
        op = REGISTRY[name](axis=1, keepdims=True)
        y = op.forward(x[None])
        (gx,) = op.backward(g[None])
        t = torch.tensor(x, requires_grad=True)
        out = fn(t)
        out.backward(torch.tensor(g))
        np.testing.assert_allclose(y[0], out.detach().numpy(), rtol=1e-13)
        np.testing.assert_allclose(gx[0], t.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------- concat, stack


def test_concat_and_stack_values_shapes_and_gradients():
    run = _run("{a: [[1, 2], [3, 4]], b: [[5], [6]], c: [7, 8]}",
               "h = concat([a, b], axis=1)", "v = concat([c, c, c])", "s = stack([c, c * 2], axis=1)",
               "L = sum(h * h) + sum(v) + sum(s)", backward="L")
    assert run.value("h").tolist() == [[1, 2, 5], [3, 4, 6]]
    assert run.value("v").tolist() == [7, 8] * 3
    assert run.value("s").tolist() == [[7, 14], [8, 16]]
    assert run.grad("a").tolist() == [[2, 4], [6, 8]] and run.grad("b").tolist() == [[10], [12]]
    assert run.grad("c").tolist() == [3 + 1 + 2, 3 + 1 + 2]  # used three times in v, twice in s: all add up


def test_concat_and_stack_refuse_shapes_that_do_not_fit():
    with pytest.raises(NnlabError, match="input 2 has shape"):
        _run("{a: [[1, 2]], b: [[1, 2, 3]]}", "y = concat([a, b], axis=0)")
    with pytest.raises(NnlabError, match="all the same shape"):
        _run("{a: [1, 2], b: [1, 2, 3]}", "y = stack([a, b])")
    with pytest.raises(NnlabError, match="must be a list of tensors"):
        _run("{a: [1, 2]}", "y = concat(a)")
    with pytest.raises(NnlabError, match="axis 2 is out of range"):
        _run("{a: [[1, 2]]}", "y = concat([a, a], axis=2)")


@pytest.mark.parametrize("shapes,axis", [([(3,), (2,)], 0), ([(2, 3), (2, 1), (2, 2)], 1), ([(1, 2), (3, 2)], 0),
                                         ([(2, 2, 3), (2, 2, 3)], -1)])
def test_concat_gradcheck(shapes, axis):
    check_op(REGISTRY["concat"], [RNG.normal(size=s) for s in shapes], axis=axis)


@pytest.mark.parametrize("shape,n,axis", [((), 3, 0), ((3,), 2, 0), ((2, 3), 3, 1), ((2, 3), 2, -1)])
def test_stack_gradcheck(shape, n, axis):
    check_op(REGISTRY["stack"], [RNG.normal(size=shape) for _ in range(n)], axis=axis)


def test_concat_stack_with_a_data_batch_against_torch():
    torch = pytest.importorskip("torch")
    run = run_yaml("nnlab: 1\ntitle: t\ndata: {x: [[1, 2], [3, 4], [5, 6]]}\nvalues: {w: [0.5, -1]}\n"
                   "compute:\n  - h = concat([x, w])\n  - s = stack([x, w], axis=0)\n  - L = sum(h * h) + sum(s)\n"
                   "backward: L\noptions: {arithmetic: float}\n")
    x = torch.tensor([[1.0, 2], [3, 4], [5, 6]], dtype=torch.float64)
    w = torch.tensor([0.5, -1], dtype=torch.float64, requires_grad=True)
    h = torch.cat([x, w.expand(3, 2)], dim=1)
    s = torch.stack([x, w.expand(3, 2)], dim=1)
    ((h * h).sum(1) + s.sum((1, 2))).mean().backward()  # the loss is the mean over the examples
    np.testing.assert_allclose(run.value("h"), h.detach().numpy())
    np.testing.assert_allclose(run.value("s"), s.detach().numpy())
    np.testing.assert_allclose(run.grad("w"), w.grad.numpy())


# ------------------------------------------------------------------------------ W[idx]


def test_take_rows_and_repeated_indices_accumulate():
    run = _run("{W: [[1, 2], [3, 4], [5, 6]], idx: [2, 0, 2], m: [1, 10]}", "E = W[idx]", "F = W[[1, 1]]",
               "L = sum(E * m) + sum(F)", backward="L")
    assert run.value("E").tolist() == [[5, 6], [1, 2], [5, 6]]
    assert run.value("F").tolist() == [[3, 4], [3, 4]]
    # row 2 is picked twice: both contributions add; row 1 twice by F; row 0 once
    assert run.grad("W").tolist() == [[1, 10], [2, 2], [2, 20]]


def test_take_with_a_matrix_of_indices_and_a_data_batch():
    run = run_yaml("nnlab: 1\ntitle: t\nvalues: {W: [[1, 2], [3, 4], [5, 6]]}\ndata: {tok: [[0, 1], [2, 2]]}\n"
                   "compute:\n  - E = W[tok]\n  - L = sum(E)\nbackward: L\n")
    assert run.value("E").tolist() == [[[1, 2], [3, 4]], [[5, 6], [5, 6]]]
    assert run.grad("W").tolist() == [[0.5, 0.5], [0.5, 0.5], [1, 1]]  # the mean over the two examples


def test_take_refuses_indices_outside_the_rows():
    with pytest.raises(NnlabError, match="index 3 is not a whole number in 0..2"):
        _run("{W: [[1, 2], [3, 4], [5, 6]], idx: [0, 3]}", "E = W[idx]")
    with pytest.raises(NnlabError, match="index 0.5 is not a whole number"):
        _run("{W: [1, 2, 3], idx: [0.5]}", "E = W[idx]")


@pytest.mark.parametrize("w_shape,idx", [((4,), [3, 0, 3]), ((3, 2), [[0, 2], [2, 2]]), ((5, 2, 2), [4, 1]),
                                         ((3, 2), 1)])
def test_take_gradcheck(w_shape, idx):
    check_op(REGISTRY["take"], [RNG.normal(size=w_shape), np.asarray(idx, dtype=float)], skip=(1,))


def test_take_against_torch_embedding():
    torch = pytest.importorskip("torch")
    W = RNG.normal(size=(5, 3))
    idx = np.array([[1, 4, 1], [0, 1, 3]])
    g = RNG.normal(size=(2, 3, 3))
    op = REGISTRY["take"]()
    y = op.forward(W[None], idx[None].astype(float))
    gw, gi = op.backward(g[None])
    t = torch.tensor(W, requires_grad=True)
    out = torch.nn.functional.embedding(torch.tensor(idx), t)
    out.backward(torch.tensor(g))
    np.testing.assert_array_equal(y[0], out.detach().numpy())
    np.testing.assert_allclose(gw[0], t.grad.numpy(), rtol=1e-14)
    assert gi is None
    np.testing.assert_array_equal(y[0], torch.index_select(torch.tensor(W), 0, torch.tensor(idx.ravel()))
                                  .reshape(2, 3, 3).numpy())
