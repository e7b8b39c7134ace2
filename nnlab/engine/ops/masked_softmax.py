"""``masked_softmax(x, mask)``: a softmax over the last axis that only some entries take part in.

Attention with a mask (``attention(Q, K, V, mask=M)``) uses it for ``C.weights``: the
mask is a 0/1 matrix, **1 = may attend** (query i may look at key j), the convention of
PyTorch's boolean ``attn_mask`` in ``scaled_dot_product_attention`` (True = take part).
A masked entry's weight is exactly 0, and the other weights of its row are a softmax over
the kept entries only (PyTorch fills masked scores with −∞ first; the result is the same).

The mask is a tensor input (a value's or a data name: one mask per example, for padding)
or, written in the call, the static ``keep=[[1, 0], [1, 1]]``. It broadcasts to ``x``'s
shape (a row of keys ``[1, 1, 0]`` masks the same keys for every query). Its values must
be 0 or 1, and every row must keep at least one entry (PyTorch returns NaN for a row with
none; nnlab says which row). The mask gets no gradient: nothing changes for a small change
of a 0/1 value. ``mask='causal'`` is not this op: it is ``softmax(x, mask='causal')``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnlab.engine.ops.base import Example, Op, Param, ShapeError, broadcast_shapes, num, register
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index

HINT = "the mask is 0/1 (1 = may attend), one row per query and one column per key."


@register
class MaskedSoftmax(Op):
    """``p = masked_softmax(x, mask)``: softmax over the last axis where ``mask = 1``, 0 elsewhere."""

    name = "masked_softmax"
    signature = (Param("x"), Param("mask", default=None), Param("keep", tensor=False, default=None))
    formula = "pᵢ = mᵢ·exp(xᵢ) / Σⱼ mⱼ·exp(xⱼ)"
    derivative = "pᵢ(δᵢⱼ − pⱼ) over the kept entries, 0 for masked ones"
    keeps_finite = True
    reads_values = True  # the mask's 0/1 values decide which terms the symbolic sum has
    rule_notes = ("the mask is 0/1: an entry with m = 0 is left out of the sum and its weight is exactly 0",)
    example = Example("y = masked_softmax(x, M)", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]],
                                                    "M": [[1, 0, 1], [1, 1, 0]]}, fixed=("M",))

    def _literal(self) -> np.ndarray | None:
        """``keep`` (the mask written in the call) as a 0/1 array, or None."""
        keep = self.params.get("keep")
        if keep is None:
            return None
        try:
            array = np.array(keep, dtype=float)
        except (TypeError, ValueError):
            array = None
        if array is None or array.ndim == 0 or not np.isin(array, (0, 1)).all():
            raise ShapeError(f"unknown mask {keep!r}", "use mask='causal', a 0/1 matrix (1 = may attend) or a "
                             "value's name, or leave it out.")
        return array

    def infer(self, sx, sm=None):
        if len(sx) == 0:
            raise ShapeError("masked_softmax needs at least one axis, got a scalar")
        literal = self._literal()
        if (sm is None) == (literal is None):
            raise ShapeError("masked_softmax takes one mask: a tensor (mask=M) or a literal (keep=[[…]])",
                             HINT)
        shape = tuple(sm) if literal is None else literal.shape
        try:
            out = broadcast_shapes(self, tuple(sx), shape)
        except ShapeError:
            raise ShapeError(f"a mask of shape {shape} does not fit scores of shape {tuple(sx)}", HINT) from None
        if out != tuple(sx):
            raise ShapeError(f"a mask of shape {shape} does not fit scores of shape {tuple(sx)}", HINT)
        return tuple(sx)

    def _keep(self, x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """The boolean keep-mask broadcast to batch-first ``x``; checks 0/1 and a kept entry per row."""
        literal = self._literal()
        m = np.asarray(literal[None] if literal is not None else mask, dtype=float)
        if not np.isin(m, (0, 1)).all():
            bad = m[~np.isin(m, (0, 1))].ravel()[0]
            raise ShapeError(f"the mask holds {bad:g}; a mask is 0 or 1", HINT)
        m = m.reshape((m.shape[0],) + (1,) * (x.ndim - m.ndim) + m.shape[1:])
        # a data mask has one row per example even where the scores do not depend on the data (batch 1)
        keep = np.broadcast_to(m == 1, np.broadcast_shapes(x.shape, m.shape))
        empty = ~keep.any(axis=-1)
        if empty.any():
            row = tuple(int(i) for i in np.argwhere(empty)[0][1:])
            raise ShapeError(f"row {fmt_index(row) or '[0]'} of the mask keeps no entry: its weights would be 0/0",
                             "every query must be allowed to attend to at least one key.")
        return keep

    def forward(self, x, mask=None):
        keep = self._keep(x, mask)
        z = np.where(keep, x, -np.inf)
        z -= z.max(axis=-1, keepdims=True)
        p = np.exp(z)  # exp(−∞) = 0: masked entries are exactly 0
        p /= p.sum(axis=-1, keepdims=True)
        self.saved = {"p": p}
        return p

    def backward(self, g):
        p = self.saved["p"]
        out = (g - np.einsum("...i,...i->...", g, p)[..., None]) * p
        return out, None  # a 0/1 mask, like a class label: no gradient

    # -- symbolic: a softmax over the kept entries of each row, 0 elsewhere
    def symbolic(self, xs, sym, nums=None):
        x = xs[0]
        literal = self._literal()
        m = literal if literal is not None else np.asarray(nums[1], dtype=float)
        keep = np.broadcast_to(m == 1, x.shape)
        out = np.empty(x.shape, dtype=object)
        for row in np.ndindex(*x.shape[:-1]):
            kept = [x[row + (j,)] for j in range(x.shape[-1]) if keep[row + (j,)]]
            pos = 0
            for j in range(x.shape[-1]):
                if keep[row + (j,)]:
                    out[row + (j,)] = sym.softmax_at(sym.sp.Integer(pos), *kept)
                    pos += 1
                else:
                    out[row + (j,)] = sym.sp.S.Zero
        return out

    def rule(self, c: Any, sym: Any):
        X, P, M = sym.IndexedBase(c.names[0]), sym.IndexedBase(c.out), sym.IndexedBase("m")
        i, j = sym.idx("i"), sym.idx("j")
        n = c.shapes[0][-1]
        fwd = sym.sp.Eq(P[i], M[i] * sym.sp.exp(X[i]) / sym.Sum(M[j] * sym.sp.exp(X[j]), (j, 0, n - 1)))
        return fwd, (sym.deriv(c.names[0], 0, P[i], X[j], P[i] * (sym.KroneckerDelta(i, j) - P[j])),), \
            self.rule_notes

    def explain(self, index, xs, out, names, out_name, digits):
        x = xs[0]
        literal = self._literal()
        m = literal if literal is not None else np.asarray(xs[1], dtype=float)
        keep = np.broadcast_to(m == 1, x.shape)
        row = [tuple(index[:-1]) + (j,) for j in range(x.shape[-1])]
        uses = tuple(Use(0, c, "used" if keep[c] else "masked") for c in row)
        if not keep[tuple(index)]:
            return Explanation(f"{out_name}{fmt_index(index)}", self.formula, "0 (masked: mask = 0)", out[index],
                               uses, note="masked: this query may not attend to this key")
        denom = " + ".join(f"e^{num(x[c], digits)}" for c in row if keep[c])
        left = sum(not keep[c] for c in row)
        return Explanation(f"{out_name}{fmt_index(index)}", self.formula,
                           f"e^{num(x[tuple(index)], digits)} / ({denom})", out[index], uses,
                           note=f"{left} masked entr{'y' if left == 1 else 'ies'} left out of the sum" if left else "")

    def describe(self):
        keep = self.params.get("keep")
        return "" if keep is None else f"keep={keep}"
