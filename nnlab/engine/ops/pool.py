"""2-D max and average pooling over kh×kw windows, channel by channel.

Why this shape of code: pooling is cheap per element, so NumPy's per-call overhead
is what costs. Forward loops over the kh·kw window *offsets* (four for a 2×2 pool),
each step one vectorized operation on strided views of the whole batch; backward
scatters with one strided add per offset (average) or one ``np.bincount`` of the
winners' flat indices (max). No Python loop ever runs over output elements.

Conventions (named, because references differ):

* X is ``(H, W)``, ``(C, H, W)`` or a batch of images ``(N, C, H, W)`` per example;
  each channel of each image is pooled on its own. ``layout='hwc'`` reads and writes
  channels-last ``(H, W, C)`` / ``(N, H, W, C)`` (Keras/TF). ``size`` and ``stride``
  are an int or ``[rows, cols]``; ``stride`` defaults to ``size`` (non-overlapping
  windows). ``padding`` is per side (PyTorch): ``p``, ``[rows, cols]`` or
  ``[[top, bottom], [left, right]]``, or ``'valid'`` (none), so
  ``OH = ⌊(H + 2p − kh)/s⌋ + 1``, and, as in PyTorch, at most half the window.
  (``'same'`` is not offered: TensorFlow's same-padded average divides by the real
  cells, PyTorch's default by the whole window — say which with explicit padding and
  ``count_include_pad``.)
* **Max-pool padding is −∞**, so it never wins. **Ties:** the gradient goes to the
  *first* maximum in row-major window order (top row first, left to right) — one
  cell gets all of it, none is split. PyTorch's CPU kernel does the same, but
  other backends may pick another tied cell.
* **Avg-pool padding is 0.** ``count_include_pad=True`` (PyTorch's default)
  divides by kh·kw; ``False`` divides by the number of real (non-padding) cells.
* Explanations index X in the padded frame (:attr:`Explanation.pads`), except for
  channels-last X, whose padding cannot be drawn around the last two axes: there only
  the real cells are listed, in ordinary coordinates. ``dependents`` is structural —
  every output whose window covers the element; for max pooling only the windows
  where the element is the (first) maximum have a non-zero local derivative.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnlab.engine.ops.base import Example, Op, Param, ShapeError, num, plain, register
from nnlab.engine.ops.conv import Window, layout_of, make_window, pair, resolve_pads
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


class Pool2d(Op):
    """Shared geometry, shapes and bookkeeping of the pooling ops.

    Internally every input is channels-first (``chw``); channels-last X and Y are
    moved at the edges (:meth:`_to_chw`, :meth:`_from_chw`, :meth:`_chw_index`).
    """

    signature = (Param("X"), Param("size", tensor=False),
                 Param("stride", tensor=False, default=None),
                 Param("padding", tensor=False, default=0))

    def _window(self, xs) -> Window:
        """The window on the last two axes of ``xs`` (a channels-first per-example shape)."""
        xs = tuple(xs)
        size = pair(self.params.get("size"), "size", self.name, 1)
        stride = self.params.get("stride")
        stride = size if stride is None else pair(stride, "stride", self.name, 1)
        padding = self.params.get("padding", 0)
        if padding == "same":
            raise ShapeError(f"padding='same' is not offered by '{self.name}'",
                             "give the padding per side (p, [rows, cols] or [[top, bottom], [left, right]]);"
                             " for an average pool say which divisor with count_include_pad")
        pads = resolve_pads(self.name, padding)
        if any(2 * max(p) > k for p, k in zip(pads, size)):
            raise ShapeError(f"padding={padding!r} is more than half the"
                             f" {size[0]}×{size[1]} window in '{self.name}'",
                             "a window could then hold only padding (PyTorch forbids it too);"
                             " use padding ≤ size/2")
        return make_window(self.name, f"X {xs} with size={self.params.get('size')!r}",
                           xs, size, stride, pads)

    # -- layouts ---------------------------------------------------------------------
    def _moved(self, ndim: int) -> bool:
        """Is a per-example X of ``ndim`` axes channels-last (so moved internally)?"""
        return layout_of(self) and ndim >= 3

    def _chw_shape(self, xs) -> tuple[int, ...]:
        xs = tuple(xs)
        if len(xs) not in (2, 3, 4):
            raise ShapeError(f"'{self.name}' needs X of shape (H, W), (C, H, W) or (N, C, H, W)"
                             f"{' — (H, W, C) or (N, H, W, C) with layout=hwc' if layout_of(self) else ''},"
                             f" got {xs}",
                             "N is a batch of images inside one example; a data set adds the examples")
        return xs[:-3] + (xs[-1],) + xs[-3:-1] if self._moved(len(xs)) else xs

    def _chw_index(self, index: tuple, ndim: int) -> tuple:
        """An index (or shape) as written → channels-first (``ndim``: per-example axes of X)."""
        index = tuple(index)
        return index[:-3] + (index[-1],) + index[-3:-1] if self._moved(ndim) else index

    def _written_index(self, index: tuple, ndim: int) -> tuple:
        """A channels-first index → as written."""
        index = tuple(index)
        return index[:-3] + index[-2:] + (index[-3],) if self._moved(ndim) else index

    def _to_chw(self, a: np.ndarray) -> np.ndarray:
        """A batch-first array as written → channels-first."""
        return np.moveaxis(a, -1, -3) if self._moved(a.ndim - 1) else a

    def _from_chw(self, a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(a, -3, -1)) if self._moved(a.ndim - 1) else a

    def infer(self, xs):
        chw = self._chw_shape(xs)
        return self._written_index(chw[:-2] + self._window(chw).out_hw, len(chw))

    def shape_rule(self, xs):
        try:
            return self._window(self._chw_shape(xs)).rule(False)
        except ShapeError:
            return ""

    def _start(self, X) -> tuple[Window, np.ndarray]:
        """Window and the input as ``(M, H, W)`` (examples × images × channels merged)."""
        chw = self._to_chw(np.asarray(X, dtype=float))
        win = self._window(self._chw_shape(X.shape[1:]))
        self.saved.update(win=win, in_shape=chw.shape, ndim=X.ndim - 1)
        return win, chw.reshape(-1, *win.in_hw)

    def _out(self, y: np.ndarray) -> np.ndarray:
        """``(M, OH, OW)`` → batch-first as written."""
        return self._from_chw(y.reshape(self.saved["in_shape"][:-2] + y.shape[-2:]))

    def _g(self, g) -> np.ndarray:
        """The upstream gradient, channels-first."""
        return self._to_chw(np.asarray(g, dtype=float))

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
        gx = np.ascontiguousarray(self.saved["win"].crop(gxp)).reshape(self.saved["in_shape"])
        return self._from_chw(gx)

    # -- explanations --------------------------------------------------------------
    def _cells(self, index, x):
        """The window of output ``index`` (as written): ``(X index to show or None,
        value or None for padding)`` per cell, and whether X is drawn padded."""
        ndim = np.ndim(x)
        chw = np.asarray(self._to_chw(np.asarray(x)[None]))[0]
        win = self._window(chw.shape)
        *c, i, j = self._chw_index(index, ndim)
        (t, _), (l, _) = win.pads
        drawn = not self._moved(ndim)
        cells = []
        for a, b in win.offsets:
            r, q = i * win.stride[0] + a, j * win.stride[1] + b
            pad = win.is_pad(r, q)
            value = None if pad else chw[(*c, r - t, q - l)]
            if drawn:
                shown = (*c, r, q)
            else:
                shown = None if pad else self._written_index((*c, r - t, q - l), ndim)
            cells.append((shown, value))
        return win, cells, drawn

    def _uses(self, cells, role) -> tuple[Use, ...]:
        return tuple(Use(0, idx, role(idx, v)) for idx, v in cells if idx is not None)

    def _rule(self, win: Window, names, out_name, ndim) -> tuple[str, str]:
        """``("Y[c,i,j]", "X[c, 2i+a, 2j+b]")``: the two sides of the rule; ops add the head."""
        lead = ["n", "c"][4 - ndim:] if ndim > 2 else []
        rows, cols = win.index_text(0, "i", "a"), win.index_text(1, "j", "b")
        if self._moved(ndim):
            return (f"{out_name}[{','.join(lead[:-1] + ['i', 'j', 'c'])}]",
                    f"{names[0]}[{', '.join(lead[:-1] + [rows, cols, 'c'])}]")
        return (f"{out_name}[{','.join(lead + ['i', 'j'])}]",
                f"{names[0]}[{', '.join(lead + [rows, cols])}]")

    # -- symbolic ------------------------------------------------------------------
    def symbolic(self, xs, sym, nums=None):
        X = xs[0]
        chw = self._to_chw(X[None])[0]
        win = self._window(chw.shape)
        x3 = chw.reshape(-1, *win.in_hw)
        (oh, ow), (sh, sw), ((t, _), (left, _)), (kh, kw) = win.out_hw, win.stride, win.pads, win.size
        H, W = win.in_hw
        out = np.empty((x3.shape[0], oh, ow), dtype=object)
        for c in range(x3.shape[0]):
            for i in range(oh):
                for j in range(ow):
                    cells = [x3[c, r, q] for a in range(kh) for bb in range(kw)
                             for r, q in [(i * sh + a - t, j * sw + bb - left)] if 0 <= r < H and 0 <= q < W]
                    out[c, i, j] = self.sym_window(cells, kh * kw, sym)
        return self._from_chw(out.reshape(chw.shape[:-2] + (oh, ow))[None])[0]

    def sym_window(self, cells: list, size: int, sym: Any) -> Any:
        """One output from the real (non-padding) cells of its window, ``size`` = kh·kw."""
        raise NotImplementedError

    def rule(self, c, sym):
        shape = tuple(c.shapes[0])
        win = self._window(self._chw_shape(shape))
        X, Y = sym.IndexedBase(c.names[0]), sym.IndexedBase(c.out)
        i, j, a, b = (sym.idx(n) for n in ("i", "j", "a", "b"))
        lead = [sym.idx(n) for n in ("n", "c")][4 - len(shape):] if len(shape) > 2 else []
        (sh, sw), ((t, _), (lft, _)) = win.stride, win.pads
        r, q = sym.idx("r"), sym.idx("q")

        def at(row, col):
            return tuple(self._written_index((*lead, row, col), len(shape)))
        x_el, y_el, xin = X[at(sh * i + a - t, sw * j + b - lft)], Y[at(i, j)], X[at(r, q)]
        fwd, d, notes = self.sym_rule(x_el, xin, (i, j, a, b), win, sym)
        return sym.sp.Eq(y_el, fwd), (sym.deriv(c.names[0], 0, y_el, xin, d),), notes

    def sym_rule(self, x_el: Any, xin: Any, ijab: tuple, win: Window, sym: Any) -> tuple[Any, Any, tuple[str, ...]]:
        """``(the window's formula over x_el, ∂y/∂xin, notes)``."""
        raise NotImplementedError

    def dependents(self, k, index, out_shape):
        win, ndim = self.saved["win"], self.saved["ndim"]
        (t, _), (l, _) = win.pads
        *c, r, s = self._chw_index(index, ndim)
        return [self._written_index((*c, i, j), ndim) for i, j in win.covering(r + t, s + l)]

    def _offset(self, out_index, in_index) -> int | None:
        """Row-major kernel offset at which ``in_index`` sits in window ``out_index``
        (batch-first indices as written)."""
        win, ndim = self.saved["win"], self.saved["ndim"]
        out_index, in_index = self._chw_index(out_index, ndim), self._chw_index(in_index, ndim)
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
    ``padding`` (per side, default 0), ``layout`` ('chw' or 'hwc').
    """

    name = "maxpool2d"
    example = Example("y = maxpool2d(X, size=2, stride=1)",
                      {"X": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [1.0, 2.5, -1.5]]})
    signature = Pool2d.signature + (Param("layout", tensor=False, default=None),)
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
        return self._out(best)

    def backward(self, g):
        win, arg = self.saved["win"], self.saved["arg"]
        (sh, sw), (hp, wp), (oh, ow) = win.stride, win.padded_hw, win.out_hw
        # Flat index (in the padded input) of each window's winner: window start + offset.
        start = (np.arange(len(arg))[:, None, None] * (hp * wp)
                 + np.arange(oh)[:, None] * (sh * wp) + np.arange(ow) * sw)
        offset = np.array([a * wp + b for a, b in win.offsets])
        winner = (start + offset[arg]).ravel()
        g = np.ascontiguousarray(self._g(g)).ravel()
        gxp = np.bincount(winner, weights=g, minlength=len(arg) * hp * wp)  # overlaps add up
        return (self._finish(gxp.reshape(len(arg), hp, wp)),)

    def explain(self, index, xs, out, names, out_name, digits):
        win, cells, drawn = self._cells(index, xs[0])
        real = [(idx, v) for idx, v in cells if v is not None]
        top = max(v for _, v in real)
        winner = next(idx for idx, v in real if v == top)   # the first maximum
        uses = self._uses(cells, lambda idx, v: "padding" if v is None else "argmax" if idx == winner else "used")
        notes = []
        if sum(v == top for _, v in real) > 1:
            notes.append(f"tie: {sum(v == top for _, v in real)} cells hold the maximum;"
                         " the first (row-major) gets the gradient")
        if len(real) < len(cells):
            notes.append(f"{len(cells) - len(real)} window cells are padding (−∞, never the max)")
        lhs, cell = self._rule(win, names, out_name, np.ndim(xs[0]))
        return Explanation(f"{out_name}{fmt_index(tuple(index))}", f"{lhs} = maxₐ,ᵦ {cell}",
                           "max(" + ", ".join(plain(v, digits) for _, v in real) + ")",
                           out[tuple(index)], uses, ((0, win.pads),) if drawn else (), "; ".join(notes))

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
        return 1.0 if arg[self._chw_index(out_index, s["ndim"])] == off else 0.0


@register
class AvgPool2d(Pool2d):
    """Mean of each kh×kw window (padding is 0).

    Static params: ``size``, ``stride`` (default: ``size``), ``padding`` (per side),
    ``layout`` ('chw' or 'hwc'), ``count_include_pad`` (True: divide by kh·kw, PyTorch's default; False: by the
    number of real cells).
    """

    name = "avgpool2d"
    example = Example("y = avgpool2d(X, size=2, stride=1, padding=1)",
                      {"X": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [1.0, 2.5, -1.5]]})
    signature = Pool2d.signature + (Param("count_include_pad", tensor=False, default=True),
                                    Param("layout", tensor=False, default=None))
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
        return self._out(total / div)

    def backward(self, g):
        win, div = self.saved["win"], self.saved["div"]
        share = self._g(g).reshape(-1, *win.out_hw) / div
        return (self._scatter(lambda k: share),)

    def explain(self, index, xs, out, names, out_name, digits):
        win, cells, drawn = self._cells(index, xs[0])
        with_pad = self.params.get("count_include_pad", True)
        shown = [0 if v is None else v for _, v in cells if with_pad or v is not None]
        uses = self._uses(cells, lambda idx, v: "padding" if v is None else "used")
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
                           out[tuple(index)], uses, ((0, win.pads),) if drawn else (), note)

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
        i, j = self._chw_index(out_index, self.saved["ndim"])[-2:]
        return 1.0 / float(self.saved["div"][i, j])
