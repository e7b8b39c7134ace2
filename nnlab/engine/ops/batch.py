"""Ops that see the whole batch: statistics over the example axis, per channel.

Every other op computes one example at a time (axes ``1:`` of its batch-first arrays).
Batch normalization cannot: its mean and variance are taken *over the examples* of a
data batch, so each example's output depends on every other example. An op declares
this with :attr:`~nnlab.engine.ops.base.Op.across_examples`; the graph then marks its
output as one row shared by all examples (an unbatched node), and the per-example
results built from it (``x - mean``) are ordinary broadcasting ops. The backward pass
through the batch statistics needs nothing special: the engine sums the shared row's
gradient over the examples (as for any parameter), and ``batch_mean``'s own backward
spreads it back over them.

**One statistic per feature or channel** (PyTorch's ``BatchNorm1d``/``BatchNorm2d``): the
first axis of an example is its channel axis. A vector example (C,) has one mean per
feature, over the N examples; an example (C, L) or an image (C, H, W) has one mean per
channel, over the N examples *and* every position of the channel (N·H·W values), kept as
length-1 axes, shape (C, 1, 1), so that ``x - mean`` broadcasts. ``channel_affine`` then
applies PyTorch's per-channel weight and bias, shape (C,), to such an example.

``batchnorm`` itself is a composite (:mod:`nnlab.engine.composites`) of ``batch_mean``,
elementwise ops and ``channel_affine``, so ``.mean``, ``.var`` and ``.xhat`` are steps of
their own.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from nnlab.engine.ops.base import Example, Op, Param, ShapeError, broadcast_shapes, num, register
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index

MAX_TERMS = 24
"""Longest sum written out in an explanation."""


def _positions(ndim: int) -> tuple[int, ...]:
    """The batch-first axes a channel's statistic runs over besides the examples: 2, 3, …"""
    return tuple(range(2, ndim))


@register
class BatchMean(Op):
    """The mean over the examples (and the positions of each channel) of a batch, one row for all.

    ``μ[c] = (1/(N·P)) Σₙ Σₚ x[n, c, p]`` over the N examples and the P positions of
    channel ``c`` (P = 1 for vector examples); the positions stay as length-1 axes.
    """

    name = "batch_mean"
    signature = (Param("x"),)
    formula = "μ[c] = (1/N) Σₙ x[n, c]  (and over the positions of channel c: H·W for an image)"
    rational = True
    across_examples = True
    example = Example("y = batch_mean(x)", data={"x": [[0.5, -1.0], [2.0, 0.25], [-0.5, 1.5]]})

    def infer(self, shape):
        return tuple(shape[:1]) + (1,) * len(shape[1:])

    def forward(self, x: np.ndarray) -> np.ndarray:
        axes = (0,) + _positions(x.ndim)
        count = int(np.prod([x.shape[a] for a in axes]))
        self.saved = {"n": count, "shape": x.shape}
        return x.sum(axis=axes, keepdims=True) / count

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        n, shape = self.saved["n"], self.saved["shape"]
        return (np.broadcast_to(g / n, shape).copy(),)

    def dependents(self, k: int, index: tuple[int, ...],
                   out_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        return [tuple(index[:1]) + (0,) * len(index[1:])]

    def local(self, k: int, out_index: tuple[int, ...], in_index: tuple[int, ...]) -> float | Fraction:
        if tuple(out_index[1:2]) != tuple(in_index[1:2]):
            return 0.0
        n = self.saved["n"]
        return Fraction(1, n) if self.exact else 1.0 / n

    def _cells(self, x: np.ndarray, index: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The batch-first elements averaged into ``μ[index]``: every example, every position of its channel."""
        channel = tuple(index[:1])
        return [(e,) + channel + p for e in range(x.shape[0]) for p in np.ndindex(*x.shape[2:])]

    def explain(self, index, xs, out, names, out_name, digits):
        """Explain ``μ[index]`` from the whole batch: ``xs[0]`` is batch-first (N, …)."""
        x = xs[0]
        n = x.shape[0]
        cells = self._cells(x, tuple(index))
        terms = [num(x[c], digits) for c in cells[:MAX_TERMS]]
        if len(cells) > MAX_TERMS:
            terms.append(f"… ({len(cells)} terms)")
        uses = (Use(0, tuple(index)),) if x.ndim <= 2 else tuple(Use(0, c[1:]) for c in cells if c[0] == 0)
        if x.ndim <= 2:
            where = fmt_index(("n",) + tuple(index))
            return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = (1/N) Σₙ {names[0]}{where}",
                               f"({' + '.join(terms)}) / {n}", out[index], uses,
                               note=f"over the N = {n} examples of the batch: {names[0]}{fmt_index((0,) + tuple(index))}"
                                    f" … {names[0]}{fmt_index((n - 1,) + tuple(index))}")
        positions = len(cells) // n
        where = fmt_index(("n", "c") + tuple("ijk"[:x.ndim - 2]))
        return Explanation(f"{out_name}{fmt_index(index)}",
                           f"{out_name}[c] = (1/(N·P)) Σₙ Σ_positions {names[0]}{where}",
                           f"({' + '.join(terms)}) / {len(cells)}", out[index], uses,
                           note=f"channel c = {index[0]}: over the N = {n} examples and the P = {positions} "
                                f"positions of the channel (N·P = {len(cells)} values)")

    # -- symbolic
    def symbolic(self, xs, sym, nums=None):
        """The shared row from batch-first object arrays ``xs[0]`` (N, …): a mean over axis 0
        and the positions, which stay as length-1 axes."""
        x = xs[0]
        axes = (0,) + _positions(x.ndim)
        means = sym.reduce(x, axes, lambda cells: sym.sp.Add(*cells) / len(cells))
        return sym.arr(np.reshape(means, tuple(1 if a in axes else n for a, n in enumerate(x.shape))[1:]))

    def rule(self, c: Any, sym: Any):
        X, n, N = sym.IndexedBase(c.names[0]), sym.idx("n"), sym.sp.Symbol("N", positive=True, integer=True)
        y = sym.symbol(c.out)
        if len(c.shapes[0]) <= 1:
            fwd = sym.sp.Eq(y, sym.Sum(X[n], (n, 0, N - 1)) / N)
            notes = ("n runs over the N examples of the batch; one value per element, shared by every example",)
            return fwd, (sym.deriv(c.names[0], 0, y, X[n], 1 / N),), notes
        P, p = sym.sp.Symbol("P", positive=True, integer=True), sym.idx("p")
        fwd = sym.sp.Eq(y, sym.Sum(sym.Sum(X[n, p], (p, 0, P - 1)), (n, 0, N - 1)) / (N * P))
        notes = (("n runs over the N examples and p over the P positions of one channel; "
                  "one value per channel, shared by every example"),)
        return fwd, (sym.deriv(c.names[0], 0, y, X[n, p], 1 / (N * P)),), notes


@register
class ChannelAffine(Op):
    """``y = channel_affine(x, gamma, beta)``: ``γ[c]·x[c, …] + β[c]``, one weight and bias per channel.

    A ``gamma`` (or ``beta``) with one value per channel, shape (C,), scales every position
    of its channel (the first axis of ``x``), as PyTorch's ``BatchNorm2d`` weight; for a
    vector ``x`` (C,) that is the elementwise ``γ ⊙ x + β``. Any other shape broadcasts
    as usual.
    """

    name = "channel_affine"
    signature = (Param("x"), Param("gamma"), Param("beta"))
    formula = "y[c, …] = γ[c]·x[c, …] + β[c]"
    derivative = "γ[c] (x), x[c, …] (γ, summed over the positions), 1 (β, summed)"
    rational = True
    keeps_finite = True
    example = Example("y = channel_affine(x, g, b)", {"x": [[[0.5, -1.0], [2.0, 0.25]], [[1.5, -0.5], [0.0, 1.0]]],
                                                      "g": [2.0, -0.5], "b": [0.25, 1.0]})

    def _channels(self, sx, sp) -> bool:
        """True if an input of shape ``sp`` holds one value per channel of ``x`` (shape ``sx``)."""
        return len(sx) >= 2 and len(sp) == 1 and sp[0] == sx[0]

    def infer(self, sx, sg, sb):
        for sp in (sg, sb):
            if not self._channels(sx, sp):
                try:
                    broadcast_shapes(self, tuple(sp), tuple(sx))
                except ShapeError:
                    raise ShapeError(f"gamma and beta need one value per channel: shape ({sx[0] if sx else 1},), "
                                     f"got {tuple(sp)} for x of shape {tuple(sx)}",
                                     "the channel axis is the first axis of an example (C, H, W).") from None
                if broadcast_shapes(self, tuple(sp), tuple(sx)) != tuple(sx):
                    raise ShapeError(f"gamma/beta of shape {tuple(sp)} would change x's shape {tuple(sx)}")
        return tuple(sx)

    def _align(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """``p`` (batch-first) shaped to broadcast against ``x``: a per-channel vector as (B, C, 1, …)."""
        if self._channels(x.shape[1:], p.shape[1:]):
            return p.reshape(p.shape + (1,) * (x.ndim - 2))
        return p.reshape((p.shape[0],) + (1,) * (x.ndim - p.ndim) + p.shape[1:])

    def forward(self, x, gamma, beta):
        g, b = self._align(x, gamma), self._align(x, beta)
        self.saved = {"x": x, "g": g, "shapes": (gamma.shape, beta.shape)}
        return g * x + b

    def backward(self, up):
        x, g = self.saved["x"], self.saved["g"]
        sg, sb = self.saved["shapes"]
        return up * g, self._fold(up * x, sg), self._fold(up, sb)

    def _fold(self, grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """A gradient of x's shape summed down to a parameter's (batch-first) shape."""
        if self._channels(self.saved["x"].shape[1:], shape[1:]):
            return grad.sum(axis=tuple(range(2, grad.ndim)))
        return grad  # ordinary broadcasting: the engine sums it down

    def symbolic(self, xs, sym, nums=None):
        x, g, b = xs
        if self._channels(x.shape, g.shape) or self._channels(x.shape, b.shape):
            g = g.reshape(g.shape + (1,) * (x.ndim - 1)) if self._channels(x.shape, g.shape) else g
            b = b.reshape(b.shape + (1,) * (x.ndim - 1)) if self._channels(x.shape, b.shape) else b
        return sym.binary(lambda gx, bb: gx + bb, sym.binary(lambda xx, gg: gg * xx, x, g), b)

    def rule(self, c, sym):
        notes = ()
        if len(c.shapes[0]) >= 2:
            notes = ((f"one γ and β per channel (the first axis of {c.names[0]}): the gradients of γ "
                      "and β sum over the positions of their channel"),)
        return sym.elementwise_rule(self, c, notes=notes)

    def _source(self, index: tuple[int, ...], x_shape: tuple[int, ...], p: np.ndarray) -> tuple[int, ...]:
        if self._channels(x_shape, p.shape):
            return tuple(index[:1])
        k = len(index) - p.ndim
        return tuple(0 if n == 1 else i for i, n in zip(index[k:], p.shape))

    def explain(self, index, xs, out, names, out_name, digits):
        x, g, b = xs
        ig, ib = self._source(index, x.shape, g), self._source(index, x.shape, b)
        return Explanation(f"{out_name}{fmt_index(index)}",
                           f"{out_name} = {names[1]}{fmt_index(ig)}·{names[0]}{fmt_index(tuple(index))} + "
                           f"{names[2]}{fmt_index(ib)}",
                           f"{num(g[ig], digits)}×{num(x[tuple(index)], digits)} + {num(b[ib], digits)}", out[index],
                           (Use(0, tuple(index)), Use(1, ig, "weight"), Use(2, ib)))
