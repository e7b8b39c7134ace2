"""Central finite differences against an op's backward, in float64.

``check_op(op_cls, inputs, **params)`` runs the op on batch-first copies of
``inputs`` (per-example arrays; a batch axis of size 1 is added unless
``batched=True``), pulls back a random upstream gradient, and compares every
input's VJP with the numerical one: (f(x+h) - f(x-h)) / 2h · g.
"""

from __future__ import annotations

import numpy as np

from nnlab.engine.ops.base import unbroadcast


def run_op(op_cls, inputs, batched=False, **params):
    op = op_cls(**params)
    xs = [None if x is None else (np.asarray(x, dtype=float) if batched else np.asarray(x, dtype=float)[None]) for x in inputs]
    out = op.forward(*xs)
    return op, xs, out


def numeric_vjp(op_cls, xs, g, k, params, h=1e-6):
    base = xs[k]
    grad = np.zeros_like(base)
    it = np.nditer(base, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        plus = [None if x is None else x.copy() for x in xs]
        minus = [None if x is None else x.copy() for x in xs]
        plus[k][i] += h
        minus[k][i] -= h
        fp = op_cls(**params).forward(*plus)
        fm = op_cls(**params).forward(*minus)
        grad[i] = np.sum((fp - fm) * g) / (2 * h)
    return grad


def check_op(op_cls, inputs, *, batched=False, skip=(), rtol=1e-6, atol=1e-7, seed=0, **params):
    """Assert the op's VJPs match central differences for every tensor input."""
    rng = np.random.default_rng(seed)
    op, xs, out = run_op(op_cls, inputs, batched=batched, **params)
    g = rng.normal(size=np.shape(out))
    grads = op.backward(g)
    for k, x in enumerate(xs):
        if x is None or k in skip:
            continue
        got = unbroadcast(np.asarray(grads[k], dtype=float) if grads[k] is not None else np.zeros_like(x), x.shape) if grads[k] is not None else None
        assert got is not None, f"{op_cls.name}: no gradient for input {k}"
        want = numeric_vjp(op_cls, xs, g, k, params)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                   err_msg=f"{op_cls.name}: gradient of input {k}")
    return out
