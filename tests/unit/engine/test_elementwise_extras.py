"""sign, maximum/minimum, clip (issue 16): values, the conventions at 0 / ties / bounds,
float64 central differences over several shapes, exact arithmetic, PyTorch."""

import numpy as np
import pytest

from nnlab.engine.ops import REGISTRY
from nnlab.errors import NnlabError
from tests.helpers import run_yaml
from tests.unit.engine.gradcheck import check_op

RNG = np.random.default_rng(16)


def _away_from(x, points, gap=0.05):
    """Move values off the kinks so central differences see one side only."""
    for p in points:
        x = np.where(np.abs(x - p) < gap, p + 3 * gap, x)
    return x


# ------------------------------------------------------------------------------ sign


def test_sign_values_and_zero_default_and_option():
    run = run_yaml("nnlab: 1\ntitle: t\nvalues: {x: [-2, 0, 0.5]}\ncompute:\n  - y = sign(x)\n  - L = sum(y * x)\n"
                   "backward: L\n")
    assert run.value("y").tolist() == [-1.0, 0.0, 1.0]
    assert run.grad("x").tolist() == [-1.0, 0.0, 1.0]  # only through the x factor: sign is flat
    run = run_yaml("nnlab: 1\ntitle: t\nvalues: {x: [-2, 0, 0.5]}\ncompute:\n  - y = sign(x)\n"
                   "options: {sign_at_zero: 1}\n")
    assert run.value("y").tolist() == [-1.0, 1.0, 1.0]
    assert run.arithmetic == "exact"


def test_sign_at_zero_must_be_a_number():
    with pytest.raises(NnlabError, match="sign_at_zero must be a number"):
        run_yaml("nnlab: 1\ntitle: t\nvalues: {x: [0]}\ncompute:\n  - y = sign(x)\noptions: {sign_at_zero: yes}\n")


def test_sign_cannot_be_given_at_zero_in_the_call():
    with pytest.raises(NnlabError, match="at most 1 argument"):
        run_yaml("nnlab: 1\ntitle: t\nvalues: {x: [0]}\ncompute:\n  - y = sign(x, 1)\n")


@pytest.mark.parametrize("shape", [(), (4,), (2, 3)])
def test_sign_gradcheck(shape):
    x = _away_from(RNG.uniform(-2, 2, size=shape), [0])
    check_op(REGISTRY["sign"], [x])


def test_sign_explains_the_value_at_zero():
    from nnlab.scenario import loads
    from nnlab.session import session_from_scenario

    s = session_from_scenario(loads("nnlab: 1\ntitle: t\nvalues: {x: [0, 2]}\ncompute:\n  - y = sign(x)\n"
                                    "options: {sign_at_zero: -1}\n"))
    (_, ex), = s.explain_ref("y[0]")
    assert ex.value == -1 and "options.sign_at_zero" in ex.note


# ------------------------------------------------------------------- maximum, minimum


def test_maximum_minimum_values_broadcast_and_ties_split_the_gradient():
    run = run_yaml("nnlab: 1\ntitle: t\nvalues: {a: [[1, 2, 3], [0, 5, -1]], b: [1, 1, 4]}\n"
                   "compute:\n  - y = maximum(a, b)\n  - z = minimum(a, b)\n  - L = sum(y) + 2 * sum(z)\n"
                   "backward: L\n")
    assert run.arithmetic == "exact"
    assert run.value("y").tolist() == [[1, 2, 4], [1, 5, 4]]
    assert run.value("z").tolist() == [[1, 1, 3], [0, 1, -1]]
    # a tie (a = b = 1 at [0, 0]) splits: ½ from maximum, ½·2 from minimum, to each side
    assert run.grad("a").tolist() == [[1.5, 1, 2], [2, 1, 2]]
    assert run.grad("b").tolist() == [1.5 + 1, 2 + 0 + 2, 1 + 1]


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 4)), ((), (2,))])
def test_maximum_minimum_gradcheck(name, sa, sb):
    a = RNG.normal(size=sa)
    b = RNG.normal(size=sb)
    b = np.where(np.abs(np.broadcast_to(b, np.broadcast_shapes(sa, sb)) - a).min() < 0.05, b + 0.3, b)
    check_op(REGISTRY[name], [a, b])


def test_maximum_minimum_against_torch():
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 2.0, -3.0], [0.5, 0.5, 7.0]])
    b = np.array([1.0, 0.5, -4.0])  # ties at [0, 0] and [1, 1]
    g = RNG.normal(size=(2, 3))
    for name in ("maximum", "minimum"):
        op = REGISTRY[name]()
        y = op.forward(a[None], b[None])
        ga, gb = op.backward(g[None])
        ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
        out = getattr(torch, name)(ta, tb)
        out.backward(torch.tensor(g))
        assert np.array_equal(y[0], out.detach().numpy())
        assert np.allclose(ga[0], ta.grad.numpy(), atol=1e-15)
        assert np.allclose(ga[0] * 0 + np.asarray(gb[0]), np.broadcast_to(gb[0], (2, 3)))
        assert np.allclose(np.asarray(gb[0]).sum(axis=0), tb.grad.numpy(), atol=1e-15)


# ------------------------------------------------------------------------------ clip


def test_clip_values_and_the_gradient_passes_at_the_bounds():
    run = run_yaml("nnlab: 1\ntitle: t\nvalues: {x: [-2, -1, 0.25, 1, 3]}\n"
                   "compute:\n  - y = clip(x, -1, 1)\n  - L = sum(y)\nbackward: L\n")
    assert run.arithmetic == "exact"
    assert run.value("y").tolist() == [-1, -1, 0.25, 1, 1]
    assert run.grad("x").tolist() == [0, 1, 1, 1, 0]  # x = −1 and x = 1 exactly: passed (PyTorch's clamp)


def test_clip_with_one_bound_and_bad_bounds():
    run = run_yaml("nnlab: 1\ntitle: t\nvalues: {x: [-2, 7]}\ncompute:\n  - y = clip(x, None, 6)\n")
    assert run.value("y").tolist() == [-2, 6]
    with pytest.raises(NnlabError, match="above its upper bound"):
        run_yaml("nnlab: 1\ntitle: t\nvalues: {x: [1]}\ncompute:\n  - y = clip(x, 2, 1)\n")
    with pytest.raises(NnlabError, match="at least one bound"):
        run_yaml("nnlab: 1\ntitle: t\nvalues: {x: [1]}\ncompute:\n  - y = clip(x, None, None)\n")
    with pytest.raises(NnlabError, match="missing its argument 'hi'"):
        run_yaml("nnlab: 1\ntitle: t\nvalues: {x: [1]}\ncompute:\n  - y = clip(x, 0)\n")


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 2, 2)])
def test_clip_gradcheck(shape):
    x = _away_from(RNG.uniform(-3, 3, size=shape), [-1, 0.5])
    check_op(REGISTRY["clip"], [x], lo=-1, hi=0.5)


def test_clip_against_torch():
    torch = pytest.importorskip("torch")
    x = np.array([-2.0, -1.0, -0.3, 0.0, 0.5, 0.9, 2.0])
    g = RNG.normal(size=x.shape)
    for lo, hi in ((-1, 0.5), (None, 0.5), (-1, None)):
        op = REGISTRY["clip"](lo=lo, hi=hi)
        y = op.forward(x[None])
        (gx,) = op.backward(g[None])
        t = torch.tensor(x, requires_grad=True)
        out = torch.clamp(t, lo, hi)
        out.backward(torch.tensor(g))
        assert np.array_equal(y[0], out.detach().numpy())
        assert np.array_equal(gx[0], t.grad.numpy())
