"""Each step's rule as sympy objects: the forward formula and the local derivatives.

``step_rule(run, step)`` is what ``nnlab run --symbolic`` prints beside a step and
what the lab shows in its formula panel: for ``a1 = sigmoid(z1)``

    a1 = σ(z1)
    ∂a1/∂z1 = σ(z1)·(1 − σ(z1)) = a1·(1 − a1)

written with the step's own names. Elementwise rules are derived by sympy
(``diff`` of the forward, then rewritten with the output where the lecture does
so); rules over indices (matrix product, softmax, convolution, pooling, reductions)
are written with :class:`sympy.Indexed` and the step's actual sizes, stride and
padding. Every rule also carries the first output element written out and
differentiated by sympy (``element``), which ties the index form to numbers of
terms a student can count.

Conventions are the engine's and are stated in :attr:`SymbolicRule.notes`
(``relu'(0) = 0``, max routes to the first maximum, BCE's clamped logs…).
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from sympy import Idx, IndexedBase, KroneckerDelta, Sum

from nnlab.numfmt import fmt_index
from nnlab.symbolic.expand import const_array
from nnlab.symbolic.functions import softplus
from nnlab.symbolic.ops import NoSymbolicForm, arr, forward
from nnlab.symbolic.printing import SUBSCRIPT, latex, unicode
from nnlab.symbolic.printing import tidy as _tidy

MAX_ELEMENT_DERIVATIVES = 4


@dataclass(frozen=True)
class LocalDerivative:
    """One local derivative ``∂of/∂wrt`` of a step.

    Attributes:
        input: Display name of the input (``"z1"``, ``"(W1 @ x)"``).
        slot: Which input of the op (0-based).
        of: The output (element) differentiated, a sympy object.
        wrt: The input (element) it is differentiated by.
        expr: The derivative in terms of the inputs.
        in_output: The same written with the output (``a1·(1 − a1)``), or None.
        unicode: ``"∂a1/∂z1 = σ(z1)·(1 − σ(z1)) = a1·(1 − a1)"``.
        latex: The same in LaTeX.
    """

    input: str
    slot: int
    of: Any
    wrt: Any
    expr: Any
    in_output: Any
    unicode: str
    latex: str


@dataclass(frozen=True)
class SymbolicRule:
    """The symbolic rule of one step.

    Attributes:
        step: The step's index in the trace.
        phase: ``"forward"`` or ``"backward"``.
        node: The node id.
        op: The op name.
        forward: ``Eq(output, formula)`` in the step's names (indexed where it matters).
        derivatives: One :class:`LocalDerivative` per differentiable input.
        notes: Conventions worth saying (``relu'(0) = 0`` …).
        element: The first output element written out, ``Eq(y[0], …)``, or None.
        element_derivatives: sympy's derivatives of that element (a few).
        backward: For backward steps, the chain-rule line ``∂loss/∂z1 = ∂loss/∂a1 · ∂a1/∂z1``.
        unicode: Everything above as Unicode lines.
        latex: The same as LaTeX lines.
    """

    step: int
    phase: str
    node: str
    op: str
    forward: Any
    derivatives: tuple[LocalDerivative, ...]
    notes: tuple[str, ...] = ()
    element: Any = None
    element_derivatives: tuple[LocalDerivative, ...] = ()
    backward: str = ""
    unicode: str = ""
    latex: str = ""

    @property
    def lines(self) -> list[str]:
        """``unicode`` split into lines."""
        return self.unicode.splitlines()


# ------------------------------------------------------------------------ helpers


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def _deriv(input_name: str, slot: int, of: Any, wrt: Any, expr: Any, in_output: Any = None) -> LocalDerivative:
    expr = _tidy(expr)
    if in_output is not None:
        in_output = sp.sympify(in_output)
        if in_output == expr:
            in_output = None
    head_u = f"∂{unicode(of)}/∂{unicode(wrt)}"
    head_l = rf"\frac{{\partial {latex(of)}}}{{\partial {latex(wrt)}}}"
    text = f"{head_u} = {unicode(expr)}" + (f" = {unicode(in_output)}" if in_output is not None else "")
    tex = f"{head_l} = {latex(expr)}" + (f" = {latex(in_output)}" if in_output is not None else "")
    return LocalDerivative(input_name, slot, of, wrt, expr, in_output, text, tex)


def _idx(name: str) -> Idx:
    return Idx(name)


@dataclass
class _Ctx:
    """What a rule builder needs: names, per-example shapes and static params."""

    out: str
    names: list[str | None]
    shapes: list[tuple[int, ...] | None]
    out_shape: tuple[int, ...]
    params: dict
    op: Any
    consts: list[bool]
    const_values: list[Any]


# ----------------------------------------------------------------- elementwise

_UNARY_NOTES = {
    "relu": "relu'(0) = 0 (PyTorch's convention)",
    "step": "step is flat: its derivative is taken as 0 (undefined at 0)",
    "abs": "|x|' = sign(x), and 0 at x = 0",
    "sigmoid": "σ'(x) = σ(x)(1 − σ(x)): the derivative is written with the output",
}


def _unary(c: _Ctx):
    x, y = _sym(c.names[0]), _sym(c.out)
    fx = forward(c.op, [arr(x)])[()]
    d = sp.diff(fx, x)
    in_out = d.xreplace({fx: y}) if not fx.is_Atom else None
    notes = tuple(n for k, n in _UNARY_NOTES.items() if k == c.op.name)
    return sp.Eq(y, fx), (_deriv(c.names[0], 0, y, x, d, in_out),), notes


def _binary(c: _Ctx):
    y = _sym(c.out)
    a, b = (c.const_values[k] if c.consts[k] else _sym(c.names[k]) for k in (0, 1))
    f = forward(c.op, [arr(a), arr(b)])[()]
    ders = []
    for slot, s in enumerate((a, b)):
        if c.consts[slot]:
            continue
        d = sp.diff(f, s)
        in_out = d.xreplace({f: y}) if c.op.name == "pow" and not f.is_Atom else None
        ders.append(_deriv(c.names[slot], slot, y, s, d, in_out))
    notes = []
    for slot in (0, 1):
        if not c.consts[slot] and tuple(c.shapes[slot]) != tuple(c.out_shape):
            notes.append(f"{c.names[slot]} {tuple(c.shapes[slot])} is broadcast to {tuple(c.out_shape)}: "
                         f"its gradient sums over the repeated positions")
    if c.op.name == "pow" and not c.consts[1]:
        notes.append("∂/∂b is taken as 0 where a ≤ 0 (ln a is undefined there)")
    return sp.Eq(y, f), tuple(ders), tuple(notes)


# ---------------------------------------------------------------------- linalg


def _matmul(c: _Ctx):
    A, B, Y = IndexedBase(c.names[0]), IndexedBase(c.names[1]), IndexedBase(c.out)
    affine = c.op.name == "affine"
    i, j, k = _idx("i"), _idx("j"), _idx("k")
    sa, sb = c.shapes[0], c.shapes[1]
    n = sa[-1]
    notes = []
    if len(sa) > 2 or len(sb) > 2:
        notes.append("stacked matrices: the rule holds for every matrix of the stack")
    ra, rb = min(len(sa), 2), min(len(sb), 2)
    a_el = A[i, j] if ra == 2 else A[j]
    b_el = B[j, k] if rb == 2 else B[j]
    y_el = {(2, 2): Y[i, k], (2, 1): Y[i], (1, 2): Y[k], (1, 1): _sym(c.out)}[(ra, rb)]
    rhs = Sum(sp.Mul(a_el, b_el, evaluate=False), (j, 0, n - 1))
    c_el = None
    if affine:
        sc = tuple(c.shapes[2])
        if c.consts[2]:
            c_el = c.const_values[2]
        else:
            free = [ix for ix in (y_el.indices if isinstance(y_el, sp.Indexed) else ())]
            c_el = IndexedBase(c.names[2])[tuple(free[len(free) - len(sc):])] if sc else _sym(c.names[2])
            if sc and len(sc) < len(free) or any(s == 1 for s in sc):
                notes.append(f"{c.names[2]} {sc} is broadcast to {tuple(c.out_shape)}: "
                             f"its gradient sums over the repeated positions")
        rhs = sp.Add(rhs, c_el, evaluate=False)
    fwd = sp.Eq(y_el, rhs)
    ders = []
    if not c.consts[0]:
        ders.append(_deriv(c.names[0], 0, y_el, a_el, b_el))
    if not c.consts[1]:
        ders.append(_deriv(c.names[1], 1, y_el, b_el, a_el))
    if affine and not c.consts[2]:
        ders.append(_deriv(c.names[2], 2, y_el, c_el, 1))
    return fwd, tuple(ders), tuple(notes)


def _attention_scores(c: _Ctx):
    Q, K, R = IndexedBase(c.names[0]), IndexedBase(c.names[1]), IndexedBase(c.out)
    i, j, k = _idx("i"), _idx("j"), _idx("k")
    d = c.shapes[0][-1]
    root = sp.Symbol(f"√{d}", positive=True)  # shown as written, not rationalized to √d·…/d
    fwd = sp.Eq(R[i, j], Sum(sp.Mul(Q[i, k], K[j, k], evaluate=False), (k, 0, d - 1)) / root)
    ders = []
    if not c.consts[0]:
        ders.append(_deriv(c.names[0], 0, R[i, j], Q[i, k], K[j, k] / root))
    if not c.consts[1]:
        ders.append(_deriv(c.names[1], 1, R[i, j], K[j, k], Q[i, k] / root))
    return fwd, tuple(ders), (f"scaled dot products: d = {d}, so every score is divided by √{d}",)


def _permute(c: _Ctx):
    X, Y = IndexedBase(c.names[0]), IndexedBase(c.out)
    shape = c.shapes[0]
    letters = [_idx(ch) for ch in "ijklmn"[:len(shape)]]
    if not letters:
        x, y = _sym(c.names[0]), _sym(c.out)
        return sp.Eq(y, x), (_deriv(c.names[0], 0, y, x, 1),), ()
    axes = c.params.get("axes")
    axes = list(range(len(shape)))[::-1] if axes is None else [int(a) % len(shape) for a in axes]
    y_el = Y[tuple(letters[a] for a in axes)]
    x_el = X[tuple(letters)]
    return sp.Eq(y_el, x_el), (_deriv(c.names[0], 0, y_el, x_el, 1),), \
        ("a transpose only moves elements: each gradient element is routed back unchanged",)


def _reshape(c: _Ctx):
    x, y = _sym(c.names[0]), _sym(c.out)
    shape = tuple(c.params.get("resolved", c.out_shape))
    fwd = sp.Eq(y, sp.Function("reshape")(x, sp.Tuple(*shape)))
    return fwd, (_deriv(c.names[0], 0, _sym(f"{c.out}[k]"), _sym(f"{c.names[0]}[unravel(k)]"), 1),), \
        (f"same elements in row-major order, new shape {shape}; gradients are routed back unchanged",)


def _index(c: _Ctx):
    from nnlab.scenario.expr import key_text

    key = ", ".join(key_text(k) for k in c.params["key"])
    y = _sym(c.out)
    sel = _sym(f"{c.names[0]}[{key}]")
    return sp.Eq(y, sel), (_deriv(c.names[0], 0, y, sel, 1),), \
        ("elements not selected get gradient 0",)


# --------------------------------------------------------------------- reductions


def _n_reduced(c: _Ctx) -> int:
    return int(np.prod(c.shapes[0])) // max(1, int(np.prod(c.out_shape)))


def _reduce(c: _Ctx):
    X = IndexedBase(c.names[0])
    i = _idx("i")
    n = _n_reduced(c)
    y = _sym(c.out)
    axis = c.params.get("axis")
    notes = [] if axis is None else [f"over axis {axis}: one result per remaining position"]
    xi = X[i]
    name = c.op.name
    if name == "sum":
        fwd, d = Sum(xi, (i, 0, n - 1)), sp.S.One
    elif name == "mean":
        fwd, d = Sum(xi, (i, 0, n - 1)) / n, sp.Rational(1, n)
    elif name == "prod":
        fwd = sp.Product(xi, (i, 0, n - 1))
        d = _sym(f"Π_(j≠i) {c.names[0]}[j]")
        notes.append("∂y/∂xᵢ is the product of the *other* elements (computed without dividing, so zeros work)")
    else:  # max
        fwd = sp.Function("max")(xi)
        d = _sym(f"[{c.names[0]}[i] is the first maximum]")
        notes.append("the whole gradient goes to the first maximum (row-major) when elements tie")
    return sp.Eq(y, fwd), (_deriv(c.names[0], 0, y, xi, d),), tuple(notes)


def _softmax(c: _Ctx, log: bool):
    X, P = IndexedBase(c.names[0]), IndexedBase(c.out)
    i, j = _idx("i"), _idx("j")
    n = c.shapes[0][int(c.params.get("axis", -1))]
    denom = Sum(sp.exp(X[j]), (j, 0, n - 1))
    notes = []
    if c.params.get("axis", -1) != -1:
        notes.append(f"along axis {c.params['axis']}")
    if c.params.get("mask") == "causal":
        notes.append("causal mask: keys after the query are left out of the sum; their weight is exactly 0")
    if log:
        fwd = sp.Eq(P[i], X[i] - sp.log(denom))
        d = KroneckerDelta(i, j) - IndexedBase(f"softmax({c.names[0]})")[j]
        return fwd, (_deriv(c.names[0], 0, P[i], X[j], d),), tuple(notes)
    fwd = sp.Eq(P[i], sp.exp(X[i]) / denom)
    d = P[i] * (KroneckerDelta(i, j) - P[j])
    return fwd, (_deriv(c.names[0], 0, P[i], X[j], d),), tuple(notes)


# ------------------------------------------------------------------------ losses


def _loss(c: _Ctx):
    r = c.params.get("reduction", "mean")
    shape = tuple(np.broadcast_shapes(c.shapes[0], c.shapes[1]))
    n = int(np.prod(shape))
    i = _idx("i")

    def el(k: int):
        if c.consts[k]:
            return c.const_values[k]
        return IndexedBase(c.names[k])[i] if c.shapes[k] and n > 1 else _sym(c.names[k])

    a, b = el(0), el(1)
    name = c.op.name
    if name == "bce":
        term = -(b * sp.log(a) + (1 - b) * sp.log(1 - a))
        notes = ["logs are clamped at −100 (PyTorch), so p = 0 or 1 gives a finite loss",
                 "with ŷ = σ(z) the chain collapses: ∂ℓ/∂z = ŷ − y"]
    elif name == "bce_logits":
        term = softplus(a) - a * b
        notes = ["= bce(σ(z), y), computed stably; ∂ℓ/∂z = σ(z) − y in one step"]
    else:
        term = (a - b) ** 2
        notes = ["no ½ in front (PyTorch's mse)"]
    scale = sp.Rational(1, n) if r == "mean" and n > 1 else sp.S.One
    if r == "none" or n == 1:
        lhs = IndexedBase(c.out)[i] if r == "none" and n > 1 else _sym(c.out)
        fwd = sp.Eq(lhs, term)
    else:
        lhs = _sym(c.out)
        fwd = sp.Eq(lhs, scale * Sum(term, (i, 0, n - 1)))
        notes.append(f"reduction={r!r} over {n} elements")
    ders = []
    for slot, s in enumerate((a, b)):
        if c.consts[slot]:
            continue
        ders.append(_deriv(c.names[slot], slot, lhs, s, _tidy(scale * sp.diff(term, s))))
    return fwd, tuple(ders), tuple(notes)


def _cross_entropy(c: _Ctx):
    Z = IndexedBase(c.names[0])
    k, j = _idx("k"), _idx("j")
    K = c.shapes[0][-1]
    p = IndexedBase(f"softmax({c.names[0]})")
    kind = c.params.get("_kind")
    t = IndexedBase(c.names[1]) if kind == "prob" else IndexedBase(f"onehot({c.names[1]})")
    rows = int(np.prod(c.shapes[0][:-1]))
    r = c.params.get("reduction", "mean")
    scale = sp.Rational(1, rows) if r == "mean" and rows > 1 else sp.S.One
    ell = _sym(c.out)
    logp = Z[k] - sp.log(Sum(sp.exp(Z[j]), (j, 0, K - 1)))
    fwd = sp.Eq(ell, -scale * Sum(t[k] * logp, (k, 0, K - 1)))
    notes = ["softmax + cross-entropy → p − onehot: the softmax is inside the op (PyTorch)"]
    if kind == "prob":
        ders = [_deriv(c.names[0], 0, ell, Z[k], scale * (p[k] * Sum(t[j], (j, 0, K - 1)) - t[k]))]
        notes.append("probability targets: ∂ℓ/∂zₖ = pₖ·Σⱼ tⱼ − tₖ, which is p − t when each target row sums to 1")
        if not c.consts[1]:
            ders.append(_deriv(c.names[1], 1, ell, t[k], -scale * sp.log(p[k])))
    else:
        ders = [_deriv(c.names[0], 0, ell, Z[k], scale * (p[k] - t[k]))]
    if rows > 1:
        notes.append(f"{rows} rows, reduction={r!r}")
    return fwd, tuple(ders), tuple(notes)


# ------------------------------------------------------------------ conv / pool


def _window_text(c: _Ctx, conv: bool):
    from nnlab.symbolic.ops import _window

    shape = c.shapes[0]
    k_hw = tuple(c.shapes[1][-2:]) if conv else None
    return _window(c.op.name, c.params, shape[-2:], k_hw, conv)


def _conv(c: _Ctx):
    win = _window_text(c, conv=True)
    X, K, Y = IndexedBase(c.names[0]), IndexedBase(c.names[1]), IndexedBase(c.out)
    i, j, a, b, ch, f = (_idx(n) for n in ("i", "j", "a", "b", "c", "f"))
    (sh, sw), ((t, _), (lft, _)) = win.stride, win.pads
    (kh, kw) = win.size
    row, col = sh * i + a - t, sw * j + b - lft
    xs, ks = c.shapes[0], c.shapes[1]
    multi = len(xs) == 3
    x_el = X[ch, row, col] if multi else X[row, col]
    k_el = {2: K[a, b], 3: K[ch, a, b], 4: K[f, ch, a, b]}[len(ks)]
    y_el = Y[f, i, j] if len(ks) == 4 else Y[i, j]
    body = x_el * k_el
    s = Sum(body, (a, 0, kh - 1), (b, 0, kw - 1))
    if multi:
        s = Sum(s, (ch, 0, xs[0] - 1))
    has_b = len(c.names) > 2 and c.names[2] is not None
    bias = None
    if has_b:
        bias = IndexedBase(c.names[2])[f] if len(ks) == 4 else _sym(c.names[2])
        s = s + bias
    r, q = _idx("r"), _idx("q")
    xin = X[ch, r, q] if multi else X[r, q]
    kin = {2: K[r - sh * i + t, q - sw * j + lft], 3: K[ch, r - sh * i + t, q - sw * j + lft],
           4: K[f, ch, r - sh * i + t, q - sw * j + lft]}[len(ks)]
    ders = []
    if not c.consts[0]:
        ders.append(_deriv(c.names[0], 0, y_el, xin, kin))
    if not c.consts[1]:
        ders.append(_deriv(c.names[1], 1, y_el, k_el, x_el))
    if has_b and not c.consts[2]:
        ders.append(_deriv(c.names[2], 2, y_el, bias, 1))
    notes = ["cross-correlation (no kernel flip), like PyTorch and the lecture"]
    if (t, lft) != (0, 0):
        notes.append("padding cells are 0: terms that land on them vanish")
    notes.append("∂Y/∂X is 0 where the kernel index falls outside the kernel")
    return sp.Eq(y_el, s), tuple(ders), tuple(notes)


def _pool(c: _Ctx):
    win = _window_text(c, conv=False)
    X, Y = IndexedBase(c.names[0]), IndexedBase(c.out)
    i, j, a, b, ch = (_idx(n) for n in ("i", "j", "a", "b", "c"))
    (sh, sw), ((t, _), (lft, _)), (kh, kw) = win.stride, win.pads, win.size
    multi = len(c.shapes[0]) == 3
    x_el = X[ch, sh * i + a - t, sw * j + b - lft] if multi else X[sh * i + a - t, sw * j + b - lft]
    y_el = Y[ch, i, j] if multi else Y[i, j]
    r, q = _idx("r"), _idx("q")
    xin = X[ch, r, q] if multi else X[r, q]
    if c.op.name == "maxpool2d":
        fwd = sp.Eq(y_el, sp.Function("max")(x_el))
        d = _sym(f"[{unicode(xin)} is the first maximum of window ({unicode(i)},{unicode(j)})]")
        notes = ["the gradient goes only to the window's maximum (the first in row-major order on ties)",
                 "padding is −∞ and never wins"]
    else:
        div = kh * kw
        fwd = sp.Eq(y_el, Sum(x_el, (a, 0, kh - 1), (b, 0, kw - 1)) / div)
        d = sp.Rational(1, div)
        notes = ["every cell of the window gets 1/(kh·kw) of the gradient"]
        if not c.params.get("count_include_pad", True):
            notes = ["count_include_pad=False: divide by the number of real (non-padding) cells"]
    return fwd, (_deriv(c.names[0], 0, y_el, xin, d),), tuple(notes)


_BUILDERS = {
    **{n: _unary for n in ("neg", "exp", "log", "sqrt", "abs", "sigmoid", "tanh", "relu", "step")},
    **{n: _binary for n in ("add", "sub", "mul", "div", "pow")},
    "matmul": _matmul, "affine": _matmul, "attention_scores": _attention_scores, "transpose": _permute, "reshape": _reshape, "flatten": _reshape, "index": _index,
    "sum": _reduce, "mean": _reduce, "prod": _reduce, "max": _reduce,
    "softmax": lambda c: _softmax(c, False), "log_softmax": lambda c: _softmax(c, True),
    "bce": _loss, "bce_logits": _loss, "mse": _loss, "cross_entropy": _cross_entropy,
    "conv2d": _conv, "maxpool2d": _pool, "avgpool2d": _pool,
}


# ------------------------------------------------------------- element written out


ELEMENT_LIMIT = 400
"""Largest number of input plus output elements for which ``element`` is written out."""


def _element(run: Any, nid: str, names: list[str | None]):
    """The first output element in input element symbols, and sympy's derivatives of it."""
    g = run.graph
    node = g.nodes[nid]
    size = int(np.prod(node.shape)) + sum(int(np.prod(g.nodes[i].shape)) for i in node.op_inputs if i)
    if size > ELEMENT_LIMIT:
        return None, ()
    xs = []
    syms: list[tuple[int, sp.Symbol]] = []
    for slot, i in enumerate(node.op_inputs):
        if i is None:
            xs.append(None)
            continue
        inp = g.nodes[i]
        if inp.kind == "const":
            xs.append(const_array(inp))
            continue
        a = np.empty(inp.shape, dtype=object)
        for idx in np.ndindex(*inp.shape):
            a[idx] = _sym(f"{names[slot]}{fmt_index(tuple(idx))}")
            syms.append((slot, a[idx]))
        xs.append(a)
    nums = None
    if node.op.name == "cross_entropy":
        from nnlab.symbolic.expand import example_of

        nums = [None, example_of(run, node.op_inputs[1], 0)]
    out = forward(node.op, xs, nums)
    first = (0,) * out.ndim
    y = _sym(f"{g.display(nid)}{fmt_index(first)}")
    expr = sp.sympify(out[first])
    outputs = {}
    for idx in np.ndindex(*out.shape):
        e = sp.sympify(out[idx])
        if not e.is_Atom:
            outputs.setdefault(e, _sym(f"{g.display(nid)}{fmt_index(tuple(idx))}"))
    ders = []
    for slot, s in syms:
        if s in expr.free_symbols:
            d = sp.diff(expr, s)
            in_out = d.xreplace(outputs) if outputs else None
            d, in_out = _tidy(d), None if in_out is None else _tidy(in_out)
            ders.append(_deriv(names[slot] or "", slot, y, s, d, in_out))
            if len(ders) >= MAX_ELEMENT_DERIVATIVES:
                break
    return sp.Eq(y, expr), tuple(ders)


# --------------------------------------------------------------------------- API

_CACHE: dict = {}
_LOCK = threading.Lock()


def step_rule(run: Any, step: Any) -> SymbolicRule:
    """The symbolic rule of a step (a :class:`~nnlab.engine.trace.Step` or its index).

    Args:
        run: The run the step belongs to.
        step: The step, or its index in ``run.steps``.

    Returns:
        A :class:`SymbolicRule` with sympy objects and Unicode/LaTeX text.

    Raises:
        NoSymbolicForm: For an op without a symbolic form (every bundled op has one).
    """
    if isinstance(step, (int, np.integer)):
        step = run.steps[int(step)]
    s = run.scenario
    key = (s.path, hashlib.sha1((s.text or "").encode()).hexdigest(), step.node, step.phase, run.target)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:  # training repeats the same steps every update: one rule per node and phase
        return hit if hit.step == step.index else dataclasses.replace(hit, step=step.index)
    rule = _build(run, step)
    with _LOCK:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        _CACHE[key] = rule
    return rule


def _backward_line(target: str, d: LocalDerivative) -> str:
    """``∂loss/∂x[j] = Σᵢ ∂loss/∂z1[i] · ∂z1[i]/∂x[j]``: sum over output indices the input lacks."""
    of, wrt = d.of, d.wrt
    out_idx = list(of.indices) if isinstance(of, sp.Indexed) else []
    have = sp.sympify(wrt).free_symbols
    summed = [ix for ix in out_idx if ix not in have]
    sigma = ""
    if summed:
        names = [str(ix) for ix in summed]
        sigma = "Σ" + ("".join(SUBSCRIPT[n] for n in names) if all(n in SUBSCRIPT for n in names)
                       else "_(" + ",".join(names) + ")") + " "
    o, w = unicode(of), unicode(wrt)
    return f"∂{target}/∂{w} = {sigma}∂{target}/∂{o} · ∂{o}/∂{w}"


def _update_rule(run: Any, step: Any) -> SymbolicRule:
    """``W1 ← W1 − η·∂loss/∂W1`` for a training update step."""
    w = step.node
    train = getattr(run.scenario, "train", None) or {}
    loss = train.get("loss") or run.target or "L"
    eta = sp.Symbol("η")
    new, old, grad = _sym(f"{w}′"), _sym(w), _sym(f"∂{loss}/∂{w}")
    fwd = sp.Eq(new, old - eta * grad)
    lr = train.get("lr")
    notes = (f"η = {lr} (train.lr)",) if lr is not None else ()
    text = "\n".join([f"{w} ← {w} − η·∂{loss}/∂{w}"] + [f"note: {n}" for n in notes])
    return SymbolicRule(step.index, step.phase, w, "update", fwd, (), notes, unicode=text, latex=latex(fwd))


def _build(run: Any, step: Any) -> SymbolicRule:
    g = run.graph
    node = g.nodes.get(step.node)
    if step.phase == "update" or node is None or node.op is None:
        return _update_rule(run, step)
    op = node.op
    builder = _BUILDERS.get(op.name)
    if builder is None:  # an op added to the engine after this module: say so, do not fail the view
        fwd = sp.Eq(_sym(g.display(step.node)), _sym(op.formula or op.name))
        note = f"no symbolic rule for '{op.name}' yet"
        return SymbolicRule(step.index, step.phase, step.node, op.name, fwd, (), (note,),
                            unicode=f"{op.formula or op.name}\nnote: {note}", latex=latex(fwd))
    names = [g.display(i) if i else None for i in node.op_inputs]
    shapes = [g.nodes[i].shape if i else None for i in node.op_inputs]
    consts = [bool(i) and g.nodes[i].kind == "const" for i in node.op_inputs]
    cvals = [const_array(g.nodes[i])[()] if k else None for i, k in zip(node.op_inputs, consts)]
    ctx = _Ctx(g.display(step.node), names, shapes, tuple(node.shape), dict(op.params), op, consts, cvals)
    fwd, ders, notes = builder(ctx)
    try:
        element, element_ders = _element(run, step.node, names)
    except NoSymbolicForm:
        element, element_ders = None, ()
    if int(np.prod(node.shape)) <= 1 and element is not None and element == fwd:
        element, element_ders = None, ()
    back = ""
    if step.phase == "backward" and run.target:
        T = run.target
        back = "; ".join(_backward_line(T, d) for d in ders)
    lines_u = [unicode(fwd)] + [d.unicode for d in ders]
    lines_l = [latex(fwd)] + [d.latex for d in ders]
    if back:
        lines_u.insert(0, back)
    if element is not None:
        lines_u.append("element: " + unicode(element))
        lines_l.append(latex(element))
        lines_u += ["  " + d.unicode for d in element_ders]
        lines_l += [d.latex for d in element_ders]
    lines_u += [f"note: {n}" for n in notes]
    return SymbolicRule(step.index, step.phase, step.node, op.name, fwd, tuple(ders), tuple(notes), element,
                        tuple(element_ders), back, "\n".join(lines_u), " \\\\\n".join(lines_l))


__all__ = ["LocalDerivative", "SymbolicRule", "step_rule"]
