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

from nnlab.numfmt import fmt_index
from nnlab.symbolic import kit
from nnlab.symbolic.expand import const_array
from nnlab.symbolic.kit import LocalDerivative, NoSymbolicForm, RuleContext, deriv, symbol
from nnlab.symbolic.ops import forward
from nnlab.symbolic.printing import SUBSCRIPT, latex, unicode
from nnlab.symbolic.printing import tidy as _tidy

MAX_ELEMENT_DERIVATIVES = 4


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
    return symbol(name)


def _deriv(input_name: str, slot: int, of: Any, wrt: Any, expr: Any, in_output: Any = None) -> LocalDerivative:
    return deriv(input_name, slot, of, wrt, expr, in_output)


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
    if node.op.reads_values:
        from nnlab.symbolic.expand import example_of

        nums = [None if i is None else example_of(run, i, 0) for i in node.op_inputs]
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
    names = [g.display(i) if i else None for i in node.op_inputs]
    shapes = [g.nodes[i].shape if i else None for i in node.op_inputs]
    consts = [bool(i) and g.nodes[i].kind == "const" for i in node.op_inputs]
    cvals = [const_array(g.nodes[i])[()] if k else None for i, k in zip(node.op_inputs, consts)]
    ctx = RuleContext(g.display(step.node), names, shapes, tuple(node.shape), consts, cvals)
    try:
        fwd, ders, notes = op.rule(ctx, kit)
    except NoSymbolicForm:  # say so, do not fail the view
        fwd = sp.Eq(_sym(g.display(step.node)), _sym(op.formula or op.name))
        note = f"no symbolic rule for '{op.name}' yet"
        return SymbolicRule(step.index, step.phase, step.node, op.name, fwd, (), (note,),
                            unicode=f"{op.formula or op.name}\nnote: {note}", latex=latex(fwd))
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
