"""2-D convolution (cross-correlation), computed as im2col + one matrix product.

Why this shape of code: students step through ``Y[i,j]`` one element at a time, but a
run over a data set must still be fast. So the forward pass gathers every kh×kw
window into the columns of one matrix (a strided view plus one contiguous copy) and
does a single BLAS product; backward is two more products and a scatter of the
column gradient back onto the image (a loop over the kh·kw kernel *offsets*, never
over output elements). The per-element story lives in :meth:`Conv2d.explain`.

Conventions (named, because references differ):

* **No kernel flip.** Like PyTorch and the lecture, "convolution" is
  cross-correlation: ``Y[i,j] = Σₐ,ᵦ X[i·s+a−p, j·s+b−p]·K[a,b] + b``.
* **Layouts, per example.** X is ``(H, W)`` or ``(C, H, W)``. K is ``(kh, kw)`` (one
  channel, one filter), ``(C, kh, kw)`` (one filter over all channels → Y is
  ``(OH, OW)``) or ``(F, C, kh, kw)`` (F filters → Y is ``(F, OH, OW)``). The bias
  is one number per filter: shape ``()`` or ``(1,)`` for one filter, ``(F,)`` for F.
* **Padding.** ``padding=p`` adds p zeros on *each* side (PyTorch), so
  ``OH = ⌊(H + 2p − kh)/s⌋ + 1``. ``padding_total=p_h`` is the lecture's (d2l's)
  total over both sides, ``OH = ⌊(H − kh + p_h + s)/s⌋``; an odd total puts the
  extra row (column) on top (left). Both take an int or ``[rows, cols]``.
* **Padded coordinates.** Explanations index X in the *padded* frame and say how
  much padding there is (:attr:`Explanation.pads`, pairs for the last two axes);
  :meth:`Conv2d.dependents` and :meth:`Conv2d.local` take ordinary (unpadded)
  input indices.
* **Parameters do not depend on the example.** K and b must have batch size 1
  (the engine's parameter layout); a per-example kernel is a ``ShapeError`` raised
  by ``forward`` (``infer`` cannot see the batch), which the engine reports cleanly.
* **Padding is at most k − 1 per side**: more would add windows holding nothing
  but padding (and, with a large stride, allocate a huge padded input for nothing).
* **Channels in index order.** A multi-channel explanation groups the products per
  channel, channel 0 first: ``(0×0 + 1×1 + 3×2 + 4×3) + (1×1 + 2×2 + 4×3 + 5×4)``
  (the lecture's slide happens to list channel 1 first; the sum is the same 56).
* ``dependents`` is structural: every output whose window covers the element
  (for K: every output of the filter except where the kernel element meets
  padding). A listed output can still have a zero local derivative when the
  matching weight or input value happens to be 0.

The window bookkeeping (:class:`Window`) is shared with :mod:`nnlab.engine.ops.pool`.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from nnlab.engine.ops.base import Example, Op, Param, ShapeError, num, register
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index

# ------------------------------------------------------------------ window geometry


def pair(value, what: str, op: str, low: int) -> tuple[int, int]:
    """Read an ``int`` or ``[rows, cols]`` setting, each entry ≥ ``low``.

    Raises:
        ShapeError: naming the op and the setting when the value is not usable.
    """
    items = list(value) if isinstance(value, (list, tuple)) else [value, value]
    try:
        if len(items) != 2 or any(isinstance(v, bool) for v in items):
            raise TypeError
        rows, cols = (operator.index(v) for v in items)
    except TypeError:
        raise ShapeError(f"{what}={value!r} is not usable in '{op}'",
                         f"give {what} as a whole number or a list [rows, cols]") from None
    if rows < low or cols < low:
        raise ShapeError(f"{what}={value!r} is not allowed in '{op}'",
                         f"{what} must be at least {low}") from None
    return rows, cols


def per_side(padding, padding_total, op: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((top, bottom), (left, right))`` from per-side or total padding.

    An odd ``padding_total`` puts the extra row (column) on top (left).
    """
    if padding_total is not None:
        if pair(padding, "padding", op, 0) != (0, 0):
            raise ShapeError(f"'{op}' got both padding={padding!r}"
                             f" and padding_total={padding_total!r}",
                             "padding is zeros on each side (PyTorch), padding_total the sum over"
                             " both sides (the lecture's p_h); give one of them")
        th, tw = pair(padding_total, "padding_total", op, 0)
        return ((th + 1) // 2, th // 2), ((tw + 1) // 2, tw // 2)
    ph, pw = pair(padding, "padding", op, 0)
    return (ph, ph), (pw, pw)


@dataclass(frozen=True)
class Window:
    """Where kh×kw windows sit on a padded H×W grid (the last two axes of an array).

    Attributes:
        in_hw: Unpadded input size ``(H, W)``.
        size: Window size ``(kh, kw)``.
        stride: ``(sh, sw)``.
        pads: ``((top, bottom), (left, right))``.
    """

    in_hw: tuple[int, int]
    size: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]

    @property
    def padded_hw(self) -> tuple[int, int]:
        (t, b), (l, r) = self.pads
        return self.in_hw[0] + t + b, self.in_hw[1] + l + r

    @property
    def out_hw(self) -> tuple[int, int]:
        """``OH = ⌊(H + top + bottom − kh)/s⌋ + 1`` and the same for OW."""
        return tuple((n - k) // s + 1 for n, k, s in zip(self.padded_hw, self.size, self.stride))

    @property
    def offsets(self) -> list[tuple[int, int]]:
        """Kernel offsets ``(a, b)`` in row-major order."""
        return [(a, b) for a in range(self.size[0]) for b in range(self.size[1])]

    def pad(self, x: np.ndarray, value: float = 0.0) -> np.ndarray:
        """``x`` with the padding added around its last two axes."""
        if self.pads == ((0, 0), (0, 0)):
            return x
        xp = np.full(x.shape[:-2] + self.padded_hw, value, dtype=x.dtype)
        self.crop(xp)[...] = x            # (np.pad does the same, ~20× slower on small inputs)
        return xp

    def crop(self, xp: np.ndarray) -> np.ndarray:
        """Undo :meth:`pad`."""
        (t, _), (l, _) = self.pads
        h, w = self.in_hw
        return xp[..., t:t + h, l:l + w]

    def at(self, xp: np.ndarray, a: int, b: int) -> np.ndarray:
        """View ``(…, OH, OW)`` of the cells kernel offset ``(a, b)`` meets, one per output."""
        (oh, ow), (sh, sw) = self.out_hw, self.stride
        return xp[..., a:a + sh * (oh - 1) + 1:sh, b:b + sw * (ow - 1) + 1:sw]

    def windows(self, xp: np.ndarray) -> np.ndarray:
        """Strided view of all windows: ``(…, OH, OW, kh, kw)`` (no copy)."""
        (oh, ow), (sh, sw) = self.out_hw, self.stride
        *lead, rs, cs = xp.strides
        return np.lib.stride_tricks.as_strided(
            xp, xp.shape[:-2] + (oh, ow) + self.size, (*lead, rs * sh, cs * sw, rs, cs),
            writeable=False)

    @property
    def phase_hw(self) -> tuple[int, int]:
        """``(hq, wq) = (⌈Hp/sh⌉, ⌈Wp/sw⌉)``: the padded grid split by the stride.

        Padded row ``r`` is row ``q = r // sh`` of phase ``ρ = r % sh``; kernel offset
        ``a = sh·qa + ρ`` meets, for output row ``i``, row ``i + qa`` of phase ``ρ``.
        """
        return tuple(-(-n // s) for n, s in zip(self.padded_hw, self.stride))

    def on_phase_grid(self, g: np.ndarray) -> np.ndarray:
        """``(…, OH, OW)`` → ``(…, hq, wq)``, zeros below and right (see :meth:`col2im`)."""
        out = np.zeros(g.shape[:-2] + self.phase_hw)
        out[..., :g.shape[-2], :g.shape[-1]] = g
        return out

    def col2im(self, d: np.ndarray, n: int) -> np.ndarray:
        """Add window gradients back onto the input: the adjoint of the im2col gather.

        Args:
            d: ``(M, kh, kw, n·hq·wq)``: for each channel and kernel offset, the
                gradient of every window, laid out on the ``hq×wq`` grid of
                :meth:`on_phase_grid` (zeros outside the first OH×OW).
            n: Number of examples in the last axis of ``d``.

        Returns:
            ``(n, M, H, W)``, padding cropped.

        Each offset is one contiguous 1-D add: on the phase grid, offset ``(a, b)``
        is a shift by ``qa·wq + qb`` of the flat array, and the zero rows and columns
        of ``d`` make the wrap-around at row ends add nothing. (A strided add per
        offset does the same but spends its time in NumPy's inner-loop setup.)
        """
        (sh, sw), (kh, kw), (hq, wq) = self.stride, self.size, self.phase_hw
        m, size = d.shape[0], n * hq * wq
        spill = (kh - 1) // sh * wq + (kw - 1) // sw
        buf = np.zeros((sh, sw, m, size + spill))
        for a, b in self.offsets:
            (qa, ra), (qb, rb) = divmod(a, sh), divmod(b, sw)
            start = qa * wq + qb
            buf[ra, rb, :, start:start + size] += d[:, a, b]
        grid = np.empty((n, m, hq * sh, wq * sw))
        for ra in range(sh):                            # interleave the phases again
            for rb in range(sw):
                part = buf[ra, rb, :, :size].reshape(m, n, hq, wq)
                grid[:, :, ra::sh, rb::sw] = part.transpose(1, 0, 2, 3)
        return np.ascontiguousarray(self.crop(grid))

    def is_pad(self, r: int, s: int) -> bool:
        """Is padded-frame cell ``(r, s)`` padding?"""
        (t, _), (l, _) = self.pads
        return not (t <= r < t + self.in_hw[0] and l <= s < l + self.in_hw[1])

    def covering(self, r: int, s: int) -> list[tuple[int, int]]:
        """Outputs ``(i, j)`` whose window covers padded-frame cell ``(r, s)``."""
        spans = []
        for x, k, st, n in zip((r, s), self.size, self.stride, self.out_hw):
            lo = max(0, -(-(x - k + 1) // st))
            spans.append(range(lo, min(n - 1, x // st) + 1))
        return [(i, j) for i in spans[0] for j in spans[1]]

    def real_counts(self) -> np.ndarray:
        """``(OH, OW)``: how many cells of each window are real input (not padding)."""
        counts = []
        for n, k, st, (lo, _), m in zip(self.in_hw, self.size, self.stride, self.pads, self.out_hw):
            start = np.arange(m) * st - lo
            counts.append(np.minimum(start + k, n) - np.maximum(start, 0))
        return np.outer(counts[0], counts[1]).astype(float)

    def index_text(self, axis: int, var: str, off: str) -> str:
        """``"3i+a−1"``: the input row (column) of output ``var`` at kernel offset ``off``."""
        s, p = self.stride[axis], self.pads[axis][0]
        return f"{var if s == 1 else f'{s}{var}'}+{off}" + (f"−{p}" if p else "")

    def rule(self, total: bool) -> str:
        """The output-size formula for both axes with numbers substituted.

        Args:
            total: Write it the lecture's way, with the total padding ``p_h``.
        """
        lines = []
        for ax, (o, n, k, s, (lo, hi)) in enumerate(
                zip(self.out_hw, self.in_hw, self.size, self.stride, self.pads)):
            big, h = ("OH", "H") if ax == 0 else ("OW", "W")
            kh, ph = f"k{h.lower()}", f"p_{h.lower()}"
            if total:
                lines.append(f"{big} = ⌊({h} − {kh} + {ph} + s)/s⌋"
                             f" = ⌊({n} − {k} + {lo + hi} + {s})/{s}⌋ = {o}")
            else:  # per-side padding is symmetric: lo == hi
                lines.append(f"{big} = ⌊({h} + 2p − {kh})/s⌋ + 1"
                             f" = ⌊({n} + 2·{lo} − {k})/{s}⌋ + 1 = {o}")
        return "; ".join(lines)


def make_window(op: str, what: str, x_shape, k_hw, stride, pads) -> Window:
    """Build and check a :class:`Window`: the window must fit the padded input.

    Args:
        op: The op's name, for messages.
        what: The shapes involved, for messages (``"X (3, 3) and K (4, 4)"``).
        x_shape: Per-example input shape; the last two axes are H, W.
        k_hw: Window size ``(kh, kw)``.
        stride: ``(sh, sw)``.
        pads: ``((top, bottom), (left, right))``.
    """
    win = Window(tuple(x_shape[-2:]), tuple(k_hw), stride, pads)
    ph, pw = win.padded_hw
    if k_hw[0] > ph or k_hw[1] > pw:
        raise ShapeError(
            f"the {k_hw[0]}×{k_hw[1]} window is larger than the input in '{op}': {what}"
            f" (the input is {ph}×{pw} after padding)",
            "use a smaller window or add padding")
    return win


# ------------------------------------------------------------------------ the op


@dataclass(frozen=True)
class _Layout:
    """Shapes of one conv2d call, per example, in the canonical (F, C, kh, kw) form."""

    channels: int
    filters: int
    x_ndim: int
    k_ndim: int
    b_shape: tuple[int, ...] | None
    win: Window

    @property
    def out_shape(self) -> tuple[int, ...]:
        hw = self.win.out_hw
        return (self.filters, *hw) if self.k_ndim == 4 else hw


@register
class Conv2d(Op):
    """2-D cross-correlation of X with kernel K, plus an optional bias per filter.

    Static params: ``stride`` (int or [rows, cols], default 1), ``padding`` (zeros on
    each side, default 0) or ``padding_total`` (the lecture's total over both sides).
    """

    name = "conv2d"
    example = Example("y = conv2d(X, K, b, padding=1)",
                      {"X": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [1.0, 2.0, -1.5]],
                       "K": [[0.5, -1.0], [0.25, 2.0]], "b": 0.1})
    signature = (Param("X"), Param("K"), Param("b", default=None),
                 Param("stride", tensor=False, default=1),
                 Param("padding", tensor=False, default=0),
                 Param("padding_total", tensor=False, default=None))
    formula = "Y[i,j] = Σₐ,ᵦ X[i·s+a−p, j·s+b−p]·K[a,b] + b"

    # -- shapes ------------------------------------------------------------------
    def _layout(self, xs, ks, bs) -> _Layout:
        xs, ks = tuple(xs), tuple(ks)
        both = f"X {xs} and K {ks}"
        if len(xs) not in (2, 3):
            raise ShapeError(f"'conv2d' needs X of shape (H, W) or (C, H, W), got {both}",
                             "a batch of images is given as a data set, one image per example")
        if len(ks) not in (2, 3, 4):
            raise ShapeError(f"'conv2d' needs K of shape (kh, kw), (C, kh, kw) or (F, C, kh, kw),"
                             f" got {both}",
                             "(C, kh, kw) is one filter over all channels;"
                             " (F, C, kh, kw) is F filters")
        c = xs[0] if len(xs) == 3 else 1
        kc = ks[-3] if len(ks) >= 3 else 1
        if c != kc:
            raise ShapeError(f"channel mismatch in 'conv2d': {both} — X has {c} channel(s),"
                             f" K expects {kc}",
                             "K is (C, kh, kw) or (F, C, kh, kw) with C = the channels of X")
        f = ks[0] if len(ks) == 4 else 1
        if bs is not None:
            bs = tuple(bs)
            ok = bs == (f,) if len(ks) == 4 else bs in ((), (1,))
            if not ok:
                want = f"({f},)" if len(ks) == 4 else "() or (1,)"
                raise ShapeError(f"bias b {bs} does not fit 'conv2d' with {both}",
                                 f"one bias per filter: b must have shape {want}")
        p = self.params
        stride = pair(p.get("stride", 1), "stride", self.name, 1)
        pads = per_side(p.get("padding", 0), p.get("padding_total"), self.name)
        kh, kw = ks[-2:]
        if max(pads[0]) >= kh or max(pads[1]) >= kw:
            raise ShapeError(f"the padding {pads[0]} rows, {pads[1]} columns (top/bottom,"
                             f" left/right) of 'conv2d' with {both} leaves windows that hold"
                             " only padding",
                             f"pad at most k − 1 per side: {kh - 1} rows and {kw - 1} columns")
        win = make_window(self.name, both, xs, (kh, kw), stride, pads)
        return _Layout(c, f, len(xs), len(ks), bs, win)

    def infer(self, xs, ks, bs=None):
        return self._layout(xs, ks, bs).out_shape

    def shape_rule(self, xs, ks, bs=None):
        try:
            lay = self._layout(xs, ks, bs)
        except ShapeError:
            return ""
        return lay.win.rule(self.params.get("padding_total") is not None)

    # -- forward / backward ------------------------------------------------------
    def forward(self, X, K, b=None):
        lay = self._layout(X.shape[1:], K.shape[1:], None if b is None else b.shape[1:])
        if K.shape[0] != 1 or (b is not None and b.shape[0] != 1):
            raise ShapeError("the kernel and bias of 'conv2d' must not depend on the data:"
                             f" got {K.shape[0]} kernels / biases for {X.shape[0]} examples",
                             "K and b are parameters: give them under values:, not per example")
        win, n = lay.win, X.shape[0]
        (kh, kw), (oh, ow) = win.size, win.out_hw
        x4 = np.asarray(X, dtype=float).reshape(n, lay.channels, *win.in_hw)
        k2 = np.asarray(K, dtype=float).reshape(lay.filters, lay.channels * kh * kw)
        xp = win.pad(x4)
        # im2col: rows (c, a, b), columns (example, i, j) — one contiguous copy.
        cols = win.windows(xp).transpose(1, 4, 5, 0, 2, 3).reshape(k2.shape[1], n * oh * ow)
        y = k2 @ cols                                   # (F, B·OH·OW): one BLAS call
        if b is not None:
            y += np.asarray(b, dtype=float).reshape(lay.filters, 1)
        self.saved.update(lay=lay, xp=xp, k2=k2, cols=cols, batch=n)
        y = np.ascontiguousarray(y.reshape(lay.filters, n, oh, ow).transpose(1, 0, 2, 3))
        return y if lay.k_ndim == 4 else y.reshape(n, oh, ow)

    def backward(self, g):
        s = self.saved
        lay, win, n = s["lay"], s["lay"].win, s["batch"]
        (kh, kw), (oh, ow) = win.size, win.out_hw
        needs = self.needs
        g2 = np.asarray(g, dtype=float).reshape(n, lay.filters, oh * ow)
        g2 = g2.transpose(1, 0, 2).reshape(lay.filters, n * oh * ow)
        gx = gk = gb = None
        if needs[0]:
            gp = win.on_phase_grid(g2.reshape(lay.filters, n, oh, ow))
            dcols = s["k2"].T @ gp.reshape(lay.filters, -1)      # ∂T/∂cols: one BLAS call
            gx = win.col2im(dcols.reshape(lay.channels, kh, kw, -1), n)
            gx = gx.reshape((n,) + ((lay.channels,) if lay.x_ndim == 3 else ()) + win.in_hw)
        if needs[1]:
            gk = (g2 @ s["cols"].T).reshape(1, *self._k_pe_shape(lay))
        if lay.b_shape is not None and (len(needs) < 3 or needs[2]):
            gb = g2.sum(axis=1).reshape((1, *lay.b_shape))
        return gx, gk, gb

    # -- symbolic ------------------------------------------------------------------
    def symbolic(self, xs, sym, nums=None):
        X, K = xs[0], xs[1]
        b = xs[2] if len(xs) > 2 else None
        x3 = X if X.ndim == 3 else X[None]
        k4 = K if K.ndim == 4 else K[None] if K.ndim == 3 else K[None, None]
        F, C, kh, kw = k4.shape
        win = self._layout(X.shape, K.shape, None if b is None else b.shape).win
        (oh, ow), (sh, sw), ((t, _), (left, _)) = win.out_hw, win.stride, win.pads
        H, W = win.in_hw
        out = np.empty((F, oh, ow), dtype=object)
        for f in range(F):
            bias = sym.sp.S.Zero
            if b is not None:
                bias = b[()] if b.ndim == 0 else b[f] if K.ndim == 4 else b[0]
            for i in range(oh):
                for j in range(ow):
                    terms = []
                    for c in range(C):
                        for a in range(kh):
                            r = i * sh + a - t
                            if not 0 <= r < H:
                                continue
                            for bb in range(kw):
                                q = j * sw + bb - left
                                if 0 <= q < W:
                                    terms.append(x3[c, r, q] * k4[f, c, a, bb])
                    out[f, i, j] = sym.sp.Add(*terms) + bias
        return out if K.ndim == 4 else out[0]

    def rule(self, c, sym):
        has_b = len(c.names) > 2 and c.names[2] is not None
        win = self._layout(c.shapes[0], c.shapes[1], c.shapes[2] if has_b else None).win
        X, K, Y = sym.IndexedBase(c.names[0]), sym.IndexedBase(c.names[1]), sym.IndexedBase(c.out)
        i, j, a, b, ch, f = (sym.idx(n) for n in ("i", "j", "a", "b", "c", "f"))
        (sh, sw), ((t, _), (lft, _)) = win.stride, win.pads
        (kh, kw) = win.size
        row, col = sh * i + a - t, sw * j + b - lft
        xs, ks = c.shapes[0], c.shapes[1]
        multi = len(xs) == 3
        x_el = X[ch, row, col] if multi else X[row, col]
        k_el = {2: K[a, b], 3: K[ch, a, b], 4: K[f, ch, a, b]}[len(ks)]
        y_el = Y[f, i, j] if len(ks) == 4 else Y[i, j]
        s = sym.Sum(x_el * k_el, (a, 0, kh - 1), (b, 0, kw - 1))
        if multi:
            s = sym.Sum(s, (ch, 0, xs[0] - 1))
        bias = None
        if has_b:
            bias = sym.IndexedBase(c.names[2])[f] if len(ks) == 4 else sym.symbol(c.names[2])
            s = s + bias
        r, q = sym.idx("r"), sym.idx("q")
        xin = X[ch, r, q] if multi else X[r, q]
        kin = {2: K[r - sh * i + t, q - sw * j + lft], 3: K[ch, r - sh * i + t, q - sw * j + lft],
               4: K[f, ch, r - sh * i + t, q - sw * j + lft]}[len(ks)]
        ders = []
        if not c.consts[0]:
            ders.append(sym.deriv(c.names[0], 0, y_el, xin, kin))
        if not c.consts[1]:
            ders.append(sym.deriv(c.names[1], 1, y_el, k_el, x_el))
        if has_b and not c.consts[2]:
            ders.append(sym.deriv(c.names[2], 2, y_el, bias, 1))
        notes = ["cross-correlation (no kernel flip), like PyTorch and the lecture"]
        if (t, lft) != (0, 0):
            notes.append("padding cells are 0: terms that land on them vanish")
        notes.append("∂Y/∂X is 0 where the kernel index falls outside the kernel")
        return sym.sp.Eq(y_el, s), tuple(ders), tuple(notes)

    @staticmethod
    def _k_pe_shape(lay: _Layout) -> tuple[int, ...]:
        kh, kw = lay.win.size
        shapes = {4: (lay.filters, lay.channels, kh, kw), 3: (lay.channels, kh, kw), 2: (kh, kw)}
        return shapes[lay.k_ndim]

    # -- explanations --------------------------------------------------------------
    def explain(self, index, xs, out, names, out_name, digits):
        x, k = np.asarray(xs[0]), np.asarray(xs[1])
        bias = xs[2] if len(xs) > 2 and xs[2] is not None else None
        lay = self._layout(x.shape, k.shape, None if bias is None else np.shape(bias))
        win = lay.win
        f, i, j = (index if lay.k_ndim == 4 else (0, *index))
        kf = k.reshape(lay.filters, lay.channels, *win.size)[f]
        xc = x.reshape(lay.channels, *win.in_hw)
        (t, _), (l, _) = win.pads
        uses, groups, n_pad = [], [], 0
        for c in range(lay.channels):
            terms = []
            for a, bb in win.offsets:
                r, q = i * win.stride[0] + a, j * win.stride[1] + bb
                padding = win.is_pad(r, q)
                n_pad += padding
                xv = 0 if padding else xc[c, r - t, q - l]
                terms.append(f"{num(xv, digits)}×{num(kf[c, a, bb], digits)}")
                uses.append(Use(0, (c, r, q) if lay.x_ndim == 3 else (r, q),
                                "padding" if padding else "used"))
            groups.append(" + ".join(terms))
        for c in range(lay.channels):
            for a, bb in win.offsets:
                kidx = ((f, c, a, bb), (c, a, bb), (a, bb))[4 - lay.k_ndim]
                uses.append(Use(1, kidx, "weight"))
        arithmetic = groups[0] if len(groups) == 1 else " + ".join(f"({g})" for g in groups)
        if bias is not None:
            bidx = (f,) if np.ndim(bias) else ()
            arithmetic += f" + {num(np.asarray(bias)[bidx], digits)}"
            uses.append(Use(2, bidx))
        size = lay.channels * win.size[0] * win.size[1]
        note = f"{n_pad} of the {size} window cells are padding (zeros)" if n_pad else ""
        return Explanation(f"{out_name}{fmt_index(tuple(index))}",
                           self._formula(lay, names, out_name), arithmetic, out[tuple(index)],
                           tuple(uses), ((0, win.pads),), note)

    def _formula(self, lay: _Layout, names, out_name) -> str:
        """The rule with this call's stride and padding.

        E.g. ``Y[i,j] = Σₐ,ᵦ X[3i+a−1, 2j+b−1]·K[a,b]``.
        """
        win = lay.win
        xn, kn = names[0], names[1]
        ch = "c" if lay.channels > 1 else "0"
        rows, cols = win.index_text(0, "i", "a"), win.index_text(1, "j", "b")
        xidx = f"{ch}, {rows}, {cols}" if lay.x_ndim == 3 else f"{rows}, {cols}"
        kidx = (f"f,{ch},a,b", f"{ch},a,b", "a,b")[4 - lay.k_ndim]
        lhs = f"{out_name}[f,i,j]" if lay.k_ndim == 4 else f"{out_name}[i,j]"
        total = "Σ_c Σₐ,ᵦ" if lay.channels > 1 else "Σₐ,ᵦ"
        text = f"{lhs} = {total} {xn}[{xidx}]·{kn}[{kidx}]"
        if lay.b_shape is not None:
            bn = names[2] if len(names) > 2 else "b"
            text += f" + {bn}" + {(): "", (1,): "[0]"}.get(lay.b_shape, "[f]")
        return text

    def dependents(self, k, index, out_shape):
        lay = self.saved["lay"]
        win = lay.win
        (oh, ow), (sh, sw) = win.out_hw, win.stride
        filters = index[:1] if lay.k_ndim == 4 else ()       # K and b: that filter only
        if k == 0:                       # X: the windows covering it, in every filter
            (t, _), (l, _) = win.pads
            cells = win.covering(index[-2] + t, index[-1] + l)
            filters = range(lay.filters)
        elif k == 1:                     # K: every window, except where it meets padding
            a, b = index[-2:]
            cells = [(i, j) for i in range(oh) for j in range(ow)
                     if not win.is_pad(i * sh + a, j * sw + b)]
        else:                            # b: every output of the filter
            cells = [(i, j) for i in range(oh) for j in range(ow)]
        if lay.k_ndim != 4:
            return cells
        return [(f, *cell) for f in filters for cell in cells]

    def local(self, k, out_index, in_index):
        s = self.saved
        lay = s["lay"]
        win = lay.win
        (kh, kw), (sh, sw) = win.size, win.stride
        n, *rest = out_index
        f, i, j = rest if lay.k_ndim == 4 else (0, *rest)
        if k == 0:
            if s["batch"] > 1 and in_index[0] != n:
                return 0.0
            c = in_index[1] if lay.x_ndim == 3 else 0
            a = in_index[-2] + win.pads[0][0] - i * sh
            b = in_index[-1] + win.pads[1][0] - j * sw
            if not (0 <= a < kh and 0 <= b < kw):
                return 0.0
            return float(s["k2"].reshape(lay.filters, lay.channels, kh, kw)[f, c, a, b])
        if k == 1:
            kf = in_index[1] if lay.k_ndim == 4 else 0
            if kf != f:
                return 0.0
            c = in_index[-3] if lay.k_ndim >= 3 else 0
            a, b = in_index[-2:]
            return float(s["xp"][n, c, i * sh + a, j * sw + b])
        bf = in_index[1] if len(in_index) > 1 else 0
        return 1.0 if (lay.k_ndim != 4 or bf == f) else 0.0
