"""``pad(X, p)``: "pad this volume with p zeros" — zeros around the spatial axes.

Conventions (named, because references differ):

* **Which axes.** The spatial ones: the last two of ``(H, W)``, ``(C, H, W)`` and
  ``(N, C, H, W)`` (channels-first, PyTorch's ``F.pad(x, (l, r, t, b))``); with
  ``layout='hwc'`` the H and W of ``(H, W, C)`` / ``(N, H, W, C)`` (channels-last,
  TensorFlow). A 1-D ``(L)`` is padded along its one axis. Channels and images are
  never padded.
* **How much**, the same forms as ``conv2d``'s ``padding``: ``p`` zeros on *each*
  side (a 32×32×3 volume padded by 2 is 36×36×3), ``[rows, cols]`` per axis, or
  ``[[top, bottom], [left, right]]`` per side. For a 1-D X: ``p`` or ``[left, right]``.
* The values are moved, not computed: exact arithmetic stays exact, and the gradient
  of X is the gradient of Y with the padding cropped away.

The whole op — forward, backward, shape rule, explanation, symbolic form, example —
is this module; the geometry is :func:`nnlab.engine.ops.conv.side_pairs`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from nnlab.engine.ops.base import Example, Op, Param, ShapeError, plain, register
from nnlab.engine.ops.conv import Pads, layout_of, pair, side_pairs
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


@register
class Pad(Op):
    """Zeros around the spatial axes of X (``p``, ``[rows, cols]`` or ``[[top, bottom], [left, right]]``)."""

    name = "pad"
    rational = True
    keeps_finite = True
    signature = (Param("X"), Param("p", tensor=False), Param("layout", tensor=False, default=None))
    formula = "Y[i,j] = X[i−top, j−left] inside X, else 0"
    derivative = "1 where Y[i,j] is X[i−top, j−left], else 0"
    example = Example("y = pad(X, [[1, 0], [0, 2]])", {"X": [[0.5, -1.0], [1.5, 0.25]]})

    # -- geometry ------------------------------------------------------------------
    def _axes(self, ndim: int) -> tuple[int, ...]:
        """The padded axes of a per-example X with ``ndim`` axes (1 or 2 of them)."""
        if ndim == 0:
            raise ShapeError("'pad' needs X with at least one axis, got a scalar",
                             "pad a vector (L), an image (H, W), a volume (C, H, W) or a batch (N, C, H, W)")
        if ndim == 1:
            return (0,)
        hwc = layout_of(self)
        if hwc and ndim == 2:
            raise ShapeError("'pad' with layout='hwc' needs X of shape (H, W, C) or (N, H, W, C), got 2 axes",
                             "an (H, W) image has no channel axis: leave layout out")
        return (ndim - 3, ndim - 2) if hwc else (ndim - 2, ndim - 1)

    def _pads(self, ndim: int) -> tuple[tuple[int, int], ...]:
        """``(lo, hi)`` per padded axis."""
        p = self.params.get("p")
        if ndim == 1:
            try:
                lo, hi = pair(p, "p", self.name, 0)
            except ShapeError as exc:
                raise ShapeError(exc.message, "for a 1-D X give p as a whole number (each side) or [left, right]") \
                    from None
            return ((lo, lo),) if not isinstance(p, (list, tuple)) else ((lo, hi),)
        pads: Pads = side_pairs(p, self.name, "p")
        return pads

    def _frame(self, shape) -> tuple[tuple[int, ...], tuple[slice, ...]]:
        """The padded shape and where X sits in it (per example)."""
        shape = tuple(shape)
        axes, pads = self._axes(len(shape)), self._pads(len(shape))
        out, where = list(shape), [slice(None)] * len(shape)
        for ax, (lo, hi) in zip(axes, pads):
            out[ax] = shape[ax] + lo + hi
            where[ax] = slice(lo, lo + shape[ax])
        return tuple(out), tuple(where)

    def infer(self, xs):
        return self._frame(xs)[0]

    def shape_rule(self, xs):
        try:
            axes, pads = self._axes(len(xs)), self._pads(len(xs))
        except ShapeError:
            return ""
        names = ("L",) if len(xs) == 1 else ("H", "W")
        return "; ".join(f"{n}′ = {n} + {lo} + {hi} = {xs[ax]} + {lo} + {hi} = {xs[ax] + lo + hi}"
                         for n, ax, (lo, hi) in zip(names, axes, pads))

    # -- forward / backward ----------------------------------------------------------
    def forward(self, X):
        X = np.asarray(X)
        shape, where = self._frame(X.shape[1:])
        zero = Fraction(0) if X.dtype == object else 0.0
        out = np.full((X.shape[0],) + shape, zero, dtype=X.dtype if X.dtype == object else float)
        out[(slice(None),) + where] = X
        self.saved["where"] = where
        return out

    def backward(self, g):
        return (np.ascontiguousarray(np.asarray(g)[(slice(None),) + self.saved["where"]]),)

    # -- explanations ------------------------------------------------------------------
    def _source(self, index, shape) -> tuple[int, ...] | None:
        """The X index that output ``index`` shows, or None for a padding zero."""
        _, where = self._frame(shape)
        src = []
        for i, w, n in zip(index, where, shape):
            k = i - (w.start or 0)
            if not 0 <= k < n:
                return None
            src.append(k)
        return tuple(src)

    def _offsets(self, ndim: int) -> list[str]:
        """``["i", "j−1"]``: the X index of ``Y[i, j]`` as text."""
        axes, pads = self._axes(ndim), self._pads(ndim)
        letters = "ijklmn"[:ndim] if ndim <= 6 else [f"i{k}" for k in range(ndim)]
        shift = dict(zip(axes, (lo for lo, _ in pads)))
        return [f"{v}−{shift[a]}" if shift.get(a) else v for a, v in enumerate(letters)]

    def explain(self, index, xs, out, names, out_name, digits):
        x = np.asarray(xs[0])
        src = self._source(index, x.shape)
        letters = "ijklmn"[:x.ndim]
        lhs = f"{out_name}[{','.join(letters)}]"
        formula = f"{lhs} = {names[0]}[{', '.join(self._offsets(x.ndim))}] inside {names[0]}, else 0"
        if src is None:
            return Explanation(f"{out_name}{fmt_index(tuple(index))}", formula, "0",
                               out[tuple(index)], (), note="a padding zero: no element of X")
        return Explanation(f"{out_name}{fmt_index(tuple(index))}", formula,
                           f"{names[0]}{fmt_index(src)} = {plain(x[src], digits)}", out[tuple(index)],
                           (Use(0, src),))

    def dependents(self, k, index, out_shape):
        _, where = self._frame(self.in_shapes[0][1:])
        return [tuple(i + (w.start or 0) for i, w in zip(index, where))]

    def local(self, k, out_index, in_index):
        if out_index[0] != in_index[0] and self.in_shapes[0][0] > 1:
            return 0.0
        src = self._source(out_index[1:], self.in_shapes[0][1:])
        return 1.0 if src == tuple(in_index[1:]) else 0.0

    # -- symbolic ----------------------------------------------------------------------
    def symbolic(self, xs, sym, nums=None):
        X = xs[0]
        shape, where = self._frame(X.shape)
        out = np.full(shape, sym.sp.S.Zero, dtype=object)
        out[where] = X
        return out

    def rule(self, c, sym):
        shape = tuple(c.shapes[0])
        X, Y = sym.IndexedBase(c.names[0]), sym.IndexedBase(c.out)
        letters = [sym.idx(v) for v in "ijklmn"[:len(shape)]]
        axes, pads = self._axes(len(shape)), self._pads(len(shape))
        shift = dict(zip(axes, (lo for lo, _ in pads)))
        y_el = Y[tuple(letters)]
        x_el = X[tuple(v - shift.get(a, 0) for a, v in enumerate(letters))]
        return sym.sp.Eq(y_el, x_el), (sym.deriv(c.names[0], 0, y_el, x_el, 1),), (
            "Y is 0 where the X index falls outside X (the padding)",
            "padding only moves elements: each gradient element of X is the one of Y it moved to")

    def describe(self):
        p = self.params.get("p")
        layout = self.params.get("layout")
        return f"p={p!r}" + (f", layout={layout!r}" if layout else "")
