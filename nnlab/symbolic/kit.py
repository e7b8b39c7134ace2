"""The toolkit an op's symbolic methods receive: sympy, the engine-convention functions
and the helpers for writing a forward on object arrays and a rule in index form.

Why a toolkit passed as an argument: an op keeps its symbolic forward and rule beside
its numeric forward and backward (one module per op), but the engine must not import
sympy when it loads. So :meth:`nnlab.engine.ops.base.Op.symbolic` and
:meth:`~nnlab.engine.ops.base.Op.rule` take this module as their ``sym`` argument;
only the symbolic layer imports it.

The symbolic forward is an independent second implementation (object arrays of sympy
expressions, written the way the math defines the op); derivatives are sympy's
business, never the engine's backward.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from sympy import Idx, IndexedBase, KroneckerDelta, Sum

from nnlab.symbolic.functions import (  # noqa: F401  (the toolkit's functions, used by the ops)
    first_max,
    heaviside0,
    log_softmax_at,
    relu,
    sigmoid,
    softmax_at,
    softplus,
    step,
)
from nnlab.symbolic.printing import latex, unicode
from nnlab.symbolic.printing import tidy as _tidy

__all__ = ["Idx", "IndexedBase", "KroneckerDelta", "LocalDerivative", "NoSymbolicForm", "RuleContext",
           "Sum", "amap", "arr", "binary", "deriv", "elementwise_rule", "idx", "matmul", "number",
           "reduce", "sp", "symbol"]


class NoSymbolicForm(Exception):
    """An op (or a setting of one) that has no symbolic form."""


# ------------------------------------------------------------------ object arrays


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
    for index in np.ndindex(*x.shape):
        out[index] = f(x[index])
    return out


def binary(f: Callable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``f(a, b)`` element by element, with NumPy broadcasting."""
    a2, b2 = np.broadcast_arrays(a, b)
    out = np.empty(a2.shape, dtype=object)
    for index in np.ndindex(*out.shape):
        out[index] = f(a2[index], b2[index])
    return out


def reduce(x: np.ndarray, axes: tuple[int, ...], fn: Callable[[list], Any]) -> np.ndarray:
    """Reduce ``axes`` of ``x`` with ``fn(list of cells in row-major order)``."""
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    out = np.empty(flat.shape[:-1], dtype=object)
    for index in np.ndindex(*out.shape):
        out[index] = fn(list(flat[index]))
    return out


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy's ``matmul`` rule written as sums of products (vectors, matrices, stacks)."""
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


# ------------------------------------------------------------------------- rules


def symbol(name: str) -> sp.Symbol:
    """A real symbol named as the scenario names it."""
    return sp.Symbol(name, real=True)


def idx(name: str) -> Idx:
    """An index for :class:`sympy.IndexedBase` rules (``i``, ``j``…)."""
    return Idx(name)


@dataclass(frozen=True)
class LocalDerivative:
    """One local derivative ``∂of/∂wrt`` of a step.

    Attributes:
        input: Display name of the input (``"z1"``, ``"(W1 @ x)"``).
        slot: Which input of the op (0-based).
        of: The output (element) differentiated, a sympy object.
        wrt: The input (element) it is differentiated by.
        expr: The derivative in terms of the inputs.
        in_output: The same written with the output (``a1·(1 − a1)``), or None.
        unicode: ``"∂a1/∂z1 = σ(z1)·(1 − σ(z1)) = a1·(1 − a1)"``.
        latex: The same in LaTeX.
    """

    input: str
    slot: int
    of: Any
    wrt: Any
    expr: Any
    in_output: Any
    unicode: str
    latex: str


def deriv(input_name: str, slot: int, of: Any, wrt: Any, expr: Any, in_output: Any = None) -> LocalDerivative:
    """A :class:`LocalDerivative` with its Unicode and LaTeX lines."""
    expr = _tidy(expr)
    if in_output is not None:
        in_output = sp.sympify(in_output)
        if in_output == expr:
            in_output = None
    head_u = f"∂{unicode(of)}/∂{unicode(wrt)}"
    head_l = rf"\frac{{\partial {latex(of)}}}{{\partial {latex(wrt)}}}"
    text = f"{head_u} = {unicode(expr)}" + (f" = {unicode(in_output)}" if in_output is not None else "")
    tex = f"{head_l} = {latex(expr)}" + (f" = {latex(in_output)}" if in_output is not None else "")
    return LocalDerivative(input_name, slot, of, wrt, expr, in_output, text, tex)


def tidy(expr: Any) -> Any:
    """The printing layer's tidy form of an expression."""
    return _tidy(expr)


@dataclass
class RuleContext:
    """What an op's :meth:`~nnlab.engine.ops.base.Op.rule` gets: the step's names,
    per-example shapes, which inputs are constants (and their values)."""

    out: str
    names: list[str | None]
    shapes: list[tuple[int, ...] | None]
    out_shape: tuple[int, ...]
    consts: list[bool]
    const_values: list[Any]


Rule = tuple[Any, tuple[LocalDerivative, ...], tuple[str, ...]]
"""``(Eq(output, formula), local derivatives, notes)``."""


def elementwise_rule(op: Any, c: RuleContext, in_output: bool = False, notes: tuple[str, ...] = (),
                     constants: bool = True) -> Rule:
    """The rule of an elementwise op, derived by sympy from the op's own symbolic forward
    on one scalar symbol per input; ``in_output`` also writes each derivative with the
    output (``σ(x)(1 − σ(x)) = y(1 − y)``); ``constants=False`` writes constant inputs
    as symbols too."""
    y = symbol(c.out)
    consts = c.consts if constants else [False] * len(c.names)
    xs = [c.const_values[k] if consts[k] else symbol(c.names[k] or "") for k in range(len(c.names))]
    f = op.symbolic([arr(x) for x in xs], sys.modules[__name__])[()]
    ders = []
    for slot, s in enumerate(xs):
        if consts[slot]:
            continue
        d = sp.diff(f, s)
        in_out = d.xreplace({f: y}) if in_output and not f.is_Atom else None
        ders.append(deriv(c.names[slot] or "", slot, y, s, d, in_out))
    broadcast = tuple(f"{c.names[k]} {tuple(c.shapes[k] or ())} is broadcast to {tuple(c.out_shape)}: "
                      f"its gradient sums over the repeated positions"
                      for k in range(len(xs)) if not consts[k] and tuple(c.shapes[k] or ()) != tuple(c.out_shape))
    return sp.Eq(y, f), tuple(ders), broadcast + tuple(notes)
