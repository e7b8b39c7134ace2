"""1-D and 2-D convolution (cross-correlation), computed as im2col + matrix products.

Why this shape of code: students step through ``Y[i,j]`` one element at a time, but a
run over a data set must still be fast. So the forward pass splits each padded image into
its stride phases, copies every kernel offset's block of them (whole rows, whatever the
stride) into the rows of one column matrix per image — columns in the output's own order,
``OH·OW`` — and does one stacked matrix product (``np.matmul``, a BLAS call per image) for
the whole batch, written straight into Y (:data:`CHUNK_BYTES` bounds the columns gathered
at once, buffers reused from chunk to chunk). Backward reuses those columns for ∂K (one
stacked product, summed over the images) and lays ∂Y on rows of the phase width for ∂X,
so that the adjoint scatter is kh·kw contiguous slice additions (a loop over the kernel
*offsets*, never over output elements). The per-element story lives in
:meth:`Conv2d.explain`. Before anything is allocated, the scratch space is checked
against the run's memory budget (:func:`nnlab.limits.scratch_problem`).

Conventions (named, because references differ):

* **No kernel flip.** Like PyTorch and the lecture, "convolution" is
  cross-correlation: ``Y[i,j] = Σₐ,ᵦ X[i·s+a−p, j·s+b−p]·K[a,b] + b``.
* **Layouts, per example.** X is ``(H, W)``, ``(C, H, W)`` or a batch of images
  ``(N, C, H, W)`` (PyTorch, CS231n). K is ``(kh, kw)`` (one channel, one filter),
  ``(C, kh, kw)`` (one filter over all channels → Y is ``(OH, OW)``) or
  ``(F, C, kh, kw)`` (F filters → Y is ``(F, OH, OW)``; ``(N, F, OH, OW)`` for a
  batch). ``layout='hwc'`` reads X channels-last, ``(H, W, C)`` or ``(N, H, W, C)``
  (Keras/TF, quiz answers written H×W×C) and writes Y the same way, ``(OH, OW, F)``;
  the kernel keeps the ``(F, C, kh, kw)`` layout. The bias is one number per filter:
  shape ``()`` or ``(1,)`` for one filter, ``(F,)`` for F. ``conv1d`` is the same op
  on one spatial axis: X ``(L)``, ``(C, L)`` or ``(N, C, L)``; K ``(k)``, ``(C, k)``
  or ``(F, C, k)``.
* **The batch N and the example axis are different things.** N is a batch written
  inside one example's tensor; a ``data`` set adds the engine's example axis in front
  of it. Both may be present: every (example, image) pair is one image.
* **Padding** (:func:`resolve_pads`). ``padding=p`` adds p zeros on *each* side
  (PyTorch), so ``OH = ⌊(H + 2p − kh)/s⌋ + 1``; ``[rows, cols]`` per axis;
  ``[[top, bottom], [left, right]]`` per side; ``'valid'`` is 0; ``'same'`` pads so
  that ``OH = ⌈H/s⌉``, total ``max((OH − 1)·s + kh − H, 0)``, an odd extra zero at the
  bottom (right), as TensorFlow/Keras. ``padding_total=p_h`` is the lecture's (d2l's)
  total over both sides, ``OH = ⌊(H − kh + p_h + s)/s⌋``; an odd total puts the extra
  row (column) on top (left). Any non-negative amount is allowed (PyTorch accepts a
  1×1 kernel with padding 2: the outer outputs are the bias alone).
* **Padded coordinates.** Explanations index X in the *padded* frame and say how
  much padding there is (:attr:`Explanation.pads`, pairs for the last two axes) —
  except for channels-last X and 1-D X of shape ``(L)``, whose padding cannot be drawn
  around the last two axes: there the explanation lists only the real cells, in
  ordinary coordinates, and counts the padding in its note.
  :meth:`Conv2d.dependents` and :meth:`Conv2d.local` take ordinary (unpadded)
  input indices.
* **Parameters do not depend on the example.** K and b must have batch size 1
  (the engine's parameter layout); a per-example kernel is a ``ShapeError`` raised
  by ``forward`` (``infer`` cannot see the batch), which the engine reports cleanly.
* **Channels in index order.** A multi-channel explanation groups the products per
  channel, channel 0 first: ``(0×0 + 1×1 + 3×2 + 4×3) + (1×1 + 2×2 + 4×3 + 5×4)``
  (the lecture's slide happens to list channel 1 first; the sum is the same 56).
* ``dependents`` is structural: every output whose window covers the element
  (for K: every output of the filter except where the kernel element meets
  padding). A listed output can still have a zero local derivative when the
  matching weight or input value happens to be 0.

The window bookkeeping (:class:`Window`) is shared with :mod:`nnlab.engine.ops.pool`
and :mod:`nnlab.engine.ops.pad`.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

from nnlab.engine.blas import product_threads
from nnlab.engine.ops.base import Example, Op, Param, ShapeError, num, register
from nnlab.engine.trace import Explanation, Use
from nnlab.limits import scratch_problem
from nnlab.numfmt import fmt_index

Pads = tuple[tuple[int, int], tuple[int, int]]

CHUNK_BYTES = 16 << 20
"""Bytes of im2col columns gathered at once: a batch that fits is one stacked product per pass
(large enough for the BLAS threads, :mod:`nnlab.engine.blas`), a huge input is still done a few
images at a time (at least one). Measured on the batched benchmark (8 images 3×64×64, 16
filters 3×3: 7.3 MB of columns), two threads: 1 MiB chunks (one image each, one BLAS thread)
4.5 ms, the whole batch 3.3 ms. Under heavy load (2 cores, load 7) the threaded products are
sometimes 2–3× slower: the BLAS's idle thread spins while the copies between products run."""

PADDING_FORMS = ("give padding as a whole number (each side), [rows, cols], [[top, bottom], [left, right]],"
                 " 'same' or 'valid'")

# ------------------------------------------------------------------ window geometry


class cached_property:  # functools.cached_property without its lock (3.11 takes one on every read)
    """A property computed once per instance, then read from the instance's ``__dict__``."""

    def __init__(self, fn) -> None:
        self.fn, self.name, self.__doc__ = fn, fn.__name__, fn.__doc__

    def __set_name__(self, owner, name) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


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


def side_pairs(value, op: str, what: str = "padding") -> Pads:
    """``((top, bottom), (left, right))`` from ``p``, ``[rows, cols]`` or ``[[top, bottom], [left, right]]``."""
    try:
        if isinstance(value, (list, tuple)) and any(isinstance(v, (list, tuple)) for v in value):
            if len(value) != 2:
                raise ShapeError(f"{what}={value!r} is not usable in '{op}'")
            return pair(value[0], what, op, 0), pair(value[1], what, op, 0)
        rows, cols = pair(value, what, op, 0)
    except ShapeError as exc:
        raise ShapeError(exc.message, PADDING_FORMS if what == "padding" else exc.hint) from None
    return (rows, rows), (cols, cols)


def same_pads(in_hw, k_hw, stride) -> Pads:
    """TensorFlow's ``'same'``: ``OH = ⌈H/s⌉``, the odd extra zero at the bottom (right)."""
    pads = []
    for n, k, s in zip(in_hw, k_hw, stride):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def resolve_pads(op: str, padding, padding_total=None, in_hw=None, k_hw=None, stride=None) -> Pads:
    """The padding of one call, per side: ``((top, bottom), (left, right))``.

    Args:
        op: The op's name, for messages.
        padding: Zeros on each side (``p``, ``[rows, cols]``, ``[[top, bottom], [left, right]]``),
            ``'valid'`` (none) or ``'same'`` (needs ``in_hw``, ``k_hw`` and ``stride``).
        padding_total: The lecture's total over both sides (``p`` or ``[rows, cols]``);
            an odd total puts the extra row (column) on top (left).
    """
    if padding_total is not None:
        if isinstance(padding, str) and padding != "valid" or \
                padding not in (0, None, "valid") and side_pairs(padding, op) != ((0, 0), (0, 0)):
            raise ShapeError(f"'{op}' got both padding={padding!r}"
                             f" and padding_total={padding_total!r}",
                             "padding is zeros on each side (PyTorch), padding_total the sum over"
                             " both sides (the lecture's p_h); give one of them")
        th, tw = pair(padding_total, "padding_total", op, 0)
        return ((th + 1) // 2, th // 2), ((tw + 1) // 2, tw // 2)
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same" and in_hw is not None:
            return same_pads(in_hw, k_hw, stride)
        raise ShapeError(f"padding={padding!r} is not usable in '{op}'", PADDING_FORMS)
    return side_pairs(padding, op)


def per_side(padding, padding_total, op: str) -> Pads:
    """``((top, bottom), (left, right))`` from per-side or total padding (not ``'same'``)."""
    return resolve_pads(op, padding, padding_total)


class Window:  # (a plain class: its properties are cached in __dict__; a dataclass costs ~0.5 ms to define)
    """Where kh×kw windows sit on a padded H×W grid (the last two axes of an array).

    Attributes:
        in_hw: Unpadded input size ``(H, W)``.
        size: Window size ``(kh, kw)``.
        stride: ``(sh, sw)``.
        pads: ``((top, bottom), (left, right))``.
    """

    def __init__(self, in_hw: tuple[int, int], size: tuple[int, int], stride: tuple[int, int], pads: Pads) -> None:
        self.in_hw, self.size, self.stride, self.pads = in_hw, size, stride, pads

    @cached_property
    def padded_hw(self) -> tuple[int, int]:
        (t, b), (l, r) = self.pads
        return self.in_hw[0] + t + b, self.in_hw[1] + l + r

    @cached_property
    def out_hw(self) -> tuple[int, int]:
        """``OH = ⌊(H + top + bottom − kh)/s⌋ + 1`` and the same for OW."""
        return tuple((n - k) // s + 1 for n, k, s in zip(self.padded_hw, self.size, self.stride))

    @cached_property
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

    # -- the stride phases of im2col ----------------------------------------------
    @cached_property
    def phase_hw(self) -> tuple[int, int]:
        """``(hq, wq) = (⌈Hp/sh⌉, ⌈Wp/sw⌉)``: the padded grid split by the stride.

        Padded row ``r`` is row ``q = r // sh`` of phase ``ρ = r % sh``; kernel offset
        ``a = sh·qa + ρ`` meets, for output rows ``i = 0…OH−1``, rows ``qa + i`` of phase
        ``ρ``: a block of whole rows, so each offset's cells for all outputs are one
        slice of its phase (no strided gather, whatever the stride).
        """
        return tuple(-(-n // s) for n, s in zip(self.padded_hw, self.stride))

    def phase_bytes(self, images: int, channels: int, extra: int = 0) -> int:
        """Bytes of :meth:`phases` for ``images`` images of ``channels`` channels (plus a
        row for :meth:`col2im` when ``extra``)."""
        (sh, sw), (hq, wq) = self.stride, self.phase_hw
        return 8 * images * channels * sh * sw * (hq + extra) * wq

    @cached_property
    def _phase_parts(self) -> list[tuple]:
        """``(ρ, σ, input rows, input cols, phase rows, phase cols)`` slices: which input
        cells land, unpadded, on which cells of phase ``(ρ, σ)``."""
        (sh, sw), pads = self.stride, self.pads
        parts = []
        for ra in range(sh):
            for rb in range(sw):
                found = []
                for rho, s, (lo, _), n in ((ra, sh, pads[0], self.in_hw[0]), (rb, sw, pads[1], self.in_hw[1])):
                    first = (rho - lo) % s                    # the first input index in this phase
                    count = len(range(first, n, s))
                    q0 = (first + lo) // s
                    found.append((slice(first, n, s), slice(q0, q0 + count)))
                (xr, qr), (xc, qc) = found
                parts.append((ra, rb, xr, xc, qr, qc))
        return parts

    def phases(self, x: np.ndarray) -> np.ndarray:
        """``(M, C, H, W)`` → the padded images split into stride phases:
        ``(M, C, sh, sw, hq, wq)``, zeros where padding (or past the padded edge) falls."""
        if self.stride == (1, 1):                       # one phase: the padded image
            return self.pad(x)[:, :, None, None]
        (sh, sw), (hq, wq) = self.stride, self.phase_hw
        buf = np.zeros(x.shape[:2] + (sh, sw, hq, wq))
        for ra, rb, xr, xc, qr, qc in self._phase_parts:
            buf[:, :, ra, rb, qr, qc] = x[:, :, xr, xc]
        return buf

    def unphase(self, buf: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The adjoint of :meth:`phases`: ``(M, C, sh, sw, hq, wq)`` → ``(M, C, H, W)``
        (written into ``out`` when given)."""
        out = np.empty(buf.shape[:2] + self.in_hw) if out is None else out
        for ra, rb, xr, xc, qr, qc in self._phase_parts:
            out[:, :, xr, xc] = buf[:, :, ra, rb, qr, qc]
        return out

    @cached_property
    def _blocks(self) -> list[tuple[int, int, int, slice, slice]]:
        """``(k, ρ, σ, rows, cols)`` per kernel offset: its phase and the block of that
        phase it meets, one cell per output."""
        (oh, ow), (sh, sw) = self.out_hw, self.stride
        return [(k, a % sh, b % sw, slice(a // sh, a // sh + oh), slice(b // sw, b // sw + ow))
                for k, (a, b) in enumerate(self.offsets)]

    def im2col(self, buf: np.ndarray, space: np.ndarray | None = None) -> np.ndarray:
        """Phases → columns ``(M, C·kh·kw, OH·OW)``: per image, rows (c, a, b) and one
        column per output, the layout of the output itself (so the forward product writes
        Y in place and backward reads ∂Y as it comes); one block copy per kernel offset.

        Args:
            buf: Phases ``(M, C, sh, sw, hq, wq)`` (a slice of the batch is fine).
            space: A flat float64 array to write the columns into (reused between
                chunks of images), at least as large as they are.
        """
        m, c = buf.shape[:2]
        shape = (m, c, len(self.offsets)) + self.out_hw
        cols = np.empty(shape) if space is None else space[:int(np.prod(shape))].reshape(shape)
        for k, ra, rb, rows, cs in self._blocks:
            cols[:, :, k] = buf[:, :, ra, rb, rows, cs]
        return cols.reshape(m, c * len(self.offsets), -1)

    def col2im(self, dgrid: np.ndarray, out: np.ndarray | None = None,
               space: np.ndarray | None = None) -> np.ndarray:
        """The adjoint of :meth:`im2col` then :meth:`phases`, from the columns' gradient
        laid out on rows of the phase width: ``(M, C·kh·kw, OH·wq)``, zeros in the columns
        past OW → ``(M, C, H, W)`` (into ``out`` when given). Laid out so, each kernel
        offset's block is *one contiguous slice* of its phase taken flat (starting at
        ``qa·wq + qb``; the zeros land on the wrap-around), so the adjoint is kh·kw
        whole-slice additions — overlapping windows add up — then the padding is dropped.
        ``space``: a flat float64 array to sum the phases in (reused between chunks)."""
        m, (oh, _), (hq, wq) = dgrid.shape[0], self.out_hw, self.phase_hw
        d = dgrid.reshape(m, -1, len(self.offsets), oh * wq)
        shape = (m, d.shape[1], *self.stride, (hq + 1) * wq)       # a row of room for the last slices
        if space is None:
            flat = np.zeros(shape)
        else:
            flat = space[:int(np.prod(shape))].reshape(shape)
            flat.fill(0.0)
        for k, ra, rb, rows, cs in self._blocks:
            start = rows.start * wq + cs.start
            flat[:, :, ra, rb, start:start + oh * wq] += d[:, :, k]
        return self.unphase(flat[..., :hq * wq].reshape(*shape[:4], hq, wq), out)

    # -- cells and text ----------------------------------------------------------------
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
            counts.append(np.clip(np.minimum(start + k, n) - np.maximum(start, 0), 0, None))
        return np.outer(counts[0], counts[1]).astype(float)

    def index_text(self, axis: int, var: str, off: str) -> str:
        """``"3i+a−1"``: the input row (column) of output ``var`` at kernel offset ``off``."""
        s, p = self.stride[axis], self.pads[axis][0]
        return f"{var if s == 1 else f'{s}{var}'}+{off}" + (f"−{p}" if p else "")

    def rule(self, mode: str | bool, axes: tuple[int, ...] = (0, 1)) -> str:
        """The output-size formula for the given axes with numbers substituted.

        Args:
            mode: ``"total"`` (or True) the lecture's total padding ``p_h``; ``"same"``
                TensorFlow's ``⌈H/s⌉``; else zeros per side (``2p`` when both sides
                are equal, ``p_top + p_bottom`` when not).
            axes: ``(0, 1)`` for a 2-D window; ``(1,)`` for a 1-D one (named L, k).
        """
        mode = "total" if mode is True else mode or "side"
        lines = []
        for ax in axes:
            o, n, k, s, (lo, hi) = (self.out_hw[ax], self.in_hw[ax], self.size[ax],
                                    self.stride[ax], self.pads[ax])
            if len(axes) == 1:
                big, h, kh, ph, sides = "OL", "L", "k", "p", ("p_left", "p_right")
            elif ax == 0:
                big, h, kh, ph, sides = "OH", "H", "kh", "p_h", ("p_top", "p_bottom")
            else:
                big, h, kh, ph, sides = "OW", "W", "kw", "p_w", ("p_left", "p_right")
            if mode == "total":
                lines.append(f"{big} = ⌊({h} − {kh} + {ph} + s)/s⌋"
                             f" = ⌊({n} − {k} + {lo + hi} + {s})/{s}⌋ = {o}")
            elif mode == "same":
                lines.append(f"{big} = ⌈{h}/s⌉ = ⌈{n}/{s}⌉ = {o} (padding {lo} + {hi})")
            elif lo == hi:
                lines.append(f"{big} = ⌊({h} + 2p − {kh})/s⌋ + 1"
                             f" = ⌊({n} + 2·{lo} − {k})/{s}⌋ + 1 = {o}")
            else:
                lines.append(f"{big} = ⌊({h} + {sides[0]} + {sides[1]} − {kh})/s⌋ + 1"
                             f" = ⌊({n} + {lo} + {hi} − {k})/{s}⌋ + 1 = {o}")
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
        size = f"{k_hw[1]}-wide" if ph == k_hw[0] == 1 else f"{k_hw[0]}×{k_hw[1]}"
        padded = f"{pw} wide" if ph == k_hw[0] == 1 else f"{ph}×{pw}"
        raise ShapeError(
            f"the {size} window is larger than the input in '{op}': {what}"
            f" (the input is {padded} after padding)",
            "use a smaller window or add padding")
    return win


def layout_of(op: Op) -> bool:
    """True for channels-last (``layout='hwc'``); ``None``/``'chw'`` is channels-first."""
    layout = op.params.get("layout")
    if layout in (None, "chw"):
        return False
    if layout == "hwc":
        return True
    raise ShapeError(f"layout={layout!r} is not usable in '{op.name}'",
                     "layout='chw' (channels first, the default: (C, H, W), (N, C, H, W)) or"
                     " layout='hwc' (channels last: (H, W, C), (N, H, W, C))")


# ------------------------------------------------------------------------ the op


class _Layout(NamedTuple):  # (not a frozen dataclass: ~0.5 ms less to define)
    """One conv call's per-example shapes, and how they map onto the canonical
    ``(M, C, H, W)`` images and ``(F, C, kh, kw)`` kernel (1-D: H = kh = 1).

    Attributes:
        x_shape, k_shape, b_shape: Per-example shapes as written.
        dims: Spatial axes: 2 (conv2d) or 1 (conv1d).
        hwc: Channels-last X and Y.
        batch: N, the images inside one example (None: a single image).
        has_c: X has a channel axis.
        k_has_c: K has a channel axis.
        has_f: K (and so Y) has a filter axis.
        channels, filters: C and F.
        win: The window geometry on ``(H, W)``.
    """

    x_shape: tuple[int, ...]
    k_shape: tuple[int, ...]
    b_shape: tuple[int, ...] | None
    dims: int
    hwc: bool
    batch: int | None
    has_c: bool
    k_has_c: bool
    has_f: bool
    channels: int
    filters: int
    win: Window

    @property
    def images(self) -> int:
        return self.batch or 1

    def _sp(self, pair_: tuple) -> tuple:
        """A ``(row, col)`` pair as this layout writes it (1-D: only the column)."""
        return tuple(pair_) if self.dims == 2 else (pair_[1],)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.y_index(self.batch, self.filters, self.win.out_hw)

    # -- per-example indices (or sizes) as written <-> canonical ------------------------
    def x_index(self, n, c, rq) -> tuple:
        """X's index (or shape) from image n, channel c and spatial ``(r, q)``."""
        head = (n,) if self.batch is not None else ()
        sp = self._sp(rq)
        if not self.has_c:
            return head + sp
        return head + (sp + (c,) if self.hwc else (c,) + sp)

    def y_index(self, n, f, ij) -> tuple:
        """Y's index (or shape) from image n, filter f and output ``(i, j)``."""
        head = (n,) if self.batch is not None else ()
        sp = self._sp(ij)
        if not self.has_f:
            return head + sp
        return head + (sp + (f,) if self.hwc else (f,) + sp)

    def k_index(self, f, c, ab) -> tuple:
        """K's index from filter f, channel c and kernel offset ``(a, b)``."""
        return (f,) * self.has_f + (c,) * self.k_has_c + self._sp(ab)

    def _split(self, index, has_extra: bool) -> tuple[int, int, int, int]:
        index = tuple(index)
        n = index[0] if self.batch is not None else 0
        rest = index[1:] if self.batch is not None else index
        if has_extra:
            extra, sp = (rest[-1], rest[:-1]) if self.hwc else (rest[0], rest[1:])
        else:
            extra, sp = 0, rest
        i, j = (0, sp[0]) if self.dims == 1 else sp
        return n, extra, i, j

    def x_canon(self, index) -> tuple[int, int, int, int]:
        """``(n, c, h, w)`` from a per-example X index."""
        return self._split(index, self.has_c)

    def y_canon(self, index) -> tuple[int, int, int, int]:
        """``(n, f, i, j)`` from a per-example Y index."""
        return self._split(index, self.has_f)

    def k_canon(self, index) -> tuple[int, int, int, int]:
        """``(f, c, a, b)`` from a K index."""
        index = tuple(index)
        f = index[0] if self.has_f else 0
        c = index[int(self.has_f)] if self.k_has_c else 0
        sp = index[int(self.has_f) + int(self.k_has_c):]
        a, b = (0, sp[0]) if self.dims == 1 else sp
        return f, c, a, b

    # -- batch-first arrays as written <-> canonical ------------------------------------
    def canon_x(self, X: np.ndarray) -> np.ndarray:
        """Batch-first X → ``(M, C, H, W)``, M = examples × images."""
        if self.hwc and self.has_c:
            X = np.moveaxis(X, -1, -3)
        return X.reshape(-1, self.channels, *self.win.in_hw)

    def _written(self, a: np.ndarray, lead: int, extra: bool, hw) -> np.ndarray:
        """Canonical ``(M, E, H, W)`` → batch-first as written (E a channel or filter axis)."""
        shape = (lead,) + ((self.batch,) if self.batch is not None else ()) \
            + ((a.shape[1],) if extra else ()) + self._sp(hw)
        a = a.reshape(shape)
        if self.hwc and extra:
            a = np.moveaxis(a, -3, -1)
        return np.ascontiguousarray(a)

    def x_written(self, gx: np.ndarray, lead: int) -> np.ndarray:
        return self._written(gx, lead, self.has_c, self.win.in_hw)

    def y_written(self, y: np.ndarray, lead: int) -> np.ndarray:
        return self._written(y, lead, self.has_f, self.win.out_hw)

    def canon_y(self, g: np.ndarray) -> np.ndarray:
        """Batch-first Y (or its gradient) → ``(M, F, OH, OW)``."""
        if self.hwc and self.has_f:
            g = np.moveaxis(g, -1, -3)
        return g.reshape(-1, self.filters, *self.win.out_hw)

    @property
    def drawn_padded(self) -> bool:
        """Can the lab draw X padded (the padding around its last two axes)?"""
        return not self.hwc and len(self.x_shape) >= 2

    @property
    def column_bytes(self) -> int:
        """Bytes of one image's columns on rows of the phase width, ``C·kh·kw × OH·wq``
        float64 (im2col fills the first ``OH·OW`` of each row of them, col2im all)."""
        win = self.win
        return 8 * self.channels * win.size[0] * win.size[1] * win.out_hw[0] * win.phase_hw[1]

    def chunk(self, images: int) -> int:
        """Images whose columns are gathered at once: up to :data:`CHUNK_BYTES` of columns,
        at least one."""
        return max(1, min(images, CHUNK_BYTES // max(1, self.column_bytes)))

    def scratch_bytes(self, images: int) -> int:
        """Peak working memory of forward + backward for ``images`` images, beyond the
        inputs and outputs: the phases of the whole batch, and for one chunk of images
        the columns (their gradient is written over them), ∂Y on rows of the phase width
        and the phases the input gradient is summed in."""
        win, chunk = self.win, self.chunk(images)
        grid = 8 * self.filters * win.out_hw[0] * win.phase_hw[1]
        return win.phase_bytes(images, self.channels) + chunk * (
            self.column_bytes + grid + win.phase_bytes(1, self.channels, extra=1))


@register
class Conv2d(Op):
    """2-D cross-correlation of X with kernel K, plus an optional bias per filter.

    Static params: ``stride`` (int or [rows, cols], default 1), ``padding`` (zeros on
    each side as p, [rows, cols] or [[top, bottom], [left, right]]; 'same'; 'valid';
    default 0) or ``padding_total`` (the lecture's total over both sides), ``layout``
    ('chw', the default, or 'hwc' for channels-last X and Y).
    """

    name = "conv2d"
    dims = 2
    example = Example("y = conv2d(X, K, b, padding=1)",
                      {"X": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [1.0, 2.0, -1.5]],
                       "K": [[0.5, -1.0], [0.25, 2.0]], "b": 0.1})
    signature = (Param("X"), Param("K"), Param("b", default=None),
                 Param("stride", tensor=False, default=1),
                 Param("padding", tensor=False, default=0),
                 Param("padding_total", tensor=False, default=None),
                 Param("layout", tensor=False, default=None))
    formula = "Y[i,j] = Σₐ,ᵦ X[i·s+a−p, j·s+b−p]·K[a,b] + b"
    x_forms = "(H, W), (C, H, W) or (N, C, H, W)"
    hwc_forms = "(H, W), (H, W, C) or (N, H, W, C)"
    k_forms = "(kh, kw), (C, kh, kw) or (F, C, kh, kw)"

    # -- shapes ------------------------------------------------------------------
    def _stride(self) -> tuple[int, int]:
        return pair(self.params.get("stride", 1), "stride", self.name, 1)

    def _pads(self, in_hw, k_hw, stride) -> Pads:
        p = self.params
        return resolve_pads(self.name, p.get("padding", 0), p.get("padding_total"), in_hw, k_hw, stride)

    def _spatial(self, shape: tuple[int, ...], hwc: bool, has_c: bool) -> tuple[int, int]:
        return tuple(shape[-3:-1] if hwc and has_c else shape[-2:])

    def _layout(self, xs, ks, bs) -> _Layout:
        xs, ks = tuple(xs), tuple(ks)
        d = self.dims
        both = f"X {xs} and K {ks}"
        hwc = layout_of(self)
        x_extra, k_extra = len(xs) - d, len(ks) - d
        if x_extra not in (0, 1, 2):
            raise ShapeError(f"'{self.name}' needs X of shape {self.hwc_forms if hwc else self.x_forms},"
                             f" got {both}",
                             "N is a batch of images inside one example; a data set adds the examples")
        if k_extra not in (0, 1, 2):
            raise ShapeError(f"'{self.name}' needs K of shape {self.k_forms}, got {both}",
                             f"{self.k_forms.split(', ')[1]} is one filter over all channels;"
                             f" {self.k_forms.split(' or ')[-1]} is F filters")
        has_c = x_extra >= 1
        c = (xs[-1] if hwc else xs[-d - 1]) if has_c else 1
        kc = ks[-d - 1] if k_extra >= 1 else 1
        if c != kc:
            raise ShapeError(f"channel mismatch in '{self.name}': {both} — X has {c} channel(s),"
                             f" K expects {kc}",
                             f"K is {self.k_forms.split(', ')[1]} or {self.k_forms.split(' or ')[-1]}"
                             " with C = the channels of X")
        f = ks[0] if k_extra == 2 else 1
        if bs is not None:
            bs = tuple(bs)
            ok = bs == (f,) if k_extra == 2 else bs in ((), (1,))
            if not ok:
                want = f"({f},)" if k_extra == 2 else "() or (1,)"
                raise ShapeError(f"bias b {bs} does not fit '{self.name}' with {both}",
                                 f"one bias per filter: b must have shape {want}")
        if d == 2:
            in_hw, k_hw = self._spatial(xs, hwc, has_c), ks[-2:]
        else:
            in_hw, k_hw = (1, xs[-1]), (1, ks[-1])
        stride = self._stride()
        pads = self._pads(in_hw, k_hw, stride)
        win = make_window(self.name, both, in_hw, k_hw, stride, pads)
        return _Layout(xs, ks, bs, d, hwc, xs[0] if x_extra == 2 else None, has_c, k_extra >= 1,
                       k_extra == 2, c, f, win)

    def infer(self, xs, ks, bs=None):
        return self._layout(xs, ks, bs).out_shape

    def _rule_mode(self) -> str:
        if self.params.get("padding_total") is not None:
            return "total"
        return "same" if self.params.get("padding") == "same" else "side"

    def shape_rule(self, xs, ks, bs=None):
        try:
            lay = self._layout(xs, ks, bs)
        except ShapeError:
            return ""
        return lay.win.rule(self._rule_mode(), (0, 1) if self.dims == 2 else (1,))

    # -- forward / backward ------------------------------------------------------
    def forward(self, X, K, b=None):
        lay = self._layout(X.shape[1:], K.shape[1:], None if b is None else b.shape[1:])
        if K.shape[0] != 1 or (b is not None and b.shape[0] != 1):
            raise ShapeError(f"the kernel and bias of '{self.name}' must not depend on the data:"
                             f" got {K.shape[0]} kernels / biases for {X.shape[0]} examples",
                             "K and b are parameters: give them under values:, not per example")
        win, lead = lay.win, X.shape[0]
        m = lead * lay.images
        problem = scratch_problem(lay.scratch_bytes(m), f"the scratch space (im2col) of '{self.name}'")
        if problem:
            raise ShapeError(problem, "use fewer or smaller images, a smaller kernel, a larger stride or less"
                                      " padding, or raise the budget with --max-memory")
        x4 = lay.canon_x(np.asarray(X, dtype=float))
        k2 = np.asarray(K, dtype=float).reshape(lay.filters, -1)
        buf = win.phases(x4)                            # (M, C, sh, sw, hq, wq)
        out = np.empty((m, lay.filters) + win.out_hw)
        bias = None if b is None else np.asarray(b, dtype=float).reshape(lay.filters, 1, 1)
        step = lay.chunk(m)
        space = np.empty(step * lay.column_bytes // 8)  # one chunk's columns; backward's ∂columns too
        for m0 in range(0, m, step):
            cols = win.im2col(buf[m0:m0 + step], space)            # (mc, C·kh·kw, OH·OW)
            y = out[m0:m0 + step]
            product_threads(k2.size * cols.shape[0] * cols.shape[2])
            np.matmul(k2, cols, out=y.reshape(cols.shape[0], lay.filters, -1))  # Y in place, per image
            if bias is not None:
                y += bias
        self.saved.update(lay=lay, x4=x4, k2=k2, buf=buf, batch=lead, space=space)
        if step >= m:                                   # one chunk: keep its columns for backward
            self.saved["cols"] = cols
        return lay.y_written(out, lead)

    def backward(self, g):
        s = self.saved
        lay, win, lead = s["lay"], s["lay"].win, s["batch"]
        g4 = lay.canon_y(np.asarray(g, dtype=float))                 # (M, F, OH, OW)
        m, (oh, ow), wq = g4.shape[0], win.out_hw, win.phase_hw[1]
        needs = self.needs
        gx = gk = gb = None
        if needs[0] or needs[1]:
            k2, buf, step, space = s["k2"], s["buf"], lay.chunk(m), s["space"]
            cols = s.pop("cols", None)                                 # backward writes over them
            gkt = np.zeros(k2.shape[::-1]) if needs[1] else None       # ∂K transposed: (C·kh·kw, F)
            if needs[0]:
                gx4 = np.empty((m, lay.channels) + win.in_hw)
                grid = np.empty((step, lay.filters, oh, wq))           # ∂Y on rows of the phase width
                grid[..., ow:] = 0.0
                sums = np.empty(win.phase_bytes(step, lay.channels, extra=1) // 8)
            for m0 in range(0, m, step):
                if cols is None or step < m:                           # gathered again: cheaper than kept
                    cols = win.im2col(buf[m0:m0 + step], space)
                gp = g4[m0:m0 + step]
                mc = gp.shape[0]
                product_threads(gp[0].size * cols.shape[1] * mc)
                if needs[1]:                                           # Σ over images of cols·∂Yᵀ
                    g3 = gp.reshape(mc, lay.filters, -1)               # (a copy only for a strided ∂Y)
                    gkt += np.matmul(cols, g3.transpose(0, 2, 1)).sum(axis=0)
                if needs[0]:                                           # ∂cols = Kᵀ·∂Y, over the columns
                    gg = grid[:mc]
                    gg[..., :ow] = gp
                    dcols = np.matmul(k2.T, gg.reshape(mc, lay.filters, -1),
                                      out=space[:mc * k2.shape[1] * oh * wq].reshape(mc, k2.shape[1], -1))
                    win.col2im(dcols, out=gx4[m0:m0 + mc], space=sums)
            gx = lay.x_written(gx4, lead) if needs[0] else None
            gk = None if gkt is None else gkt.T.reshape(1, *lay.k_shape)
        if lay.b_shape is not None and (len(needs) < 3 or needs[2]):
            gb = g4.sum(axis=(0, 2, 3)).reshape((1, *lay.b_shape))
        return gx, gk, gb

    # -- symbolic ------------------------------------------------------------------
    def symbolic(self, xs, sym, nums=None):
        X, K = xs[0], xs[1]
        b = xs[2] if len(xs) > 2 else None
        lay = self._layout(X.shape, K.shape, None if b is None else b.shape)
        win = lay.win
        x4 = lay.canon_x(X[None])
        k4 = K.reshape(lay.filters, lay.channels, *win.size)
        (oh, ow), (sh, sw), ((t, _), (left, _)) = win.out_hw, win.stride, win.pads
        (H, W), (kh, kw) = win.in_hw, win.size
        out = np.empty((x4.shape[0], lay.filters, oh, ow), dtype=object)
        for n, f, i, j in np.ndindex(*out.shape):
            bias = sym.sp.S.Zero if b is None else b.reshape(-1)[f if lay.has_f else 0]
            terms = []
            for c in range(lay.channels):
                for a in range(kh):
                    r = i * sh + a - t
                    if not 0 <= r < H:
                        continue
                    for bb in range(kw):
                        q = j * sw + bb - left
                        if 0 <= q < W:
                            terms.append(x4[n, c, r, q] * k4[f, c, a, bb])
            out[n, f, i, j] = sym.sp.Add(*terms) + bias
        return lay.y_written(out, 1)[0]

    def rule(self, c, sym):
        has_b = len(c.names) > 2 and c.names[2] is not None
        lay = self._layout(c.shapes[0], c.shapes[1], c.shapes[2] if has_b else None)
        win = lay.win
        X, K, Y = (sym.IndexedBase(v) for v in (c.names[0], c.names[1], c.out))
        i, j, a, b, ch, f, n = (sym.idx(v) for v in ("i", "j", "a", "b", "c", "f", "n"))
        if lay.dims == 1:
            i, a, j, b = 0, 0, i, a                       # one axis: Y[i] = Σₐ X[i·s+a−p]·K[a]
        (sh, sw), ((t, _), (lft, _)), (kh, kw) = win.stride, win.pads, win.size
        row, col = sh * i + a - t, sw * j + b - lft
        x_el, k_el, y_el = X[lay.x_index(n, ch, (row, col))], K[lay.k_index(f, ch, (a, b))], \
            Y[lay.y_index(n, f, (i, j))]
        limits = [(a, 0, kh - 1)] if lay.dims == 2 else []
        s = sym.Sum(x_el * k_el, *limits, (b, 0, kw - 1))
        if lay.has_c:
            s = sym.Sum(s, (ch, 0, lay.channels - 1))
        bias = None
        if has_b:
            bias = sym.IndexedBase(c.names[2])[f] if lay.has_f else sym.symbol(c.names[2])
            s = s + bias
        r, q = sym.idx("r"), sym.idx("q")
        if lay.dims == 1:
            r = 0
        xin = X[lay.x_index(n, ch, (r, q))]
        kin = K[lay.k_index(f, ch, (r - sh * i + t, q - sw * j + lft))]
        ders = []
        if not c.consts[0]:
            ders.append(sym.deriv(c.names[0], 0, y_el, xin, kin))
        if not c.consts[1]:
            ders.append(sym.deriv(c.names[1], 1, y_el, k_el, x_el))
        if has_b and not c.consts[2]:
            ders.append(sym.deriv(c.names[2], 2, y_el, bias, 1))
        notes = ["cross-correlation (no kernel flip), like PyTorch and the lecture"]
        if (t, lft) != (0, 0) or win.pads != ((0, 0), (0, 0)):
            notes.append("padding cells are 0: terms that land on them vanish")
        notes.append("∂Y/∂X is 0 where the kernel index falls outside the kernel")
        return sym.sp.Eq(y_el, s), tuple(ders), tuple(notes)

    # -- explanations --------------------------------------------------------------
    def explain(self, index, xs, out, names, out_name, digits):
        x, k = np.asarray(xs[0]), np.asarray(xs[1])
        bias = xs[2] if len(xs) > 2 and xs[2] is not None else None
        lay = self._layout(x.shape, k.shape, None if bias is None else np.shape(bias))
        win = lay.win
        n, f, i, j = lay.y_canon(index)
        kf = k.reshape(lay.filters, lay.channels, *win.size)[f]
        xc = lay.canon_x(x[None])[n]
        (t, _), (l, _) = win.pads
        drawn = lay.drawn_padded
        uses, groups, n_pad = [], [], 0
        for c in range(lay.channels):
            terms = []
            for a, bb in win.offsets:
                r, q = i * win.stride[0] + a, j * win.stride[1] + bb
                padding = win.is_pad(r, q)
                n_pad += padding
                xv = 0 if padding else xc[c, r - t, q - l]
                terms.append(f"{num(xv, digits)}×{num(kf[c, a, bb], digits)}")
                if drawn:
                    uses.append(Use(0, lay.x_index(n, c, (r, q)), "padding" if padding else "used"))
                elif not padding:
                    uses.append(Use(0, lay.x_index(n, c, (r - t, q - l)), "used"))
            groups.append(" + ".join(terms))
        for c in range(lay.channels):
            for a, bb in win.offsets:
                uses.append(Use(1, lay.k_index(f, c, (a, bb)), "weight"))
        arithmetic = groups[0] if len(groups) == 1 else " + ".join(f"({g})" for g in groups)
        if bias is not None:
            bidx = (f,) if np.ndim(bias) else ()
            arithmetic += f" + {num(np.asarray(bias)[bidx], digits)}"
            uses.append(Use(2, bidx))
        size = lay.channels * win.size[0] * win.size[1]
        note = f"{n_pad} of the {size} window cells are padding (zeros)" if n_pad else ""
        return Explanation(f"{out_name}{fmt_index(tuple(index))}",
                           self._formula(lay, names, out_name), arithmetic, out[tuple(index)],
                           tuple(uses), ((0, win.pads),) if drawn else (), note)

    def _formula(self, lay: _Layout, names, out_name) -> str:
        """The rule with this call's stride and padding.

        E.g. ``Y[i,j] = Σₐ,ᵦ X[3i+a−1, 2j+b−1]·K[a,b]``.
        """
        win = lay.win
        xn, kn = names[0], names[1]
        ch = "c" if lay.channels > 1 else "0"
        if lay.dims == 2:
            rc = (win.index_text(0, "i", "a"), win.index_text(1, "j", "b"))
            ij, ab, total = ("i", "j"), ("a", "b"), "Σₐ,ᵦ"
        else:
            rc = ("", win.index_text(1, "i", "a"))
            ij, ab, total = ("", "i"), ("", "a"), "Σₐ"
        xidx = ", ".join(lay.x_index("n", ch, rc))
        kidx = ",".join(lay.k_index("f", ch, ab))
        lhs = f"{out_name}[{','.join(lay.y_index('n', 'f', ij))}]"
        if lay.channels > 1:
            total = "Σ_c " + total
        text = f"{lhs} = {total} {xn}[{xidx}]·{kn}[{kidx}]"
        if lay.b_shape is not None:
            bn = names[2] if len(names) > 2 else "b"
            text += f" + {bn}" + {(): "", (1,): "[0]"}.get(lay.b_shape, "[f]")
        return text

    def dependents(self, k, index, out_shape):
        lay = self.saved["lay"]
        win = lay.win
        (oh, ow), (sh, sw) = win.out_hw, win.stride
        images = range(lay.images)
        if k == 0:                       # X: the windows covering it, in every filter
            n, _, h, w = lay.x_canon(index)
            (t, _), (l, _) = win.pads
            cells, filters, images = win.covering(h + t, w + l), range(lay.filters), [n]
        elif k == 1:                     # K: every window, except where it meets padding
            f, _, a, b = lay.k_canon(index)
            cells = [(i, j) for i in range(oh) for j in range(ow)
                     if not win.is_pad(i * sh + a, j * sw + b)]
            filters = [f]
        else:                            # b: every output of the filter
            cells = [(i, j) for i in range(oh) for j in range(ow)]
            filters = [index[0] if lay.has_f and index else 0]
        return [lay.y_index(n, f, cell) for n in images for f in filters for cell in cells]

    def local(self, k, out_index, in_index):
        s = self.saved
        lay = s["lay"]
        win = lay.win
        (kh, kw), (sh, sw), ((t, _), (l, _)) = win.size, win.stride, win.pads
        e, *rest = out_index
        n, f, i, j = lay.y_canon(rest)
        if k == 0:
            if s["batch"] > 1 and in_index[0] != e:
                return 0.0
            n2, c, h, w = lay.x_canon(in_index[1:])
            a, b = h + t - i * sh, w + l - j * sw
            if n2 != n or not (0 <= a < kh and 0 <= b < kw):
                return 0.0
            return float(s["k2"].reshape(lay.filters, lay.channels, kh, kw)[f, c, a, b])
        if k == 1:
            kf, c, a, b = lay.k_canon(in_index[1:])
            r, q = i * sh + a, j * sw + b
            if kf != f or win.is_pad(r, q):
                return 0.0
            return float(s["x4"][e * lay.images + n, c, r - t, q - l])
        bf = in_index[1] if len(in_index) > 1 else 0
        return 1.0 if (not lay.has_f or bf == f) else 0.0


@register
class Conv1d(Conv2d):
    """1-D cross-correlation: X ``(L)``, ``(C, L)`` or ``(N, C, L)``; K ``(k)``, ``(C, k)`` or ``(F, C, k)``.

    Static params: ``stride`` (int), ``padding`` (zeros on each side: p, or
    [left, right]; 'same'; 'valid').
    """

    name = "conv1d"
    dims = 1
    example = Example("y = conv1d(X, K, b, padding=[1, 0])",
                      {"X": [[0.5, -1.0, 2.0, 1.5], [0.25, -0.5, 1.0, 2.0]],
                       "K": [[[0.5, -1.0], [0.25, 2.0]], [[1.0, 0.5], [-0.5, 0.75]]], "b": [0.1, -0.2]})
    signature = (Param("X"), Param("K"), Param("b", default=None),
                 Param("stride", tensor=False, default=1),
                 Param("padding", tensor=False, default=0))
    formula = "Y[i] = Σₐ X[i·s+a−p]·K[a] + b"
    x_forms = "(L), (C, L) or (N, C, L)"
    hwc_forms = x_forms
    k_forms = "(k), (C, k) or (F, C, k)"

    def _stride(self):
        s = self.params.get("stride", 1)
        if isinstance(s, (list, tuple)):
            raise ShapeError(f"stride={s!r} is not usable in 'conv1d'", "give stride as one whole number")
        return 1, pair(s, "stride", self.name, 1)[1]

    def _pads(self, in_hw, k_hw, stride):
        p = self.params.get("padding", 0)
        if isinstance(p, str):
            return resolve_pads(self.name, p, None, in_hw, k_hw, stride)
        try:
            if isinstance(p, (list, tuple)):
                lo, hi = pair(p, "padding", self.name, 0)
            else:
                lo = hi = pair(p, "padding", self.name, 0)[0]
        except ShapeError as exc:
            raise ShapeError(exc.message, "give padding as a whole number (each side), [left, right],"
                                          " 'same' or 'valid'") from None
        return (0, 0), (lo, hi)
