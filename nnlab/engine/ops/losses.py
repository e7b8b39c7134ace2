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

import math
from typing import Any

import numpy as np

from nnlab.engine.ops.base import Example, Op, Param, ShapeError, align, broadcast_shapes, num, register, source_index
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

    # -- symbolic
    def sym_term(self, a: Any, b: Any, sym: Any) -> Any:
        """The loss of one element pair as a sympy expression."""
        raise NotImplementedError

    def symbolic(self, xs, sym, nums=None):
        return _sym_reduced(self, sym.binary(lambda a, b: self.sym_term(a, b, sym), xs[0], xs[1]), sym)

    def rule(self, c, sym):
        sp = sym.sp
        r = self.params.get("reduction", "mean")
        shape = tuple(np.broadcast_shapes(c.shapes[0], c.shapes[1]))
        n = int(np.prod(shape))
        i = sym.idx("i")

        def el(k: int):
            if c.consts[k]:
                return c.const_values[k]
            return sym.IndexedBase(c.names[k])[i] if c.shapes[k] and n > 1 else sym.symbol(c.names[k])

        a, b = el(0), el(1)
        term = self.sym_term(a, b, sym)
        notes = list(self.rule_notes)
        scale = sp.Rational(1, n) if r == "mean" and n > 1 else sp.S.One
        if r == "none" or n == 1:
            lhs = sym.IndexedBase(c.out)[i] if r == "none" and n > 1 else sym.symbol(c.out)
            fwd = sp.Eq(lhs, term)
        else:
            lhs = sym.symbol(c.out)
            fwd = sp.Eq(lhs, scale * sym.Sum(term, (i, 0, n - 1)))
            notes.append(f"reduction={r!r} over {n} elements")
        ders = tuple(sym.deriv(c.names[slot], slot, lhs, s, sym.tidy(scale * sp.diff(term, s)))
                     for slot, s in enumerate((a, b)) if not c.consts[slot])
        return fwd, ders, tuple(notes)


def _sym_reduced(op: Op, terms: np.ndarray, sym: Any) -> np.ndarray:
    """Per-element (or per-row) symbolic losses reduced by the op's ``reduction``."""
    r = op.params.get("reduction", "mean")
    if r == "none":
        return terms
    total = sym.sp.Add(*terms.ravel().tolist())
    return sym.arr(total / terms.size if r == "mean" else total)


def _clamped_log(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(np.log(x), LOG_CLAMP)


@register
class BCE(Loss):
    name = "bce"
    example = Example("y = bce(p, t)", {"p": [0.3, 0.8, 0.6], "t": [0.0, 1.0, 1.0]})
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

    rule_notes = ("logs are clamped at −100 (PyTorch), so p = 0 or 1 gives a finite loss",
                  "with ŷ = σ(z) the chain collapses: ∂ℓ/∂z = ŷ − y")

    def sym_term(self, p, y, sym):
        return -(y * sym.sp.log(p) + (1 - y) * sym.sp.log(1 - p))

    def symbolic_caveat(self, values, consts):
        p = values[0]
        if p is not None and (np.any(p * (1 - p) < BCE_EPS) or np.any(p <= math.exp(LOG_CLAMP))):
            return "bce at p ≈ 0 or 1, where its logs are clamped"
        return ""

    def term_text(self, p, y, digits):
        return f"−[{num(y, digits)}·ln {num(p, digits)} + (1 − {num(y, digits)})·ln(1 − {num(p, digits)})]"


@register
class BCELogits(Loss):
    name = "bce_logits"
    example = Example("y = bce_logits(z, t)", {"z": [-0.5, 1.5, 0.25], "t": [0.0, 1.0, 1.0]})
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

    rule_notes = ("= bce(σ(z), y), computed stably; ∂ℓ/∂z = σ(z) − y in one step",)

    def sym_term(self, z, y, sym):
        return sym.softplus(z) - z * y

    def term_text(self, z, y, digits):
        return f"max({num(z, digits)}, 0) − {num(z, digits)}·{num(y, digits)} + ln(1 + e^−|{num(z, digits)}|)"


@register
class MSE(Loss):
    name = "mse"
    example = Example("y = mse(a, b)", {"a": [0.5, -1.0, 2.0], "b": [1.5, 0.25, -0.5]})
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

    rule_notes = ("no ½ in front (PyTorch's mse)",)

    def sym_term(self, a, b, sym):
        return (a - b) ** 2

    def term_text(self, a, b, digits):
        return f"({num(a, digits)} − {num(b, digits)})²"


@register
class CrossEntropy(Op):
    """``cross_entropy(logits, target)`` over the last axis; rows reduced by ``reduction``."""

    name = "cross_entropy"
    example = Example("y = cross_entropy(z, t)", {"z": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], "t": [2, 0]},
                      fixed=("t",))
    signature = (Param("logits"), Param("target"), Param("reduction", tensor=False, default="mean"))
    formula = "ℓ = −Σₖ tₖ·log softmax(logits)ₖ  (= −log p[target] for a class index)"

    def infer(self, sl, st):
        if len(sl) == 0:
            raise ShapeError("cross_entropy needs logits with a class axis (last axis), got a scalar")
        rows = tuple(sl[:-1])
        if tuple(st) not in (tuple(sl), rows):
            raise ShapeError(
                f"target shape {tuple(st)} fits neither class indices {rows} nor probabilities {tuple(sl)}"
                f" for logits {tuple(sl)}",
                "give one 0-based class index per row, or one probability vector per row.")
        r = self.params.get("reduction", "mean")
        if r not in REDUCTIONS:
            raise ShapeError(f"unknown reduction {r!r}", "use 'mean', 'sum' or 'none'.")
        return rows if r == "none" else ()

    @staticmethod
    def probabilities(logits_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> bool:
        """True if the target holds probability vectors (its shape is the logits'), False
        for class indices (one per row); both shapes with or without the batch axis."""
        return tuple(target_shape) == tuple(logits_shape)

    def _onehot(self, logits, target):
        if self.probabilities(logits.shape[1:], target.shape[1:]):
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
        self.saved.update(p=np.exp(logp), logp=logp, t=np.broadcast_to(t, logp.shape), rows=rows.shape,
                          prob=self.probabilities(logits.shape[1:], target.shape[1:]))
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
        gt = -g[..., None] * s["logp"] if s["prob"] else None
        return gl, gt

    def explain(self, index, xs, out, names, out_name, digits):
        logits, target = xs
        rows = [index] if self.params.get("reduction", "mean") == "none" else list(np.ndindex(*logits.shape[:-1]))
        parts, uses = [], []
        k = logits.shape[-1]
        for r in rows:
            z = logits[r]
            denom = " + ".join(f"e^{num(v, digits)}" for v in z)
            if self.probabilities(logits.shape, target.shape):
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

    # -- symbolic
    reads_values = True  # class indices pick the term

    def symbolic(self, xs, sym, nums=None):
        logits, target = xs
        prob = self.probabilities(logits.shape, target.shape)
        rows = np.empty(logits.shape[:-1], dtype=object)
        k = logits.shape[-1]
        for r in np.ndindex(*rows.shape):
            row = [logits[r + (c,)] for c in range(k)]
            if prob:
                rows[r] = -sym.sp.Add(*[target[r + (c,)] * sym.log_softmax_at(sym.sp.Integer(c), *row)
                                        for c in range(k)])
            else:
                if nums is None or nums[1] is None:
                    raise sym.NoSymbolicForm("cross_entropy needs the class indices")
                c = round(float(np.asarray(nums[1])[r]))
                rows[r] = -sym.log_softmax_at(sym.sp.Integer(c), *row)
        return _sym_reduced(self, rows, sym)

    def rule(self, c, sym):
        sp = sym.sp
        Z = sym.IndexedBase(c.names[0])
        k, j = sym.idx("k"), sym.idx("j")
        K = c.shapes[0][-1]
        p = sym.IndexedBase(f"softmax({c.names[0]})")
        prob = self.probabilities(c.shapes[0], c.shapes[1])
        t = sym.IndexedBase(c.names[1]) if prob else sym.IndexedBase(f"onehot({c.names[1]})")
        rows = int(np.prod(c.shapes[0][:-1]))
        r = self.params.get("reduction", "mean")
        scale = sp.Rational(1, rows) if r == "mean" and rows > 1 else sp.S.One
        ell = sym.symbol(c.out)
        logp = Z[k] - sp.log(sym.Sum(sp.exp(Z[j]), (j, 0, K - 1)))
        fwd = sp.Eq(ell, -scale * sym.Sum(t[k] * logp, (k, 0, K - 1)))
        notes = ["softmax + cross-entropy → p − onehot: the softmax is inside the op (PyTorch)"]
        if prob:
            ders = [sym.deriv(c.names[0], 0, ell, Z[k], scale * (p[k] * sym.Sum(t[j], (j, 0, K - 1)) - t[k]))]
            notes.append("probability targets: ∂ℓ/∂zₖ = pₖ·Σⱼ tⱼ − tₖ, which is p − t when each target row sums to 1")
            if not c.consts[1]:
                ders.append(sym.deriv(c.names[1], 1, ell, t[k], -scale * sp.log(p[k])))
        else:
            ders = [sym.deriv(c.names[0], 0, ell, Z[k], scale * (p[k] - t[k]))]
        if rows > 1:
            notes.append(f"{rows} rows, reduction={r!r}")
        return fwd, tuple(ders), tuple(notes)
