"""leaky_relu (issue 16): values, the derivative at 0 = slope, exact arithmetic, PyTorch."""

import numpy as np
import pytest

from nnlab.engine.ops import REGISTRY
from tests.unit.engine.gradcheck import check_op
from tests.helpers import run_yaml

X = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])


def forward_backward(x, g, **params):
    op = REGISTRY["leaky_relu"](**params)
    y = op.forward(x[None])
    (gx,) = op.backward(g[None])
    return y[0], gx[0]


def test_values_and_the_derivative_at_zero_is_the_slope():
    y, gx = forward_backward(X, np.ones(5), slope=0.1)
    assert np.allclose(y, [-0.2, -0.05, 0.0, 0.5, 3.0])
    assert np.allclose(gx, [0.1, 0.1, 0.1, 1.0, 1.0])       # at 0: slope, as PyTorch
    _, gx = forward_backward(X, np.ones(5))                   # default slope 0.01
    assert gx[2] == 0.01


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_gradcheck(shape):
    x = np.random.default_rng(1).uniform(-2, 2, size=shape)
    x = np.where(np.abs(x) < 0.05, 0.5, x)  # away from the kink
    check_op(REGISTRY["leaky_relu"], [x], slope=0.2)


def test_exact_arithmetic_keeps_the_decimal_slope():
    run = run_yaml("nnlab: 1\ntitle: t\nvalues: {x: [-0.5, 0, 2]}\n"
                   "compute:\n  - y = leaky_relu(x, slope=0.1)\n  - L = sum(y)\nbackward: L\n")
    assert run.arithmetic == "exact"
    assert run.value("y").tolist() == [-0.05, 0.0, 2.0]
    assert run.grad("x").tolist() == [0.1, 0.1, 1.0]


def test_a_slope_that_is_not_a_number_is_a_clean_error():
    from nnlab.engine.ops.base import ShapeError

    with pytest.raises(ShapeError, match="slope"):
        REGISTRY["leaky_relu"](slope="steep").infer((3,))


def test_against_torch():
    torch = pytest.importorskip("torch")
    g = np.array([0.3, -1.0, 2.0, 0.5, -0.25])
    for slope in (0.01, 0.2):
        y, gx = forward_backward(X, g, slope=slope)
        t = torch.tensor(X, requires_grad=True)
        out = torch.nn.functional.leaky_relu(t, negative_slope=slope)
        out.backward(torch.tensor(g))
        assert np.allclose(y, out.detach().numpy(), rtol=0, atol=1e-15)
        assert np.allclose(gx, t.grad.numpy(), rtol=0, atol=1e-15)
