"""Ops that see the whole batch: statistics over the example axis.

Every other op computes one example at a time (axes ``1:`` of its batch-first arrays).
Batch normalization cannot: its mean and variance are taken *over the examples* of a
data batch, so each example's output depends on every other example. An op declares
this with :attr:`~nnlab.engine.ops.base.Op.across_examples`; the graph then marks its
output as one row shared by all examples (an unbatched node), and the per-example
results built from it (``x - mean``) are ordinary broadcasting ops. The backward pass
through the batch statistics needs nothing special: the engine sums the shared row's
gradient over the examples (as for any parameter), and ``batch_mean``'s own backward
spreads it back over them.

``batchnorm`` itself is a composite (:mod:`nnlab.engine.composites`) of ``batch_mean``
and elementwise ops, so ``.mean``, ``.var`` and ``.xhat`` are steps of their own.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from nnlab.engine.ops.base import Example, Op, Param, num, register
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index

MAX_TERMS = 24
"""Longest sum written out in an explanation."""


@register
class BatchMean(Op):
    """The mean over the examples of a batch: ``μ[j] = (1/N) Σₙ x[n, j]``, one row for all."""

    name = "batch_mean"
    signature = (Param("x"),)
    formula = "μ = (1/N) Σₙ x[n]"
    rational = True
    across_examples = True
    example = Example("y = batch_mean(x)", data={"x": [[0.5, -1.0], [2.0, 0.25], [-0.5, 1.5]]})

    def forward(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        self.saved = {"n": n}
        return x.sum(axis=0, keepdims=True) / n

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        n = self.saved["n"]
        return (np.repeat(g / n, n, axis=0),)

    def dependents(self, k: int, index: tuple[int, ...],
                   out_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        return [tuple(index)]

    def local(self, k: int, out_index: tuple[int, ...], in_index: tuple[int, ...]) -> float | Fraction:
        if tuple(out_index[1:]) != tuple(in_index[1:]):
            return 0.0
        n = self.saved["n"]
        return Fraction(1, n) if self.exact else 1.0 / n

    def explain(self, index, xs, out, names, out_name, digits):
        """Explain ``μ[index]`` from the whole batch: ``xs[0]`` is batch-first (N, …)."""
        x = xs[0]
        n = x.shape[0]
        cells = [(e,) + tuple(index) for e in range(n)]
        terms = [num(x[c], digits) for c in cells[:MAX_TERMS]]
        if n > MAX_TERMS:
            terms.append(f"… ({n} terms)")
        where = fmt_index(("n",) + tuple(index))
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = (1/N) Σₙ {names[0]}{where}",
                           f"({' + '.join(terms)}) / {n}", out[index], (Use(0, tuple(index)),),
                           note=f"over the N = {n} examples of the batch: {names[0]}{fmt_index((0,) + tuple(index))}"
                                f" … {names[0]}{fmt_index((n - 1,) + tuple(index))}")

    # -- symbolic
    def symbolic(self, xs, sym, nums=None):
        """The shared row from batch-first object arrays ``xs[0]`` (N, …): a sum over axis 0 / N."""
        x = xs[0]
        return sym.arr(sym.reduce(x, (0,), lambda cells: sym.sp.Add(*cells) / len(cells)))

    def rule(self, c: Any, sym: Any):
        X, n, N = sym.IndexedBase(c.names[0]), sym.idx("n"), sym.sp.Symbol("N", positive=True, integer=True)
        y = sym.symbol(c.out)
        fwd = sym.sp.Eq(y, sym.Sum(X[n], (n, 0, N - 1)) / N)
        notes = ("n runs over the N examples of the batch; one value per element, shared by every example",)
        return fwd, (sym.deriv(c.names[0], 0, y, X[n], 1 / N),), notes
