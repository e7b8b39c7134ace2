"""Every engine op written once more, on arrays of sympy expressions.

Why a second implementation: the symbolic layer must not trust the engine it checks.
These forwards take per-example ``object`` arrays of sympy expressions (no batch
axis) and return the op's output the way the math defines it — a matrix product is
a sum of products, a convolution output is its Σₐ,ᵦ X·K written out, a max-pool
output is :class:`~nnlab.symbolic.functions.first_max` of its window. Derivatives
are then sympy's business (``diff``), never the engine's backward.

Only static settings (stride, axis, reduction…) and, for ``cross_entropy`` with
class indices, the class numbers are read from the graph; every tensor is symbolic.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp

from nnlab.engine.ops.base import pe_axes, pe_axis
from nnlab.symbolic.functions import (
    first_max,
    log_softmax_at,
    relu,
    sigmoid,
    softmax_at,
    softplus,
    step,
)


class NoSymbolicForm(Exception):
    """An op (or a setting of one) that has no symbolic form here."""


def arr(value: Any) -> np.ndarray:
    """Wrap a sympy scalar (or an object array) as an object ndarray."""
    if isinstance(value, np.ndarray):
        return value if value.dtype == object else value.astype(object)
    out = np.empty((), dtype=object)
    out[()] = value
    return out


def amap(f: Callable, x: np.ndarray) -> np.ndarray:
    """Apply ``f`` to every element of an object array."""
    out = np.empty(x.shape, dtype=object)
    for idx in np.ndindex(*x.shape):
        out[idx] = f(x[idx])
    return out


def number(value: Any) -> sp.Expr:
    """A Python/NumPy number or Fraction as an exact sympy number where possible."""
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, (bool, np.bool_)):
        return sp.Integer(int(value))
    if isinstance(value, (int, np.integer)):
        return sp.Integer(int(value))
    v = float(value)
    if v == int(v) and abs(v) < 2**53:
        return sp.Integer(int(v))
    return sp.Float(v)


def _reduce(x: np.ndarray, axes: tuple[int, ...], fn: Callable[[list], sp.Expr]) -> np.ndarray:
    """Reduce per-example ``axes`` of ``x`` with ``fn(list of cells in row-major order)``."""
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    out = np.empty(flat.shape[:-1], dtype=object)
    for idx in np.ndindex(*out.shape):
        out[idx] = fn(list(flat[idx]))
    return out


def _axes(op, x: np.ndarray) -> tuple[int, ...]:
    return tuple(a - 1 for a in pe_axes(op.params.get("axis"), x.ndim, op))


# ----------------------------------------------------------------------- forwards

_UNARY = {
    "neg": lambda v: -v, "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs,
    "sigmoid": sigmoid, "tanh": sp.tanh, "relu": relu,
}
_BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
}


def _binary(f, a, b):
    a2, b2 = np.broadcast_arrays(a, b)
    out = np.empty(a2.shape, dtype=object)
    for idx in np.ndindex(*out.shape):
        out[idx] = f(a2[idx], b2[idx])
    return out


def _matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise NoSymbolicForm("@ needs vectors or matrices")
    A = a[None, :] if a.ndim == 1 else a
    B = b[:, None] if b.ndim == 1 else b
    stack = np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    A = np.broadcast_to(A, stack + A.shape[-2:])
    B = np.broadcast_to(B, stack + B.shape[-2:])
    out = np.empty(stack + (A.shape[-2], B.shape[-1]), dtype=object)
    n = A.shape[-1]
    for s in np.ndindex(*stack):
        for i in range(A.shape[-2]):
            for k in range(B.shape[-1]):
                out[s + (i, k)] = sp.Add(*[A[s + (i, j)] * B[s + (j, k)] for j in range(n)])
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return arr(out)


def _causal(q: int, k: int) -> np.ndarray:
    return np.arange(k)[None, :] <= np.arange(q)[:, None] + (k - q)


def _softmaxish(op, x, log: bool):
    axis = pe_axis(int(op.params.get("axis", -1)), x.ndim, op) - 1
    mask = op.params.get("mask")
    keep = np.ones(x.shape, dtype=bool)
    if mask == "causal":
        if log:
            raise NoSymbolicForm("log_softmax with a causal mask")
        keep = np.broadcast_to(_causal(x.shape[-2], x.shape[-1]), x.shape)
    out = np.empty(x.shape, dtype=object)
    moved = np.moveaxis(x, axis, -1)
    kept = np.moveaxis(keep, axis, -1)
    res = np.moveaxis(out, axis, -1)  # a view: filling it fills out
    for idx in np.ndindex(*moved.shape[:-1]):
        row = [moved[idx + (j,)] for j in range(moved.shape[-1]) if kept[idx + (j,)]]
        pos = 0
        for j in range(moved.shape[-1]):
            if kept[idx + (j,)]:
                fn = log_softmax_at if log else softmax_at
                res[idx + (j,)] = fn(sp.Integer(pos), *row)
                pos += 1
            else:
                res[idx + (j,)] = sp.S.Zero
    return out


def _reduce_terms(op, terms: np.ndarray) -> np.ndarray:
    r = op.params.get("reduction", "mean")
    if r == "none":
        return terms
    total = sp.Add(*terms.ravel().tolist())
    return arr(total / terms.size if r == "mean" else total)


def _loss(op, a, b, term):
    return _reduce_terms(op, _binary(term, a, b))


def _cross_entropy(op, logits, target, target_num):
    kind = op.params.get("_kind")
    rows = np.empty(logits.shape[:-1], dtype=object)
    k = logits.shape[-1]
    for r in np.ndindex(*rows.shape):
        row = [logits[r + (c,)] for c in range(k)]
        if kind == "prob":
            rows[r] = -sp.Add(*[target[r + (c,)] * log_softmax_at(sp.Integer(c), *row) for c in range(k)])
        else:
            if target_num is None:
                raise NoSymbolicForm("cross_entropy needs the class indices")
            c = round(float(np.asarray(target_num)[r]))
            rows[r] = -log_softmax_at(sp.Integer(c), *row)
    return _reduce_terms(op, rows)


def _window(op_name, params, in_hw, k_hw, conv: bool):
    from nnlab.engine.ops.conv import Window, pair, per_side

    if conv:
        stride = pair(params.get("stride", 1), "stride", op_name, 1)
        pads = per_side(params.get("padding", 0), params.get("padding_total"), op_name)
    else:
        size = pair(params.get("size"), "size", op_name, 1)
        k_hw = size
        stride = params.get("stride")
        stride = size if stride is None else pair(stride, "stride", op_name, 1)
        pads = per_side(params.get("padding", 0), None, op_name)
    return Window(tuple(in_hw), tuple(k_hw), stride, pads)


def _conv2d(op, X, K, b):
    x3 = X if X.ndim == 3 else X[None]
    k4 = K if K.ndim == 4 else K[None] if K.ndim == 3 else K[None, None]
    F, C, kh, kw = k4.shape
    win = _window("conv2d", op.params, x3.shape[-2:], (kh, kw), conv=True)
    (oh, ow), (sh, sw), ((t, _), (left, _)) = win.out_hw, win.stride, win.pads
    H, W = win.in_hw
    out = np.empty((F, oh, ow), dtype=object)
    for f in range(F):
        bias = sp.S.Zero
        if b is not None:
            bias = b[()] if b.ndim == 0 else b[f] if K.ndim == 4 else b[0]
        for i in range(oh):
            for j in range(ow):
                terms = []
                for c in range(C):
                    for a in range(kh):
                        r = i * sh + a - t
                        if not 0 <= r < H:
                            continue
                        for bb in range(kw):
                            q = j * sw + bb - left
                            if 0 <= q < W:
                                terms.append(x3[c, r, q] * k4[f, c, a, bb])
                out[f, i, j] = sp.Add(*terms) + bias
    return out if K.ndim == 4 else out[0]


def _pool(op, X, kind: str):
    x3 = X if X.ndim == 3 else X[None]
    win = _window(op.name, op.params, x3.shape[-2:], None, conv=False)
    (oh, ow), (sh, sw), ((t, _), (left, _)), (kh, kw) = win.out_hw, win.stride, win.pads, win.size
    H, W = win.in_hw
    out = np.empty((x3.shape[0], oh, ow), dtype=object)
    for c in range(x3.shape[0]):
        for i in range(oh):
            for j in range(ow):
                cells = []
                for a in range(kh):
                    for bb in range(kw):
                        r, q = i * sh + a - t, j * sw + bb - left
                        if 0 <= r < H and 0 <= q < W:
                            cells.append(x3[c, r, q])
                if kind == "max":
                    out[c, i, j] = first_max(*cells)
                else:
                    div = kh * kw if op.params.get("count_include_pad", True) else len(cells)
                    out[c, i, j] = sp.Add(*cells) / div
    return out if X.ndim == 3 else out[0]


def forward(op, xs: list[np.ndarray | None], nums: list[Any] | None = None) -> np.ndarray:
    """The output of ``op`` on per-example symbolic inputs ``xs`` (object arrays).

    Args:
        op: The graph node's op (its ``name`` and static ``params`` are used).
        xs: One object array per tensor input (None for an absent optional input).
        nums: Per-example numeric values of the inputs (only class indices are read).

    Raises:
        NoSymbolicForm: For an op or setting without a symbolic form.
    """
    name = op.name
    p = op.params
    xs = [None if x is None else arr(x) for x in xs]
    if name in _UNARY:
        return amap(_UNARY[name], xs[0])
    if name == "step":
        at_zero = number(Fraction(str(p.get("at_zero", 0))))
        return amap(lambda v: step(v, at_zero), xs[0])
    if name in _BINARY:
        return _binary(_BINARY[name], xs[0], xs[1])
    if name == "matmul":
        return _matmul(xs[0], xs[1])
    if name == "attention_scores":
        q, k = xs[0], xs[1]
        d = q.shape[-1]
        return arr(_matmul(q, np.transpose(k)) / sp.sqrt(d)) if d else arr(_matmul(q, np.transpose(k)))
    if name == "affine":
        return _binary(_BINARY["add"], _matmul(xs[0], xs[1]), xs[2])
    x = xs[0]
    if name == "transpose":
        axes = p.get("axes")
        axes = tuple(range(x.ndim))[::-1] if axes is None else tuple(int(a) % max(x.ndim, 1) for a in axes)
        return arr(np.transpose(x, axes))
    if name in ("reshape", "flatten"):
        return arr(x.reshape(tuple(p["resolved"])))
    if name == "index":
        return arr(x[tuple(p["key"])])
    if name == "sum":
        return arr(_reduce(x, _axes(op, x), lambda c: sp.Add(*c)))
    if name == "mean":
        return arr(_reduce(x, _axes(op, x), lambda c: sp.Add(*c) / len(c)))
    if name == "prod":
        return arr(_reduce(x, _axes(op, x), lambda c: sp.Mul(*c)))
    if name == "max":
        return arr(_reduce(x, _axes(op, x), lambda c: first_max(*c)))
    if name == "softmax":
        return _softmaxish(op, x, log=False)
    if name == "log_softmax":
        return _softmaxish(op, x, log=True)
    if name == "bce":
        return _loss(op, xs[0], xs[1], lambda pv, yv: -(yv * sp.log(pv) + (1 - yv) * sp.log(1 - pv)))
    if name == "bce_logits":
        return _loss(op, xs[0], xs[1], lambda z, yv: softplus(z) - z * yv)
    if name == "mse":
        return _loss(op, xs[0], xs[1], lambda a, b: (a - b) ** 2)
    if name == "cross_entropy":
        return _cross_entropy(op, xs[0], xs[1], None if nums is None else nums[1])
    if name == "conv2d":
        return _conv2d(op, xs[0], xs[1], xs[2] if len(xs) > 2 else None)
    if name == "maxpool2d":
        return _pool(op, x, "max")
    if name == "avgpool2d":
        return _pool(op, x, "avg")
    raise NoSymbolicForm(f"no symbolic form for '{name}'")


SUPPORTED = frozenset(list(_UNARY) + list(_BINARY) + [
    "step", "matmul", "affine", "attention_scores", "transpose", "reshape", "flatten", "index", "sum", "mean", "prod", "max",
    "softmax", "log_softmax", "bce", "bce_logits", "mse", "cross_entropy", "conv2d", "maxpool2d",
    "avgpool2d"])
"""Op names :func:`forward` knows."""

NEEDS_NUMBERS = frozenset({"cross_entropy"})
"""Ops whose symbolic form depends on input *values* (class indices)."""

__all__ = ["NEEDS_NUMBERS", "SUPPORTED", "NoSymbolicForm", "amap", "arr", "forward", "number"]
