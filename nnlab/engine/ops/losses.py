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
  ``cross_entropy(p, target, logits=False)`` takes probabilities:
  ``ℓ = −Σₖ tₖ log pₖ`` (``nll_loss(log p)``; no renormalization; a term with
  ``tₖ = 0`` counts 0, so only the target class's ``log p`` is taken for an index);
  a used ``p = 0`` gives ``log 0 = −∞`` and stops the run with its step named.
  ``bce``, ``bce_logits`` and ``mse`` reduce over all elements of an example.

What a student surely did not mean stops the run at the op's call (a located error with a
hint) instead of giving a confident number: a ``bce`` input ``p`` outside [0, 1] (raw
scores passed as probabilities: PyTorch's ``binary_cross_entropy`` refuses them too), a
``bce``/``bce_logits`` label ``y`` outside [0, 1] (PyTorch does not check it; the loss
then has no minimum), and for ``cross_entropy(p, t, logits=False)`` a ``p`` outside [0, 1].
0 and 1 themselves are fine. The check is one min and max over the input, in ``forward``.
A row of ``p`` that does not sum to 1 is taken as given, as ``nll_loss(log p)`` takes it
(the op's gradient ``−t/p`` is the one off the simplex too).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from nnlab.engine.ops.base import (
    Example,
    Op,
    Param,
    ShapeError,
    align,
    broadcast_shapes,
    num,
    plain,
    register,
    source_index,
)
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index

REDUCTIONS = ("mean", "sum", "none")
MAX_ROWS = 24
"""Most rows (or terms) an explanation writes out; the rest are counted."""
EXPLICIT_USES = 4096
"""Up to this many elements an explanation reports one record each; beyond, one box per input."""
LOG_CLAMP = -100.0
BCE_EPS = 1e-12
_F64 = np.dtype(np.float64)
_ONE, _CLAMP, _EPS = np.array(1.0), np.array(LOG_CLAMP), np.array(BCE_EPS)
"""1, LOG_CLAMP and BCE_EPS as float64 arrays: with float64 arrays they give the numbers the Python
floats give (the same dtype), without NumPy converting a Python number on every call."""
_QUICK = 32
"""Up to this many elements the range check reads a Python list (cheaper than two NumPy reductions)."""


def _where(a: np.ndarray, index: tuple[int, ...]) -> tuple[str, str]:
    """An element's index within its example (``[2]``) and, in a batch, `` of example 3``."""
    return fmt_index(index[1:]), f" of example {index[0] + 1}" if a.shape[0] > 1 else ""


def _check_range(a: np.ndarray, name: str, what: str, hint: str) -> bool:
    """Raise (as a located error of the op's step) if an element of ``a`` is outside [0, 1].

    One min and one max decide; only a failing array is searched. NaN is not reported here
    (the run's nan check names the step that made it).

    Returns:
        Whether every element is strictly between 0 and 1 (so neither ``log a`` nor
        ``log(1 − a)`` meets a 0: no warning to silence).
    """
    n = a.size
    if not n:
        return True
    if n <= _QUICK:  # (a nan may hide from a Python min/max: the run's nan check names its step)
        flat = a.ravel().tolist()
        lo, hi = min(flat), max(flat)
    else:
        lo, hi = np.minimum.reduce(a, axis=None), np.maximum.reduce(a, axis=None)
    if lo >= 0 and hi <= 1:
        return bool(lo > 0 and hi < 1)
    bad = np.argwhere((a < 0) | (a > 1))
    if len(bad):
        index = tuple(int(i) for i in bad[0])
        at, example = _where(a, index)
        raise ShapeError(f"{name}{at}{example} = {plain(a[index], 6)} is not {what}", hint)
    return False


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
        return self._reduced(a2, b2, self.terms(a2, b2))

    def _reduced(self, a, b, terms):
        """The loss from the aligned inputs' terms (saving what backward reads)."""
        saved = self.saved
        saved["a"], saved["b"], saved["terms_shape"] = a, b, terms.shape
        r = self.reduction()
        if r == "none":
            return terms
        if terms.ndim > 1:
            total = terms.sum(axis=tuple(range(1, terms.ndim)))
            n = saved["n"] = math.prod(terms.shape[1:])
        else:  # one term per example
            total, n = terms, 1
            saved["n"] = 1
        if r == "mean" and (n != 1 or total.dtype != _F64):  # x / 1 is x exactly: no call for it
            return total / n
        return total

    def _spread(self, g):
        """Upstream gradient for each element term."""
        r = self.reduction()
        shape = self.saved["terms_shape"]
        if r == "none":
            return g
        if g.shape != shape:  # (one term per example: g is their upstream gradient as it is)
            g = g.reshape((g.shape[0],) + (1,) * (len(shape) - 1))
            if g.shape != shape:
                g = np.broadcast_to(g, shape)
        n = self.saved["n"]
        return g / n if r == "mean" and (n != 1 or g.dtype != _F64) else g

    def explain(self, index, xs, out, names, out_name, digits):
        a, b = xs
        shape = np.broadcast_shapes(np.shape(a), np.shape(b))
        every = self.reduction() != "none"
        total = int(np.prod(shape)) if every else 1
        parts, uses = [], []
        for c in _shown(np.ndindex(*shape) if every else iter([index]), total):
            ia, ib = source_index(c, np.shape(a)), source_index(c, np.shape(b))
            parts.append(self.term_text(a[ia], b[ib], digits))
        if total * 2 <= EXPLICIT_USES:
            for c in (np.ndindex(*shape) if every else [index]):
                uses += [Use(0, source_index(c, np.shape(a))), Use(1, source_index(c, np.shape(b)))]
        else:  # every element of both is used: one box record each
            uses = [Use(0, (0,) * np.ndim(a), "used", np.shape(a)), Use(1, (0,) * np.ndim(b), "used", np.shape(b))]
        text = _joined(parts, total, "terms")
        if self.reduction() == "mean" and total > 1:
            text = f"({text}) / {total}"
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


def _shown(cells: Any, total: int) -> Any:
    """The cells whose terms are written out: all of up to MAX_ROWS, else the first half of that."""
    return itertools.islice(cells, MAX_ROWS if total <= MAX_ROWS else MAX_ROWS // 2)


def _joined(parts: list[str], total: int, what: str) -> str:
    """The terms written out, and how many more there are (as a reduction's explanation says it)."""
    text = " + ".join(parts)
    return text if total <= MAX_ROWS else f"{text} + … ({total - len(parts)} more {what})"


def _sym_reduced(op: Op, terms: np.ndarray, sym: Any) -> np.ndarray:
    """Per-element (or per-row) symbolic losses reduced by the op's ``reduction``."""
    r = op.params.get("reduction", "mean")
    if r == "none":
        return terms
    total = sym.sp.Add(*terms.ravel().tolist())
    return sym.arr(total / terms.size if r == "mean" else total)


LABEL_HINT = ("binary labels are 0 or 1 (or probabilities between); ±1 labels become 0/1 with (y + 1) / 2, "
              "and class indices go to cross_entropy(z, t).")


def _clamped_log(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(np.log(x), LOG_CLAMP)


@register
class BCE(Loss):
    name = "bce"
    # labels inside (0, 1): the gradient check's central differences move them by ±1e-6, and a label
    # outside [0, 1] is refused
    example = Example("y = bce(p, t)", {"p": [0.3, 0.8, 0.6], "t": [0.1, 0.9, 0.75]})
    signature = (Param("p"), Param("y"), Param("reduction", tensor=False, default="mean"))
    formula = "ℓ = −[y·log p + (1 − y)·log(1 − p)]  (logs clamped at −100)"

    def terms(self, p, y):
        return self._terms(p, y, quiet=False)

    def _terms(self, p, y, quiet):
        """The terms; ``quiet``: every p is strictly between 0 and 1 (no log of 0 to silence)."""
        one, clamp = (_ONE, _CLAMP) if p.dtype is _F64 and y.dtype is _F64 else (1, LOG_CLAMP)
        if quiet:
            log_p = np.maximum(np.log(p), clamp)
            log_q = np.maximum(np.log(one - p), clamp)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_p = np.maximum(np.log(p), clamp)  # _clamped_log, both logs in one errstate
                log_q = np.maximum(np.log(one - p), clamp)
        self.saved["logs"] = (log_p, log_q)  # backward's ∂ℓ/∂y uses them again
        return -(y * log_p + (one - y) * log_q)

    def backward(self, g):
        p, y = self.saved["p_"], self.saved["y_"]
        g = self._spread(g)
        one, eps = (_ONE, _EPS) if p.dtype is _F64 and y.dtype is _F64 else (1, BCE_EPS)
        gp = g * (p - y) / np.maximum(p * (one - p), eps)
        if not self.needs[1]:  # (the labels, in training)
            return gp, None
        log_p, log_q = self.saved["logs"]
        return gp, g * (log_q - log_p)

    def forward(self, p, y):
        quiet = _check_range(p, "p", "a probability (bce needs 0 ≤ p ≤ 1)",
                             "apply sigmoid first (p = sigmoid(z)), or use bce_logits(z, y) on the raw scores z.")
        _check_range(y, "y", "a label (bce needs 0 ≤ y ≤ 1)", LABEL_HINT)
        p2, y2 = (p, y) if p.ndim == y.ndim else align(p, y)
        out = self._reduced(p2, y2, self._terms(p2, y2, quiet))
        self.saved["p_"], self.saved["y_"] = p2, y2
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
    example = Example("y = bce_logits(z, t)", {"z": [-0.5, 1.5, 0.25], "t": [0.1, 0.9, 0.75]})  # (as bce's)
    signature = (Param("z"), Param("y"), Param("reduction", tensor=False, default="mean"))
    formula = "ℓ = max(z, 0) − z·y + log(1 + e^−|z|)  (= bce(σ(z), y), stable)"

    def forward(self, z, y):
        _check_range(y, "y", "a label (bce_logits needs 0 ≤ y ≤ 1)", LABEL_HINT)
        return super().forward(z, y)

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


PROBS_HINT = "use cross_entropy(z, t) on the scores z (logits, the default), or apply softmax first."


def _check_probabilities(p: np.ndarray) -> None:
    """Every ``p`` of ``cross_entropy(p, t, logits=False)`` must be in [0, 1] (rows are not renormalized)."""
    _check_range(p, "p", "a probability (cross_entropy with logits=False needs 0 ≤ p ≤ 1)", PROBS_HINT)


@register
class CrossEntropy(Op):
    """``cross_entropy(logits, target)`` over the last axis; rows reduced by ``reduction``.

    ``logits=False`` takes probabilities instead: ``ℓ = −Σₖ tₖ·log pₖ`` (PyTorch's
    ``nll_loss(log(p), target)``), no softmax inside and no renormalization.
    """

    name = "cross_entropy"
    example = Example("y = cross_entropy(z, t)", {"z": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], "t": [2, 0]},
                      fixed=("t",))
    signature = (Param("input"), Param("target"), Param("reduction", tensor=False, default="mean"),
                 Param("logits", tensor=False, default=True))
    formula = "ℓ = −Σₖ tₖ·log softmax(logits)ₖ  (= −log p[target] for a class index)"
    formula_probs = "ℓ = −Σₖ tₖ·log pₖ  (= −log p[target] for a class index; 0·log 0 = 0)"

    def _logits(self) -> bool:
        v = self.params.get("logits", True)
        if not isinstance(v, bool):
            raise ShapeError(f"logits must be True or False in 'cross_entropy', got {v!r}",
                             "logits=False when the input holds probabilities (e.g. a softmax output)")
        return v

    def infer(self, sl, st):
        self._logits()
        if len(sl) == 0:
            raise ShapeError("cross_entropy needs logits with a class axis (last axis), got a scalar")
        rows = tuple(sl[:-1])
        if tuple(st) not in (tuple(sl), rows):
            what = "logits" if self._logits() else "probabilities"
            raise ShapeError(
                f"target shape {tuple(st)} fits neither class indices {rows} nor probabilities {tuple(sl)}"
                f" for {what} {tuple(sl)}",
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
        t = self._onehot(logits, target)
        if self._logits():
            z = logits - logits.max(axis=-1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
            p = np.exp(logp)
        else:  # probabilities: log p as given (log 0 = −inf stops the run); a term with t = 0 is 0
            p = logits
            _check_probabilities(p)
            with np.errstate(divide="ignore", invalid="ignore"):
                logp = np.log(p.astype(float) if p.dtype == object else p)
        t_b = np.broadcast_to(t, np.shape(logp))
        if self._logits():
            rows = -(t * logp).sum(axis=-1)
        else:  # 0·log 0 counts 0 (xlogy): a class with target 0 never reads its p
            used = t_b != 0
            rows = -np.where(used, t_b * np.where(used, logp, 0.0), 0.0).sum(axis=-1)
        r = self.params.get("reduction", "mean")
        self.saved.update(p=p, logp=logp, t=t_b, rows=rows.shape,
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
        t = s["t"]
        if self._logits():  # ∂/∂z of −Σ t·log softmax(z) is p·Σt − t (= p − t when the row sums to 1)
            gl = g[..., None] * (s["p"] * t.sum(axis=-1, keepdims=True) - t)
        else:  # ∂/∂pₖ of −Σ t·log p is −tₖ/pₖ (0 where tₖ = 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                gl = g[..., None] * np.where(t != 0, -t / np.where(t != 0, s["p"], 1), 0)
        gt = -g[..., None] * s["logp"] if s["prob"] else None
        return gl, gt

    def explain(self, index, xs, out, names, out_name, digits):
        logits, target = xs
        every = self.params.get("reduction", "mean") != "none"
        shape = logits.shape[:-1]
        total = int(np.prod(shape)) if every else 1
        rows = _shown(np.ndindex(*shape), total) if every else iter([index])
        prob, k = self.probabilities(logits.shape, target.shape), logits.shape[-1]
        parts, uses = [], []
        for r in rows:
            if prob:
                terms = [f"{num(target[r + (c,)], digits)}·{self._log_text(logits[r], c, prob, digits)}"
                         for c in range(k) if target[r + (c,)] != 0]
                parts.append("−(" + " + ".join(terms) + ")")
            else:
                parts.append(f"−{self._log_text(logits[r], int(target[r]), prob, digits)}")
        if total * k <= EXPLICIT_USES:
            for r in (np.ndindex(*shape) if every else [index]):
                uses += [Use(1, r + (c,)) for c in range(k)] if prob else [Use(1, r)]
                uses += [Use(0, r + (c,), "used") for c in range(k)]
        else:  # every row is used: one box record per input
            uses = [Use(0, (0,) * logits.ndim, "used", logits.shape), Use(1, (0,) * target.ndim, "used", target.shape)]
        text = _joined(parts, total, "rows")
        if self.params.get("reduction", "mean") == "mean" and total > 1:
            text = f"({text}) / {total}"
        formula = self.formula if self._logits() else self.formula_probs
        return Explanation(f"{out_name}{fmt_index(index)}", formula, text, out[index], tuple(uses))

    def _log_text(self, row: np.ndarray, c: int, prob: bool, digits: int) -> str:
        """``ln p_c`` of one row written out: ``ln(e^z_c / (e^z_0 + …))`` for logits, ``ln p_c`` for probabilities."""
        if not self._logits():
            return f"ln {num(row[c], digits)}"
        denom = " + ".join(f"e^{num(v, digits)}" for v in row)
        gap = "" if prob else " "  # as written before probabilities came in
        return f"ln(e^{num(row[c], digits)}{gap}/{gap}({denom}))"

    def describe(self):
        parts = []
        if self.params.get("reduction", "mean") != "mean":
            parts.append(f"reduction={self.params['reduction']!r}")
        if not self.params.get("logits", True):
            parts.append("logits=False")
        return ", ".join(parts)

    # -- symbolic
    reads_values = True  # class indices pick the term

    def symbolic(self, xs, sym, nums=None):
        logits, target = xs
        prob = self.probabilities(logits.shape, target.shape)
        rows = np.empty(logits.shape[:-1], dtype=object)
        k = logits.shape[-1]
        for r in np.ndindex(*rows.shape):
            row = [logits[r + (c,)] for c in range(k)]

            def log_p(c: int, row: list = row) -> Any:
                return sym.log_softmax_at(sym.sp.Integer(c), *row) if self._logits() else sym.sp.log(row[c])

            if prob:
                rows[r] = -sym.sp.Add(*[target[r + (c,)] * log_p(c) for c in range(k)])
            else:
                if nums is None or nums[1] is None:
                    raise sym.NoSymbolicForm("cross_entropy needs the class indices")
                c = round(float(np.asarray(nums[1])[r]))
                rows[r] = -log_p(c)
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
        notes = []
        if self._logits():
            logp = Z[k] - sp.log(sym.Sum(sp.exp(Z[j]), (j, 0, K - 1)))
            notes.append("softmax + cross-entropy → p − onehot: the softmax is inside the op (PyTorch)")
        else:
            logp = sp.log(Z[k])
            notes.append("logits=False: the input holds probabilities, no softmax inside (nll_loss(log p)); "
                         "a term with tₖ = 0 counts 0")
        fwd = sp.Eq(ell, -scale * sym.Sum(t[k] * logp, (k, 0, K - 1)))
        if not self._logits():
            ders = [sym.deriv(c.names[0], 0, ell, Z[k], -scale * t[k] / Z[k])]
            if prob and not c.consts[1]:
                ders.append(sym.deriv(c.names[1], 1, ell, t[k], -scale * sp.log(Z[k])))
        elif prob:
            ders = [sym.deriv(c.names[0], 0, ell, Z[k], scale * (p[k] * sym.Sum(t[j], (j, 0, K - 1)) - t[k]))]
            notes.append("probability targets: ∂ℓ/∂zₖ = pₖ·Σⱼ tⱼ − tₖ, which is p − t when each target row sums to 1")
            if not c.consts[1]:
                ders.append(sym.deriv(c.names[1], 1, ell, t[k], -scale * sp.log(p[k])))
        else:
            ders = [sym.deriv(c.names[0], 0, ell, Z[k], scale * (p[k] - t[k]))]
        if rows > 1:
            notes.append(f"{rows} rows, reduction={r!r}")
        return fwd, tuple(ders), tuple(notes)
