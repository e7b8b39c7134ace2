"""``W[idx]``: the rows of ``W`` named by a tensor of whole numbers — an embedding
lookup (``torch.nn.functional.embedding(idx, W)``, ``W.index_select(0, idx)``).

``idx`` of shape ``(…)`` picks rows along the first axis of ``W`` (shape ``(n, d…)``),
so the result has shape ``(…, d…)``; each index must be a whole number in ``0..n−1``.
``idx`` is written as a name (``values:`` or ``data:``, e.g. a batch of token ids) or a
literal list (``W[[0, 2, 0]]``); it gets no gradient.

Backward **scatters and accumulates**: row ``r`` of ∂L/∂W is the sum of the upstream
gradients of every output position whose index is ``r`` — a token that appears twice
gets both contributions (PyTorch's embedding backward); rows never picked get 0.

The whole op — forward, backward, explanation, symbolic form, example — is this module.
"""

from __future__ import annotations

import numpy as np

from nnlab.engine.ops.base import Example, Op, Param, ShapeError, num, register
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


@register
class Take(Op):
    """``y[i…, :] = W[idx[i…], :]``; ∂L/∂W[r] = Σ over positions with idx = r of ∂L/∂y[i…]."""

    name = "take"
    written = "W[idx]"
    signature = (Param("W"), Param("idx"))
    formula = "y[i] = W[idx[i]]  (rows of W; an embedding lookup)"
    rational = True
    keeps_finite = True
    reads_values = True  # the symbolic form picks rows by the index values
    example = Example("y = W[idx]", {"W": [[0.5, -1.0], [1.5, 0.25], [2.0, -0.5]], "idx": [2, 0, 2]},
                      fixed=("idx",))

    def infer(self, sw, si):
        if len(sw) == 0:
            raise ShapeError("W[idx] needs a tensor W with at least one axis, got a number",
                             "the rows of W are picked along its first axis")
        return tuple(si) + tuple(sw[1:])

    def _indices(self, idx: np.ndarray, n: int) -> np.ndarray:
        """The index tensor as ints, every one checked to be a whole number in 0..n−1."""
        f = np.asarray(idx, dtype=float)
        bad = (f != np.round(f)) | (f < 0) | (f >= n) | ~np.isfinite(f)
        if bad.any():
            raise ShapeError(f"index {f[bad].ravel()[0]:g} is not a whole number in 0..{n - 1} "
                             f"(W has {n} rows)", "W[idx] picks rows of W: 0-based whole numbers.")
        return f.astype(np.int64)

    def forward(self, W, idx):
        ii = self._indices(idx, W.shape[1])
        batch = max(W.shape[0], ii.shape[0])
        if W.shape[0] == 1:
            out = W[0][ii]                                   # (Bi, …, d…)
        else:
            out = np.stack([W[b][ii[b if ii.shape[0] > 1 else 0]] for b in range(batch)])
        self.saved = {"ii": ii, "w_shape": W.shape, "dtype": W.dtype}
        return out

    def backward(self, g):
        ii, shape = self.saved["ii"], self.saved["w_shape"]
        exact = g.dtype == object or self.saved["dtype"] == object
        gw = np.zeros(shape, dtype=object if exact else float)
        if exact:
            gw[...] = 0
        rows = shape[1:]
        if shape[0] == 1:  # W shared by every example: all positions of all examples scatter into it
            np.add.at(gw[0], ii.reshape(-1), g.reshape((-1,) + rows[1:]))  # g has idx's batch
        else:
            for b in range(shape[0]):
                np.add.at(gw[b], ii[b if ii.shape[0] > 1 else 0].reshape(-1), g[b].reshape((-1,) + rows[1:]))
        return gw, None

    def _row(self, index: tuple[int, ...], idx: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """For output element ``index`` (per example): the index position and the element of W."""
        m = np.ndim(idx)
        pos = tuple(index[:m])
        return pos, (round(float(np.asarray(idx)[pos])),) + tuple(index[m:])

    def explain(self, index, xs, out, names, out_name, digits):
        W, idx = xs
        pos, src = self._row(tuple(index), idx)
        text = f"{names[0]}[{names[1]}{fmt_index(pos)}]" if pos else f"{names[0]}[{names[1]}]"
        rest = fmt_index(src[1:]) if len(src) > 1 else ""
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = {text}{rest}",
                           f"{names[0]}{fmt_index(src)} = {num(W[src], digits)}", out[index],
                           (Use(1, pos), Use(0, src)))

    def dependents(self, k, index, out_shape):
        if k != 0:
            return []
        return None

    def symbolic(self, xs, sym, nums=None):
        if nums is None or nums[1] is None:
            raise sym.NoSymbolicForm("W[idx] needs the index values")
        ii = self._indices(np.asarray(nums[1]), xs[0].shape[0])
        return xs[0][ii]

    def rule(self, c, sym):
        W, y = sym.IndexedBase(c.names[0]), sym.IndexedBase(c.out)
        i, j, r = sym.idx("i"), sym.idx("j"), sym.idx("r")
        picked = sym.IndexedBase(c.names[1])[i]
        fwd = sym.sp.Eq(y[i, j], W[picked, j])
        d = sym.KroneckerDelta(r, picked)
        note = ("∂L/∂W[r] = Σ over the positions i with idx[i] = r of ∂L/∂y[i]: a repeated index accumulates "
                "(PyTorch's embedding); rows never picked get 0")
        return fwd, (sym.deriv(c.names[0], 0, y[i, j], W[r, j], d),), (note,)

    def describe(self):
        return ""
