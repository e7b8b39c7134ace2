"""Linear algebra and shape ops: ``@``, ``.T``/``transpose``, ``reshape``, ``flatten``, indexing.

``@`` follows NumPy's ``matmul`` per example: matrix·vector (m,n)@(n,) → (m,),
vector·vector → a scalar, vector·matrix and matrix·matrix, stacks broadcast. When a
parameter matrix meets a batch of vectors (``W @ x`` with one ``x`` per example) the
batch is folded into one BLAS matrix product instead of one small product per
example.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from nnlab.engine.blas import SERIAL_MAX, product_threads
from nnlab.engine.ops.base import (Example, Op, Param, ShapeError, align, broadcast_shapes, num, plain, register,
                                   source_index, unbroadcast, whole)
from nnlab.engine.trace import Explanation, Use
from nnlab.numfmt import fmt_index


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.matmul`` that also works on object (exact Fraction) arrays, on as many BLAS
    threads as its size pays for (:mod:`nnlab.engine.blas`)."""
    if (a.dtype is not _F64 or b.dtype is not _F64) and (a.dtype == _OBJECT or b.dtype == _OBJECT):
        return np.matmul(a.astype(object), b.astype(object))
    if a.ndim > 1 and b.ndim > 1:
        work = a.shape[-2] * a.shape[-1] * b.shape[-1]
        if work >= SERIAL_MAX:  # (below, product_threads leaves the BLAS alone: no call for it)
            product_threads(work)
    return np.matmul(a, b)


_OBJECT = np.dtype(object)
_F64 = np.dtype(np.float64)


def _shared(x: np.ndarray) -> bool:
    """True if ``x`` is one matrix for every example (all leading axes have size 1)."""
    return math.prod(x.shape[:-2]) == 1


def product(x: np.ndarray, y: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``x @ y`` over the last two axes, broadcast over the leading ones (batch first,
    ``x`` and ``y`` with the same number of axes), summed down to ``shape`` if given.

    The one way every product of the engine is computed. A matrix shared by every
    example meets the batch in *one* BLAS product: the examples' rows are stacked
    (for a shared ``x`` through ``(yᵀ xᵀ)ᵀ``), and a result summed over the examples
    (the gradient of a shared matrix) contracts them inside that one product.
    """
    n, k = y.shape[-2:]
    if (shape is not None and x.ndim == 3 and x.shape[0] == y.shape[0] > 1
            and math.prod(shape[:-2]) == 1):   # Σₑ xₑ @ yₑ = [x₁ … x_E] @ [y₁; …; y_E]
        return _mm(np.swapaxes(x, 0, 1).reshape(x.shape[1], -1), y.reshape(-1, k)).reshape(shape)
    if _shared(y):                                   # (E, m, n) @ (n, k): the rows stacked
        out = _mm(x.reshape(-1, n), y.reshape(n, k)).reshape(x.shape[:-1] + (k,))
    elif _shared(x):                                 # (m, n) @ (E, n, k) = ((E, k, n) @ (n, m))ᵀ
        out = np.swapaxes(product(np.swapaxes(y, -1, -2), np.swapaxes(x, -1, -2)), -1, -2)
    else:
        out = _mm(x, y)
    return out if shape is None else unbroadcast_sum(out, shape)


def _matrix_vectors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for one matrix ``a`` (1, m, n) and a vector per example ``b`` (E, n): the
    views and the one product that :func:`product` makes for it (so the same bits), without
    its general dispatch. One example: ``W (m, n) @ x (n, 1)``; more: ``X (E, n) @ Wᵀ``."""
    n = b.shape[1]
    if b.shape[0] == 1:  # (the product is fresh and C-contiguous: reshaped to (1, m), the strides of [..., 0])
        return _mm(a.reshape(-1, n), b[..., :, None].reshape(n, 1)).reshape(a.shape[:-1])
    # product() views b as (E, 1, n) → (E, n) and a as (1, n, m) → (n, m): the same strides as b and
    # a[0].T, so the same product; its (E, m) result read back through (E, 1, m) is itself
    return _mm(b, a[0].T)


def _matrix_vectors_backward(a: np.ndarray, b: np.ndarray, g: np.ndarray, need_a: bool,
                             need_b: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The gradients of :func:`_matrix_vectors`, by the views and products :func:`product` makes
    for ``MatMul.backward`` in this case (so the same bits)."""
    m, n = a.shape[1:]
    e = g.shape[0]
    G = g.reshape((e, m, 1))
    ga = gb = None
    if e > 1 and b.shape[0] == e:  # Σₑ gₑ xₑᵀ: the examples contracted inside one product
        if need_a:  # (G's axes swapped to (m, e) and reshaped is a C-contiguous copy of gᵀ; b's views are b)
            ga = _mm(g.T.copy(), b).reshape(a.shape)
        if need_b:
            gb = _mm(G.swapaxes(-1, -2).reshape(-1, m), a.reshape(m, n)).reshape((e, 1, n)).swapaxes(-1, -2)
            gb = gb.reshape(b.shape)
        return ga, gb
    if e == 1 and b.shape[0] == 1:
        # (a product is a fresh C-contiguous array, whose reshape to a.shape = (1, m, n) or
        # b.shape = (1, n) has the same strides however many reshapes lead there)
        if need_a:
            ga = _mm(G.reshape(-1, 1), b[..., :, None].swapaxes(-1, -2).reshape(1, n)).reshape(a.shape)
        if need_b:
            gb = _mm(a.swapaxes(-1, -2).reshape(-1, m), G.reshape(m, 1)).reshape(b.shape)
        return ga, gb
    A, B = a, b[..., :, None]  # one example's vector against several upstream rows: the general way
    ga = product(G, np.swapaxes(B, -1, -2), A.shape).reshape(a.shape) if need_a else None
    gb = product(np.swapaxes(A, -1, -2), G, B.shape).reshape(b.shape) if need_b else None
    return ga, gb


def unbroadcast_sum(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes where ``shape`` (same number of axes) has size 1."""
    if g.shape == shape:
        return g
    axes = tuple(i for i, (a, b) in enumerate(zip(shape, g.shape)) if a == 1 and b != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


@register
class MatMul(Op):
    """``y = a @ b`` (matrix product, per example)."""

    name, symbol = "matmul", "@"
    example = Example("y = W @ v", {"W": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], "v": [1.0, -2.0, 0.5]})
    written = "@"
    signature = (Param("a"), Param("b"))
    formula = "y[i,k] = Σⱼ a[i,j]·b[j,k]"
    rational = True

    def infer(self, sa, sb):
        if len(sa) == 0 or len(sb) == 0:
            raise ShapeError(f"@ needs vectors or matrices, got shapes {tuple(sa)} and {tuple(sb)}",
                             "use * to multiply by a scalar.")
        n_a = sa[-1]
        n_b = sb[0] if len(sb) == 1 else sb[-2]
        if n_a != n_b:
            raise ShapeError(
                f"shapes {tuple(sa)} @ {tuple(sb)} do not match: {n_a} ≠ {n_b} on the inner dimension",
                "for W @ x the columns of W must equal the length of x; maybe a transpose (.T) is missing.")
        if len(sa) == 1 and len(sb) == 1:
            return ()
        if len(sa) == 1:
            return tuple(sb[:-2]) + (sb[-1],)
        if len(sb) == 1:
            return tuple(sa[:-1])
        try:
            stack = np.broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))
        except ValueError:
            raise ShapeError(f"stacked shapes {tuple(sa)} @ {tuple(sb)} do not broadcast") from None
        return tuple(stack) + (sa[-2], sb[-1])

    # a: (Ba, *pa), b: (Bb, *pb). Per-example vectors become matrices, then one product.
    def forward(self, a, b):
        va, vb = a.ndim == 2, b.ndim == 2  # per-example vectors
        self.saved = {"a": a, "b": b}
        if vb:
            if va:  # a dot product: Σⱼ aⱼbⱼ as written (NumPy's pairwise sum, not BLAS)
                return np.add.reduce(a * b, axis=-1)  # (ndarray.sum's own call, without its wrapper)
            if a.ndim == 3 and a.shape[0] == 1:  # W @ x, the layer: what product() does, without its dispatch
                return _matrix_vectors(a, b)
        A, B = self._promote(a, b)
        return self._squeeze(product(A, B), va, vb)

    @staticmethod
    def _squeeze(y, va, vb):
        """Drop the axes :meth:`_promote` added for vectors."""
        if va:
            y = y[..., 0, :]
        if vb:
            y = y[..., 0]
        return y

    @staticmethod
    def _promote(a, b):
        A = a[..., None, :] if a.ndim == 2 else a
        B = b[..., :, None] if b.ndim == 2 else b
        if A.ndim != B.ndim:  # stacks of different depth: size-1 axes after the batch axis
            n = max(A.ndim, B.ndim)
            A = A.reshape((A.shape[0],) + (1,) * (n - A.ndim) + A.shape[1:])
            B = B.reshape((B.shape[0],) + (1,) * (n - B.ndim) + B.shape[1:])
        return A, B

    def backward(self, g):
        a, b = self.saved["a"], self.saved["b"]
        need_a, need_b = self.needs[:2]
        if b.ndim == 2:
            if a.ndim == 2:  # dot product
                gc = g[:, None]
                return (gc * b if need_a else None), (gc * a if need_b else None)
            if a.ndim == 3 and a.shape[0] == 1:
                return _matrix_vectors_backward(a, b, g, need_a, need_b)
        A, B = self._promote(a, b)
        stack = A.shape[1:-2]
        if stack != B.shape[1:-2]:
            stack = np.broadcast_shapes(stack, B.shape[1:-2])
        G = g.reshape((g.shape[0],) + stack + (A.shape[-2], B.shape[-1]))  # vectors' axes back
        ga = product(G, np.swapaxes(B, -1, -2), A.shape).reshape(a.shape) if need_a else None
        gb = product(np.swapaxes(A, -1, -2), G, B.shape).reshape(b.shape) if need_b else None
        return ga, gb

    # -- symbolic
    def symbolic(self, xs, sym, nums=None):
        return sym.matmul(xs[0], xs[1])

    def rule(self, c, sym):
        return self._product_rule(c, sym, bias=False)

    def _product_rule(self, c, sym, bias: bool):
        """``y[i,k] = Σⱼ a[i,j]·b[j,k]`` (``+ c[i,k]`` with ``bias``) and its derivatives."""
        sp = sym.sp
        A, B, Y = sym.IndexedBase(c.names[0]), sym.IndexedBase(c.names[1]), sym.IndexedBase(c.out)
        i, j, k = sym.idx("i"), sym.idx("j"), sym.idx("k")
        sa, sb = c.shapes[0], c.shapes[1]
        n = sa[-1]
        notes = []
        if len(sa) > 2 or len(sb) > 2:
            notes.append("stacked matrices: the rule holds for every matrix of the stack")
        ra, rb = min(len(sa), 2), min(len(sb), 2)
        a_el = A[i, j] if ra == 2 else A[j]
        b_el = B[j, k] if rb == 2 else B[j]
        y_el = {(2, 2): Y[i, k], (2, 1): Y[i], (1, 2): Y[k], (1, 1): sym.symbol(c.out)}[(ra, rb)]
        rhs = sym.Sum(sp.Mul(a_el, b_el, evaluate=False), (j, 0, n - 1))
        c_el = None
        if bias:
            sc = tuple(c.shapes[2])
            if c.consts[2]:
                c_el = c.const_values[2]
            else:
                free = list(y_el.indices) if isinstance(y_el, sp.Indexed) else []
                c_el = sym.IndexedBase(c.names[2])[tuple(free[len(free) - len(sc):])] if sc else sym.symbol(c.names[2])
                if sc and len(sc) < len(free) or any(s == 1 for s in sc):
                    notes.append(f"{c.names[2]} {sc} is broadcast to {tuple(c.out_shape)}: "
                                 f"its gradient sums over the repeated positions")
            rhs = sp.Add(rhs, c_el, evaluate=False)
        ders = []
        if not c.consts[0]:
            ders.append(sym.deriv(c.names[0], 0, y_el, a_el, b_el))
        if not c.consts[1]:
            ders.append(sym.deriv(c.names[1], 1, y_el, b_el, a_el))
        if bias and not c.consts[2]:
            ders.append(sym.deriv(c.names[2], 2, y_el, c_el, 1))
        return sp.Eq(y_el, rhs), tuple(ders), tuple(notes)

    # -- explanations (per-example vectors and matrices)
    def explain(self, index, xs, out, names, out_name, digits):
        a, b = xs
        if a.ndim > 2 or b.ndim > 2:
            return super().explain(index, xs, out, names, out_name, digits)
        rows, cols, inner = self._pairs(index, a.ndim, b.ndim, a.shape[-1])
        terms = [f"{num(a[i], digits)}×{num(b[j], digits)}" for i, j in zip(rows, cols)]
        uses = tuple(Use(0, i) for i in rows) + tuple(Use(1, j, "weight") for j in cols)
        formula = {
            (1, 1): f"{out_name} = Σⱼ {names[0]}[j]·{names[1]}[j]",
            (2, 1): f"{out_name}[i] = Σⱼ {names[0]}[i,j]·{names[1]}[j]",
            (1, 2): f"{out_name}[k] = Σⱼ {names[0]}[j]·{names[1]}[j,k]",
            (2, 2): f"{out_name}[i,k] = Σⱼ {names[0]}[i,j]·{names[1]}[j,k]",
        }[(a.ndim, b.ndim)]
        return Explanation(f"{out_name}{fmt_index(index)}", formula, " + ".join(terms), out[index], uses)

    @staticmethod
    def _pairs(index, na, nb, inner):
        js = range(inner)
        if na == 1 and nb == 1:
            return [(j,) for j in js], [(j,) for j in js], inner
        if na == 2 and nb == 1:
            (i,) = index
            return [(i, j) for j in js], [(j,) for j in js], inner
        if na == 1:
            (k,) = index
            return [(j,) for j in js], [(j, k) for j in js], inner
        i, k = index
        return [(i, j) for j in js], [(j, k) for j in js], inner

    def dependents(self, k, index, out_shape):
        a, b = self.saved["a"], self.saved["b"]
        na, nb = a.ndim - 1, b.ndim - 1
        if na > 2 or nb > 2:
            return None
        if na == 1 and nb == 1:
            return [()]
        if k == 0:
            if na == 1:
                return [(c,) for c in range(out_shape[-1])]
            i = index[0]
            return [(i,)] if nb == 1 else [(i, c) for c in range(out_shape[-1])]
        if nb == 1:
            return [(r,) for r in range(out_shape[0])] if na == 2 else [()]
        kk = index[1]
        return [(kk,)] if na == 1 else [(r, kk) for r in range(out_shape[0])]

    def local(self, k, out_index, in_index):
        a, b = self.saved["a"], self.saved["b"]
        na, nb = a.ndim - 1, b.ndim - 1
        if na > 2 or nb > 2:
            return super().local(k, out_index, in_index)
        ea = out_index[0] if a.shape[0] > 1 else 0
        eb = out_index[0] if b.shape[0] > 1 else 0
        o = out_index[1:]
        i = in_index[1:]
        # Coordinates (row, inner, col) of this output element and the input element.
        row = o[0] if na == 2 else None
        col = (o[-1] if nb == 2 else None)
        if k == 0:
            r_in, j = (i if na == 2 else (None, i[0]))
            if na == 2 and r_in != row:
                return 0.0
            return b[(eb, j) + ((col,) if nb == 2 else ())]
        j, c_in = (i if nb == 2 else (i[0], None))
        if nb == 2 and c_in != col:
            return 0.0
        return a[(ea,) + ((row,) if na == 2 else ()) + (j,)]


@register
class Transpose(Op):
    """``x.T`` / ``transpose(x, axes=None)``: reverse (or permute) the axes."""

    name = "transpose"
    example = Example("y = transpose(x)", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})
    keeps_finite = True
    signature = (Param("x"), Param("axes", tensor=False, default=None))
    formula = "y[j,i] = x[i,j]"
    rational = True

    def _axes(self, n):
        axes = self.params.get("axes")
        if axes is None:
            return tuple(range(n))[::-1]
        if not isinstance(axes, (list, tuple)):
            raise ShapeError(f"axes must be a list in 'transpose', got {axes!r}", "e.g. axes=[1, 0]")
        out = tuple(whole(a, "each of axes", self) for a in axes)
        if any(not -n <= a < n for a in out):
            raise ShapeError(f"axes {list(out)} name an axis a tensor with {n} axes does not have")
        return tuple(a % max(n, 1) for a in out)

    def infer(self, shape):
        axes = self._axes(len(shape))
        if sorted(axes) != list(range(len(shape))):
            raise ShapeError(f"axes {list(axes)} are not a permutation of the {len(shape)} axes of {tuple(shape)}")
        return tuple(shape[a] for a in axes)

    def forward(self, x):
        axes = self._axes(x.ndim - 1)
        self.saved = {"perm": (0,) + tuple(a + 1 for a in axes)}
        return np.transpose(x, self.saved["perm"])

    def backward(self, g):
        return (np.transpose(g, np.argsort(self.saved["perm"])),)

    def symbolic(self, xs, sym, nums=None):
        x = xs[0]
        axes = self.params.get("axes")
        axes = tuple(range(x.ndim))[::-1] if axes is None else tuple(int(a) % max(x.ndim, 1) for a in axes)
        return sym.arr(np.transpose(x, axes))

    def rule(self, c, sym):
        X, Y = sym.IndexedBase(c.names[0]), sym.IndexedBase(c.out)
        shape = c.shapes[0]
        letters = [sym.idx(ch) for ch in "ijklmn"[:len(shape)]]
        if not letters:
            x, y = sym.symbol(c.names[0]), sym.symbol(c.out)
            return sym.sp.Eq(y, x), (sym.deriv(c.names[0], 0, y, x, 1),), ()
        axes = self.params.get("axes")
        axes = list(range(len(shape)))[::-1] if axes is None else [int(a) % len(shape) for a in axes]
        y_el = Y[tuple(letters[a] for a in axes)]
        x_el = X[tuple(letters)]
        return sym.sp.Eq(y_el, x_el), (sym.deriv(c.names[0], 0, y_el, x_el, 1),), \
            ("a transpose only moves elements: each gradient element is routed back unchanged",)

    def explain(self, index, xs, out, names, out_name, digits):
        axes = self._axes(len(index))
        src = [0] * len(index)
        for pos, a in enumerate(axes):
            src[a] = index[pos]
        src = tuple(src)
        return Explanation(f"{out_name}{fmt_index(index)}", self.formula,
                           f"{names[0]}{fmt_index(src)}", out[index], (Use(0, src),))


@register
class Reshape(Op):
    """``reshape(x, shape)`` in row-major (C) order; one entry may be −1."""

    name = "reshape"
    example = Example("y = reshape(x, [3, 2])", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})
    keeps_finite = True
    signature = (Param("x"), Param("shape", tensor=False))
    formula = "same elements, row-major order, new shape"
    rational = True

    def _target(self) -> list[int]:
        """The shape asked for, as written (one entry may be −1)."""
        target = self.params["shape"]
        items = [target] if isinstance(target, (int, float)) else target
        if not isinstance(items, (list, tuple)) or not all(
                isinstance(s, (int, float)) and not isinstance(s, bool) and float(s).is_integer() for s in items):
            raise ShapeError(f"reshape: shape must be a list of whole numbers, got {target!r}", "e.g. shape=[2, 3]")
        if len(items) > 16:
            raise ShapeError(f"reshape: {len(items)} dimensions is more than the 16 nnlab supports")
        return [int(s) for s in items]

    def infer(self, shape):
        return self._resolve(tuple(shape))

    def _resolve(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-example output shape for a per-example input ``shape`` (−1 filled in)."""
        target = self._target()
        size = int(np.prod(shape))
        if target.count(-1) > 1:
            raise ShapeError("reshape: at most one -1 is allowed")
        known = int(np.prod([s for s in target if s != -1])) if target else 1
        if -1 in target:
            if known == 0 or size % known:
                raise ShapeError(f"cannot reshape {tuple(shape)} ({size} elements) to {tuple(target)}")
            target[target.index(-1)] = size // known
        if int(np.prod(target)) != size:
            raise ShapeError(f"cannot reshape {tuple(shape)} ({size} elements) to {tuple(target)}",
                             "the number of elements must stay the same.")
        return tuple(target)

    def forward(self, x):
        self.saved = {"shape": x.shape}
        return x.reshape((x.shape[0],) + self._resolve(x.shape[1:]))

    def symbolic(self, xs, sym, nums=None):
        return sym.arr(xs[0].reshape(self._resolve(xs[0].shape)))

    def rule(self, c, sym):
        x, y = sym.symbol(c.names[0]), sym.symbol(c.out)
        shape = self._resolve(tuple(c.shapes[0]))
        fwd = sym.sp.Eq(y, sym.sp.Function("reshape")(x, sym.sp.Tuple(*shape)))
        return fwd, (sym.deriv(c.names[0], 0, sym.symbol(f"{c.out}[k]"), sym.symbol(f"{c.names[0]}[unravel(k)]"), 1),), \
            (f"same elements in row-major order, new shape {shape}; gradients are routed back unchanged",)

    def backward(self, g):
        return (g.reshape(self.saved["shape"]),)

    def explain(self, index, xs, out, names, out_name, digits):
        flat = int(np.ravel_multi_index(index, out.shape)) if index else 0
        src = tuple(int(i) for i in np.unravel_index(flat, xs[0].shape)) if xs[0].ndim else ()
        return Explanation(f"{out_name}{fmt_index(index)}", self.formula,
                           f"{names[0]}{fmt_index(src)}", out[index], (Use(0, src),))

    def describe(self):
        return f"shape={list(self.params['shape']) if not isinstance(self.params['shape'], int) else self.params['shape']}"


@register
class Flatten(Reshape):
    """``flatten(x)``: all elements in row-major order as a vector."""

    name = "flatten"
    example = Example("y = flatten(x)", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})
    signature = (Param("x"),)
    formula = "y = x in row-major order"

    def _target(self):
        return [-1]

    def describe(self):
        return ""


@register
class Index(Op):
    """``x[i, j]`` and slices ``x[0:2, :]`` (static indices, per example)."""

    name = "index"
    example = Example("y = x[1, 0:2]", {"x": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]]})
    written = "x[i, j]"
    keeps_finite = True
    signature = (Param("x"), Param("key", tensor=False))
    formula = "y = x[key]"
    rational = True

    def infer(self, shape):
        key = tuple(self.params["key"])
        if len(key) > len(shape):
            raise ShapeError(f"too many indices ({len(key)}) for a tensor of shape {tuple(shape)}")
        for k, n in zip(key, shape):
            if isinstance(k, slice) and k.step == 0:
                raise ShapeError("a slice step cannot be 0", "e.g. x[::2] takes every other element, x[::-1] reverses.")
            if isinstance(k, int) and not -n <= k < n:
                raise ShapeError(f"index {k} is out of range for an axis of length {n} (shape {tuple(shape)})",
                                 "indices start at 0; the last element is n-1 (or -1).")
        return np.empty(shape, dtype=np.int8)[key].shape

    def forward(self, x):
        self.saved = {"shape": x.shape, "dtype": x.dtype}
        return x[(slice(None),) + tuple(self.params["key"])]

    def backward(self, g):
        out = np.zeros(self.saved["shape"], dtype=g.dtype if g.dtype != object else object)
        if out.dtype == object:
            out[...] = 0
        out[(slice(None),) + tuple(self.params["key"])] = g
        return (out,)

    def symbolic(self, xs, sym, nums=None):
        return sym.arr(xs[0][tuple(self.params["key"])])

    def rule(self, c, sym):
        y = sym.symbol(c.out)
        selected = sym.symbol(f"{c.names[0]}{self.describe()}")
        return sym.sp.Eq(y, selected), (sym.deriv(c.names[0], 0, y, selected, 1),), \
            ("elements not selected get gradient 0",)

    def source(self, index, shape):
        """Index into ``x`` of output element ``index``."""
        src, it = [], iter(index)
        key = tuple(self.params["key"]) + (slice(None),) * (len(shape) - len(self.params["key"]))
        for k, n in zip(key, shape):
            if isinstance(k, int):
                src.append(k % n)
            else:
                start, _, step = k.indices(n)
                src.append(start + next(it) * step)
        return tuple(src)

    def explain(self, index, xs, out, names, out_name, digits):
        src = self.source(index, xs[0].shape)
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name} = {names[0]}[key]",
                           f"{names[0]}{fmt_index(src)}", out[index], (Use(0, src),))

    def describe(self):
        from nnlab.scenario.expr import key_text

        return "[" + ", ".join(key_text(k) for k in self.params["key"]) + "]"


@register
class Affine(MatMul):
    """``y = a @ b + c``: a layer's weighted sum and bias as one step, the way it is written.

    ``z1 = W1 @ x + b1`` becomes one step whose element reads
    ``z1[0] = 0.1×1 + (−0.2)×2 + 0 = −0.3`` — the line a student writes — and whose
    backward gives ∂L/∂W1, ∂L/∂x and ∂L/∂b1 from ∂L/∂z1 directly.
    """

    name, symbol = "affine", "@+"
    example = Example("y = W @ v + b", {"W": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], "v": [1.0, -2.0, 0.5],
                                    "b": [0.1, -0.2]})
    written = "@"
    signature = (Param("a"), Param("b"), Param("c"))
    formula = "y[i] = Σⱼ a[i,j]·b[j] + c[i]"

    def infer(self, sa, sb, sc):
        return broadcast_shapes(self, MatMul.infer(self, sa, sb), sc)

    def forward(self, a, b, c):
        m = MatMul.forward(self, a, b)
        saved = self.saved
        ms, cs = saved["m_shape"], saved["c_shape"] = m.shape, c.shape
        if (m.dtype is c.dtype is _F64 or m.dtype == c.dtype != _OBJECT) and (
                cs == ms or len(cs) == len(ms) and (cs[0] == 1 and cs[1:] == ms[1:]  # one bias for every example
                                                    or all(k == 1 or k == n for k, n in zip(cs, ms)))):
            m += c  # the product is a fresh array: add the bias in place (decided cheaply: the common case)
            return m
        m2, c2 = align(m, c)
        if m2.shape == np.broadcast_shapes(m2.shape, c2.shape) and m2.dtype == np.result_type(m2, c2):
            m2 += c2  # the product is a fresh array: add the bias in place
            return m2
        return m2 + c2

    def backward(self, g):
        m_shape = self.saved["m_shape"]
        ga, gb = MatMul.backward(self, g if g.shape == m_shape else unbroadcast(g, m_shape))
        return ga, gb, g

    def symbolic(self, xs, sym, nums=None):
        return sym.binary(lambda m, c: m + c, sym.matmul(xs[0], xs[1]), xs[2])

    def rule(self, c, sym):
        return self._product_rule(c, sym, bias=True)

    def _plain(self) -> bool:
        """True when the bias does not broadcast the product to a larger shape."""
        m, out = self.saved["m_shape"][1:], self.out_shape[1:]
        return tuple(m) == tuple(out)

    def explain(self, index, xs, out, names, out_name, digits):
        a, b, c = xs
        ic = source_index(index, np.shape(c))
        if a.ndim > 2 or b.ndim > 2 or np.shape(out) != np.broadcast_shapes(np.shape(out), np.shape(c)) \
                or np.shape(out) != a.shape[:-1] + b.shape[1:] or len(index) != max(a.ndim + b.ndim - 2, 0):
            # (the last but one: a bias that broadcasts the product to a larger shape, W (1,1) @ x (1,) + b (3,))
            return Op.explain(self, index, xs, out, names, out_name, digits)
        prod = MatMul.explain(self, index, [a, b], out, names[:2], out_name, digits)
        formula = prod.formula + f" + {names[2]}" + ("[i]" if np.ndim(c) else "")
        return Explanation(prod.lhs, formula, f"{prod.arithmetic} + {num(c[ic], digits)}", out[index],
                           prod.uses + (Use(2, ic),))

    def dependents(self, k, index, out_shape):
        if k < 2:
            return MatMul.dependents(self, k, index, out_shape) if self._plain() else None
        c_pe = self.saved["c_shape"][1:]
        return [tuple(index)] if tuple(c_pe) == tuple(out_shape) else None

    def local(self, k, out_index, in_index):
        if k < 2 and self._plain():
            return MatMul.local(self, k, out_index, in_index)
        if k == 2 and tuple(self.saved["c_shape"][1:]) == tuple(self.out_shape[1:]):
            return 1.0 if tuple(out_index[1:]) == tuple(in_index[1:]) else 0.0
        return Op.local(self, k, out_index, in_index)


@register
class AttentionScores(Op):
    """``r[i,j] = ⟨q_i, k_j⟩ · s`` — the lecture's attention scores as one step.

    ``scale=None`` (the default) is ``s = 1/√d`` (scaled dot-product attention, PyTorch's
    ``scaled_dot_product_attention``); any other number is used as written, so ``scale=1``
    gives the unscaled scores ``QKᵀ``. Computed as ``(Q·s) @ Kᵀ`` so the scaling touches
    the small ``T×d`` matrix, not the ``T×S`` scores.
    """

    name = "attention_scores"
    example = Example("y = attention(Q, K, V)", {"Q": [[0.5, -1.0], [1.5, 0.25]], "K": [[1.0, 0.5], [-0.5, 2.0]],
                                               "V": [[0.5, 1.0], [2.0, -1.0]]})
    written = "attention"
    signature = (Param("Q"), Param("K"), Param("scale", tensor=False, default=None))
    formula = "r[i,j] = ⟨q_i, k_j⟩ · scale  (scale = 1/√d unless given)"

    def _scale(self, d: int) -> float:
        """The factor on every dot product: ``scale`` as written, or 1/√d."""
        scale = self.params.get("scale")
        if scale is None:
            return 1.0 / np.sqrt(d)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ShapeError(f"scale must be a positive number in 'attention', got {scale!r}",
                             "leave it out for 1/√d_k, or scale=1 for unscaled scores.")
        return float(scale)

    def infer(self, sq, sk):
        if sq is None or sk is None:
            missing = " and ".join(n for n, s in (("Q", sq), ("K", sk)) if s is None)
            raise ShapeError(f"attention needs {missing}, got None",
                             "attention(Q, K, V): Q and K have one row per token and d columns.")
        if len(sq) != 2 or len(sk) != 2 or sq[-1] != sk[-1]:
            raise ShapeError(f"attention needs Q (queries × d) and K (keys × d) with the same d, got "
                             f"{tuple(sq)} and {tuple(sk)}", "Q and K have one row per token and d columns.")
        self._scale(sq[-1])
        return (sq[0], sk[0])

    def forward(self, q, k):
        s = self._scale(q.shape[-1])
        qs = q * s
        self.saved = {"qs": qs, "k": k, "s": s}
        return product(qs, np.swapaxes(k, -1, -2))

    def backward(self, g):
        qs, k, s = self.saved["qs"], self.saved["k"], self.saved["s"]
        need_q, need_k = self.needs[:2]
        gq = product(g, k, qs.shape) * s if need_q else None
        gk = product(np.swapaxes(g, -1, -2), qs, k.shape) if need_k else None
        return gq, gk

    def _sym_scale(self, d: int, sym, shown: bool = False):
        """The scale as an exact sympy number (1/√d as ``1/√d``; ``shown``: √d as one symbol, not rationalized)."""
        scale = self.params.get("scale")
        if scale is None:
            return 1 / (sym.sp.Symbol(f"√{d}", positive=True) if shown else sym.sp.sqrt(d))
        return sym.number(Fraction(str(self._scale(d))))  # 0.1 as 1/10, as written

    def symbolic(self, xs, sym, nums=None):
        q, k = xs
        d = q.shape[-1]
        scores = sym.matmul(q, np.transpose(k))
        return sym.arr(scores * self._sym_scale(d, sym)) if d else scores

    def rule(self, c, sym):
        Q, K, R = sym.IndexedBase(c.names[0]), sym.IndexedBase(c.names[1]), sym.IndexedBase(c.out)
        i, j, k = sym.idx("i"), sym.idx("j"), sym.idx("k")
        d = c.shapes[0][-1]
        s = self._sym_scale(d, sym, shown=True)
        fwd = sym.sp.Eq(R[i, j], sym.Sum(sym.sp.Mul(Q[i, k], K[j, k], evaluate=False), (k, 0, d - 1)) * s)
        ders = []
        if not c.consts[0]:
            ders.append(sym.deriv(c.names[0], 0, R[i, j], Q[i, k], K[j, k] * s))
        if not c.consts[1]:
            ders.append(sym.deriv(c.names[1], 1, R[i, j], K[j, k], Q[i, k] * s))
        if self.params.get("scale") is None:
            note = f"scaled dot products: d = {d}, so every score is divided by √{d}"
        else:
            note = f"scale = {self.params['scale']} as given (the default would be 1/√{d})"
        return fwd, tuple(ders), (note,)

    def explain(self, index, xs, out, names, out_name, digits):
        q, k = xs
        i, j = index
        d = q.shape[-1]
        terms = " + ".join(f"{num(q[i, c], digits)}×{num(k[j, c], digits)}" for c in range(d))
        uses = tuple(Use(0, (i, c)) for c in range(d)) + tuple(Use(1, (j, c), "weight") for c in range(d))
        scale = self.params.get("scale")
        if scale is None:
            formula, arithmetic = f"⟨{names[0]}[i], {names[1]}[j]⟩ / √d,  d = {d}", f"({terms}) / √{d}"
        elif scale == 1:
            formula, arithmetic = f"⟨{names[0]}[i], {names[1]}[j]⟩  (unscaled)", terms
        else:
            formula, arithmetic = f"⟨{names[0]}[i], {names[1]}[j]⟩ · {plain(scale, digits)}", \
                f"({terms}) × {num(scale, digits)}"
        return Explanation(f"{out_name}{fmt_index(index)}", f"{out_name}[i,j] = {formula}", arithmetic, out[index],
                           uses)

    def describe(self):
        scale = self.params.get("scale")
        return "" if scale is None else f"scale={scale}"

    def dependents(self, k, index, out_shape):
        if k == 0:
            return [(index[0], j) for j in range(out_shape[1])]
        return [(i, index[0]) for i in range(out_shape[0])]

    def local(self, k, out_index, in_index):
        e, i, j = out_index
        c = in_index[-1]
        qs, kk, s = self.saved["qs"], self.saved["k"], self.saved["s"]
        if k == 0:
            return kk[(e if kk.shape[0] > 1 else 0, j, c)] * s if in_index[1] == i else 0.0
        return qs[(e if qs.shape[0] > 1 else 0, i, c)] if in_index[1] == j else 0.0
