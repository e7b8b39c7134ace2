"""Sympy functions for the ops whose derivative conventions sympy does not share.

Why custom functions: sympy's own forms differ from the engine (and the lecture) in
small but visible ways — ``Max(0, x)`` differentiates to ``Heaviside(x)`` which is ½
at 0 where the engine says ``relu'(0) = 0``; ``Max(a, b)`` splits ties; a softmax
written as ``exp(xᵢ)/Σ exp(xⱼ)`` differentiates to a sum of quotients instead of
``pᵢ(δᵢⱼ − pⱼ)``. Each function here carries its derivative (``fdiff``) in the form a
student writes by hand, evaluates itself when its arguments are floats (so a factor
can be evaluated by substitution), and has a NumPy/math implementation for
:func:`sympy.lambdify` (:data:`NAMESPACE`).

Conventions are the engine's (see ``nnlab.engine.ops``): ``relu'(0) = 0``, the step
function is flat, ``max``/max-pooling route the gradient to the *first* maximum.
"""

from __future__ import annotations

import math

import sympy as sp
from mpmath.libmp import prec_to_dps
from sympy import Function, Integer, S

__all__ = [
    "NAMESPACE",
    "first_max",
    "heaviside0",
    "is_first_max",
    "log_softmax_at",
    "relu",
    "sigmoid",
    "softmax_at",
    "softplus",
    "step",
]


def _floats(*args) -> bool:
    """True when every argument is a real number and at least one is a Float."""
    return all(a.is_number and a.is_real is not False and a.is_comparable for a in args) and \
        any(a.has(sp.Float) for a in args)


def _numbers(*args) -> bool:
    return all(a.is_number and a.is_comparable for a in args)


def _numeric(f, prec, fn, index: bool = False):
    """``evalf`` of a function with a float formula: all arguments must evaluate to numbers."""
    args = [a.evalf(prec) for a in f.args]
    if not all(a.is_Number for a in args):
        return None
    vals = [float(a) for a in args]
    if index:
        vals[0] = round(vals[0])
    return sp.Float(fn(*vals), prec_to_dps(prec))


def _with_power(method):
    """Let a ``_latex`` method take the ``exp=`` LaTeX passes for a power (``σ(x)^{2}``)."""

    def wrapped(self, printer, exp=None, **kwargs):
        text = method(self, printer)
        return rf"\left({text}\right)^{{{exp}}}" if exp is not None else text

    wrapped.__doc__ = method.__doc__
    return wrapped


def heaviside0(x):
    """``[x > 0]``: the derivative of relu (0 at x = 0, the engine's convention)."""
    return sp.Heaviside(x, 0)


class sigmoid(Function):
    """σ(x) = 1/(1 + e⁻ˣ), with σ'(x) = σ(x)(1 − σ(x)). Stays unevaluated at exact numbers (σ(2))."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Float:
            v = float(x)
            return sp.Float(1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v)))
        if x is S.Zero:
            return S.Half
        return None

    def fdiff(self, argindex=1):
        return self * (1 - self)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _eval_evalf(self, prec):
        return (1 / (1 + sp.exp(-self.args[0])))._eval_evalf(prec)

    @_with_power
    def _latex(self, printer):
        return rf"\sigma\left({printer._print(self.args[0])}\right)"


class relu(Function):
    """max(0, x) with relu'(x) = [x > 0] (0 at x = 0)."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if _numbers(x):
            return x if x > 0 else S.Zero * x if x.is_Float else S.Zero
        return None

    def fdiff(self, argindex=1):
        return heaviside0(self.args[0])

    def _eval_is_real(self):
        return self.args[0].is_real

    @_with_power
    def _latex(self, printer):
        return rf"\operatorname{{relu}}\left({printer._print(self.args[0])}\right)"


class step(Function):
    """step(x, v0) = 1 if x > 0, v0 at 0, else 0. Flat: its derivative is taken as 0."""

    nargs = 2

    @classmethod
    def eval(cls, x, at_zero):
        if _numbers(x):
            return S.One if x > 0 else at_zero if x == 0 else S.Zero
        return None

    def fdiff(self, argindex=1):
        return S.Zero

    def _eval_is_real(self):
        return True

    @_with_power
    def _latex(self, printer):
        return rf"\operatorname{{step}}\left({printer._print(self.args[0])}\right)"


class softplus(Function):
    """ln(1 + eˣ), computed stably; its derivative is σ(x). Used by ``bce_logits``."""

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x.is_Float:
            v = float(x)
            return sp.Float(max(v, 0.0) + math.log1p(math.exp(-abs(v))))
        return None

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_evalf(self, prec):
        return _numeric(self, prec, lambda x: max(x, 0.0) + math.log1p(math.exp(-abs(x))))

    def _eval_is_real(self):
        return self.args[0].is_real

    @_with_power
    def _latex(self, printer):
        return rf"\ln\left(1 + e^{{{printer._print(self.args[0])}}}\right)"


def _first_argmax(values) -> int:
    best, arg = None, 0
    for k, v in enumerate(values):
        if best is None or v > best:
            best, arg = v, k
    return arg


class first_max(Function):
    """max(x₀, x₁, …) whose gradient goes to the *first* maximum (ties: row-major first)."""

    @classmethod
    def eval(cls, *xs):
        if len(xs) == 1:
            return xs[0]
        if _numbers(*xs):
            return xs[_first_argmax([float(x) for x in xs])]
        return None

    def fdiff(self, argindex=1):
        return is_first_max(Integer(argindex - 1), *self.args)

    def _eval_is_real(self):
        return all(a.is_real for a in self.args) or None

    @_with_power
    def _latex(self, printer):
        args = ", ".join(printer._print(a) for a in self.args)
        return rf"\max\left({args}\right)"


class is_first_max(Function):
    """[xₖ is the first maximum of x₀, x₁, …]: 1 or 0, the routing of max and max-pooling."""

    @classmethod
    def eval(cls, k, *xs):
        if _numbers(*xs):
            return S.One if _first_argmax([float(x) for x in xs]) == int(k) else S.Zero
        return None

    def fdiff(self, argindex=1):
        return S.Zero

    @_with_power
    def _latex(self, printer):
        k = int(self.args[0])
        return rf"\left[{printer._print(self.args[1 + k])} = \max\right]"


class softmax_at(Function):
    """softmax(x₀, x₁, …)ᵢ = e^{xᵢ} / Σⱼ e^{xⱼ}; ∂/∂xⱼ = softmaxᵢ(δᵢⱼ − softmaxⱼ)."""

    @classmethod
    def eval(cls, i, *xs):
        if _floats(*xs):
            vals = [float(x) for x in xs]
            m = max(vals)
            es = [math.exp(v - m) for v in vals]
            return sp.Float(es[int(i)] / sum(es))
        return None

    def fdiff(self, argindex=1):
        if argindex == 1:
            return S.Zero
        i, xs = self.args[0], self.args[1:]
        j = Integer(argindex - 2)
        return self * (sp.KroneckerDelta(i, j) - softmax_at(j, *xs))

    def _eval_evalf(self, prec):
        return _numeric(self, prec, _np_softmax_at, index=True)

    def _eval_is_real(self):
        return True

    @_with_power
    def _latex(self, printer):
        args = ", ".join(printer._print(a) for a in self.args[1:])
        return rf"\operatorname{{softmax}}\left({args}\right)_{{{printer._print(self.args[0])}}}"


class log_softmax_at(Function):
    """log softmax(x₀, x₁, …)ᵢ = xᵢ − ln Σⱼ e^{xⱼ}; ∂/∂xⱼ = δᵢⱼ − softmaxⱼ."""

    @classmethod
    def eval(cls, i, *xs):
        if _floats(*xs):
            vals = [float(x) for x in xs]
            m = max(vals)
            return sp.Float(vals[int(i)] - m - math.log(sum(math.exp(v - m) for v in vals)))
        return None

    def fdiff(self, argindex=1):
        if argindex == 1:
            return S.Zero
        i, xs = self.args[0], self.args[1:]
        j = Integer(argindex - 2)
        return sp.KroneckerDelta(i, j) - softmax_at(j, *xs)

    def _eval_evalf(self, prec):
        return _numeric(self, prec, _np_log_softmax_at, index=True)

    def _eval_is_real(self):
        return True

    @_with_power
    def _latex(self, printer):
        args = ", ".join(printer._print(a) for a in self.args[1:])
        return rf"\log\operatorname{{softmax}}\left({args}\right)_{{{printer._print(self.args[0])}}}"


# ----------------------------------------------------------------- numeric forms


def _np_sigmoid(x):
    x = float(x)
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _np_softmax_at(i, *xs):
    m = max(xs)
    es = [math.exp(float(v) - m) for v in xs]
    return es[int(i)] / sum(es)


def _np_log_softmax_at(i, *xs):
    m = max(xs)
    return float(xs[int(i)]) - m - math.log(sum(math.exp(float(v) - m) for v in xs))


def _np_step(x, at_zero):
    return 1.0 if x > 0 else float(at_zero) if x == 0 else 0.0


NAMESPACE = {
    "sigmoid": _np_sigmoid,
    "relu": lambda x: x if x > 0 else 0.0 * x,
    "step": _np_step,
    "softplus": lambda x: max(float(x), 0.0) + math.log1p(math.exp(-abs(float(x)))),
    "first_max": lambda *xs: xs[_first_argmax(xs)],
    "is_first_max": lambda k, *xs: 1.0 if _first_argmax(xs) == int(k) else 0.0,
    "softmax_at": _np_softmax_at,
    "log_softmax_at": _np_log_softmax_at,
}
"""What :func:`sympy.lambdify` calls for the functions above (scalar arguments)."""
