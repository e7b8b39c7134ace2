"""2-D max and average pooling over kh×kw windows, channel by channel.

Why this shape of code: pooling is cheap per element, so NumPy's per-call overhead
is what costs. Forward loops over the kh·kw window *offsets* (four for a 2×2 pool),
each step one vectorized operation on strided views of the whole batch; backward
scatters with one strided add per offset (average) or one ``np.bincount`` of the
winners' flat indices (max). No Python loop ever runs over output elements.

Conventions (named, because references differ):

* X is ``(H, W)`` or ``(C, H, W)`` per example; each channel is pooled on its own.
  ``size`` and ``stride`` are an int or ``[rows, cols]``; ``stride`` defaults to
  ``size`` (non-overlapping windows). ``padding`` is per side (PyTorch), so
  ``OH = ⌊(H + 2p − kh)/s⌋ + 1``, and, as in PyTorch, at most half the window.
* **Max-pool padding is −∞**, so it never wins. **Ties:** the gradient goes to the
  *first* maximum in row-major window order (top row first, left to right) — one
  cell gets all of it, none is split. PyTorch's CPU kernel does the same, but
  other backends may pick another tied cell.
* **Avg-pool padding is 0.** ``count_include_pad=True`` (PyTorch's default)
  divides by kh·kw; ``False`` divides by the number of real (non-padding) cells.
* Explanations index X in the padded frame (:attr:`Explanation.pads`).
  ``dependents`` is structural — every output whose window covers the element; for
  max pooling only the windows where the element is the (first) maximum have a
  non-zero local derivative.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnlab.engine.ops.base import Example, Op, Param, ShapeError, num, plain, register
from nnlab.engine.ops.conv import Window, make_window, pair, per_side
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


class Pool2d(Op):
    """Shared geometry, shapes and bookkeeping of the pooling ops."""

    signature = (Param("X"), Param("size", tensor=False),
                 Param("stride", tensor=False, default=None),
                 Param("padding", tensor=False, default=0))

    def _window(self, xs) -> Window:
        xs = tuple(xs)
        if len(xs) not in (2, 3):
            raise ShapeError(f"'{self.name}' needs X of shape (H, W) or (C, H, W), got {xs}",
                             "a batch of images is given as a data set, one image per example")
        size = pair(self.params.get("size"), "size", self.name, 1)
        stride = self.params.get("stride")
        stride = size if stride is None else pair(stride, "stride", self.name, 1)
        pads = per_side(self.params.get("padding", 0), None, self.name)
        if any(2 * p > k for (p, _), k in zip(pads, size)):
            raise ShapeError(f"padding={self.params.get('padding')!r} is more than half the"
                             f" {size[0]}×{size[1]} window in '{self.name}'",
                             "a window could then hold only padding (PyTorch forbids it too);"
                             " use padding ≤ size/2")
        return make_window(self.name, f"X {xs} with size={self.params.get('size')!r}",
                           xs, size, stride, pads)

    def infer(self, xs):
        return tuple(xs[:-2]) + self._window(xs).out_hw

    def shape_rule(self, xs):
        try:
            return self._window(xs).rule(False)
        except ShapeError:
            return ""

    def _start(self, X) -> tuple[Window, np.ndarray]:
        """Window and the input as ``(M, H, W)`` (examples × channels merged)."""
        win = self._window(X.shape[1:])
        x = np.asarray(X, dtype=float).reshape(-1, *win.in_hw)
        self.saved.update(win=win, in_shape=X.shape)
        return win, x

    def _scatter(self, part) -> np.ndarray:
        """Gradient of the input: add ``part(k)`` (``(M, OH, OW)``) at kernel offset k.

        One strided add per offset (9 for a 3×3 pool); overlapping windows add up.
        """
        win = self.saved["win"]
        m = int(np.prod(self.saved["in_shape"][:-2]))
        gxp = np.zeros((m, *win.padded_hw))
        for k, (a, b) in enumerate(win.offsets):
            win.at(gxp, a, b)[...] += part(k)
        return self._finish(gxp)

    def _finish(self, gxp: np.ndarray) -> np.ndarray:
        """Padded ``(M, Hp, Wp)`` gradient → cropped, shaped like the input."""
        return np.ascontiguousarray(self.saved["win"].crop(gxp)).reshape(self.saved["in_shape"])

    # -- explanations --------------------------------------------------------------
    def _cells(self, index, x):
        """The window of output ``index``: ``(padded index, value or None for padding)``."""
        win = self._window(np.shape(x))
        *c, i, j = index
        (t, _), (l, _) = win.pads
        cells = []
        for a, b in win.offsets:
            r, q = i * win.stride[0] + a, j * win.stride[1] + b
            value = None if win.is_pad(r, q) else np.asarray(x)[(*c, r - t, q - l)]
            cells.append(((*c, r, q), value))
        return win, cells

    def _rule(self, win: Window, names, out_name, ndim) -> tuple[str, str]:
        """``("Y[c,i,j]", "X[c, 2i+a, 2j+b]")``: the two sides of the rule; ops add the head."""
        c = "c," if ndim == 3 else ""
        rows, cols = win.index_text(0, "i", "a"), win.index_text(1, "j", "b")
        return f"{out_name}[{c}i,j]", f"{names[0]}[{c.replace(',', ', ')}{rows}, {cols}]"

    # -- symbolic ------------------------------------------------------------------
    def symbolic(self, xs, sym, nums=None):
        X = xs[0]
        x3 = X if X.ndim == 3 else X[None]
        win = self._window(X.shape)
        (oh, ow), (sh, sw), ((t, _), (left, _)), (kh, kw) = win.out_hw, win.stride, win.pads, win.size
        H, W = win.in_hw
        out = np.empty((x3.shape[0], oh, ow), dtype=object)
        for c in range(x3.shape[0]):
            for i in range(oh):
                for j in range(ow):
                    cells = [x3[c, r, q] for a in range(kh) for bb in range(kw)
                             for r, q in [(i * sh + a - t, j * sw + bb - left)] if 0 <= r < H and 0 <= q < W]
                    out[c, i, j] = self.sym_window(cells, kh * kw, sym)
        return out if X.ndim == 3 else out[0]

    def sym_window(self, cells: list, size: int, sym: Any) -> Any:
        """One output from the real (non-padding) cells of its window, ``size`` = kh·kw."""
        raise NotImplementedError

    def rule(self, c, sym):
        win = self._window(c.shapes[0])
        X, Y = sym.IndexedBase(c.names[0]), sym.IndexedBase(c.out)
        i, j, a, b, ch = (sym.idx(n) for n in ("i", "j", "a", "b", "c"))
        (sh, sw), ((t, _), (lft, _)), (kh, kw) = win.stride, win.pads, win.size
        multi = len(c.shapes[0]) == 3
        x_el = X[ch, sh * i + a - t, sw * j + b - lft] if multi else X[sh * i + a - t, sw * j + b - lft]
        y_el = Y[ch, i, j] if multi else Y[i, j]
        r, q = sym.idx("r"), sym.idx("q")
        xin = X[ch, r, q] if multi else X[r, q]
        fwd, d, notes = self.sym_rule(x_el, xin, (i, j, a, b), win, sym)
        return sym.sp.Eq(y_el, fwd), (sym.deriv(c.names[0], 0, y_el, xin, d),), notes

    def sym_rule(self, x_el: Any, xin: Any, ijab: tuple, win: Window, sym: Any) -> tuple[Any, Any, tuple[str, ...]]:
        """``(the window's formula over x_el, ∂y/∂xin, notes)``."""
        raise NotImplementedError

    def dependents(self, k, index, out_shape):
        win = self.saved["win"]
        (t, _), (l, _) = win.pads
        *c, r, s = index
        return [(*c, i, j) for i, j in win.covering(r + t, s + l)]

    def _offset(self, out_index, in_index) -> int | None:
        """Row-major kernel offset at which ``in_index`` sits in window ``out_index``."""
        win = self.saved["win"]
        if tuple(out_index[:-2]) != tuple(in_index[:-2]):
            return None
        a = in_index[-2] + win.pads[0][0] - out_index[-2] * win.stride[0]
        b = in_index[-1] + win.pads[1][0] - out_index[-1] * win.stride[1]
        kh, kw = win.size
        return a * kw + b if 0 <= a < kh and 0 <= b < kw else None


@register
class MaxPool2d(Pool2d):
    """Maximum of each kh×kw window (padding is −∞; ties: the first maximum wins).

    Static params: ``size`` (int or [rows, cols]), ``stride`` (default: ``size``),
    ``padding`` (per side, default 0).
    """

    name = "maxpool2d"
    example = Example("y = maxpool2d(X, size=2, stride=1)",
                      {"X": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [1.0, 2.5, -1.5]]})
    formula = "Y[i,j] = maxₐ,ᵦ X[i·s+a−p, j·s+b−p]"

    def forward(self, X):
        win, x = self._start(X)
        xp = win.pad(x, -np.inf)
        best = win.at(xp, 0, 0).copy()
        kind = np.int16 if len(win.offsets) < 2**15 else np.int32
        arg = np.zeros(best.shape, dtype=kind)         # row-major offset of the winner
        bigger = np.empty(best.shape, dtype=bool)
        for k, (a, b) in enumerate(win.offsets[1:], start=1):
            cand = win.at(xp, a, b)
            np.greater(cand, best, out=bigger)         # strict: the first maximum stays
            np.maximum(best, cand, out=best)
            # k exceeds every earlier offset, so max(arg, k·bigger) sets arg = k where
            # cand won and keeps it elsewhere (branch-free: masked copies are slow).
            np.maximum(arg, bigger * kind(k), out=arg)
        self.saved["arg"] = arg
        return best.reshape(X.shape[:-2] + best.shape[-2:])

    def backward(self, g):
        win, arg = self.saved["win"], self.saved["arg"]
        (sh, sw), (hp, wp), (oh, ow) = win.stride, win.padded_hw, win.out_hw
        # Flat index (in the padded input) of each window's winner: window start + offset.
        start = (np.arange(len(arg))[:, None, None] * (hp * wp)
                 + np.arange(oh)[:, None] * (sh * wp) + np.arange(ow) * sw)
        offset = np.array([a * wp + b for a, b in win.offsets])
        winner = (start + offset[arg]).ravel()
        g = np.asarray(g, dtype=float).ravel()
        gxp = np.bincount(winner, weights=g, minlength=len(arg) * hp * wp)  # overlaps add up
        return (self._finish(gxp.reshape(len(arg), hp, wp)),)

    def explain(self, index, xs, out, names, out_name, digits):
        win, cells = self._cells(index, xs[0])
        real = [(idx, v) for idx, v in cells if v is not None]
        top = max(v for _, v in real)
        winner = next(idx for idx, v in real if v == top)   # the first maximum
        uses = tuple(Use(0, idx, "padding" if v is None else "argmax" if idx == winner else "used")
                     for idx, v in cells)
        notes = []
        if sum(v == top for _, v in real) > 1:
            notes.append(f"tie: {sum(v == top for _, v in real)} cells hold the maximum;"
                         " the first (row-major) gets the gradient")
        if len(real) < len(cells):
            notes.append(f"{len(cells) - len(real)} window cells are padding (−∞, never the max)")
        lhs, cell = self._rule(win, names, out_name, np.ndim(xs[0]))
        return Explanation(f"{out_name}{fmt_index(tuple(index))}", f"{lhs} = maxₐ,ᵦ {cell}",
                           "max(" + ", ".join(plain(v, digits) for _, v in real) + ")",
                           out[tuple(index)], uses, ((0, win.pads),), "; ".join(notes))

    def sym_window(self, cells, size, sym):
        return sym.first_max(*cells)

    def sym_rule(self, x_el, xin, ijab, win, sym):
        i, j = ijab[:2]
        d = sym.symbol(f"[{sym.unicode(xin)} is the first maximum of window ({sym.unicode(i)},{sym.unicode(j)})]")
        return sym.sp.Function("max")(x_el), d, (
            "the gradient goes only to the window's maximum (the first in row-major order on ties)",
            "padding is −∞ and never wins")

    def local(self, k, out_index, in_index):
        off = self._offset(out_index, in_index)
        if off is None:
            return 0.0
        s = self.saved
        arg = s["arg"].reshape(s["in_shape"][:-2] + s["win"].out_hw)
        return 1.0 if arg[tuple(out_index)] == off else 0.0


@register
class AvgPool2d(Pool2d):
    """Mean of each kh×kw window (padding is 0).

    Static params: ``size``, ``stride`` (default: ``size``), ``padding`` (per side),
    ``count_include_pad`` (True: divide by kh·kw, PyTorch's default; False: by the
    number of real cells).
    """

    name = "avgpool2d"
    example = Example("y = avgpool2d(X, size=2, stride=1, padding=1)",
                      {"X": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [1.0, 2.5, -1.5]]})
    signature = Pool2d.signature + (Param("count_include_pad", tensor=False, default=True),)
    formula = "Y[i,j] = (1/(kh·kw)) Σₐ,ᵦ X[i·s+a−p, j·s+b−p]"

    def _divisor(self, win: Window) -> np.ndarray:
        """``(OH, OW)``: what each window sum is divided by."""
        if self.params.get("count_include_pad", True):
            return np.full(win.out_hw, float(win.size[0] * win.size[1]))
        return win.real_counts()

    def forward(self, X):
        win, x = self._start(X)
        xp = win.pad(x)
        total = win.at(xp, 0, 0).copy()
        for a, b in win.offsets[1:]:
            total += win.at(xp, a, b)
        div = self._divisor(win)
        self.saved["div"] = div
        return (total / div).reshape(X.shape[:-2] + total.shape[-2:])

    def backward(self, g):
        win, div = self.saved["win"], self.saved["div"]
        share = np.asarray(g, dtype=float).reshape(-1, *win.out_hw) / div
        return (self._scatter(lambda k: share),)

    def explain(self, index, xs, out, names, out_name, digits):
        win, cells = self._cells(index, xs[0])
        with_pad = self.params.get("count_include_pad", True)
        shown = [0 if v is None else v for _, v in cells if with_pad or v is not None]
        uses = tuple(Use(0, idx, "padding" if v is None else "used") for idx, v in cells)
        n_pad = sum(v is None for _, v in cells)
        note = ""
        if n_pad:
            note = (f"{n_pad} window cells are padding: counted as 0 and in the divisor"
                    if with_pad else f"{n_pad} window cells are padding: left out of the mean"
                    " (count_include_pad=False)")
        lhs, cell = self._rule(win, names, out_name, np.ndim(xs[0]))
        head = (f"(1/{win.size[0] * win.size[1]}) Σₐ,ᵦ {cell}" if with_pad
                else f"mean of the real cells {cell}")
        return Explanation(f"{out_name}{fmt_index(tuple(index))}", f"{lhs} = {head}",
                           "(" + " + ".join(num(v, digits) for v in shown) + f")/{len(shown)}",
                           out[tuple(index)], uses, ((0, win.pads),), note)

    def sym_window(self, cells, size, sym):
        return sym.sp.Add(*cells) / (size if self.params.get("count_include_pad", True) else len(cells))

    def sym_rule(self, x_el, xin, ijab, win, sym):
        _, _, a, b = ijab
        kh, kw = win.size
        div = kh * kw
        notes = ("every cell of the window gets 1/(kh·kw) of the gradient",)
        if not self.params.get("count_include_pad", True):
            notes = ("count_include_pad=False: divide by the number of real (non-padding) cells",)
        return sym.Sum(x_el, (a, 0, kh - 1), (b, 0, kw - 1)) / div, sym.sp.Rational(1, div), notes

    def local(self, k, out_index, in_index):
        if self._offset(out_index, in_index) is None:
            return 0.0
        return 1.0 / float(self.saved["div"][tuple(out_index[-2:])])
