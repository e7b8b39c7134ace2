"""Loss functions with ``reduction='mean'|'sum'|'none'`` (default ``'mean'``).

Conventions (PyTorch's, named here because textbooks differ):

* ``bce(p, y) = −[y·log p + (1−y)·log(1−p)]`` with each log clamped at −100, so
  ``p = 0`` or ``1`` gives a finite loss of 100; its gradient in ``p`` is
  ``(p − y) / max(p(1 − p), 1e−12)``.
* ``bce_logits(z, y)`` is BCE of ``σ(z)`` computed stably:
  ``max(z, 0) − z·y + log(1 + e^−|z|)``; gradient ``σ(z) − y``.
* ``mse(ŷ, y) = mean((ŷ − y)²)`` — no ½ factor.
* ``cross_entropy(logits, target)`` works over the last axis: ``target`` is a
  0-based class index per row, or a probability vector per row;
  ``ℓ = −Σₖ tₖ log softmax(logits)ₖ``; the rows are reduced by ``reduction``.
  ``bce``, ``bce_logits`` and ``mse`` reduce over all elements of an example.
"""

from __future__ import annotations

import numpy as np

from nnlab.engine.ops.base import Op, Param, ShapeError, align, broadcast_shapes, num, register, source_index
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index

REDUCTIONS = ("mean", "sum", "none")
LOG_CLAMP = -100.0
BCE_EPS = 1e-12


class Loss(Op):
    """Elementwise loss ``ℓ(a, b)`` reduced over all per-example elements."""

    signature = (Param("a"), Param("b"), Param("reduction", tensor=False, default="mean"))

    def reduction(self) -> str:
        r = self.params.get("reduction", "mean")
        if r not in REDUCTIONS:
            raise ShapeError(f"unknown reduction {r!r}", "use 'mean', 'sum' or 'none'.")
        return r

    def infer(self, sa, sb):
        shape = broadcast_shapes(self, sa, sb)
        return shape if self.reduction() == "none" else ()

    def forward(self, a, b):
        a2, b2 = align(a, b)
        terms = self.terms(a2, b2)
        self.saved.update(a=a2, b=b2, terms_shape=terms.shape)
        r = self.reduction()
        if r == "none":
            return terms
        axes = tuple(range(1, terms.ndim))
        total = terms.sum(axis=axes) if axes else terms
        n = int(np.prod(terms.shape[1:]))
        self.saved["n"] = n
        return total / n if r == "mean" else total

    def _spread(self, g):
        """Upstream gradient for each element term."""
        r = self.reduction()
        shape = self.saved["terms_shape"]
        if r == "none":
            return g
        g = g.reshape((g.shape[0],) + (1,) * (len(shape) - 1))
        g = np.broadcast_to(g, shape)
        return g / self.saved["n"] if r == "mean" else g

    def explain(self, index, xs, out, names, out_name, digits):
        a, b = xs
        shape = np.broadcast_shapes(np.shape(a), np.shape(b))
        cells = [index] if self.reduction() == "none" else list(np.ndindex(*shape))
        parts, uses = [], []
        for c in cells:
            ia, ib = source_index(c, np.shape(a)), source_index(c, np.shape(b))
            parts.append(self.term_text(a[ia], b[ib], digits))
            uses += [Use(0, ia), Use(1, ib)]
        text = " + ".join(parts)
        if self.reduction() == "mean" and len(cells) > 1:
            text = f"({text}) / {len(cells)}"
        return Explanation(f"{out_name}{fmt_index(index)}", self.formula, text, out[index], tuple(uses))

    def term_text(self, a, b, digits) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def terms(self, a, b):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self):
        r = self.params.get("reduction", "mean")
        return "" if r == "mean" else f"reduction={r!r}"


def _clamped_log(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(np.log(x), LOG_CLAMP)


@register
class BCE(Loss):
    name = "bce"
    signature = (Param("p"), Param("y"), Param("reduction", tensor=False, default="mean"))
    formula = "ℓ = −[y·log p + (1 − y)·log(1 − p)]  (logs clamped at −100)"

    def terms(self, p, y):
        return -(y * _clamped_log(p) + (1 - y) * _clamped_log(1 - p))

    def backward(self, g):
        p, y = self.saved["p_"], self.saved["y_"]
        g = self._spread(g)
        gp = g * (p - y) / np.maximum(p * (1 - p), BCE_EPS)
        gy = g * (_clamped_log(1 - p) - _clamped_log(p))
        return gp, gy

    def forward(self, p, y):
        out = super().forward(p, y)
        self.saved["p_"], self.saved["y_"] = self.saved["a"], self.saved["b"]
        return out

    def term_text(self, p, y, digits):
        return f"−[{num(y, digits)}·ln {num(p, digits)} + (1 − {num(y, digits)})·ln(1 − {num(p, digits)})]"


@register
class BCELogits(Loss):
    name = "bce_logits"
    signature = (Param("z"), Param("y"), Param("reduction", tensor=False, default="mean"))
    formula = "ℓ = max(z, 0) − z·y + log(1 + e^−|z|)  (= bce(σ(z), y), stable)"

    def terms(self, z, y):
        return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))

    def backward(self, g):
        z, y = self.saved["a"], self.saved["b"]
        g = self._spread(g)
        e = np.exp(-np.abs(z))
        sig = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        return g * (sig - y), g * (-z)

    def term_text(self, z, y, digits):
        return f"max({num(z, digits)}, 0) − {num(z, digits)}·{num(y, digits)} + ln(1 + e^−|{num(z, digits)}|)"


@register
class MSE(Loss):
    name = "mse"
    signature = (Param("yhat"), Param("y"), Param("reduction", tensor=False, default="mean"))
    formula = "ℓ = mean((ŷ − y)²)"
    rational = True

    def terms(self, a, b):
        d = a - b
        return d * d

    def backward(self, g):
        a, b = self.saved["a"], self.saved["b"]
        g = self._spread(g)
        return 2 * g * (a - b), -2 * g * (a - b)

    def term_text(self, a, b, digits):
        return f"({num(a, digits)} − {num(b, digits)})²"


@register
class CrossEntropy(Op):
    """``cross_entropy(logits, target)`` over the last axis; rows reduced by ``reduction``."""

    name = "cross_entropy"
    signature = (Param("logits"), Param("target"), Param("reduction", tensor=False, default="mean"))
    formula = "ℓ = −Σₖ tₖ·log softmax(logits)ₖ  (= −log p[target] for a class index)"

    def infer(self, sl, st):
        if len(sl) == 0:
            raise ShapeError("cross_entropy needs logits with a class axis (last axis), got a scalar")
        rows = tuple(sl[:-1])
        if tuple(st) == tuple(sl):
            self.params["_kind"] = "prob"
        elif tuple(st) == rows:
            self.params["_kind"] = "index"
        else:
            raise ShapeError(
                f"target shape {tuple(st)} fits neither class indices {rows} nor probabilities {tuple(sl)}"
                f" for logits {tuple(sl)}",
                "give one 0-based class index per row, or one probability vector per row.")
        r = self.params.get("reduction", "mean")
        if r not in REDUCTIONS:
            raise ShapeError(f"unknown reduction {r!r}", "use 'mean', 'sum' or 'none'.")
        return rows if r == "none" else ()

    def _onehot(self, logits, target):
        if self.params.get("_kind") == "prob":
            return target
        k = logits.shape[-1]
        t = np.asarray(target)
        if t.dtype == object:
            t = t.astype(float)
        whole = t.dtype.kind in "iub" or np.all(t == np.round(t))
        if not whole or t.min(initial=0) < 0 or t.max(initial=0) >= k:
            bad = t[(t != np.round(t)) | (t < 0) | (t >= k)].ravel()[0]
            raise ShapeError(f"class index {bad} is not a whole number in 0..{k - 1}",
                             "targets are 0-based class indices (or give probability vectors).")
        return (np.arange(k) == t[..., None].astype(int)).astype(float)

    def forward(self, logits, target):
        z = logits - logits.max(axis=-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        t = self._onehot(logits, target)
        rows = -(t * logp).sum(axis=-1)
        r = self.params.get("reduction", "mean")
        self.saved.update(p=np.exp(logp), logp=logp, t=np.broadcast_to(t, logp.shape), rows=rows.shape)
        if r == "none":
            return rows
        axes = tuple(range(1, rows.ndim))
        total = rows.sum(axis=axes) if axes else rows
        n = int(np.prod(rows.shape[1:]))
        self.saved["n"] = n
        return total / n if r == "mean" else total

    def backward(self, g):
        s = self.saved
        r = self.params.get("reduction", "mean")
        if r != "none":
            g = g.reshape((g.shape[0],) + (1,) * (len(s["rows"]) - 1))
            g = np.broadcast_to(g, s["rows"])
            if r == "mean":
                g = g / s["n"]
        t = s["t"]  # ∂/∂z of −Σ t·log softmax(z) is p·Σt − t (= p − t when the row sums to 1)
        gl = g[..., None] * (s["p"] * t.sum(axis=-1, keepdims=True) - t)
        gt = -g[..., None] * s["logp"] if self.params.get("_kind") == "prob" else None
        return gl, gt

    def explain(self, index, xs, out, names, out_name, digits):
        logits, target = xs
        rows = [index] if self.params.get("reduction", "mean") == "none" else list(np.ndindex(*logits.shape[:-1]))
        parts, uses = [], []
        k = logits.shape[-1]
        for r in rows:
            z = logits[r]
            denom = " + ".join(f"e^{num(v, digits)}" for v in z)
            if self.params.get("_kind") == "prob":
                terms = [f"{num(target[r + (c,)], digits)}·ln(e^{num(z[c], digits)}/({denom}))"
                         for c in range(k) if target[r + (c,)] != 0]
                parts.append("−(" + " + ".join(terms) + ")")
                uses += [Use(1, r + (c,)) for c in range(k)]
            else:
                c = int(target[r])
                parts.append(f"−ln(e^{num(z[c], digits)} / ({denom}))")
                uses.append(Use(1, r))
            uses += [Use(0, r + (c,), "used") for c in range(k)]
        text = " + ".join(parts)
        if self.params.get("reduction", "mean") == "mean" and len(rows) > 1:
            text = f"({text}) / {len(rows)}"
        return Explanation(f"{out_name}{fmt_index(index)}", self.formula, text, out[index], tuple(uses))

    def describe(self):
        r = self.params.get("reduction", "mean")
        return "" if r == "mean" else f"reduction={r!r}"
