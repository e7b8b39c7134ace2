"""Inverted dropout: ``dropout_mask`` draws the 0/1 mask, ``inverted_dropout`` applies it.

``D = dropout(x, p, seed=0)`` is a composite (:mod:`nnlab.engine.composites`) of the two,
so the mask is a step of its own (``D.mask``) that a student can open and check:

* ``D.mask = dropout_mask(x, p, seed)``: ``mask[i] = 1 if u[i] ≥ p else 0`` with the draws
  ``u = numpy.random.default_rng(seed).random(shape)`` (uniform on [0, 1)), so each element
  is kept with probability 1 − p and the same seed and shape give the same mask. With a
  ``data`` batch the draws are made for the whole batch at once, ``(N, *shape)`` in
  row-major order: example 0 gets the mask a single example would get, the others their
  own. ``p = 0`` keeps everything (a mask of ones).
* ``D = inverted_dropout(x, D.mask, p)``: ``x ⊙ mask / (1 − p)`` — *inverted* dropout,
  the convention of PyTorch's ``F.dropout(training=True)``: the kept values are scaled up
  during training so nothing changes at test time. ``p = 1`` drops everything and gives
  zeros (as PyTorch), not a division by zero.

The mask is a step function of nothing differentiable: its gradient with respect to ``x``
is 0, and the gradient reaches ``x`` through ``inverted_dropout`` (``mask / (1 − p)``).
``inverted_dropout`` also takes a mask written by hand, for "apply dropout with this mask".
"""

from __future__ import annotations

from fractions import Fraction
from numbers import Real

import numpy as np

from nnlab.engine.ops.base import (Example, Op, Param, ShapeError, broadcast_shapes, num, plain, register,
                                   whole)
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


def _p(op: Op) -> float:
    """The drop probability, checked: a number in [0, 1]."""
    p = op.params.get("p")
    if isinstance(p, bool) or not isinstance(p, Real) or not 0 <= p <= 1:
        raise ShapeError(f"p must be a probability in [0, 1] in '{op.name}', got {p!r}",
                         "p is the probability of dropping an element, e.g. p=0.5.")
    return p


def _scale(p: Real, exact: bool):
    """1/(1 − p), the factor on kept values; 0 when everything is dropped (p = 1)."""
    q = 1 - (Fraction(str(p)) if exact else float(p))
    return 1 / q if q else 0 * q


def draws(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The uniform draws on [0, 1) behind a mask: ``numpy.random.default_rng(seed).random(shape)``."""
    return np.random.default_rng(seed).random(shape)


@register
class DropoutMask(Op):
    """``mask = dropout_mask(x, p, seed=0)``: 1 where the draw ``u ≥ p`` (kept), else 0."""

    name = "dropout_mask"
    signature = (Param("x"), Param("p", tensor=False), Param("seed", tensor=False, default=0))
    formula = "mask[i] = 1 if u[i] ≥ p else 0,  u = default_rng(seed).random(shape)"
    derivative = "0 (the mask does not change with x)"
    rational = True
    keeps_finite = True
    example = Example("y = dropout_mask(x, p=0.5, seed=1)", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})

    def _seed(self) -> int:
        seed = whole(self.params.get("seed", 0), "seed", self)
        if seed < 0:
            raise ShapeError(f"seed must be 0 or more in '{self.name}', got {seed}")
        return seed

    def infer(self, shape):
        _p(self)
        self._seed()
        return tuple(shape)

    def forward(self, x):
        u = draws(self._seed(), x.shape)
        keep = u >= _p(self)
        self.saved = {"u": u}
        return np.where(keep, 1, 0).astype(object) if x.dtype == object else keep.astype(float)

    def backward(self, g):
        return (np.zeros_like(g),)  # exact zeros in exact arithmetic

    def local(self, k, out_index, in_index):
        return 0.0

    def dependents(self, k, index, out_shape):
        return [tuple(index)]

    def explain(self, index, xs, out, names, out_name, digits):
        p = plain(_p(self), digits)
        u = self.saved.get("u")
        kept = bool(out[index])
        if u is not None and u.shape[0] == 1:  # one example: its draw is known
            arithmetic = f"[{plain(u[(0,) + tuple(index)], digits)} ≥ {p}]"
        else:  # which example's draw this is, explain() is not told: say kept or dropped
            arithmetic = f"[u ≥ {p}]"
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = [u ≥ p]  (1 if u ≥ p, else 0),  p = {p}",
                           arithmetic, out[index], (Use(0, tuple(index)),),
                           note=("kept" if kept else "dropped") + f": u = default_rng({self._seed()}).random(shape)"
                                f"{fmt_index(tuple(index))}")

    # -- symbolic: the mask of one example (constants: nothing in it depends on x)
    def symbolic(self, xs, sym, nums=None):
        keep = draws(self._seed(), xs[0].shape) >= _p(self)
        return sym.amap(lambda k: sym.sp.Integer(int(k)), keep.astype(object))

    def symbolic_caveat(self, values, consts):
        if values[0] is not None and values[0].shape[0] > 1:
            return "dropout_mask draws one mask per example; its symbolic form is that of one example"
        return ""

    def rule(self, c, sym):
        m, u, p = sym.symbol(c.out), sym.symbol("u"), sym.number(Fraction(str(_p(self))))
        fwd = sym.sp.Eq(m, sym.sp.Piecewise((1, u >= p), (0, True)))
        return fwd, (sym.deriv(c.names[0], 0, m, sym.symbol(c.names[0]), 0),), \
            ((f"u = numpy.random.default_rng({self._seed()}).random(shape), uniform on [0, 1): "
              "each element is kept with probability 1 − p"),)

    def describe(self):
        return f"p={self.params.get('p')}, seed={self.params.get('seed', 0)}"


@register
class InvertedDropout(Op):
    """``y = inverted_dropout(x, mask, p)``: ``x ⊙ mask / (1 − p)`` (0 everywhere when p = 1)."""

    name = "inverted_dropout"
    signature = (Param("x"), Param("mask"), Param("p", tensor=False))
    formula = "y = x ⊙ mask / (1 − p)"
    derivative = "mask / (1 − p)"
    rational = True
    keeps_finite = True
    example = Example("y = inverted_dropout(x, m, p=0.25)",
                      {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], "m": [[1, 0, 1], [0, 1, 1]]})

    def infer(self, sx, sm):
        _p(self)
        return broadcast_shapes(self, sx, sm)

    def forward(self, x, mask):
        s = _scale(_p(self), x.dtype == object or mask.dtype == object)
        self.saved = {"x": x, "mask": mask, "s": s}
        return x * mask * s

    def backward(self, g):
        x, mask, s = self.saved["x"], self.saved["mask"], self.saved["s"]
        return g * mask * s, g * x * s

    def symbolic(self, xs, sym, nums=None):
        s = sym.number(_scale(_p(self), True))
        return sym.binary(lambda x, m: x * m * s, xs[0], xs[1])

    def explain(self, index, xs, out, names, out_name, digits):
        x, m = xs
        ix = tuple(index[len(index) - x.ndim:]) if x.ndim else ()
        im = tuple(i if n > 1 else 0 for i, n in zip(index[len(index) - m.ndim:], m.shape)) if m.ndim else ()
        ix = tuple(i if n > 1 else 0 for i, n in zip(ix, x.shape))
        p = plain(_p(self), digits)
        return Explanation(f"{out_name}{fmt_index(index)}",
                           f"{out_name} = {names[0]} ⊙ {names[1]} / (1 − p),  p = {p}",
                           f"{num(x[ix], digits)}×{num(m[im], digits)}/(1 − {p})", out[index],
                           (Use(0, ix), Use(1, im)),
                           note="dropped: the mask is 0 here" if not m[im] else
                           "kept, scaled by 1/(1 − p) (inverted dropout)")

    def describe(self):
        return f"p={self.params.get('p')}"
