"""Reductions (``sum mean max min prod`` with ``axis=`` and ``keepdims=``) and ``softmax``/``log_softmax``.

Conventions:

* ``max`` (``min``) sends its whole gradient to the **first** maximum (minimum) in
  row-major order when several elements tie (PyTorch's ``max()`` without ``dim`` splits
  it evenly instead; ours matches max-pooling and what a student picks by hand).
* An explanation writes out the first terms only and reports the elements used as one
  box record (:class:`~nnlab.engine.trace.Use` with an ``extent``) when there are more
  than :data:`EXPLICIT_USES`: its cost does not grow with the size of the sum.
* ``prod``'s gradient is the product of the *other* elements, computed without
  dividing, so zeros are handled.
* ``softmax``/``log_softmax`` subtract the maximum first, so logits like 1000 are
  fine. ``mask='causal'`` (used by ``attention``) excludes keys after the query: a
  masked weight is exactly 0.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import numpy as np

from nnlab.engine.ops.base import (Example, Op, Param, ShapeError, num, pe_axes, pe_axis, plain, reduced_shape,
                                   register)
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


class Reduce(Op):
    """Reduce over ``axis`` (None = every axis of one example); ``keepdims=True`` keeps
    each reduced axis with length 1 (NumPy's and PyTorch's ``keepdim``).

    Subclasses write :meth:`reduce` and :meth:`pull` on the reduced shape; keepdims is
    handled here, around them.
    """

    signature = (Param("x"), Param("axis", tensor=False, default=None),
                 Param("keepdims", tensor=False, default=False))

    def infer(self, shape):
        keep = self.params.get("keepdims", False)
        if not isinstance(keep, bool):
            raise ShapeError(f"keepdims must be True or False in '{self.name}', got {keep!r}")
        axes = pe_axes(self.params.get("axis"), len(shape), self)
        if keep:
            return tuple(1 if i + 1 in axes else n for i, n in enumerate(shape))
        return reduced_shape(tuple(shape), axes)

    def _axes(self, x):
        return pe_axes(self.params.get("axis"), x.ndim - 1, self)

    def forward(self, x):
        y = self.reduce(x)
        return np.expand_dims(y, self._axes(x)) if self.params.get("keepdims") else y

    def backward(self, g):
        if self.params.get("keepdims"):
            shape = self.saved["shape"]
            g = np.squeeze(g, axis=pe_axes(self.params.get("axis"), len(shape) - 1, self))
        return self.pull(g)

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """The reduction of batch-first ``x`` over :meth:`_axes` (those axes removed);
        saves ``shape`` and what :meth:`pull` needs."""
        raise NotImplementedError

    def pull(self, g: np.ndarray) -> tuple[np.ndarray]:
        """The vector-Jacobian product for an upstream ``g`` without the reduced axes."""
        raise NotImplementedError

    def _box(self, index, shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The input elements reduced into output ``index`` (per example), as a box:
        its first element and its length along each axis (the whole axis where reduced)."""
        axes = [a - 1 for a in pe_axes(self.params.get("axis"), len(shape), self)]
        if self.params.get("keepdims"):
            kept = iter(i for a, i in enumerate(index) if a not in axes)
        else:
            kept = iter(index)
        start = tuple(0 if i in axes else next(kept) for i in range(len(shape)))
        extent = tuple(n if i in axes else 1 for i, n in enumerate(shape))
        return start, extent

    def _window(self, index, shape) -> Use:
        """The input elements reduced into output ``index``, as one (box) record."""
        start, extent = self._box(index, shape)
        return Use(0, start, "used", extent)

    def describe(self):
        parts = []
        if self.params.get("axis") is not None:
            parts.append(f"axis={self.params['axis']}")
        if self.params.get("keepdims"):
            parts.append("keepdims=True")
        return ", ".join(parts)

    # -- symbolic
    def symbolic(self, xs, sym, nums=None):
        x = xs[0]
        axes = tuple(a - 1 for a in pe_axes(self.params.get("axis"), x.ndim, self))
        y = sym.arr(sym.reduce(x, axes, lambda cells: self.sym_reduce(cells, sym)))
        return np.expand_dims(y, axes) if self.params.get("keepdims") else y

    def sym_reduce(self, cells: list, sym: Any) -> Any:
        """The reduction of the cells (row-major order) as one sympy expression."""
        raise NotImplementedError

    def rule(self, c, sym):
        X, i = sym.IndexedBase(c.names[0]), sym.idx("i")
        n = int(np.prod(c.shapes[0])) // max(1, int(np.prod(c.out_shape)))
        y = sym.symbol(c.out)
        axis = self.params.get("axis")
        notes = () if axis is None else (f"over axis {axis}: one result per remaining position",)
        if self.params.get("keepdims"):
            notes += ("keepdims=True: each reduced axis stays, with length 1",)
        fwd, d = self.sym_rule(X[i], i, n, c, sym)
        return sym.sp.Eq(y, fwd), (sym.deriv(c.names[0], 0, y, X[i], d),), notes + self.rule_notes

    def sym_rule(self, xi: Any, i: Any, n: int, c: Any, sym: Any) -> tuple[Any, Any]:
        """``(y in index form over xᵢ, ∂y/∂xᵢ)``."""
        raise NotImplementedError


MAX_TERMS = 24
EXPLICIT_USES = 4096
"""A window up to this many elements is reported element by element (one :class:`Use`
each); a larger one as one box record, so explaining a sum of ten million elements
builds no ten million records."""


def _uses(window: Use) -> tuple[Use, ...]:
    """The records of a window's elements: one each for a small window, the box itself for a large one."""
    if window.size <= EXPLICIT_USES:
        return tuple(Use(window.slot, c, window.role) for c in window.cells())
    return (window,)


def _first(x: np.ndarray, window: Use, n: int = MAX_TERMS) -> list:
    """The values of the first ``n`` elements of the window (row-major), read one by one."""
    return [x[c] for c in itertools.islice(window.cells(), n)]


def _few(x: np.ndarray, window: Use) -> list:
    """The numbers written out: all of a short sum, the first ones of a long one."""
    return _first(x, window, MAX_TERMS)


def _written(parts: list[str], total: int, sep: str) -> str:
    """The terms joined; for a long sum only the first ones, then how many more."""
    if total <= MAX_TERMS:
        return sep.join(parts)
    return sep.join(parts[:MAX_TERMS // 2]) + f"{sep}… ({total - MAX_TERMS // 2} more terms)"


def _slices(window: Use) -> tuple[slice, ...]:
    return tuple(slice(s, s + e) for s, e in zip(window.index, window.extent))


@register
class Sum(Reduce):
    name, formula, rational = "sum", "y = Σᵢ xᵢ", True
    example = Example("y = sum(x, axis=0)", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})

    def reduce(self, x):
        self.saved = {"shape": x.shape}
        return x.sum(axis=self._axes(x))

    def pull(self, g):
        shape = self.saved["shape"]
        axes = pe_axes(self.params.get("axis"), len(shape) - 1, self)
        return (np.broadcast_to(np.expand_dims(g, axes), shape),)

    def sym_reduce(self, cells, sym):
        return sym.sp.Add(*cells)

    def sym_rule(self, xi, i, n, c, sym):
        return sym.Sum(xi, (i, 0, n - 1)), sym.sp.S.One

    def explain(self, index, xs, out, names, out_name, digits):
        window = self._window(index, xs[0].shape)
        terms = [num(v, digits) for v in _few(xs[0], window)]
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = Σ {names[0]}",
                           _written(terms, window.size, " + "), out[index], _uses(window))


@register
class Mean(Reduce):
    name, formula, rational = "mean", "y = (1/n) Σᵢ xᵢ", True
    example = Example("y = mean(x, axis=1)", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})

    def reduce(self, x):
        axes = self._axes(x)
        n = int(np.prod([x.shape[a] for a in axes]))
        self.saved = {"shape": x.shape, "n": n}
        return x.sum(axis=axes) / n

    def pull(self, g):
        shape = self.saved["shape"]
        axes = pe_axes(self.params.get("axis"), len(shape) - 1, self)
        return (np.broadcast_to(np.expand_dims(g, axes), shape) / self.saved["n"],)

    def sym_reduce(self, cells, sym):
        return sym.sp.Add(*cells) / len(cells)

    def sym_rule(self, xi, i, n, c, sym):
        return sym.Sum(xi, (i, 0, n - 1)) / n, sym.sp.Rational(1, n)

    def explain(self, index, xs, out, names, out_name, digits):
        window = self._window(index, xs[0].shape)
        terms = _written([num(v, digits) for v in _few(xs[0], window)], window.size, " + ")
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = (1/n) Σ {names[0]}",
                           f"({terms}) / {window.size}", out[index], _uses(window))


def _to_end(x, axes):
    """Move ``axes`` to the end and flatten them: (..., R)."""
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + list(axes))
    return moved.reshape(moved.shape[: len(rest)] + (-1,)), rest


def _from_end(y, x_shape, axes, rest):
    """Inverse of :func:`_to_end`."""
    moved_shape = tuple(x_shape[a] for a in rest) + tuple(x_shape[a] for a in axes)
    y = y.reshape(moved_shape)
    return np.transpose(y, np.argsort(rest + list(axes)))


class _Extremum(Reduce):
    """``max``/``min``: the whole gradient goes to the **first** extremum (row-major) when
    elements tie."""

    rational = True
    word: ClassVar[str] = ""  # "maximum", "minimum"

    def pick(self, a: np.ndarray, axis: int) -> np.ndarray:
        """``argmax``/``argmin`` along ``axis`` (the first one on ties)."""
        raise NotImplementedError

    def reduce(self, x):
        axes = self._axes(x)
        flat, rest = _to_end(x, axes)
        arg = self.pick(flat, -1)
        self.saved = {"shape": x.shape, "axes": axes, "rest": rest, "arg": arg, "dtype": x.dtype}
        return np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]

    def pull(self, g):
        s = self.saved
        moved = tuple(s["shape"][a] for a in s["rest"]) + (int(np.prod([s["shape"][a] for a in s["axes"]])),)
        flat = np.zeros(moved, dtype=float if g.dtype != object else object)
        if flat.dtype == object:
            flat[...] = 0
        np.put_along_axis(flat, s["arg"][..., None], g[..., None], axis=-1)
        return (_from_end(flat, s["shape"], s["axes"], s["rest"]),)

    def explain(self, index, xs, out, names, out_name, digits):
        window = self._window(index, xs[0].shape)
        vals = np.asarray(xs[0][_slices(window)], dtype=float)
        best = int(self.pick(vals.reshape(-1), 0)) if vals.size else 0
        best_cell = tuple(s + int(i) for s, i in zip(window.index, np.unravel_index(best, window.extent)))
        ties = int(np.sum(vals == vals.reshape(-1)[best])) if vals.size else 0
        note = f"{ties} elements tie; the gradient goes to the first" if ties > 1 else ""
        shown = [plain(v, digits) for v in vals.reshape(-1)[:MAX_TERMS]] if vals.size <= MAX_TERMS else \
            [plain(float(v), digits) for v in _first(xs[0], window)]
        inner = _written(shown, window.size, ", ")
        if window.size > MAX_TERMS:
            note = (note + "; " if note else "") + f"the {self.word} is element {fmt_index(best_cell)}"
        if window.size <= EXPLICIT_USES:
            uses = tuple(Use(0, c, "argmax" if c == best_cell else "used") for c in window.cells())
        else:
            uses = (window, Use(0, best_cell, "argmax"))
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = {self.name} {names[0]}",
                           f"{self.name}({inner})", out[index], uses, note=note)

    def dependents(self, k, index, out_shape):
        return None


@register
class Max(_Extremum):
    name, word = "max", "maximum"
    example = Example("y = max(x, axis=1)", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})
    formula = "y = max xᵢ  (gradient to the first maximum)"
    rule_notes = ("the whole gradient goes to the first maximum (row-major) when elements tie",)

    def pick(self, a, axis):
        return np.argmax(a, axis=axis)

    def sym_reduce(self, cells, sym):
        return sym.first_max(*cells)

    def sym_rule(self, xi, i, n, c, sym):
        return sym.sp.Function("max")(xi), sym.symbol(f"[{c.names[0]}[i] is the first maximum]")


@register
class Min(_Extremum):
    name, word = "min", "minimum"
    example = Example("y = min(x, axis=1)", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})
    formula = "y = min xᵢ  (gradient to the first minimum)"
    rule_notes = ("the whole gradient goes to the first minimum (row-major) when elements tie",)

    def pick(self, a, axis):
        return np.argmin(a, axis=axis)

    def sym_reduce(self, cells, sym):
        return -sym.first_max(*[-c for c in cells])  # min x = −max(−x); the first minimum is the first max of −x

    def sym_rule(self, xi, i, n, c, sym):
        return sym.sp.Function("min")(xi), sym.symbol(f"[{c.names[0]}[i] is the first minimum]")


@register
class Prod(Reduce):
    name, formula, rational = "prod", "y = Πᵢ xᵢ", True
    example = Example("y = prod(x)", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})

    def reduce(self, x):
        axes = self._axes(x)
        flat, rest = _to_end(x, axes)
        self.saved = {"shape": x.shape, "axes": axes, "rest": rest, "flat": flat}
        return np.prod(flat, axis=-1)

    def pull(self, g):
        s = self.saved
        flat = s["flat"]
        ones = np.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
        left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        others = left * right
        return (_from_end(others * g[..., None], s["shape"], s["axes"], s["rest"]),)

    rule_notes = ("∂y/∂xᵢ is the product of the *other* elements (computed without dividing, so zeros work)",)

    def sym_reduce(self, cells, sym):
        return sym.sp.Mul(*cells)

    def sym_rule(self, xi, i, n, c, sym):
        return sym.sp.Product(xi, (i, 0, n - 1)), sym.symbol(f"Π_(j≠i) {c.names[0]}[j]")

    def explain(self, index, xs, out, names, out_name, digits):
        window = self._window(index, xs[0].shape)
        terms = _written([num(v, digits) for v in _few(xs[0], window)], window.size, "×")
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = Π {names[0]}",
                           terms, out[index], _uses(window))


def _causal(shape):
    """Boolean mask (True = keep) for the last two axes: key j ≤ query i."""
    q, k = shape[-2], shape[-1]
    return np.arange(k)[None, :] <= np.arange(q)[:, None] + (k - q)


class _Softmaxish(Op):
    signature = (Param("x"), Param("axis", tensor=False, default=-1),
                 Param("mask", tensor=False, default=None))

    def infer(self, shape):
        if len(shape) == 0:
            raise ShapeError(f"{self.name} needs at least one axis, got a scalar")
        pe_axis(self.params.get("axis", -1), len(shape), self)
        mask = self.params.get("mask")
        if mask not in (None, "causal"):
            raise ShapeError(f"unknown mask {mask!r}", "use mask='causal' or leave it out.")
        if mask == "causal" and len(shape) < 2:
            raise ShapeError("mask='causal' needs a (queries × keys) matrix")
        return tuple(shape)

    def _shifted(self, x):
        axis = pe_axis(self.params.get("axis", -1), x.ndim - 1, self)
        keep = None
        if self.params.get("mask") == "causal":
            keep = np.broadcast_to(_causal(x.shape), x.shape)
            x = np.where(keep, x, -np.inf)
        m = np.max(x, axis=axis, keepdims=True)
        return x - m, axis, keep

    log: ClassVar[bool] = False

    def symbolic(self, xs, sym, nums=None):
        x = xs[0]
        axis = pe_axis(int(self.params.get("axis", -1)), x.ndim, self) - 1
        keep = np.ones(x.shape, dtype=bool)
        if self.params.get("mask") == "causal":
            if self.log:
                raise sym.NoSymbolicForm("log_softmax with a causal mask")
            keep = np.broadcast_to(_causal(x.shape), x.shape)
        fn = sym.log_softmax_at if self.log else sym.softmax_at
        out = np.empty(x.shape, dtype=object)
        moved, kept = np.moveaxis(x, axis, -1), np.moveaxis(keep, axis, -1)
        res = np.moveaxis(out, axis, -1)  # a view: filling it fills out
        for index in np.ndindex(*moved.shape[:-1]):
            row = [moved[index + (j,)] for j in range(moved.shape[-1]) if kept[index + (j,)]]
            pos = 0
            for j in range(moved.shape[-1]):
                if kept[index + (j,)]:
                    res[index + (j,)] = fn(sym.sp.Integer(pos), *row)
                    pos += 1
                else:
                    res[index + (j,)] = sym.sp.S.Zero
        return out

    def rule(self, c, sym):
        X, P = sym.IndexedBase(c.names[0]), sym.IndexedBase(c.out)
        i, j = sym.idx("i"), sym.idx("j")
        n = c.shapes[0][int(self.params.get("axis", -1))]
        denom = sym.Sum(sym.sp.exp(X[j]), (j, 0, n - 1))
        notes = []
        if self.params.get("axis", -1) != -1:
            notes.append(f"along axis {self.params['axis']}")
        if self.params.get("mask") == "causal":
            notes.append("causal mask: keys after the query are left out of the sum; their weight is exactly 0")
        if self.log:
            fwd = sym.sp.Eq(P[i], X[i] - sym.sp.log(denom))
            d = sym.KroneckerDelta(i, j) - sym.IndexedBase(f"softmax({c.names[0]})")[j]
        else:
            fwd = sym.sp.Eq(P[i], sym.sp.exp(X[i]) / denom)
            d = P[i] * (sym.KroneckerDelta(i, j) - P[j])
        return fwd, (sym.deriv(c.names[0], 0, P[i], X[j], d),), tuple(notes)

    def _row(self, index, shape):
        axis = int(self.params.get("axis", -1)) % len(shape)
        return [index[:axis] + (j,) + index[axis + 1:] for j in range(shape[axis])], axis

    def describe(self):
        parts = []
        if self.params.get("axis", -1) != -1:
            parts.append(f"axis={self.params['axis']}")
        if self.params.get("mask"):
            parts.append(f"mask={self.params['mask']!r}")
        return ", ".join(parts)


@register
class Softmax(_Softmaxish):
    name = "softmax"
    example = Example("y = softmax(x)", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})
    keeps_finite = True
    formula = "pᵢ = exp(xᵢ) / Σⱼ exp(xⱼ)"

    def forward(self, x):
        z, axis, keep = self._shifted(x)
        p = np.exp(z, out=z)  # z is a fresh array
        p /= p.sum(axis=axis, keepdims=True)
        self.saved = {"p": p, "axis": axis}
        return p

    def backward(self, g):
        p, axis = self.saved["p"], self.saved["axis"]
        gm, pm = np.moveaxis(g, axis, -1), np.moveaxis(p, axis, -1)
        dot = np.einsum("...i,...i->...", gm, pm)[..., None]  # Σⱼ gⱼpⱼ without a temporary
        out = np.subtract(gm, dot)
        out *= pm
        return (np.moveaxis(out, -1, axis),)

    def explain(self, index, xs, out, names, out_name, digits):
        row, _ = self._row(index, xs[0].shape)
        keep = _causal(xs[0].shape) if self.params.get("mask") == "causal" else None
        live = [c for c in row if keep is None or keep[c[-2], c[-1]]]
        denom = " + ".join(f"e^{num(xs[0][c], digits)}" for c in live)
        masked = keep is not None and not keep[index[-2], index[-1]]
        uses = tuple(Use(0, c, "masked" if keep is not None and not keep[c[-2], c[-1]] else "used")
                     for c in row)
        if masked:
            return Explanation(f"{out_name}{fmt_index(index)}", self.formula, "0 (masked: key after query)",
                               out[index], uses, note="causal mask: this key comes after the query")
        return Explanation(f"{out_name}{fmt_index(index)}", self.formula,
                           f"e^{num(xs[0][index], digits)} / ({denom})", out[index], uses)


@register
class LogSoftmax(_Softmaxish):
    name = "log_softmax"
    example = Example("y = log_softmax(x)", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})
    log = True
    formula = "yᵢ = xᵢ − log Σⱼ exp(xⱼ)"

    def forward(self, x):
        z, axis, keep = self._shifted(x)
        lse = np.log(np.exp(z).sum(axis=axis, keepdims=True))
        y = z - lse
        self.saved = {"p": np.exp(y), "axis": axis}
        return y

    def backward(self, g):
        p, axis = self.saved["p"], self.saved["axis"]
        return (g - p * g.sum(axis=axis, keepdims=True),)

    def explain(self, index, xs, out, names, out_name, digits):
        row, _ = self._row(index, xs[0].shape)
        denom = " + ".join(f"e^{num(xs[0][c], digits)}" for c in row)
        return Explanation(f"{out_name}{fmt_index(index)}", self.formula,
                           f"{num(xs[0][index], digits)} − ln({denom})", out[index],
                           tuple(Use(0, c) for c in row))
