"""The whole-graph check: sympy's gradient of the backward target against backprop's.

For a graph with at most a few hundred scalar leaves, the backward target is built as
one sympy expression in the leaf symbols — node by node from the graph, with the ops
re-implemented in :mod:`nnlab.symbolic.ops` — differentiated with ``diff`` w.r.t.
every leaf element, compiled with ``lambdify(cse=True)`` and evaluated at the run's
leaf values. Nothing is simplified: on a 2-2-1 network ``simplify`` of the whole
gradient takes seconds and makes it larger, while the common subexpressions that
``cse`` finds make evaluation instant.

What counts as the target: backprop seeds every element of the target with 1 and,
when the target has one row per example, with 1/N — so the expression is the sum of
the target's elements, averaged over examples.

Graphs are *not qualified* (reported, never failed) when they have too many leaves
or elements, an op without a symbolic form, or values where the engine's documented
numerical conventions take over from the math (BCE's clamped logs near p = 0 or 1,
a power with a tensor exponent of a non-positive base).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from nnlab.numfmt import fmt_index
from nnlab.symbolic.diff import gradient
from nnlab.symbolic.expand import const_array, example_of, symbols_of
from nnlab.symbolic.functions import NAMESPACE
from nnlab.symbolic.ops import NoSymbolicForm, forward, has_symbolic_form

MAX_LEAVES = 400
MAX_ELEMENTS = 20_000
ABS_FLOOR = 1e-12


@dataclass(frozen=True)
class Disagreement:
    """One leaf element where sympy and backprop differ.

    Attributes:
        name: The leaf's name.
        index: Its index as ``run.grad(name)`` is indexed (example first for data).
        symbolic: sympy's gradient.
        engine: The engine's gradient.
        rel: ``|symbolic − engine| / max(|symbolic|, |engine|)``.
    """

    name: str
    index: tuple[int, ...]
    symbolic: float
    engine: float
    rel: float

    @property
    def text(self) -> str:
        """``grad(W1)[0,1]: sympy 0.1234, engine 0.1240 (rel 4.9e-03)``."""
        return (f"grad({self.name}){fmt_index(self.index)}: sympy {self.symbolic:.12g}, "
                f"engine {self.engine:.12g} (rel {self.rel:.1e})")


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify_gradients`.

    Attributes:
        qualified: False when the graph was skipped (see ``reason``).
        reason: Why it was skipped, or ``""``.
        target: The backward target.
        leaves: Scalar leaves differentiated (data counted once per example).
        checked: Gradient elements compared.
        disagreements: Elements differing by more than the tolerance.
        max_rel: Largest relative difference seen.
        tol: The relative tolerance used.
        seconds: Time taken (build, diff, lambdify, compare).
    """

    qualified: bool
    reason: str = ""
    target: str | None = None
    leaves: int = 0
    checked: int = 0
    disagreements: tuple[Disagreement, ...] = ()
    max_rel: float = 0.0
    tol: float = 1e-9
    seconds: float = 0.0
    timings: dict = field(default_factory=dict, compare=False)
    method: str = ""

    @property
    def ok(self) -> bool:
        """Qualified and without disagreements."""
        return self.qualified and not self.disagreements

    @property
    def summary(self) -> str:
        """One line for people."""
        if not self.qualified:
            return f"not qualified: {self.reason}"
        if self.disagreements:
            return (f"{len(self.disagreements)} of {self.checked} gradient elements differ from sympy "
                    f"(first: {self.disagreements[0].text})")
        return (f"sympy agrees with backprop on all {self.checked} gradient elements of {self.target} "
                f"(max rel. difference {self.max_rel:.1e}, {self.seconds * 1000:.0f} ms)")


class _NotQualified(Exception):
    pass


def _qualify(run: Any, max_leaves: int, max_elements: int) -> tuple[list[str], list[str], int]:
    g = run.graph
    if run.target is None:
        raise _NotQualified("no backward target")
    live = g.ancestors(run.target)
    ops = [n for n in g.order if n in live]
    for nid in ops:
        op = g.nodes[nid].op
        if not has_symbolic_form(op):
            raise _NotQualified(f"op '{op.name}' has no symbolic form")
    leaves = [n for n in g.nodes if n in live and g.nodes[n].kind in ("value", "data")]
    count = sum(int(np.prod(g.nodes[n].shape)) * (run.values[n].shape[0] if g.nodes[n].kind == "data" else 1)
                for n in leaves)
    if count > max_leaves:
        raise _NotQualified(f"{count} scalar leaves (the limit is {max_leaves})")
    batch = max((run.values[n].shape[0] for n in live), default=1)
    elements = sum(int(np.prod(g.nodes[n].shape)) * (batch if g.nodes[n].batched else 1) for n in ops)
    if elements > max_elements:
        raise _NotQualified(f"{elements} computed elements (the limit is {max_elements})")
    _conventions(run, ops)
    return ops, leaves, count


def _conventions(run: Any, ops: list[str]) -> None:
    """Refuse values where the engine's numerical conventions replace the math."""
    from nnlab.engine.run import to_float

    g = run.graph
    for nid in ops:
        node = g.nodes[nid]
        values = [None if i is None else to_float(run.values[i]) for i in node.op_inputs]
        consts = [bool(i) and g.nodes[i].kind == "const" for i in node.op_inputs]
        why = node.op.symbolic_caveat(values, consts)
        if why:
            raise _NotQualified(f"{nid}: {why}")


def target_expression(run: Any, ops: list[str], leaves: list[str]) -> tuple[sp.Expr, list[tuple]]:
    """The backward target in leaf symbols, and the leaf elements ``(symbol, name, index, value)``.

    Data leaves get one symbol per example (``x[0]@1``); parameters one symbol.
    """
    g = run.graph
    live = set(ops) | set(leaves)
    batch = max((run.values[n].shape[0] for n in live), default=1)
    elems: list[tuple] = []
    shared: dict[str, np.ndarray] = {}
    per_example: list[dict[str, np.ndarray]] = []
    for nid in leaves:
        node = g.nodes[nid]
        if node.kind == "value":
            shared[nid] = symbols_of(nid, node.shape)
            vals = example_of(run, nid, 0)
            for idx in np.ndindex(*node.shape):
                elems.append((shared[nid][idx], nid, tuple(idx), float(vals[idx])))
    for e in range(batch):
        env: dict[str, np.ndarray] = {}
        for nid in leaves:
            node = g.nodes[nid]
            if node.kind == "data":
                env[nid] = symbols_of(nid, node.shape, f"@{e}")
                vals = example_of(run, nid, e)
                for idx in np.ndindex(*node.shape):
                    elems.append((env[nid][idx], nid, (e,) + tuple(idx), float(vals[idx])))
        per_example.append(env)

    def symbolic(i: str, e: int) -> np.ndarray:
        inp, env = g.nodes[i], per_example[e]
        return (const_array(inp) if inp.kind == "const" else
                shared[i] if i in shared else env[i] if i in env else per_example[0][i])

    for nid in ops:  # op by op over every example: an op across the examples reads all of them
        node = g.nodes[nid]
        if node.op.across_examples:
            xs = [None if i is None else np.stack([symbolic(i, e) for e in range(batch)])
                  for i in node.op_inputs]
            row = forward(node.op, xs, batch=True)
            for env in per_example:
                env[nid] = row
            continue
        for e, env in enumerate(per_example):
            if not node.batched and e > 0:
                env[nid] = per_example[0][nid]
                continue
            xs = [None if i is None else symbolic(i, e) for i in node.op_inputs]
            nums = [None if i is None else example_of(run, i, e) for i in node.op_inputs]
            env[nid] = forward(node.op, xs, nums)
    terms = [sp.Add(*per_example[e][run.target].ravel().tolist())
             for e in range(batch) if e == 0 or g.nodes[run.target].batched]
    total = sp.Add(*terms)
    if g.nodes[run.target].batched and batch > 1:
        total = total / batch
    return total, elems


def verify_gradients(run: Any, tol: float = 1e-9, *, max_leaves: int = MAX_LEAVES,
                     max_elements: int = MAX_ELEMENTS, method: str = "auto") -> VerifyReport:
    """Compare sympy's gradient of the backward target with the engine's, for every leaf.

    Args:
        run: A :class:`~nnlab.engine.run.Run` with a backward target.
        tol: Relative tolerance (an absolute floor of 1e-12 covers exact zeros).
        max_leaves: Skip graphs with more scalar leaves than this.
        max_elements: Skip graphs with more computed scalar elements than this.
        method: ``"diff"`` (``sympy.diff`` per leaf), ``"reverse"`` (one reverse sweep over the
            expression DAG) or ``"auto"`` (diff for small expressions); see :mod:`.diff`.

    Returns:
        A :class:`VerifyReport`; ``report.ok`` is True when everything agrees.
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        ops, leaves, count = _qualify(run, max_leaves, max_elements)
        total, elems = target_expression(run, ops, leaves)
    except _NotQualified as exc:
        return VerifyReport(False, str(exc), run.target, tol=tol)
    except NoSymbolicForm as exc:
        return VerifyReport(False, str(exc), run.target, tol=tol)
    timings["build"] = time.perf_counter() - t0
    syms = [e[0] for e in elems]
    grads, used = gradient(total, syms, method)
    timings["diff"] = time.perf_counter() - t0 - timings["build"]
    fn = compile_gradient(syms, grads)
    timings["lambdify"] = time.perf_counter() - t0 - timings["build"] - timings["diff"]
    try:
        values = fn(*[e[3] for e in elems])
    except (ValueError, ZeroDivisionError, OverflowError) as exc:
        return VerifyReport(False, f"the symbolic gradient cannot be evaluated here ({exc})", run.target,
                            len(elems), tol=tol)
    bad: list[Disagreement] = []
    max_rel = 0.0
    engine: dict[str, np.ndarray] = {}
    for (sym, name, index, _), value in zip(elems, values):
        if name not in engine:
            node = run.graph.nodes[name]
            engine[name] = np.asarray(run.grad(name), dtype=float).reshape((-1,) + node.shape)
        e_index = index if run.graph.nodes[name].kind == "data" else (0,) + index
        theirs = float(engine[name][e_index])
        ours = float(value)
        diff = abs(ours - theirs)
        scale = max(abs(ours), abs(theirs))
        rel = diff / scale if scale else 0.0
        if not (diff <= tol * scale + ABS_FLOOR):
            bad.append(Disagreement(name, _public_index(run, name, index), ours, theirs, rel))
        if scale > 1e-9:
            max_rel = max(max_rel, rel)
    timings["compare"] = time.perf_counter() - t0 - sum(timings.values())
    return VerifyReport(True, "", run.target, count, len(elems), tuple(bad), max_rel, tol,
                        time.perf_counter() - t0, timings, used)


def _public_index(run: Any, name: str, index: tuple[int, ...]) -> tuple[int, ...]:
    node = run.graph.nodes[name]
    if node.kind == "data" and not run.batch_axis:
        return index[1:]
    return index


def compile_gradient(symbols: list[sp.Symbol], exprs: list[sp.Expr]):
    """``lambdify(symbols, exprs, cse=…)`` that stays fast on expressions with shared parts.

    Two things in ``lambdify(cse=True)`` walk the expression as a *tree*: the canonical
    ordering inside ``cse`` (it counts nodes) and the scan for implemented functions.
    On a transformer block's gradient that is ~7 s of 7.1. So the common
    subexpressions are found first (``order="none"``, with private names that cannot
    clash with a scenario's), and lambdify gets the small reduced expressions plus
    those replacements.
    """
    reps, reduced = sp.cse(exprs, symbols=sp.numbered_symbols("_cse"), order="none", list=True)
    return sp.lambdify(symbols, reduced, modules=[dict(NAMESPACE, Heaviside=_heaviside), "math"],
                       cse=lambda e: (reps, e), docstring_limit=0)


def _heaviside(x, h0=0.5):
    return 1.0 if x > 0 else float(h0) if x == 0 else 0.0
