"""Run a graph forward and backward, recording every operation as a step.

Backward follows micrograd and early tinygrad: walk the ops in reverse topological
order and *add* each op's vector-Jacobian product into its inputs' gradients
(``+=``), so a node used twice collects both contributions — and the step says so.
The result is a :class:`Run`: an immutable trace plus the values and gradients;
:mod:`nnlab.engine.explain` explains any element of any step of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from nnlab.engine.graph import Graph, Node, build_graph
from nnlab.engine.ops.base import ShapeError, grad_label, unbroadcast
from nnlab.engine.trace import BACKWARD, FORWARD, Step, freeze
from nnlab.errors import NnlabError
from nnlab.numfmt import as_float, fmt_index
from nnlab.scenario.model import Scenario

EXACT_LIMIT = 20_000  # largest total of elements we compute with Fractions


@dataclass(frozen=True)
class Run:
    """The result of running a scenario: the trace, values and gradients.

    Attributes:
        scenario: The scenario that was run.
        graph: Its graph.
        steps: Forward steps, then backward steps.
        values: Batch-first value of every node (leaves included).
        grads: Batch-first gradient of the backward target w.r.t. every node it
            depends on (parameters summed over examples).
        target: The backward target's name, or None.
        batch: Number of examples (1 without data).
        arithmetic: ``"exact"`` (Fractions from the decimals as written) or ``"float64"``.
        contributions: ``(node, slot)`` → what that backward step added to the input.
    """

    scenario: Scenario
    graph: Graph
    steps: tuple[Step, ...]
    values: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    target: str | None
    batch: int
    arithmetic: str
    contributions: dict[tuple[str, int], np.ndarray] = field(repr=False)
    ops: dict[str, Any] = field(default_factory=dict, repr=False)

    def op(self, nid: str) -> Any:
        """This run's op instance of node ``nid`` (it holds what forward saved)."""
        return self.ops.get(nid) or self.graph.nodes[nid].op

    # ----------------------------------------------------------------- lookup
    def has(self, name: str) -> bool:
        """True if ``name`` is a node of this run."""
        return name in self.values

    def value(self, name: str) -> np.ndarray:
        """Public value: float64, without the example axis unless the node is batched."""
        return self._public(name, self.values[name])

    def exact_value(self, name: str) -> np.ndarray:
        """Like :meth:`value` but keeps Fractions in exact arithmetic."""
        a = self.values[name]
        return a if self.graph.nodes[name].batched else a[0]

    def grad(self, name: str) -> np.ndarray:
        """∂target/∂name (same shape as :meth:`value`, summed over examples for parameters)."""
        if self.target is None:
            raise KeyError("no backward target")
        g = self.grads.get(name)
        if g is None:
            shape = self.values[name].shape
            g = np.zeros(shape)
        return self._public(name, g)

    def _public(self, name: str, a: np.ndarray) -> np.ndarray:
        node = self.graph.nodes[name]
        a = a if node.batched and self.batch_axis else a[0] if a.shape and a.shape[0] == 1 else a
        return to_float(a)

    @property
    def batch_axis(self) -> bool:
        """True if data gives the run an example axis."""
        return bool(self.scenario.data)

    def node(self, nid: str) -> Node:
        """The graph node ``nid``."""
        return self.graph.nodes[nid]

    def step_of(self, name: str, phase: str = FORWARD) -> Step | None:
        """The step of ``name`` in the given phase."""
        for s in self.steps:
            if s.node == name and s.phase == phase:
                return s
        return None


def to_float(a: Any) -> np.ndarray:
    """A float64 (or int/bool) array from a possibly-Fraction object array."""
    a = np.asarray(a)
    if a.dtype == object:
        return np.vectorize(as_float, otypes=[float])(a) if a.size else a.astype(float)
    return a


# ---------------------------------------------------------------------- running


EXACT_MAX_POWER = 1000
"""``x ** n`` stays exact up to this whole-number power (1.1 ** 10_000_000 as a fraction
has ten million digits); a larger power computes in float64."""


def choose_arithmetic(graph: Graph) -> str:
    """``"exact"`` if every op is rational and every leaf has an exact decimal value."""
    mode = graph.scenario.options.get("arithmetic", "auto")
    if mode == "float":
        return "float64"
    ops_ok = all(_rational(graph, graph.nodes[n]) for n in graph.order)
    leaves_ok = all(n.exact is not None for n in graph.nodes.values() if n.kind != "op")
    total = sum(int(np.prod(n.shape)) * (len(n.value) if n.kind == "data" and n.value is not None else 1)
                for n in graph.nodes.values())
    possible = ops_ok and leaves_ok
    if mode == "exact":
        if not possible:
            bad = next((graph.nodes[n] for n in graph.order if not _rational(graph, graph.nodes[n])), None)
            why = f"'{bad.op.name}' is not a rational operation" if bad else "a value has no exact decimal form"
            raise NnlabError(f"arithmetic: exact is impossible here: {why}", graph.scenario.loc_of("options"),
                             "use arithmetic: auto (exact where possible) or float.", kind="format")
        return "exact"
    return "exact" if possible and total <= EXACT_LIMIT else "float64"


def _rational(graph: Graph, node: Node) -> bool:
    op = node.op
    if not op.rational:
        return False
    if op.name == "pow":
        b = graph.nodes[node.inputs[1]]
        return b.kind == "const" and float(b.value) == int(b.value) and 0 <= float(b.value) <= EXACT_MAX_POWER
    return True


def leaf_array(node: Node, exact: bool) -> np.ndarray:
    """A leaf's batch-first array (float64, or Fractions in exact mode)."""
    if exact:
        base = node.exact
    else:
        base = node.value.astype(np.float64) if node.value.dtype.kind in "iub" else node.value
    return np.asarray(base) if node.kind == "data" else np.asarray(base)[None]


def run_graph(graph: Graph, leaves: dict[str, np.ndarray] | None = None, *, target: str | None = None,
              record: bool = True, arithmetic: str | None = None, wrt: frozenset[str] | None = None,
              check_finite: bool = True) -> Run:
    """Evaluate a graph forward (and backward if it has a target).

    Args:
        graph: The compiled graph.
        leaves: Override leaf arrays (batch-first), e.g. parameters during training.
        target: Backward target (defaults to the scenario's ``backward``).
        record: Record steps (training turns this off for speed).
        arithmetic: Force ``"exact"`` or ``"float64"``.
        wrt: Only these nodes need gradients (default: every non-constant node);
            training passes the parameters and what depends on them.
        check_finite: Stop at the first NaN/inf (training checks its loss and
            gradients itself, once per update).

    Raises:
        NnlabError: A NaN or infinity appearing (the first step is named), or an op
            rejecting its data (e.g. a class index out of range).
    """
    s = graph.scenario
    mode = arithmetic or choose_arithmetic(graph)
    exact = mode == "exact"
    values: dict[str, np.ndarray] = {}
    for nid, node in graph.nodes.items():
        if node.kind != "op":
            values[nid] = leaves[nid] if leaves and nid in leaves else leaf_array(node, exact)
    batch = max((v.shape[0] for v in values.values() if v.ndim), default=1)
    steps: list[Step] = []
    ops: dict[str, Any] = {}
    target = target if target is not None else s.backward
    grads: dict[str, np.ndarray] = {}
    contributions: dict[tuple[str, int], np.ndarray] = {}
    try:
        with np.errstate(all="ignore"):  # nan/inf are found by the explicit checks, not by warnings
            _forward(graph, values, ops, steps, exact, record, check_finite)
            if target is not None:
                _backward(graph, ops, values, grads, contributions, steps, target, exact, record, batch, wrt,
                          check_finite)
    except _Outgrown as big:  # exact fractions too long: float64 if the scenario left it to us
        if arithmetic is not None or s.options.get("arithmetic") == "exact":
            raise NnlabError(f"exact arithmetic: the numbers at {big.where} grew past {EXACT_MAX_BITS:,} bits",
                             big.loc, "use options.arithmetic: float (or auto) to compute in float64.",
                             kind="size") from None
        return run_graph(graph, leaves, target=target, record=record, arithmetic=EXACT_FALLBACK, wrt=wrt,
                         check_finite=check_finite)
    return Run(s, graph, tuple(steps), values, grads, target, batch, mode, contributions, ops)


EXACT_MAX_BITS = 2048
"""An exact fraction whose numerator or denominator passes this many bits (about 617 digits)
stops exact arithmetic: chained powers or repeated squaring would otherwise build numbers
with millions of digits."""
EXACT_FALLBACK = f"float64 (exact fractions passed {EXACT_MAX_BITS:,} bits)"
"""The arithmetic of a run that started exact and fell back to float64 (shown as such)."""


class _Outgrown(Exception):
    def __init__(self, where: str, loc: Any) -> None:
        super().__init__(where)
        self.where, self.loc = where, loc


def _outgrown(a: np.ndarray) -> bool:
    """Whether any Fraction in an object array has a numerator or denominator beyond EXACT_MAX_BITS."""
    for x in a.flat:
        if isinstance(x, Fraction) and (x.numerator.bit_length() > EXACT_MAX_BITS
                                        or x.denominator.bit_length() > EXACT_MAX_BITS):
            return True
    return False


def _forward(graph, values, ops, steps, exact, record, check_finite):
    for number, nid in enumerate(graph.order, start=1):
        node = graph.nodes[nid]
        xs = [values[i] if i else None for i in node.op_inputs]
        op = ops[nid] = type(node.op)(**dict(node.op.params))  # fresh per run: it saves tensors
        op.exact = exact
        try:
            out = op.forward(*xs)
        except ShapeError as exc:
            raise NnlabError(exc.message, node.loc, exc.hint, kind="value") from None
        except (ZeroDivisionError, OverflowError) as exc:  # exact (Fraction) arithmetic
            raise NnlabError(f"{_arith_error(exc)} at step {number} ({_label(graph, node)})", node.loc,
                             kind="nan") from None
        out = np.asarray(out)
        if exact and out.dtype == object and _outgrown(out):
            raise _Outgrown(f"step {number} ({_label(graph, node)})", node.loc)
        if (check_finite and not op.keeps_finite and not exact and out.dtype.kind == "f"
                and not _finite(out)):
            _nonfinite(graph, node, out, number - 1)
        op.out_shape = out.shape
        op.in_shapes = [None if x is None else x.shape for x in xs]
        values[nid] = freeze(out)
        if record:
            steps.append(Step(len(steps), FORWARD, nid, _label(graph, node), node.op.name,
                              tuple(i or "" for i in node.op_inputs), node.line, node.shape))


def _finite(a: np.ndarray) -> bool:
    """All finite? One cheap reduction first; the full check only if the sum is not finite."""
    if a.dtype == np.float64 and a.flags.c_contiguous:
        quick = np.vdot(a, a)  # BLAS: NaN and ±inf survive a sum of squares; an overflow
    else:                      # (|x| > 1e154) only sends us to the full check
        with np.errstate(all="ignore"):
            quick = np.add.reduce(a, axis=None)
    return bool(np.isfinite(quick)) or bool(np.isfinite(a).all())


def _arith_error(exc: ArithmeticError) -> str:
    return "division by zero" if isinstance(exc, ZeroDivisionError) else "a number too large"


def _label(graph: Graph, node: Node) -> str:
    return f"{node.id} = {node.text}" if node.named else node.label


def _nonfinite(graph: Graph, node: Node, out: np.ndarray, step: int) -> None:
    bad = np.argwhere(~np.isfinite(out))[0]
    what = "nan" if np.isnan(out[tuple(bad)]) else "inf"
    idx = fmt_index(tuple(int(i) for i in bad[1:]))
    hints = {"log": "log of 0 or of a negative number; clamp the input or use bce/cross_entropy.",
             "exp": "exp overflowed; the input is too large (use log_softmax / bce_logits for stability).",
             "div": "division by zero.", "sqrt": "square root of a negative number.",
             "pow": "the power overflowed or took a fractional power of a negative number."}
    raise NnlabError(f"{what} appears at step {step + 1} ({_label(graph, node)}), element "
                     f"{graph.display(node.id)}{idx}", node.loc, hints.get(node.op.name), kind="nan")


def _backward(graph, ops, values, grads, contributions, steps, target, exact, record, batch, wrt=None,
              check_finite=True):
    s = graph.scenario
    if target not in graph.nodes:
        raise NnlabError(f"backward names '{target}', which is not a node", s.backward_loc,
                         _hint_name(graph, target), kind="name")
    tnode = graph.nodes[target]
    if tnode.kind != "op":
        raise NnlabError(f"backward target '{target}' is an input, not a computed node", s.backward_loc,
                         "name the loss (or output) computed on a compute line.", kind="name")
    live_ops, uses, needs = _backward_plan(graph, target, wrt)
    seen: dict[str, int] = {}
    out = values[target]
    if exact:
        seed = np.full(out.shape, Fraction(1, out.shape[0]), dtype=object)  # mean over examples
    else:
        seed = np.full(out.shape, 1.0 / out.shape[0])
    grads[target] = seed
    for nid in reversed(live_ops):
        node = graph.nodes[nid]
        g = grads.get(nid)
        if g is None:
            continue
        op = ops[nid]
        op.needs = needs[nid]
        try:
            vjps = op.backward(g)
        except (ZeroDivisionError, OverflowError) as exc:  # exact (Fraction) arithmetic
            raise NnlabError(f"{_arith_error(exc)} in the backward step of {_label(graph, node)}", node.loc,
                             kind="nan") from None
        acc = []
        for slot, (inp, vjp) in enumerate(zip(node.op_inputs, vjps)):
            if not inp or vjp is None or not op.needs[slot]:
                acc.append((0, 0))
                continue
            contribution = unbroadcast(np.asarray(vjp), values[inp].shape)
            if exact and contribution.dtype == object and _outgrown(contribution):
                raise _Outgrown(f"the backward step of {_label(graph, node)}", node.loc)
            if (check_finite and not op.keeps_finite and not exact and contribution.dtype.kind == "f"
                    and not _finite(contribution)):
                raise NnlabError(f"the gradient into {graph.display(inp)} becomes nan/inf at the backward "
                                 f"step of {_label(graph, node)}", node.loc, kind="nan")
            contributions[(nid, slot)] = freeze(contribution)
            prev = grads.get(inp)
            grads[inp] = contribution if prev is None else prev + contribution  # never in place
            seen[inp] = seen.get(inp, 0) + 1
            acc.append((seen[inp], uses.get(inp, 1)))
        if record:
            steps.append(Step(len(steps), BACKWARD, nid, grad_label(target, graph.display(nid)), op.name,
                              tuple(i or "" for i in node.op_inputs), node.line, node.shape, tuple(acc)))
    for k, v in grads.items():
        freeze(v)


def _backward_plan(graph: Graph, target: str, wrt: frozenset[str] | None):
    """The ops the backward pass visits (forward order), how often each node is used,
    and which inputs of each op need a gradient — the same for every run of a training,
    so it is made once per (graph, target, wrt)."""
    key = (target, wrt)
    plan = graph.plans.get(key)
    if plan is None:
        live = graph.ancestors(target)
        live_ops = [n for n in graph.order if n in live]
        uses: dict[str, int] = {}
        for nid in live_ops:
            for i in graph.nodes[nid].inputs:
                uses[i] = uses.get(i, 0) + 1
        needs = {nid: tuple(bool(i) and graph.nodes[i].kind != "const" and (wrt is None or i in wrt)
                            for i in graph.nodes[nid].op_inputs) for nid in live_ops}
        plan = graph.plans[key] = (live_ops, uses, needs)
    return plan


def _hint_name(graph: Graph, name: str) -> str | None:
    from nnlab.engine.graph import closest_name

    best = closest_name(graph, name)
    return f"did you mean '{best}'?" if best else None


def run_scenario(scenario: Scenario, **kwargs: Any) -> Run:
    """Build the graph of ``scenario`` and run it (see :func:`run_graph`)."""
    return run_graph(build_graph(scenario), **kwargs)
