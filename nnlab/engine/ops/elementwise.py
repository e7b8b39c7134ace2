"""Elementwise ops: ``+ - * / **``, negation and the activation functions.

Conventions (named, because references differ):

* ``step(z) = 1 if z > 0 else 0`` — the lecture's σ for the perceptron. The value at
  exactly 0 is ``options.step_at_zero`` (default 0). Its derivative is taken as 0
  everywhere (undefined at 0).
* ``relu'(0) = 0`` and ``abs'(0) = 0`` (PyTorch).
* ``sigmoid`` is evaluated in the overflow-free split form, so ``sigmoid(-1000) = 0``
  without warnings.
* ``a ** b``: the gradient with respect to ``b`` is ``a**b · ln a`` where ``a > 0``
  and 0 elsewhere.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from nnlab.engine.ops.base import Example, Op, Param, align, num, plain, register, source_index
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


def _is_exact(x: np.ndarray) -> bool:
    return x.dtype == object


_F64 = np.dtype(np.float64)
_ONE, _MINUS_ONE = np.array(1.0), np.array(-1.0)
"""1.0 (and −1.0) as a float64 array: with a float64 array it gives what the Python float gives (the same
dtype), without NumPy converting a Python number on every call."""


# --------------------------------------------------------------------------- unary


class Unary(Op):
    """An elementwise function ``y = f(x)``; subclasses give ``f`` and ``f'``."""

    signature = (Param("x"),)
    shown: ClassVar[str] = ""      # how the function is written: "σ", "exp"

    def infer(self, shape):
        return tuple(shape)

    def symbolic(self, xs, sym, nums=None):
        return sym.amap(lambda v: self.sym_f(v, sym), xs[0])

    def sym_f(self, v: Any, sym: Any) -> Any:
        """``f`` of one sympy expression (``sym`` is :mod:`nnlab.symbolic.kit`)."""
        raise NotImplementedError

    def rule(self, c, sym):
        return sym.elementwise_rule(self, c, in_output=True, notes=self.rule_notes, constants=False)

    def forward(self, x):
        y = self.f(x)
        self.saved = {"x": x, "y": y}
        return y

    def backward(self, g):
        return (g * self.df(self.saved["x"], self.saved["y"]),)

    def f(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def df(self, x, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def dependents(self, k, index, out_shape):
        return [tuple(index)]

    def local(self, k, out_index, in_index):
        if tuple(out_index[1:]) != tuple(in_index[1:]):
            return 0.0
        x, y = self.saved["x"], self.saved["y"]
        e = out_index[0] if x.shape[0] > 1 else 0
        at = (e,) + tuple(in_index[1:])
        return np.asarray(self.df(np.asarray(x[at]), np.asarray(y[at]))).item()

    def explain(self, index, xs, out, names, out_name, digits):
        x = xs[0][index]
        head = self.shown or self.name
        return Explanation(
            f"{out_name}{fmt_index(index)}",
            f"{out_name} = {head}({names[0]})",
            f"{head}({plain(x, digits)})",
            out[index],
            (Use(0, index),),
            note=self.note(x),
        )

    def note(self, x) -> str:
        return ""


@register
class Neg(Unary):
    name = "neg"
    example = Example("y = -x", {"x": [0.5, -1.5]})
    written = "-"
    keeps_finite = True
    shown = "-"
    rational = True
    formula = "y = −x"
    derivative = "−1"

    def f(self, x):
        return -x

    def sym_f(self, v, sym):
        return -v

    def df(self, x, y):
        return -np.ones_like(x)

    def explain(self, index, xs, out, names, out_name, digits):
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = −{names[0]}",
                           f"−{num(xs[0][index], digits)}", out[index], (Use(0, index),))


@register
class Exp(Unary):
    name = "exp"
    example = Example("y = exp(x)", {"x": [0.5, -1.5, 2.0]})
    formula = "y = eˣ"
    derivative = "eˣ = y"

    def f(self, x):
        return np.exp(x)

    def sym_f(self, v, sym):
        return sym.sp.exp(v)

    def df(self, x, y):
        return y


@register
class Log(Unary):
    name = "log"
    example = Example("y = log(x)", {"x": [0.5, 1.5, 3.0]})
    shown = "ln"
    formula = "y = ln x  (natural log)"
    derivative = "1/x"

    def f(self, x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    def sym_f(self, v, sym):
        return sym.sp.log(v)

    def df(self, x, y):
        with np.errstate(divide="ignore"):
            return 1.0 / x


@register
class Sqrt(Unary):
    name = "sqrt"
    example = Example("y = sqrt(x)", {"x": [0.5, 1.5, 4.0]})
    shown = "√"
    formula = "y = √x"
    derivative = "1/(2√x)"

    def f(self, x):
        with np.errstate(invalid="ignore"):
            return np.sqrt(x)

    def sym_f(self, v, sym):
        return sym.sp.sqrt(v)

    def df(self, x, y):
        with np.errstate(divide="ignore"):
            return 0.5 / y


@register
class Abs(Unary):
    name = "abs"
    example = Example("y = abs(x)", {"x": [-1.5, 0.5, 2.0]})
    keeps_finite = True
    rational = True
    formula = "y = |x|"
    derivative = "sign(x)  (0 at x = 0)"
    rule_notes = ("|x|' = sign(x), and 0 at x = 0",)

    def f(self, x):
        return np.abs(x) if not _is_exact(x) else np.where((x < 0).astype(bool), -x, x)

    def sym_f(self, v, sym):
        return sym.sp.Abs(v)

    def df(self, x, y):
        return np.sign(x.astype(float)) if _is_exact(x) else np.sign(x)


@register
class Sigmoid(Unary):
    name = "sigmoid"
    example = Example("y = sigmoid(x)", {"x": [-1.5, 0.5, 2.0]})
    keeps_finite = True
    shown = "σ"
    formula = "y = σ(x) = 1/(1 + e⁻ˣ)"
    derivative = "σ(x)(1 − σ(x)) = y(1 − y)"
    rule_notes = ("σ'(x) = σ(x)(1 − σ(x)): the derivative is written with the output",)

    def f(self, x):
        if x.dtype != _F64 or not x.ndim:
            e = np.exp(-np.abs(x))
            return np.where(x >= 0, 1.0, e) / (1.0 + e)  # 1/(1 + e) or e/(1 + e): one division
        # The same numbers in fewer calls: −|x| is x with its sign bit set (a nan too), which is
        # copysign(x, −1); without np.where, the numerator is 1 where x ≥ 0 (heaviside is 1
        # there, 0 below, nan for nan) and e below, as e = e^−|x| ≤ 1 (e first: a nan keeps
        # its sign bit, as np.where kept it).
        e = np.exp(np.copysign(x, _MINUS_ONE))
        return np.maximum(e, np.heaviside(x, _ONE)) / (e + _ONE)

    def sym_f(self, v, sym):
        return sym.sigmoid(v)

    def df(self, x, y):
        return y * ((_ONE if y.dtype is _F64 else 1.0) - y)

    def backward(self, g):  # Unary's, with df written out: one call fewer on every run
        y = self.saved["y"]
        return (g * (y * ((_ONE if y.dtype is _F64 else 1.0) - y)),)


@register
class Tanh(Unary):
    name = "tanh"
    example = Example("y = tanh(x)", {"x": [-1.5, 0.5, 2.0]})
    keeps_finite = True
    formula = "y = tanh(x)"
    derivative = "1 − tanh²(x) = 1 − y²"

    def f(self, x):
        return np.tanh(x)

    def sym_f(self, v, sym):
        return sym.sp.tanh(v)

    def df(self, x, y):
        return 1.0 - y * y


@register
class Relu(Unary):
    name = "relu"
    example = Example("y = relu(x)", {"x": [-1.5, 0.5, 2.0]})
    keeps_finite = True
    rational = True
    formula = "y = max(0, x)"
    derivative = "1 if x > 0 else 0"
    rule_notes = ("relu'(0) = 0 (PyTorch's convention)",)

    def f(self, x):
        if _is_exact(x):
            return np.where((x > 0).astype(bool), x, 0 * x)
        return np.maximum(x, 0.0)

    def sym_f(self, v, sym):
        return sym.relu(v)

    def df(self, x, y):
        return (x > 0).astype(float) if not _is_exact(x) else (x > 0).astype(bool).astype(float)

    def backward(self, g):
        x = self.saved["x"]
        if _is_exact(x) or _is_exact(g):
            return super().backward(g)
        return (np.where(x > 0, g, 0.0),)

    def explain(self, index, xs, out, names, out_name, digits):
        x = xs[0][index]
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = max(0, {names[0]})",
                           f"max(0, {plain(x, digits)})", out[index], (Use(0, index),))


@register
class Step(Unary):
    name = "step"
    example = Example("y = step(x)", {"x": [-1.5, 0.5, 2.0]})
    keeps_finite = True
    shown = "step"
    rational = True
    signature = (Param("x"), Param("at_zero", tensor=False, default=0))
    formula = "y = 1 if x > 0 else 0"
    derivative = "0 (the step function is flat; undefined at 0)"
    rule_notes = ("step is flat: its derivative is taken as 0 (undefined at 0)",)

    def f(self, x):
        at_zero = self.params.get("at_zero", 0)
        pos = (x > 0).astype(bool)
        zero = (x == 0).astype(bool)
        out = np.where(pos, 1, np.where(zero, at_zero, 0))
        return out.astype(object) if _is_exact(x) else out.astype(float)

    def sym_f(self, v, sym):
        return sym.step(v, sym.number(Fraction(str(self.params.get("at_zero", 0)))))

    def df(self, x, y):
        return np.zeros(x.shape)

    def explain(self, index, xs, out, names, out_name, digits):
        x = xs[0][index]
        at_zero = self.params.get("at_zero", 0)
        rule = "1 if > 0" if at_zero == 0 else f"1 if > 0, {at_zero} at 0"
        note = f"exactly 0: step(0) = {at_zero} (options.step_at_zero)" if x == 0 else ""
        return Explanation(f"{out_name}{fmt_index(index)}",
                           f"{out_name} = step({names[0]}) = 1 if {names[0]} > 0 else 0",
                           f"step({plain(x, digits)}) [{rule}]", out[index], (Use(0, index),), note=note)


# -------------------------------------------------------------------------- binary


class Binary(Op):
    """An elementwise operator ``y = a ∘ b`` with NumPy broadcasting per example."""

    signature = (Param("a"), Param("b"))
    rational = True

    def forward(self, a, b):
        a2, b2 = align(a, b)
        self.saved = {"a": a2, "b": b2}
        return self.f(a2, b2)

    def explain(self, index, xs, out, names, out_name, digits):
        a, b = xs
        ia, ib = source_index(index, np.shape(a)), source_index(index, np.shape(b))
        return Explanation(
            f"{out_name}{fmt_index(index)}",
            f"{out_name} = {names[0]} {self.symbol} {names[1]}",
            f"{num(a[ia], digits)} {self.symbol} {num(b[ib], digits)}",
            out[index],
            (Use(0, ia), Use(1, ib)),
        )

    def f(self, a, b):  # pragma: no cover - abstract
        raise NotImplementedError

    def symbolic(self, xs, sym, nums=None):
        return sym.binary(lambda a, b: self.sym_f(a, b, sym), xs[0], xs[1])

    def sym_f(self, a: Any, b: Any, sym: Any) -> Any:
        """``a ∘ b`` of two sympy expressions."""
        raise NotImplementedError

    def dependents(self, k, index, out_shape):
        in_shape = self.in_shapes[k][1:]
        if tuple(in_shape) == tuple(out_shape):
            return [tuple(index)]
        return [o for o in np.ndindex(*out_shape) if source_index(o, in_shape) == tuple(index)] \
            if int(np.prod(out_shape)) <= 1_000_000 else None

    def local(self, k, out_index, in_index):
        """∂y[o]/∂input_k[i]: the op's backward on a one-element upstream, computed at that element only."""
        in_shape = self.in_shapes[k][1:]
        if source_index(tuple(out_index[1:]), in_shape) != tuple(in_index[1:]):
            return 0.0
        a, b = self.saved["a"], self.saved["b"]
        o = tuple(out_index)
        ia = tuple(0 if s == 1 else i for i, s in zip(o, a.shape))
        ib = tuple(0 if s == 1 else i for i, s in zip(o, b.shape))
        cls = type(self)
        one = cls(**self.params)
        one.needs = (k == 0, k == 1)
        one.forward(np.asarray(a[ia])[None], np.asarray(b[ib])[None])
        grads = one.backward(np.ones((1,)))
        return np.asarray(grads[k]).reshape(-1)[0]


@register
class Add(Binary):
    name, symbol, formula = "add", "+", "y = a + b"
    example = Example("y = a + b", {"a": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], "b": [0.5, 1.0, -2.0]})
    written = "+"

    def f(self, a, b):
        return a + b

    def sym_f(self, a, b, sym):
        return a + b

    def backward(self, g):
        return g, g


@register
class Sub(Binary):
    name, symbol, formula = "sub", "-", "y = a − b"
    example = Example("y = a - b", {"a": [0.5, -1.0, 2.0], "b": [1.5, 0.25, -0.5]})
    written = "-"

    def f(self, a, b):
        return a - b

    def sym_f(self, a, b, sym):
        return a - b

    def backward(self, g):
        return g, -g


@register
class Mul(Binary):
    name, symbol, formula = "mul", "×", "y = a · b"
    example = Example("y = a * b", {"a": [0.5, -1.0, 2.0], "b": [1.5, 0.25, -0.5]})
    written = "*"

    def f(self, a, b):
        return a * b

    def sym_f(self, a, b, sym):
        return a * b

    def backward(self, g):
        return g * self.saved["b"], g * self.saved["a"]


@register
class Div(Binary):
    name, symbol, formula = "div", "/", "y = a / b"
    example = Example("y = a / b", {"a": [0.5, -1.0, 2.0], "b": [1.5, 0.25, -0.5]})
    written = "/"

    def f(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return a / b

    def sym_f(self, a, b, sym):
        return a / b

    def backward(self, g):
        a, b = self.saved["a"], self.saved["b"]
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / b, -g * a / (b * b)


@register
class Pow(Binary):
    name, symbol, formula = "pow", "^", "y = aᵇ"
    example = Example("y = a ** b", {"a": [0.5, 1.5, 2.0], "b": [2.0, 0.5, -1.0]})
    written = "**"
    rational = True  # exact only for whole-number exponents; the engine checks

    def f(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return a ** b

    def sym_f(self, a, b, sym):
        return a ** b

    def symbolic_caveat(self, values, consts):
        a = values[0]
        if not consts[1] and a is not None and np.any(a <= 0):
            return "a tensor power of a non-positive base"
        return ""

    def rule(self, c, sym):
        notes = () if c.consts[1] else ("∂/∂b is taken as 0 where a ≤ 0 (ln a is undefined there)",)
        return sym.elementwise_rule(self, c, in_output=True, notes=notes)

    def backward(self, g):
        a, b = self.saved["a"], self.saved["b"]
        needs = self.needs
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ga = g * b * a ** np.where(b != 0, b - 1, 0) if needs[0] else None  # d(a⁰)/da = 0, even at a = 0
            gb = None
            if needs[1]:
                af = np.asarray(a, dtype=float)
                safe = np.where(af > 0, af, 1.0)
                gb = g * np.where(af > 0, np.asarray(a ** b, dtype=float) * np.log(safe), 0.0)
        return ga, gb
