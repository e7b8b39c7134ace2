"""``sign(x)``: 1 where ``x > 0``, −1 where ``x < 0``, and ``sign(0) = 0``.

Conventions (named, because perceptron texts differ):

* The value at exactly 0 is ``options.sign_at_zero`` (default 0, as NumPy and PyTorch;
  Rosenblatt-style texts use 1 or −1). It is a scenario option, not an argument, like
  ``options.step_at_zero`` for ``step``.
* The derivative is taken as 0 everywhere (PyTorch's ``sign`` backward; undefined at 0):
  a sign activation passes no gradient, so it is trained with the perceptron rule.

The whole op — forward, backward, explanation, symbolic form, example — is this module.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from nnlab.engine.ops.base import Example, Param, plain, register
from nnlab.engine.ops.elementwise import Unary
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


@register
class Sign(Unary):
    """``y = 1 if x > 0, −1 if x < 0, sign_at_zero at 0``; flat (derivative 0)."""

    name = "sign"
    example = Example("y = sign(x)", {"x": [-1.5, 0.5, 2.0, -0.25]})
    keeps_finite = True
    rational = True
    signature = (Param("x"), Param("at_zero", tensor=False, default=0))
    formula = "y = 1 if x > 0, −1 if x < 0, 0 at 0"
    derivative = "0 (sign is flat; undefined at 0)"
    rule_notes = ("sign is flat: its derivative is taken as 0 (PyTorch; undefined at 0)",)

    def _at_zero(self):
        return self.params.get("at_zero", 0)

    def f(self, x):
        at_zero = self._at_zero()
        pos, neg = (x > 0).astype(bool), (x < 0).astype(bool)
        out = np.where(pos, 1, np.where(neg, -1, at_zero))
        if x.dtype == object:
            return np.vectorize(lambda v: Fraction(str(v)), otypes=[object])(out) if out.size else out.astype(object)
        return out.astype(float)

    def df(self, x, y):
        return np.zeros(x.shape)

    def sym_f(self, v, sym):
        # sign(x) = step(x) − step(−x) with the value at 0 carried by the first step: flat, like the engine
        at_zero = sym.number(Fraction(str(self._at_zero())))
        return sym.step(v, at_zero) - sym.step(-v, sym.sp.S.Zero)

    def explain(self, index, xs, out, names, out_name, digits):
        x = xs[0][index]
        at_zero = self._at_zero()
        note = f"exactly 0: sign(0) = {plain(at_zero, digits)} (options.sign_at_zero)" if x == 0 else ""
        return Explanation(f"{out_name}{fmt_index(index)}",
                           f"{out_name} = sign({names[0]}) = 1 if {names[0]} > 0, −1 if < 0, "
                           f"{plain(at_zero, digits)} at 0",
                           f"sign({plain(x, digits)})", out[index], (Use(0, index),), note=note)

    def describe(self):
        return "" if self._at_zero() == 0 else f"at_zero={self._at_zero()}"
