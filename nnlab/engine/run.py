"""Run a graph forward and backward, recording every operation as a step.

Backward follows micrograd and early tinygrad: walk the ops in reverse topological
order and *add* each op's vector-Jacobian product into its inputs' gradients
(``+=``), so a node used twice collects both contributions — and the step says so.
The result is a :class:`Run`: an immutable trace plus the values and gradients;
:mod:`nnlab.engine.explain` explains any element of any step of it.
"""

from __future__ import annotations

import contextlib

import math
from collections.abc import Iterable
from fractions import Fraction
from functools import partial
from itertools import chain, repeat
from operator import is_not
from typing import Any, NamedTuple

import numpy as np

from nnlab.engine.graph import Graph, Node, build_graph
from nnlab.engine.ops.base import Op, ShapeError, backward_title, unbroadcast
from nnlab.engine.trace import BACKWARD, FORWARD, Step, freeze
from nnlab.errors import NnlabError
from nnlab.numfmt import as_float, fmt_index
from nnlab.scenario.model import Scenario

EXACT_LIMIT = 20_000  # largest total of elements we compute with Fractions


class Run(NamedTuple):  # (not a frozen dataclass: ~0.7 ms less to define; as immutable)
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
        ops: Node id → this run's op instance (what its forward saved; see :meth:`op`).
    """

    scenario: Scenario
    graph: Graph
    steps: tuple[Step, ...]
    values: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    target: str | None
    batch: int
    arithmetic: str
    contributions: dict[tuple[str, int], np.ndarray]
    ops: dict[str, Any]

    def op(self, nid: str) -> Any:
        """This run's op instance of node ``nid`` (it holds what forward saved, and the shapes)."""
        op = self.ops.get(nid)
        if op is None:
            return self.graph.nodes[nid].op
        if op.in_shapes is None:  # set here, not on every run: only explanations read them
            values = self.values
            op.out_shape = values[nid].shape
            op.in_shapes = [values[i].shape if i else None for i in self.graph.nodes[nid].op_inputs]
        return op

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
    total = sum(math.prod(n.shape) * (len(n.value) if n.kind == "data" and n.value is not None else 1)
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


class _Program:
    """What every run of one graph shares, made on its first run (see :func:`_program`).

    A run of a small graph costs little more than its NumPy calls: the arithmetic,
    the leaf arrays, each op's constructor arguments and checks, and the forward
    steps of the trace are the same for every run, so they are worked out once.
    """

    __slots__ = ("arithmetic", "batch", "forward_steps", "labels", "leaves", "op_ids", "ops", "works")

    def __init__(self, graph: Graph) -> None:
        self.arithmetic: str | None = None   # choose_arithmetic's answer, once asked
        self.leaves: dict[bool, dict[str, np.ndarray]] = {}  # exact? → read-only leaf arrays
        self.batch: dict[bool, int] = {}  # exact? → the examples of a run on those leaves
        self.works: dict = {}  # (exact, checking) → the forward loop's entries of a run without a backward
        # plan (_work); limit → what such a run checks at the end (_small)
        self.labels = {nid: _label(graph, graph.nodes[nid]) for nid in graph.order}
        self.ops = []
        self.forward_steps = []
        for number, nid in enumerate(graph.order):
            node = graph.nodes[nid]
            cls = type(node.op)
            params = dict(node.op.params)
            # Op.__init__'s attributes, to set directly on a fresh instance (None: call the class);
            # the shapes are set when the run's op is asked for (Run.op)
            state = {"params": params, "saved": None, "exact": False, "out_shape": None, "in_shapes": None,
                     "needs": (True,) * sum(p.tensor for p in cls.signature)} if cls.__init__ is Op.__init__ else None
            self.ops.append((nid, node, cls, params, state, node.op_inputs, None in node.op_inputs,
                             not cls.keeps_finite))
            self.forward_steps.append(Step(number, FORWARD, nid, self.labels[nid], node.op.name,
                                           tuple(i or "" for i in node.op_inputs), node.line, node.shape))
        self.forward_steps = tuple(self.forward_steps)
        self.op_ids = tuple(graph.order)

    def leaf_arrays(self, graph: Graph, exact: bool) -> dict[str, np.ndarray]:
        arrays = self.leaves.get(exact)
        if arrays is None:
            arrays = {}
            for nid, node in graph.nodes.items():
                if node.kind != "op":
                    a = leaf_array(node, exact)
                    if a is not node.value and a is not node.exact:  # ours (a view or a converted copy): read-only, shared by runs
                        freeze(a)
                    arrays[nid] = a
            self.leaves[exact] = arrays
        return arrays


def _program(graph: Graph) -> _Program:
    prog = graph.plans.get("program")
    if prog is None:
        prog = graph.plans["program"] = _Program(graph)
    return prog


def _work(prog: _Program, plan: _BackwardPlan | None, exact: bool, checking: bool) -> tuple:
    """The forward loop's entries of a run: ``prog.ops`` with, per op, its step number, the
    attributes of a fresh instance for this arithmetic and ``plan``'s needs (what backward would
    set), whether to check its output for nan/inf, and its elements per example. Made once per
    (plan, exact, checking)."""
    works = prog.works if plan is None else plan.works
    work = works.get((exact, checking))
    if work is None:
        needs = {} if plan is None else plan.needs
        work = []
        for number, (nid, node, cls, params, state, inputs, optional, check) in enumerate(prog.ops, start=1):
            if state is not None:
                state = dict(state, exact=exact, needs=needs.get(nid, state["needs"]))
            work.append((number, nid, node, cls, params, state, inputs, optional, checking and check,
                         math.prod(node.shape)))
        work = works[(exact, checking)] = tuple(work)
    return work


def run_graph(graph: Graph, leaves: dict[str, np.ndarray] | None = None, *, target: str | None = None,
              record: bool = True, arithmetic: str | None = None, wrt: frozenset[str] | None = None,
              check_finite: bool = True) -> Run:
    """Evaluate a graph forward (and backward if it has a target).

    Args:
        graph: The compiled graph (not changed once it has run: what every run shares
            is kept in ``graph.plans``).
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
    prog = graph.plans.get("program") or _program(graph)
    mode = arithmetic
    if mode is None:
        mode = prog.arithmetic
        if mode is None:
            mode = prog.arithmetic = choose_arithmetic(graph)
    exact = mode == "exact"
    values = dict(prog.leaves.get(exact) or prog.leaf_arrays(graph, exact))
    if leaves:
        for nid, a in leaves.items():
            if nid in values:
                values[nid] = a
        batch = _batch(values)
    else:
        batch = prog.batch.get(exact)
        if batch is None:
            batch = prog.batch[exact] = _batch(values)
    ops: dict[str, Any] = {}
    target = target if target is not None else s.backward
    grads: dict[str, np.ndarray] = {}
    contributions: dict[tuple[str, int], np.ndarray] = {}
    steps: tuple[Step, ...] = ()
    checking = check_finite and not exact
    plan = None
    if target is not None:
        plan = graph.plans.get((target, wrt))
        if plan is None and target in graph.nodes and graph.nodes[target].kind == "op":
            plan = _backward_plan(graph, target, wrt)
    # Outputs and gradients of up to `limit` elements per example are checked for nan/inf together
    # at the end (larger ones at once), and every array is made read-only at the end, in one pass.
    limit = TINY_CHECK // batch
    work = (prog if plan is None else plan).works.get((exact, checking)) or _work(prog, plan, exact, checking)
    trace = None  # the arrays of the trace, when listed for the check
    try:
        with np.errstate(all="ignore"):  # nan/inf are found by the explicit checks, not by warnings
            _forward(graph, prog, work, values, ops, exact, checking, limit)
            if record:
                steps = prog.forward_steps
            if target is None:
                if checking and not _all_finite(map(values.__getitem__, _small(prog, None, work, limit)[0])):
                    _first_nonfinite_output(graph, prog, values)
            else:
                try:
                    if plan is None:  # (after the forward pass: a nan/inf there is named first)
                        _bad_target(graph, target)
                    back = _backward(prog, plan, ops, values, grads, contributions, target, exact, record,
                                     checking, limit)
                    if checking:
                        outputs, keys, every = plan.works.get(limit) or _small(prog, plan, work, limit)
                        if every:  # every array of the trace is small: one list to check (more than must
                            # be: a nan/inf elsewhere only sends us to the exact search) and to freeze
                            trace = [*map(values.__getitem__, prog.op_ids), *contributions.values()]
                            finite = _all_finite(trace)
                        else:
                            made = map(contributions.__getitem__, keys) if len(contributions) == plan.contributions \
                                else filter(_present, map(contributions.get, keys))  # (every planned one, or fewer)
                            finite = _all_finite(chain(map(values.__getitem__, outputs), made))
                        if not finite:
                            _first_nonfinite(graph, prog, values, target, wrt, contributions)
                except _Outgrown:
                    raise
                except Exception:
                    if checking:  # the first nan/inf is the error: forward steps first (as if each were checked at once)
                        _first_nonfinite(graph, prog, values, target, wrt, contributions)
                    raise
                if record:
                    steps = plan.trace if back is plan.steps else steps + back
        # a recorded trace cannot be changed by accident
        _freeze(trace or chain(map(values.__getitem__, prog.op_ids), contributions.values()))
    except _Outgrown as big:  # exact fractions too long: float64 if the scenario left it to us
        if arithmetic is not None or s.options.get("arithmetic") == "exact":
            raise NnlabError(f"exact arithmetic: the numbers at {big.where} grew past {EXACT_MAX_BITS:,} bits",
                             big.loc, "use options.arithmetic: float (or auto) to compute in float64.",
                             kind="size") from None
        return run_graph(graph, leaves, target=target, record=record, arithmetic=EXACT_FALLBACK, wrt=wrt,
                         check_finite=check_finite)
    return Run(s, graph, steps, values, grads, target, batch, mode, contributions, ops)


def _batch(values: dict[str, np.ndarray]) -> int:
    """The number of examples of a run, from its leaf arrays."""
    batch = 0
    for v in values.values():
        if v.ndim and v.shape[0] > batch:
            batch = v.shape[0]
    return batch or max((v.shape[0] for v in values.values() if v.ndim), default=1)


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


_new = object.__new__


def _forward(graph, prog, work, values, ops, exact, checking, limit):
    """The forward pass over ``work`` (see :func:`_work`). Outputs to check of more than ``limit``
    elements per example are checked here (the caller checks the others together, see :func:`_small`)."""
    get, ndarray = values.__getitem__, np.ndarray
    try:
        for number, nid, node, cls, params, state, inputs, optional, check, size in work:
            xs = [values[i] if i else None for i in inputs] if optional else map(get, inputs)
            if state is not None:  # a fresh op per run (it saves tensors), made as Op.__init__ makes it
                op = _new(cls)
                op.__dict__ = attributes = state.copy()
                attributes["saved"] = {}
            else:
                op = cls(**params)
                op.exact = exact
                op.in_shapes = None  # (set when the run's op is asked for: Run.op)
            ops[nid] = op
            try:
                out = op.forward(*xs)
            except ShapeError as exc:
                raise NnlabError(exc.message, node.loc, exc.hint, kind="value") from None
            except (ZeroDivisionError, OverflowError) as exc:  # exact (Fraction) arithmetic
                raise NnlabError(f"{_arith_error(exc)} at step {number} ({prog.labels[nid]})", node.loc,
                                 kind="nan") from None
            if type(out) is not ndarray:
                out = np.asarray(out)
            if exact and out.dtype == object and _outgrown(out):
                raise _Outgrown(f"step {number} ({prog.labels[nid]})", node.loc)
            values[nid] = out
            if check and size > limit and out.dtype.kind == "f" and not _finite(out):
                raise _NonFinite
    except _Outgrown:
        raise
    except Exception:
        if checking:  # the first step whose output has a nan/inf is the error (as if each were checked at once)
            _first_nonfinite_output(graph, prog, values)
        raise


def _first_nonfinite_output(graph, prog, values) -> None:
    """Raise the error for the first forward step whose output holds a nan or inf, if any."""
    for number, (nid, node, cls, params, state, inputs, optional, check) in enumerate(prog.ops):
        out = values.get(nid)
        if out is None:
            break
        if check and out.dtype.kind == "f" and not _finite(out):
            _nonfinite(graph, node, out, number)


def _first_nonfinite(graph, prog, values, target, wrt, contributions) -> None:
    """Raise the error for the first nan/inf of a run: a forward step's output, else a gradient."""
    _first_nonfinite_output(graph, prog, values)
    if contributions:
        _first_nonfinite_gradient(graph, prog, _backward_plan(graph, target, wrt), contributions)


TINY_CHECK, SMALL_CHECK = 32, 8192
"""Arrays up to TINY_CHECK elements are checked by summing them as Python floats (no
NumPy call at all; a run sums all of its arrays that small in one go, see :func:`_small`),
up to SMALL_CHECK with one BLAS dot product, larger ones with a NumPy sum, which never
starts BLAS threads."""


def _finite(a: np.ndarray) -> bool:
    """All finite? One cheap reduction first; the full check only if it is not finite."""
    n = a.size
    if n <= TINY_CHECK:
        quick = sum(a.ravel().tolist())  # NaN and ±inf survive a sum (inf − inf is NaN)
    elif n <= SMALL_CHECK and a.dtype == np.float64 and a.flags.c_contiguous:
        quick = np.vdot(a, a)  # BLAS: NaN and ±inf survive a sum of squares; an overflow
    else:                      # (|x| > 1e154) only sends us to the full check
        quick = np.add.reduce(a, axis=None)
    return math.isfinite(quick) or bool(np.isfinite(a).all())


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


def _bad_target(graph: Graph, target: str) -> None:
    """Raise the error for a backward target that is not a computed node."""
    s = graph.scenario
    if target not in graph.nodes:
        raise NnlabError(f"backward names '{target}', which is not a node", s.backward_loc,
                         _hint_name(graph, target), kind="name")
    raise NnlabError(f"backward target '{target}' is an input, not a computed node", s.backward_loc,
                     "name the loss (or output) computed on a compute line.", kind="name")


def _backward(prog, plan, ops, values, grads, contributions, target, exact, record, checking, limit):
    """The backward pass; its steps (if recorded). Gradients to check of more than ``limit``
    elements per example are checked here (the caller checks the others together, see :func:`_small`)."""
    out = values[target]
    if exact:
        seed = np.full(out.shape, Fraction(1, out.shape[0]), dtype=object)  # mean over examples
    else:
        seed = np.empty(out.shape)
        seed.fill(1.0 / out.shape[0])
    seed.setflags(write=False)
    grads[target] = seed
    skipped = []  # ops no gradient reached
    ndarray = np.ndarray
    for nid, node, needs, default, check, width, wanted in plan.hot:
        g = grads.get(nid)
        if g is None:
            skipped.append(nid)
            if needs is None:  # (the plan's needs were set when the op was made; it keeps Op's own)
                ops[nid].needs = default
            continue
        op = ops[nid]
        if needs is not None:
            op.needs = needs
        try:
            vjps = op.backward(g)
        except (ZeroDivisionError, OverflowError) as exc:  # exact (Fraction) arithmetic
            raise NnlabError(f"{_arith_error(exc)} in the backward step of {prog.labels[nid]}", node.loc,
                             kind="nan") from None
        if len(vjps) < width:  # (fewer than the inputs: the rest get nothing)
            vjps = tuple(vjps) + (None,) * (width - len(vjps))
        checked = check and checking
        for slot, key, inp, size, once in wanted:
            vjp = vjps[slot]
            if vjp is None:
                continue
            if type(vjp) is not ndarray:
                vjp = np.asarray(vjp)
            shape = values[inp].shape
            if vjp.shape != shape:
                vjp = unbroadcast(vjp, shape)
            if exact and vjp.dtype == object and _outgrown(vjp):
                raise _Outgrown(f"the backward step of {prog.labels[nid]}", node.loc)
            contributions[key] = vjp
            if checked and size > limit and vjp.dtype.kind == "f" and not _finite(vjp):
                raise _NonFinite
            if once:  # (the plan's only gradient into inp)
                grads[inp] = vjp
                continue
            prev = grads.get(inp)
            if prev is None:
                grads[inp] = vjp
            else:
                total = grads[inp] = prev + vjp  # never in place
                total.setflags(write=False)
    if not record:
        return ()
    if not skipped and len(contributions) == plan.contributions:  # every op and input as planned
        return plan.steps
    return tuple(_backward_steps(plan, skipped, contributions, len(prog.forward_steps)))


class _NonFinite(Exception):
    """A nan/inf was seen; which array it is in is found afterwards (in order)."""


def _all_finite(arrays: Iterable[np.ndarray]) -> bool:
    """True if small arrays hold only finite numbers, by one Python sum of all their elements: a
    nan or ±inf survives a sum. False may also mean an overflow of finite numbers or an element
    that is no float: then the caller searches each array (:func:`_first_nonfinite`)."""
    try:
        return math.isfinite(sum(chain.from_iterable(map(_tolist, map(_ravel, arrays)))))
    except (TypeError, ValueError, ArithmeticError):
        return False


def _small(prog: _Program, plan: _BackwardPlan | None, work: tuple, limit: int) -> tuple[tuple, tuple, bool]:
    """The outputs (ids) and gradients (``Run.contributions`` keys) a checking run with ``work``
    (and ``plan``) checks together at the end: those of up to ``limit`` elements per example;
    and whether every output and gradient of such a run is that small."""
    owner = prog if plan is None else plan
    small = owner.works.get(limit)
    if small is None:
        outputs = tuple(nid for number, nid, node, cls, params, state, inputs, optional, check, size in work
                        if check and size <= limit)
        wanted = () if plan is None else [(check, key, size) for nid, node, needs, default, check, width, wanted
                                          in plan.hot for slot, key, inp, size, once in wanted]
        keys = tuple(key for check, key, size in wanted if check and size <= limit)
        every = all(entry[-1] <= limit for entry in work) and all(size <= limit for check, key, size in wanted)
        small = owner.works[limit] = outputs, keys, every
    return small


def _freeze(arrays: Iterable[np.ndarray]) -> None:
    """Make arrays read-only (one C-level pass: ``setflags(write=False)`` on each)."""
    any(map(_setflags, arrays, repeat(False)))


_ravel, _tolist, _setflags = np.ndarray.ravel, np.ndarray.tolist, np.ndarray.setflags
_present = partial(is_not, None)


def _first_nonfinite_gradient(graph, prog, plan, contributions) -> None:
    """Raise the error for the first contribution (in the order made) holding a nan or inf, if any."""
    info = {nid: (node, inputs, check) for nid, node, inputs, needs, check, keys in plan.live}
    for (nid, slot), c in contributions.items():
        node, inputs, check = info[nid]
        if check and c.dtype.kind == "f" and not _finite(c):
            raise NnlabError(f"the gradient into {graph.display(inputs[slot])} becomes nan/inf at the backward "
                             f"step of {prog.labels[nid]}", node.loc, kind="nan")


def _backward_steps(plan, skipped: list[str], contributions: dict, start: int) -> list[Step]:
    """The backward steps of a run where some op or input got no gradient (not the plan's)."""
    seen: dict[str, int] = {}
    steps = []
    for (nid, node, inputs, needs, check, keys), fields in zip(plan.live, plan.fields):
        if nid in skipped:
            continue
        acc = []
        for key, inp in zip(keys, inputs):
            if key in contributions:
                seen[inp] = k = seen.get(inp, 0) + 1
                acc.append((k, plan.uses.get(inp, 1)))
            else:
                acc.append((0, 0))
        steps.append(Step(start + len(steps), BACKWARD, nid, *fields, tuple(acc)))
    return steps


class _BackwardPlan:
    """The backward pass of one (graph, target, wrt), the same for every run of a training.

    Attributes:
        live: The ops the pass visits, in that order (reverse topological): id, node,
            inputs, which inputs need a gradient, whether to check for nan/inf, and the
            keys of their ``Run.contributions``.
        uses: How often each node is used.
        fields: Each backward step's fields after index, phase and node, except ``accumulates``.
        contributions: How many contributions a run makes when every op and input gets its gradient.
        steps: The backward steps of such a run (the usual one).
        trace: Its whole trace: the forward steps, then ``steps``.
        needs: Per op of ``live``, which inputs need a gradient (as in ``live``).
        hot: Per op of ``live``: id, node, needs (None: set when the op was made, see
            :func:`_work`), the op's own needs (for an op no gradient reaches), whether to
            check, how many gradients its backward must give (up to the last one needed),
            and the ``(slot, key, input, its elements per example, whether it is the input's
            only gradient)`` of each input that needs a gradient (what a run's loop reads).
        works: The forward loops' entries of runs with this plan (:func:`_work`), and what
            they check at the end (:func:`_small`).
    """

    __slots__ = ("contributions", "fields", "hot", "live", "needs", "steps", "trace", "uses", "works")


def _backward_plan(graph: Graph, target: str, wrt: frozenset[str] | None) -> _BackwardPlan:
    """The backward plan of (target, wrt), made once per graph."""
    key = (target, wrt)
    plan = graph.plans.get(key)
    if plan is None:
        ancestors = graph.ancestors(target)
        live_ops = [n for n in graph.order if n in ancestors]
        uses: dict[str, int] = {}
        for nid in live_ops:
            for i in graph.nodes[nid].inputs:
                uses[i] = uses.get(i, 0) + 1
        plan = _BackwardPlan()
        plan.live, plan.fields, plan.steps, plan.uses = [], [], [], uses
        seen: dict[str, int] = {}
        for nid in reversed(live_ops):
            node = graph.nodes[nid]
            needs = tuple(bool(i) and graph.nodes[i].kind != "const" and (wrt is None or i in wrt)
                          for i in node.op_inputs)
            title = backward_title(target, node.op.name,
                                   [graph.display(i) for i, need in zip(node.op_inputs, needs) if need])
            fields = (title, node.op.name, tuple(i or "" for i in node.op_inputs), node.line, node.shape)
            keys = tuple((nid, slot) for slot in range(len(node.op_inputs)))  # of Run.contributions
            plan.live.append((nid, node, node.op_inputs, needs, not type(node.op).keeps_finite, keys))
            plan.fields.append(fields)
            acc = []
            for inp, need in zip(node.op_inputs, needs):
                if need:
                    seen[inp] = k = seen.get(inp, 0) + 1
                    acc.append((k, uses.get(inp, 1)))
                else:
                    acc.append((0, 0))
            plan.steps.append(Step(len(graph.order) + len(plan.steps), BACKWARD, nid, *fields, tuple(acc)))
        plan.contributions = sum(seen.values())
        plan.live, plan.fields, plan.steps = tuple(plan.live), tuple(plan.fields), tuple(plan.steps)
        plan.needs = {nid: needs for nid, node, inputs, needs, check, keys in plan.live}
        plan.works = {}
        plan.trace = _program(graph).forward_steps + plan.steps
        states = {nid: state for nid, node, cls, params, state, *rest in _program(graph).ops}
        plan.hot = []
        for nid, node, inputs, needs, check, keys in plan.live:
            state = states[nid]
            wanted = tuple((slot, key, i, math.prod(graph.nodes[i].shape), seen[i] == 1)
                           for slot, (key, i, need) in enumerate(zip(keys, inputs, needs)) if need)
            plan.hot.append((nid, node, needs if state is None else None, state and state["needs"], check,
                             wanted[-1][0] + 1 if wanted else 0, wanted))
        plan.hot = tuple(plan.hot)
        graph.plans[key] = plan
    return plan


# ------------------------------------------------------------- training's updates


def gradients(graph: Graph, leaves: dict[str, np.ndarray], target: str,
              wrt: frozenset[str] | None = None,
              errors_ignored: bool = False) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Forward and backward in float64 with nothing recorded or checked: the values and gradients of
    one training update, the arithmetic of :func:`run_graph` (the same ops in the same order, so the
    same bits) without its trace.

    What is the same for every update is worked out once per (graph, target, wrt) and the op
    instances are reused (each forward starts with an empty ``saved``); the arrays are not made
    read-only, as nothing outside the update sees them. Training checks the loss and the new
    parameters itself and, on a nan/inf or an error, runs :func:`run_graph` to name the step.

    Args:
        graph: The compiled graph.
        leaves: Leaf arrays to use instead of the graph's (batch-first); keys that are not
            leaves of the graph are ignored.
        target: The node to differentiate (the loss); must be computed by an op.
        wrt: Only these nodes need gradients (as in :func:`run_graph`).
        errors_ignored: The caller has set ``np.errstate(all="ignore")`` already (training does,
            once for all its updates), so this call does not set it again.

    Returns:
        The values of every node and the gradients of ``target`` (``grads[target]`` is the seed).
    """
    lean = graph.plans.get(("lean", target, wrt))
    if lean is None:
        lean = graph.plans[("lean", target, wrt)] = _Lean(graph, target, wrt)
    values = dict(lean.base)
    get = leaves.get
    for nid in lean.leaf_ids:
        a = get(nid)
        if a is not None:
            values[nid] = a
    pool = lean.pool
    try:
        ops = pool.pop()
    except IndexError:  # the first update, or a thread replaying while another trains: a set of its own
        ops = lean.make()
    grads: dict[str, np.ndarray] = {}
    value, ndarray = values.__getitem__, np.ndarray
    try:
        with _QUIET if errors_ignored else np.errstate(all="ignore"):
            for op, nid, inputs, optional in lean.forward:
                xs = [values[i] if i else None for i in inputs] if optional else map(value, inputs)
                out = ops[op].forward(*xs)
                values[nid] = out if type(out) is ndarray else np.asarray(out)
            out = values[target]
            seed = np.empty(out.shape)
            seed.fill(1.0 / out.shape[0])
            grads[target] = seed
            for op, nid, slots in lean.backward:
                g = grads.get(nid)
                if g is None:
                    continue
                vjps = ops[op].backward(g)
                for slot, inp, once in slots:
                    vjp = vjps[slot]
                    if vjp is None:
                        continue
                    if type(vjp) is not ndarray:
                        vjp = np.asarray(vjp)
                    shape = values[inp].shape
                    if vjp.shape != shape:  # a parameter's gradient is the sum over the examples
                        vjp = (_add_reduce(vjp, axis=0, keepdims=True) if shape[0] == 1 and vjp.shape[1:] == shape[1:]
                               else unbroadcast(vjp, shape))  # (unbroadcast's first case, without its call)
                    if once:  # (the plan's only gradient into inp)
                        grads[inp] = vjp
                    else:
                        prev = grads.get(inp)
                        grads[inp] = vjp if prev is None else prev + vjp  # never in place
    finally:
        for op in ops:
            op.saved = {}  # forget this update's arrays (and start the next forward empty)
        pool.append(ops)
    return values, grads


_QUIET = contextlib.nullcontext()
_add_reduce = np.add.reduce


class _Lean:
    """What every :func:`gradients` call of one (graph, target, wrt) shares.

    Attributes:
        leaf_ids: The graph's leaves (what ``leaves`` may replace).
        base: The graph's own leaf arrays (float64).
        forward: Per op: its index in an op set, node id, input ids, whether an input is optional.
        backward: Per op the backward plan visits (in its order): index, node id, and the
            ``(slot, input, whether it is the input's only gradient)`` of each input that needs one.
        pool: Op sets not in use (one per thread that trains or replays at the same time).
    """

    __slots__ = ("_classes", "_needs", "backward", "base", "forward", "leaf_ids", "pool")

    def __init__(self, graph: Graph, target: str, wrt: frozenset[str] | None) -> None:
        prog = _program(graph)
        tnode = graph.nodes.get(target)
        if tnode is None or tnode.kind != "op":
            raise ValueError(f"no op computes {target!r}")  # run_graph gives the located error
        self.base = prog.leaf_arrays(graph, False)
        self.leaf_ids = tuple(self.base)
        index = {}
        self.forward, self._classes = [], []
        for k, (nid, node, cls, params, state, inputs, optional, check) in enumerate(prog.ops):
            index[nid] = k
            self.forward.append((k, nid, inputs, optional))
            self._classes.append((cls, params, state))
        self.forward = tuple(self.forward)
        plan = _backward_plan(graph, target, wrt)
        self._needs = {nid: needs for nid, node, inputs, needs, check, keys in plan.live}
        self.backward = tuple((index[nid], nid, tuple((slot, i, once) for slot, key, i, size, once in wanted))
                              for nid, node, needs, default, check, width, wanted in plan.hot)
        self.pool: list[list[Op]] = []

    def make(self) -> list[Op]:
        """A fresh set of op instances (float64), each with the plan's ``needs``."""
        ops = []
        for (cls, params, state), (k, nid, inputs, optional) in zip(self._classes, self.forward):
            if state is not None:
                op = _new(cls)
                op.__dict__ = dict(state, saved={})
            else:
                op = cls(**params)
            op.exact = False
            needs = self._needs.get(nid)
            if needs is not None:
                op.needs = needs
            ops.append(op)
        return ops


def _hint_name(graph: Graph, name: str) -> str | None:
    from nnlab.engine.graph import closest_name

    best = closest_name(graph, name)
    return f"did you mean '{best}'?" if best else None


def run_scenario(scenario: Scenario, **kwargs: Any) -> Run:
    """Build the graph of ``scenario`` and run it (see :func:`run_graph`)."""
    return run_graph(build_graph(scenario), **kwargs)
