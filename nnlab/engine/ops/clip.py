"""``clip(x, lo, hi)``: ``x`` limited to the interval ``[lo, hi]`` (``torch.clamp``,
``np.clip``); ``lo`` or ``hi`` may be ``None`` (no bound on that side).

Convention at the boundary, PyTorch's ``clamp``: the gradient passes where
``lo ≤ x ≤ hi`` — **including** ``x = lo`` and ``x = hi`` exactly — and is 0 strictly
outside. ``lo`` and ``hi`` are numbers written in the call (settings, not tensors), so
they get no gradient; ``lo > hi`` is refused.

The whole op — forward, backward, explanation, symbolic form, example — is this module.
"""

from __future__ import annotations

from fractions import Fraction
from numbers import Real

import numpy as np

from nnlab.engine.ops.base import Example, Param, ShapeError, plain, register
from nnlab.engine.ops.elementwise import Unary
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


@register
class Clip(Unary):
    """``y = min(max(x, lo), hi)``; derivative 1 on ``[lo, hi]`` (ends included), 0 outside."""

    name = "clip"
    rational = True
    keeps_finite = True
    signature = (Param("x"), Param("lo", tensor=False), Param("hi", tensor=False))
    formula = "y = lo if x < lo, hi if x > hi, else x"
    derivative = "1 if lo ≤ x ≤ hi (ends included, PyTorch) else 0"
    rule_notes = ("clip'(x) = 1 on [lo, hi] including both ends (PyTorch's clamp), 0 outside",)
    example = Example("y = clip(x, -1, 0.5)", {"x": [-1.5, -0.25, 0.3, 2.0]})

    def _bounds(self, exact: bool):
        """``(lo, hi)`` as Fractions (exact) or floats; None for a missing bound."""
        out = []
        for key in ("lo", "hi"):
            v = self.params.get(key)
            if v is None:
                out.append(None)
                continue
            if isinstance(v, bool) or not isinstance(v, Real):
                raise ShapeError(f"{key} must be a number or None in 'clip', got {v!r}", "e.g. clip(x, -1, 1)")
            out.append(Fraction(str(v)) if exact else float(v))
        lo, hi = out
        if lo is None and hi is None:
            raise ShapeError("clip needs at least one bound", "e.g. clip(x, 0, 1) or clip(x, None, 6)")
        if lo is not None and hi is not None and lo > hi:
            raise ShapeError(f"clip's lower bound {lo} is above its upper bound {hi}")
        return lo, hi

    def infer(self, shape):
        self._bounds(False)
        return tuple(shape)

    def f(self, x):
        lo, hi = self._bounds(x.dtype == object)
        y = x
        if lo is not None:
            y = np.where((y < lo).astype(bool), lo, y)
        if hi is not None:
            y = np.where((y > hi).astype(bool), hi, y)
        return y if x.dtype == object else y.astype(float)

    def df(self, x, y):
        lo, hi = self._bounds(False)
        xf = x.astype(float) if x.dtype == object else x
        inside = np.ones(xf.shape, dtype=bool)
        if lo is not None:
            inside &= xf >= lo
        if hi is not None:
            inside &= xf <= hi
        return inside.astype(float)

    def sym_f(self, v, sym):
        lo, hi = self._bounds(True)
        pieces = []
        if lo is not None:
            pieces.append((sym.number(lo), v < sym.number(lo)))
        if hi is not None:
            pieces.append((sym.number(hi), v > sym.number(hi)))
        return sym.sp.Piecewise(*pieces, (v, True))

    def explain(self, index, xs, out, names, out_name, digits):
        x = xs[0][index]
        lo, hi = self._bounds(False)
        lo_t = "−∞" if lo is None else plain(lo, digits)
        hi_t = "∞" if hi is None else plain(hi, digits)
        edge = (lo is not None and x == lo) or (hi is not None and x == hi)
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = clip({names[0]}, {lo_t}, {hi_t})",
                           f"clip({plain(x, digits)}, {lo_t}, {hi_t})", out[index], (Use(0, index),),
                           note="exactly at a bound: the gradient passes (PyTorch's clamp)" if edge else "")

    def describe(self):
        return f"lo={self.params.get('lo')}, hi={self.params.get('hi')}"
