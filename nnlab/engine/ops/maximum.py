"""``maximum(a, b)`` and ``minimum(a, b)``: the larger (smaller) of two tensors, element
by element, with NumPy broadcasting.

Convention at a tie (``a == b``), PyTorch's ``torch.maximum``/``torch.minimum``: the
gradient is **split evenly**, ½ to each input (sympy's ``Max`` does the same:
``Heaviside(0) = ½``). This differs from the reduction ``max(x)``, which sends the whole
gradient to the first maximum — two ops, two conventions, both PyTorch's.

The whole pair — forward, backward, explanation, symbolic form, examples — is this module.
"""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

import numpy as np

from nnlab.engine.ops.base import Example, plain, register, source_index
from nnlab.engine.ops.elementwise import Binary
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


class _Pick(Binary):
    """``y = a`` where ``a`` wins, ``b`` where ``b`` wins, the gradient split ½/½ on a tie."""

    keeps_finite = True
    sign: ClassVar[int] = 1  # +1 picks the larger, −1 the smaller
    rule_notes = ("at a tie a = b the gradient is split ½ to each input (PyTorch)",)

    def _wins(self, a, b):
        """1 where ``a`` wins, 0 where ``b`` wins, ½ on a tie (float64 weights)."""
        d = (a - b) * self.sign
        if d.dtype == object:
            d = d.astype(float)
        return np.where(d > 0, 1.0, np.where(d < 0, 0.0, 0.5))

    def f(self, a, b):
        return np.where(((a - b) * self.sign >= 0).astype(bool), a, b)

    def backward(self, g):
        a, b = self.saved["a"], self.saved["b"]
        w = self._wins(a, b)
        if g.dtype == object or a.dtype == object:  # exact: ½ as a Fraction
            w = np.vectorize(lambda v: Fraction(v).limit_denominator(2), otypes=[object])(w) if w.size \
                else w.astype(object)
        return g * w, g * (1 - w)

    def sym_f(self, a, b, sym):
        return sym.sp.Max(a, b) if self.sign > 0 else sym.sp.Min(a, b)

    def explain(self, index, xs, out, names, out_name, digits):
        a, b = xs
        ia, ib = source_index(index, np.shape(a)), source_index(index, np.shape(b))
        va, vb = a[ia], b[ib]
        note = "a tie: the gradient is split ½ to each input (PyTorch)" if va == vb else ""
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = {self.name}({names[0]}, {names[1]})",
                           f"{self.name[:3]}({plain(va, digits)}, {plain(vb, digits)})", out[index],
                           (Use(0, ia), Use(1, ib)), note=note)


@register
class Maximum(_Pick):
    name, sign = "maximum", 1
    formula = "y = max(a, b) elementwise  (a tie splits the gradient ½/½)"
    example = Example("y = maximum(a, b)", {"a": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], "b": [1.0, -2.0, 0.5]})


@register
class Minimum(_Pick):
    name, sign = "minimum", -1
    formula = "y = min(a, b) elementwise  (a tie splits the gradient ½/½)"
    example = Example("y = minimum(a, b)", {"a": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], "b": [1.0, -2.0, 0.5]})
