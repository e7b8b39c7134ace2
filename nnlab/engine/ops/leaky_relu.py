"""``leaky_relu(x, slope=0.01)``: ``x`` where ``x > 0``, else ``slope·x``.

Convention (PyTorch's ``F.leaky_relu``): the derivative at exactly 0 is ``slope``
(the left side), so ``leaky_relu'(0) = slope`` where ``relu'(0) = 0``. A slope
written as a decimal stays exact in exact arithmetic (``0.01`` is 1/100).

The whole op — forward, backward, shape rule, per-element explanation, symbolic form,
docs example — is this one module: it registers itself by being in the package.
"""

from __future__ import annotations

from fractions import Fraction
from numbers import Real

import numpy as np

from nnlab.engine.ops.base import Example, Param, ShapeError, num, plain, register
from nnlab.engine.ops.elementwise import Unary
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


@register
class LeakyRelu(Unary):
    """``y = x if x > 0 else slope·x`` (derivative ``slope`` at 0, as PyTorch)."""

    name = "leaky_relu"
    rational = True
    signature = (Param("x"), Param("slope", tensor=False, default=0.01))
    formula = "y = x if x > 0 else slope·x"
    derivative = "1 if x > 0 else slope (also at x = 0)"
    rule_notes = ("leaky_relu'(0) = slope (PyTorch's convention)",)
    example = Example("y = leaky_relu(x, slope=0.1)", {"x": [-1.5, 0.5, 2.0, -0.25]})

    def _slope(self, exact: bool):
        slope = self.params.get("slope", 0.01)
        if isinstance(slope, bool) or not isinstance(slope, Real):
            raise ShapeError(f"slope must be a number in 'leaky_relu', got {slope!r}", "e.g. slope=0.01")
        return Fraction(str(slope)) if exact else float(slope)

    def infer(self, shape):
        self._slope(False)
        return tuple(shape)

    def f(self, x):
        exact = x.dtype == object
        slope = self._slope(exact)
        return np.where((x > 0).astype(bool), x, slope * x)

    def df(self, x, y):
        exact = x.dtype == object
        if exact:
            return np.where((x > 0).astype(bool), Fraction(1), self._slope(True)).astype(object)
        return np.where(x > 0, 1.0, self._slope(False))

    def sym_f(self, v, sym):
        slope = sym.number(self._slope(True))
        return sym.sp.Piecewise((v, v > 0), (slope * v, True))

    def explain(self, index, xs, out, names, out_name, digits):
        x = xs[0][index]
        slope = plain(self.params.get("slope", 0.01), digits)
        arithmetic = plain(x, digits) if x > 0 else f"{slope}×{num(x, digits)}"
        return Explanation(f"{out_name}{fmt_index(index)}",
                           f"{out_name} = {names[0]} if {names[0]} > 0 else {slope}·{names[0]}",
                           arithmetic, out[index], (Use(0, index),),
                           note="exactly 0: the derivative is the slope (PyTorch)" if x == 0 else "")

    def describe(self):
        slope = self.params.get("slope", 0.01)
        return "" if slope == 0.01 else f"slope={slope}"
