"""Why an answer is wrong: follow-through marking and the misconception catalog.

``check`` says *where* an answer differs; this module says *why*, the way an exam
marker does (docs/diagnosis.md):

* **Follow-through** ("error carried forward"). Each answer is also recomputed from
  the user's own earlier answers (earlier in the trace): nnlab copies the graph and
  puts the user's values in place of those nodes (whole nodes or single elements,
  forward values or gradients), then re-runs only what the reference depends on.
  Matching what the user's accepted (✓) answers give accepts it (``via``);
  matching only with their wrong answers is ``carried-error``.
* **Misconceptions.** A wrong answer is recomputed under single changes students
  actually make — a copied graph with a leaf changed (a flipped kernel, ``W.T``,
  biases 0), an op's settings changed (stride, padding, softmax axis…), an op swapped
  for a private variant defined here (no activation, no σ′, ln → log₁₀…) or the
  result post-processed (the sign) — and every change that reproduces the answer
  within its tolerance is named. A change that does not reproduce it is never named.

Nothing here runs unless an answer is wrong, so ``nnlab check`` on right answers
costs what it cost before. Only public engine API is used: graphs are copied, not
patched, and training is replayed update by update with :func:`run_graph`.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from nnlab.check import CheckItem, CheckReport, ReferenceEvaluator, compare, learn_names
from nnlab.engine.graph import Graph, Node, build_graph
from nnlab.engine.ops.base import REGISTRY, Op, ShapeError
from nnlab.engine.run import Run, run_graph, to_float
from nnlab.engine.train import apply_update
from nnlab.engine.trace import BACKWARD, FORWARD
from nnlab.errors import NnlabError
from nnlab.numfmt import fmt
from nnlab.scenario.expr import BinOp, Call, Expr, Index, ListLit, Neg, Str, to_text
from nnlab.scenario.model import ExpectEntry
from nnlab.scenario.refs import Ref, RefError, RefKind, Snapshot, atom

CATALOG: dict[str, str] = {
    "carried-error": "the value recomputed from your own wrong earlier answers",
    "padding-convention": "the other padding reading (zeros per side ↔ the total p over both sides)",
    "stride-ignored": "stride 1 instead of the given stride",
    "kernel-flipped": "true convolution (kernel rotated 180°) instead of cross-correlation",
    "bias-missing": "the computation (or the parameter count) without the bias",
    "weights-transposed": "Wᵀ used in place of W",
    "activation-missing": "the pre-activation z instead of the activation",
    "activation-derivative-missing": "the chain without the activation's local derivative",
    "sign-flipped": "the negative of the true value",
    "mse-half": "the squared error with ½ where the scenario has none, or the other way round",
    "sum-vs-mean": "a sum where the scenario averages, or the other way round",
    "update-sign": "the update taken uphill (w + η·g)",
    "log-base": "log₁₀ or log₂ instead of ln",
    "attention-unscaled": "attention scores without the 1/√d_k (or with it, where scale= says otherwise)",
    "softmax-axis": "softmax over the other axis",
    "gru-update-swapped": "h′ = z·n + (1 − z)·h instead of z·h + (1 − z)·n",
    "gru-reset-variant": "the other reset placement (reset_before ↔ reset_after)",
    "step-at-zero": "the other value of step(0)",
    "avgpool-count-pad": "average pooling with the other count_include_pad",
    "rounding": "intermediate values rounded to 1–4 decimals",
}
"""Every diagnosis id (a contract: tools and tests rely on these names) and what it matches."""

_ORDER = list(CATALOG)
MAX_REPLAY = 300
"""Longest training replay (updates) a diagnosis may run; longer trainings skip rule changes."""
BUDGET = 3.0
"""Seconds a check may spend diagnosing; answers left after that keep their plain ✗."""


@dataclass(frozen=True)
class Finding:
    """One reason an answer may be what it is.

    Attributes:
        id: A :data:`CATALOG` id.
        message: One line in the lecture's words, with the right formula.
        step: The first step where the alternative differs from the true computation.
    """

    id: str
    message: str
    step: int | None = None
    value: Any = field(default=None, compare=False, repr=False)
    """The alternative's value for the reference (it reproduces the answer); not part of the JSON."""

    def as_json(self) -> dict:
        return {"id": self.id, "message": self.message, "step": self.step}


# --------------------------------------------------------------------------- private op variants


class _FixedGrad(Op):
    """Identity forward; backward hands on the user's gradient instead of the upstream one."""

    name = "fixed_grad"
    rational = True
    keeps_finite = True

    def infer(self, shape):
        return tuple(shape)

    def forward(self, x):
        return x

    def backward(self, g):
        v = self.params["grad"]
        return (_fractions(v) if self.exact else v,)


def _pinned(cls: type[Op], value: np.ndarray) -> type[Op]:
    """``cls`` whose output is the user's ``value`` (batch-first). What backward reads of the
    output is the user's too (σ′ = ŷ(1 − ŷ) with their ŷ, as they would write it)."""
    def forward(self, *xs):
        cls.forward(self, *xs)  # saves what backward needs from the inputs
        v = (value if value.dtype == object else _fractions(value)) if self.exact else value.astype(float)
        key = "p" if cls.name == "softmax" else "y"  # the output as saved by softmax / elementwise ops
        if key in self.saved:
            self.saved[key] = v
        return v

    pinned = _variant(cls, "Pinned", forward, None)
    pinned.pinned = True  # a user's value: misconceptions about this node cannot show through it
    return pinned


def _variant(cls: type[Op], tag: str, forward: Callable | None = None, backward: Callable | None = None) -> type[Op]:
    """A private subclass of ``cls`` with another forward or backward (never registered)."""
    body: dict[str, Any] = {"rational": False}
    if forward is not None:
        body["forward"] = forward
    if backward is not None:
        body["backward"] = backward
    return type(f"_{tag}_{cls.__name__}", (cls,), body)


def _identity_op(cls: type[Op]) -> type[Op]:
    """The activation left out: y = x."""
    return _variant(cls, "Identity", lambda self, x: np.asarray(x, dtype=float), lambda self, g: (g,))


def _no_derivative(cls: type[Op]) -> type[Op]:
    """The activation's local derivative left out of the chain (backward passes g)."""
    return _variant(cls, "NoDerivative", None, lambda self, g: (g,) + (None,) * (len(self.tensor_params) - 1))


def _scaled(cls: type[Op], k: float) -> type[Op]:
    """The op's output (and so its gradients) times ``k``: ½·MSE, log₁₀, the sum of a window…"""
    def forward(self, *xs):
        return np.asarray(to_float(cls.forward(self, *xs))) * k

    def backward(self, g):
        return tuple(None if v is None else np.asarray(to_float(v)) * k for v in cls.backward(self, g))

    return _variant(cls, "Scaled", forward, backward)


def _flipped_kernel(cls: type[Op]) -> type[Op]:
    def forward(self, X, K, b=None):
        return cls.forward(self, X, np.ascontiguousarray(np.asarray(K)[..., ::-1, ::-1]), b)
    return _variant(cls, "Flipped", forward, None)


def _pool_total(cls: type[Op]) -> type[Op]:
    """Pooling that reads ``padding`` as the total over both sides (extra on top/left)."""
    from nnlab.engine.ops.conv import make_window, pair, per_side

    def _window(self, xs):
        size = pair(self.params.get("size"), "size", self.name, 1)
        stride = self.params.get("stride")
        stride = size if stride is None else pair(stride, "stride", self.name, 1)
        pads = per_side(0, self.params.get("padding", 0), self.name)
        return make_window(self.name, f"X {tuple(xs)}", tuple(xs), size, stride, pads)

    return type(f"_Total_{cls.__name__}", (cls,), {"_window": _window, "rational": False})


def _rounded(cls: type[Op], d: int) -> type[Op]:
    def forward(self, *xs):
        out = cls.forward(self, *xs)
        return np.round(np.asarray(to_float(out), dtype=float), d)
    return _variant(cls, f"Round{d}", forward, None)


# --------------------------------------------------------------------------- graph surgery


def _copy_graph(graph: Graph) -> Graph:
    return Graph(graph.scenario, dict(graph.nodes), list(graph.order), list(graph.lines))


def _with_op(node: Node, op: Op, inputs: tuple[str, ...] | None = None) -> Node:
    new = copy.copy(node)
    new.op = op
    if inputs is not None:
        new.inputs = tuple(i for i in inputs if i)
        new.op_inputs = tuple(inputs)  # type: ignore[attr-defined]
    return new


def _wrap(graph: Graph, nid: str, op: Op, tag: str) -> None:
    """Put ``op`` (one input) on top of node ``nid``: the original moves to ``nid~tag``."""
    node = graph.nodes[nid]
    inner_id = f"{nid}~{tag}"
    inner = copy.copy(node)
    inner.id, inner.named = inner_id, False
    graph.nodes[inner_id] = inner
    graph.order.insert(graph.order.index(nid), inner_id)
    graph.nodes[nid] = _with_op(node, op, (inner_id,))


def _leaf(graph: Graph, nid: str, value: np.ndarray) -> None:
    """Give leaf ``nid`` another value (exact too, so an exact run stays exact)."""
    node = copy.copy(graph.nodes[nid])
    node.value = np.asarray(value, dtype=float)
    node.exact = None if graph.nodes[nid].exact is None else _fractions(node.value)
    graph.nodes[nid] = node


def _fractions(a: Any) -> np.ndarray:
    """A float array as exact decimals (``0.1`` → 1/10, as the student wrote it)."""
    return np.vectorize(lambda f: Fraction(repr(float(f))), otypes=[object])(np.asarray(a, dtype=float))


# --------------------------------------------------------------------------- user facts


@dataclass(frozen=True)
class _Fact:
    """A user's answer naming one node (or elements of it), usable in place of the truth."""

    item: CheckItem
    ref: Ref
    value: np.ndarray
    k: int  # the answer's position in the report


def _ref_nodes(e: Expr) -> list[Ref]:
    """Every reference an expression reads (``mean(loss)`` → loss)."""
    try:
        r = atom(e)
    except RefError:
        return []
    if r is not None:
        return [r]
    out: list[Ref] = []
    if isinstance(e, BinOp):
        return _ref_nodes(e.left) + _ref_nodes(e.right)
    if isinstance(e, Neg):
        return _ref_nodes(e.operand)
    if isinstance(e, Index):
        return _ref_nodes(e.value)
    if isinstance(e, ListLit):
        return [r for i in e.items for r in _ref_nodes(i)]
    if isinstance(e, Call):
        for a in list(e.args) + [v for _, v in e.kwargs]:
            out.extend(_ref_nodes(a))
    return out


def _public_to_internal(run: Run, name: str, public: np.ndarray, grad: bool) -> np.ndarray:
    internal = (run.grads.get(name) if grad else run.values[name])
    if internal is None:
        internal = np.zeros(run.values[name].shape)
    shape = internal.shape
    public = np.asarray(public, dtype=float)
    if public.shape == shape:
        return public
    return public.reshape(shape)


# --------------------------------------------------------------------------- the context


class _Context:
    """One check's run(s), answers and the evaluation of references under changes."""

    def __init__(self, session: Any, report: CheckReport, entries: tuple[ExpectEntry, ...]) -> None:
        self.run: Run = session.run
        self.steps = session.steps
        self.tr = session.training
        self.items = report.items
        self.entries = entries
        self.graph = self.run.graph if self.tr is None else self.tr.graph
        self.facts = self._facts()

    # -- answers as facts
    def _facts(self) -> list[_Fact]:
        out = []
        for k, (item, entry) in enumerate(zip(self.items, self.entries)):
            if item.error is not None or item.expected_value is None:
                continue
            try:
                ref = atom(entry.expr)
            except RefError:
                continue
            if ref is None or ref.kind not in (RefKind.VALUE, RefKind.GRAD) or not ref.is_element:
                continue
            v = item.expected_value
            if isinstance(v, (bool, np.bool_)):
                continue
            try:
                arr = np.asarray(v, dtype=float)
            except (TypeError, ValueError):
                continue
            out.append(_Fact(item, ref, arr, k))
        return out

    # -- evaluation
    def evaluate(self, entry: ExpectEntry, graph: Graph | None = None, *, sign: int = 1,
                 start: tuple[int, dict] | None = None) -> Any:
        """The value of ``entry``'s reference computed on ``graph`` (a changed copy), or None."""
        graph = graph or self.graph
        try:
            if self.tr is None:
                run = self._run(graph)
                value = ReferenceEvaluator(run).eval(entry.expr)
            else:
                value = self._train_eval(graph, entry, sign, start)
        except (NnlabError, ShapeError, ValueError, TypeError, KeyError, IndexError, ArithmeticError,
                AttributeError, RefError):
            return None
        return value

    def _run(self, graph: Graph) -> Run:
        target = self.run.target
        return run_graph(graph, target=target, arithmetic=self.run.arithmetic, check_finite=False)

    def matches(self, item: CheckItem, entry: ExpectEntry, value: Any) -> bool:
        if value is None or item.expected_value is None:
            return False
        try:
            return compare(value, item.expected_value, entry.abs_tol, entry.rel_tol)
        except (TypeError, ValueError):
            return False

    def differs(self, value: Any, item: CheckItem) -> bool:
        """Whether ``value`` is not just the true value again."""
        try:
            return not compare(value, item.actual, 0.0, 1e-9)
        except (TypeError, ValueError):
            return True

    # -- training
    def _schedule(self, updates: int) -> list[tuple[int, ...]]:
        """The examples of updates 1..``updates``: those training recorded, then (a changed rule may
        train longer) continued the way training orders them, which does not depend on the weights."""
        tr = self.tr
        recorded = [r.examples for r in tr.records[:updates]]
        if len(recorded) == updates:
            return recorded
        cfg = tr.config
        n = len(next(iter(tr.scenario.data.values())).array)
        size = 1 if cfg.rule == "perceptron" else n if cfg.batch is None else cfg.batch
        rng = np.random.default_rng(cfg.seed) if cfg.order == "shuffle" else None
        out: list[tuple[int, ...]] = []
        while len(out) < updates:
            order = rng.permutation(n) if cfg.order == "shuffle" else np.arange(n)
            for s in range(0, n, size):
                out.append(tuple(int(i) for i in order[s:s + size]))
        return out[:updates]

    def updates_of(self, snap: Snapshot | None) -> int:
        tr = self.tr
        if snap is None:
            return len(tr.snapshots) - 1
        if snap.unit == "epoch":
            if not 0 <= snap.k <= tr.epochs:
                raise ValueError("out of range")
            return tr.epoch_end[snap.k]
        if not 0 <= snap.k <= len(tr.records):
            raise ValueError("out of range")
        return snap.k

    def replay(self, graph: Graph, u: int, sign: int = 1, start: tuple[int, dict] | None = None) -> dict:
        """The parameters after ``u`` updates on ``graph`` (from the start, or ``start = (u0, params)``)."""
        tr = self.tr
        u0, params = start if start is not None else (0, dict(tr.snapshots[0]))
        if graph is tr.graph and sign == 1 and start is None:
            return dict(tr.snapshots[u])
        if u - u0 > MAX_REPLAY:
            raise ValueError("training too long to replay")
        for examples in self._schedule(u)[u0:u]:  # training's own update (its form, momentum, weight decay)
            params = apply_update(tr, params, examples, graph=graph, direction=sign)
        return params

    def _train_eval(self, graph: Graph, entry: ExpectEntry, sign: int, start: tuple[int, dict] | None) -> Any:
        tr = self.tr
        cache: dict[int, Run] = {}

        def run_for(u: int) -> Run:
            if u not in cache:
                params = self.replay(graph, u, sign, start if start is not None and start[0] <= u else None)
                leaves = tr.leaves_at(0, None)
                leaves.update(params)
                cache[u] = run_graph(graph, leaves, target=tr.loss_target, arithmetic=tr.arithmetic,
                                     check_finite=False)
            return cache[u]

        def hook(snap: Snapshot) -> tuple[Run, int]:
            return run_for(self.updates_of(snap)), 0

        snaps = [r.at for r in _ref_nodes(entry.expr) if r.kind is not RefKind.TRAIN]
        base = run_for(self.updates_of(None if not snaps or None in snaps else snaps[0]))
        return ReferenceEvaluator(base, hook, tr.facts(), 0).eval(entry.expr)

    # -- where a change first shows
    def first_difference(self, graph: Graph, item: CheckItem, sign: int = 1) -> int | None:
        """The first step of the true run whose value (then gradient) differs on ``graph``.

        In training: the update step of the first update whose parameters differ.
        """
        if self.tr is not None:
            return self._first_update_difference(graph, item, sign)
        try:
            alt = self._run(graph)
        except (NnlabError, ShapeError, ValueError, TypeError, KeyError, IndexError, ArithmeticError):
            return item.step
        base = self.run
        for phase, table, alt_table in ((FORWARD, base.values, alt.values), (BACKWARD, base.grads, alt.grads)):
            for st in base.steps:
                if st.phase != phase:
                    continue
                a, b = table.get(st.node), alt_table.get(st.node)
                if a is None or b is None:
                    continue
                a, b = to_float(a), to_float(b)
                if a.shape != b.shape or not np.allclose(a, b, rtol=1e-9, atol=1e-12):
                    return st.index
        return item.step


    def _first_update_difference(self, graph: Graph, item: CheckItem, sign: int) -> int | None:
        tr = self.tr
        params = dict(tr.snapshots[0])
        try:
            for u in range(1, min(len(tr.records), MAX_REPLAY) + 1):
                params = self.replay(graph, u, sign, (u - 1, params))
                if any(not np.allclose(to_float(params[p]), to_float(tr.snapshots[u][p]), rtol=1e-9, atol=1e-12)
                       for p in tr.params):
                    group = self.steps.group
                    return (u - 1) * group + group - len(tr.params)  # the first update step of update u
        except (NnlabError, ValueError, TypeError, KeyError, IndexError, ArithmeticError):
            pass
        return item.step


# --------------------------------------------------------------------------- follow-through


def _depends(ctx: _Context, entry: ExpectEntry) -> set[str]:
    """The nodes an answer's value depends on (forward ancestors; with a gradient, the target's)."""
    g = ctx.graph
    out: set[str] = set()
    target = ctx.run.target
    for r in _ref_nodes(entry.expr):
        if r.name not in g.nodes:
            continue
        if r.kind is RefKind.GRAD and target in g.nodes:
            out |= g.ancestors(target)
        elif r.kind in (RefKind.VALUE, RefKind.SHAPE, RefKind.SIZE):
            out |= g.ancestors(r.name)
        if r.kind is RefKind.PARAMS:
            out |= set(g.nodes)
    if any(r.kind is RefKind.PARAMS for r in _ref_nodes(entry.expr)):
        out |= set(g.nodes)
    if ctx.tr is not None:  # the parameters after an update depend on everything the update used
        out |= set(g.nodes)
    return out


def _substituted(ctx: _Context, facts: list[_Fact], run: Run | None = None) -> Graph:
    """A copy of the graph with the user's values (and gradients) in place of the truth.

    ``run`` gives the true values the user's elements are written into (default: the check's run).
    """
    g = _copy_graph(ctx.graph)
    run = run or ctx.run
    by_node: dict[tuple[str, bool], np.ndarray] = {}
    for f in facts:
        grad = f.ref.kind is RefKind.GRAD
        key = (f.ref.name, grad)
        if key not in by_node:
            base = run.grad(f.ref.name) if grad else run.value(f.ref.name)
            by_node[key] = np.array(to_float(base), dtype=float)
        arr = by_node[key]
        idx = tuple(f.ref.index)
        try:
            if idx:
                arr[idx] = f.value
            else:
                arr[...] = np.broadcast_to(f.value, arr.shape) if f.value.size in (1, arr.size) else f.value
        except (ValueError, IndexError):
            continue
    for (name, grad), public in by_node.items():
        node = g.nodes.get(name)
        if node is None or node.kind != "op":
            continue
        internal = _public_to_internal(run, name, public, grad)
        if grad:
            _wrap(g, name, _FixedGrad(grad=internal), "g")
        else:
            g.nodes[name] = _with_op(g.nodes[name], _pinned(type(node.op), internal)(**node.op.params))
    return g


def _earlier(ctx: _Context, item: CheckItem, entry: ExpectEntry) -> list[_Fact]:
    """The user's answers known before ``item``'s value, on the nodes it depends on."""
    if item.step is None:
        return []
    deps = _depends(ctx, entry)
    own = _ref_nodes(entry.expr)
    out = []
    for f in ctx.facts:
        if f.item is item or f.item.step is None or f.item.step >= item.step or f.ref.name not in deps:
            continue
        if f.ref.at is not None:
            continue
        if any(r.name == f.ref.name and r.kind == f.ref.kind for r in own):
            continue
        if ctx.graph.nodes[f.ref.name].kind != "op":
            continue
        out.append(f)
    return out


def _follow_through(ctx: _Context, item: CheckItem, entry: ExpectEntry) -> tuple[str, list[str], Any] | None:
    """``("accepted", via, value)``, ``("carried", via, value)`` or None (plain runs)."""
    earlier = _earlier(ctx, item, entry)
    if not earlier:
        return None
    good = [f for f in earlier if f.item.ok]
    bad = [f for f in earlier if not f.item.ok]

    found: list[Any] = [None]

    def works(facts: list[_Fact]) -> bool:
        if not facts:
            return False
        value = ctx.evaluate(entry, _substituted(ctx, facts))
        if ctx.matches(item, entry, value):
            found[0] = value
            return True
        return False

    for kind, facts in (("accepted", good), ("carried", good + bad)):
        if kind == "carried" and not bad:
            continue
        if not works(facts):
            continue
        needed = list(facts)
        for f in sorted(facts, key=lambda f: f.item.step):  # keep the latest answers it needs
            if len(needed) > 1 and works([x for x in needed if x is not f]):
                needed.remove(f)
        works(needed)
        if kind == "carried" and all(f.item.ok for f in needed):
            return "accepted", [f.item.ref for f in needed], found[0]
        return kind, [f.item.ref for f in needed], found[0]
    return None


def _train_follow_through(ctx: _Context, item: CheckItem, entry: ExpectEntry) -> tuple[str, list[str], Any] | None:
    """Training: recompute from the user's own answers — the parameters at the latest earlier
    snapshot they answered (training replayed from there), and values computed earlier in
    the same snapshot's run (``epoch(0).yhat`` before ``mean(epoch(0).loss)``)."""
    tr = ctx.tr
    refs = _ref_nodes(entry.expr)
    snaps = {r.at for r in refs}
    if not refs or None in snaps or len(snaps) != 1:
        return None
    try:
        u = ctx.updates_of(refs[0].at)
    except ValueError:
        return None
    names = {r.name for r in refs}
    before = set().union(*(ctx.graph.ancestors(n) for n in names if n in ctx.graph.nodes)) - names
    params = set(tr.params)
    cands: dict[int, list[_Fact]] = {}
    values: list[_Fact] = []
    for f in ctx.facts:
        if f.item is item or f.ref.at is None or f.ref.kind is not RefKind.VALUE:
            continue
        try:
            fu = ctx.updates_of(f.ref.at)
        except ValueError:
            continue
        if f.ref.name in params and (fu < u or (fu == u and not names & params)):
            cands.setdefault(fu, []).append(f)
        elif fu == u and f.ref.name in before and ctx.graph.nodes[f.ref.name].kind == "op":
            values.append(f)
    if not cands and not values:
        return None
    u0 = max(cands) if cands else u
    facts = cands.get(u0, [])
    start = {p: np.array(to_float(v), dtype=float) for p, v in tr.snapshots[u0].items()}
    for f in facts:
        arr = start[f.ref.name]
        try:
            if f.ref.index:
                arr[(0,) + tuple(f.ref.index)] = f.value
            else:
                arr[...] = np.asarray(f.value, dtype=float).reshape(arr.shape)
        except (ValueError, IndexError):
            return None
    if tr.arithmetic == "exact":
        start = {p: _fractions(v) for p, v in start.items()}
    graph = ctx.graph
    if values:  # the user's values at snapshot u: first the parameters there, then the values put in place
        try:
            params_u = ctx.replay(ctx.graph, u, 1, (u0, start)) if u0 < u else start
        except ValueError:
            return None
        leaves = tr.leaves_at(0, None)
        leaves.update(params_u)
        run_u = run_graph(ctx.graph, leaves, target=tr.loss_target, arithmetic=tr.arithmetic, check_finite=False)
        graph = _substituted(ctx, values, run_u)
        u0, start = u, params_u
    value = ctx.evaluate(entry, graph, start=(u0, start))
    if not ctx.matches(item, entry, value):
        return None
    used = facts + values
    return ("accepted" if all(f.item.ok for f in used) else "carried"), [f.item.ref for f in used], value


# --------------------------------------------------------------------------- the catalog


@dataclass
class _Alt:
    """One alternative computation: a changed graph (or rule), and what to say if it matches."""

    id: str
    message: str
    graph: Graph | None = None
    sign: int = 1
    post: Callable | None = None
    step: int | None = None  # known in advance (post-processing)
    drop: tuple[str, ...] = ()  # parameters left out of ``params``
    expr: Expr | None = None  # the reference itself read otherwise (``sum(loss)`` for ``mean(loss)``)


def _nodes_with(ctx: _Context, deps: set[str], *ops: str) -> list[Node]:
    nodes = ctx.graph.nodes
    return [nodes[n] for n in ctx.graph.order if n in deps and nodes[n].op is not None and nodes[n].op.name in ops
            and not getattr(nodes[n].op, "pinned", False)]


def _changed(ctx: _Context, nid: str, node: Node) -> Graph:
    g = _copy_graph(ctx.graph)
    g.nodes[nid] = node
    return g


@dataclass(frozen=True)
class _Ask:
    """What one wrong answer depends on: the nodes, the references, and what kind they are."""

    deps: set[str]
    refs: list[Ref]
    item: CheckItem
    entry: ExpectEntry

    @property
    def grad(self) -> bool:
        return any(r.kind is RefKind.GRAD for r in self.refs)

    @property
    def params(self) -> bool:
        return any(r.kind is RefKind.PARAMS for r in self.refs)

    @property
    def shape_only(self) -> bool:
        """Only shapes, sizes or counts: values, activations and signs do not matter."""
        return bool(self.refs) and all(r.kind in (RefKind.SHAPE, RefKind.SIZE, RefKind.PARAMS) for r in self.refs)


def _op_variant(ctx: _Context, node: Node, cls: type[Op], **params: Any) -> Graph:
    """The graph with ``node``'s op replaced by ``cls`` (same settings, some changed)."""
    return _changed(ctx, node.id, _with_op(node, cls(**{**node.op.params, **params})))


def _conv_pool_alts(ctx: _Context, ask: _Ask) -> list[_Alt]:
    """padding-convention, avgpool-count-pad, stride-ignored, kernel-flipped."""
    out = []
    for node in _nodes_with(ctx, ask.deps, "conv2d", "maxpool2d", "avgpool2d"):
        p, cls, rule = dict(node.op.params), type(node.op), _rule(node, ctx.graph)
        if node.op.name == "conv2d" and p.get("padding_total") is not None:
            t = p["padding_total"]
            out.append(_Alt("padding-convention", f"{node.id}: you read padding_total={t} as {t} zeros on each "
                            f"side; the lecture's p = {t} is the total over both sides: {rule}",
                            _op_variant(ctx, node, cls, padding=t, padding_total=None)))
        elif p.get("padding", 0) not in (0, [0, 0]):
            t = p["padding"]
            if node.op.name == "conv2d":
                alt = _op_variant(ctx, node, cls, padding=0, padding_total=t)
            else:  # pooling has no padding_total: a private variant reads it as a total
                alt = _op_variant(ctx, node, _pool_total(cls))
            out.append(_Alt("padding-convention", f"{node.id}: you read padding={t} as the total over both sides "
                            f"(the lecture's p); here it is {t} on each side: {rule}", alt))
            if node.op.name == "avgpool2d":
                cip = p.get("count_include_pad", True)
                out.append(_Alt("avgpool-count-pad", f"{node.id}: you divided by "
                                f"{'the real cells only' if cip else 'the whole window'}; with "
                                f"count_include_pad={cip} each window's sum is divided by "
                                f"{'kh·kw, padding zeros included' if cip else 'its real cells only'}",
                                _op_variant(ctx, node, cls, count_include_pad=not cip)))
        stride = p.get("stride") if node.op.name == "conv2d" or p.get("stride") is not None else p.get("size")
        if stride not in (1, [1, 1], None):
            out.append(_Alt("stride-ignored", f"{node.id}: you slid the window by 1; the stride is {stride}: {rule}",
                            _op_variant(ctx, node, cls, stride=1)))
        if node.op.name == "conv2d" and not ask.shape_only:
            out.append(_Alt("kernel-flipped", f"{node.id}: you rotated the kernel by 180° (true convolution); the "
                            "lecture's convolution is cross-correlation, no flip: "
                            "Y[i,j] = Σₐ,ᵦ X[i·s+a, j·s+b]·K[a,b] + b", _op_variant(ctx, node, _flipped_kernel(cls))))
    return out


def _bias_alts(ctx: _Context, ask: _Ask) -> list[_Alt]:
    """bias-missing: each bias (and all of them) set to 0 — or left out of ``params``."""
    biases = _biases(ctx, set(ctx.graph.nodes) if ask.shape_only else ask.deps)
    if ask.shape_only and not ask.params:  # size(W2) + size(b2): only the biases it counts
        biases = [b for b in biases if any(r.kind is RefKind.SIZE and r.name == b for r in ask.refs)]
    if not biases:
        return []
    out = []
    for group in [[b] for b in biases] + ([biases] if len(biases) > 1 else []):
        g = _copy_graph(ctx.graph)
        for b in group:
            _leaf(g, b, np.zeros_like(to_float(ctx.graph.nodes[b].value), dtype=float))
        what = f"the bias {group[0]}" if len(group) == 1 else f"the biases {', '.join(group)}"
        if ask.shape_only:
            count = sum(int(np.prod(ctx.graph.nodes[b].shape)) for b in group)
            message = (f"you left out {what} ({count} parameter{'s' if count != 1 else ''}): params counts the "
                       "weights and the biases (one per unit or filter)")
        else:
            message = f"you left out {what}: z = W·x + b adds it to the weighted sum"
        out.append(_Alt("bias-missing", message, g, drop=tuple(group)))
    return out


def _weight_alts(ctx: _Context, ask: _Ask) -> list[_Alt]:
    """weights-transposed: a square weight matrix used as Wᵀ."""
    out = []
    if ask.shape_only:
        weights = {i for n in _nodes_with(ctx, set(ctx.graph.nodes), "matmul", "affine") for i in n.op_inputs[:2]}
        for r in ask.refs:
            node = ctx.graph.nodes.get(r.name)
            if r.kind is RefKind.SHAPE and r.name in weights and node is not None and len(node.shape) == 2:
                out.append(_Alt("weights-transposed", f"you gave the shape of {r.name}ᵀ: {r.name} @ x has one row "
                                "per unit of the layer (rows = outputs, columns = inputs)",
                                post=lambda v: list(reversed(list(np.asarray(v).tolist())))))
        return out
    for node in _nodes_with(ctx, ask.deps, "matmul", "affine"):
        for nid in node.op_inputs[:2]:
            w = ctx.graph.nodes[nid] if nid else None
            if w is None or w.kind != "value" or len(w.shape) != 2 or w.shape[0] != w.shape[1]:
                continue
            g = _copy_graph(ctx.graph)
            _leaf(g, w.id, to_float(w.value).T)
            out.append(_Alt("weights-transposed", f"you used {w.id}ᵀ: row i of {w.id} holds the weights into "
                            f"unit i, so z[i] = Σⱼ {w.id}[i, j]·x[j]", g))
    return out


_SHOWN = {"sigmoid": "σ", "tanh": "tanh", "relu": "relu"}
_DERIVATIVE = {"sigmoid": "σ′ = {a}(1 − {a})", "tanh": "tanh′ = 1 − {a}²", "relu": "relu′ = 1 where z > 0, else 0"}


def _activation_alts(ctx: _Context, ask: _Ask) -> list[_Alt]:
    """activation-missing (forward), activation-derivative-missing (backward)."""
    out = []
    if ask.shape_only:
        return out
    users = ctx.graph.consumers()
    for node in _nodes_with(ctx, ask.deps, *_SHOWN):
        f, z = _SHOWN[node.op.name], _arg(ctx.graph, node)
        out.append(_Alt("activation-missing", f"you used the pre-activation {z} instead of {node.id} = {f}({z})",
                        _op_variant(ctx, node, _identity_op(type(node.op)))))
        cancels = users.get(node.id) and all(ctx.graph.nodes[u].op.name in ("bce", "cross_entropy")
                                             for u in users[node.id])
        if ask.grad and not cancels:  # σ′ of an output feeding bce cancels: ∂ℓ/∂z = ŷ − y
            d = _DERIVATIVE[node.op.name].format(a=node.id)
            out.append(_Alt("activation-derivative-missing", f"your chain leaves out the local derivative of "
                            f"{node.id} = {f}(…): multiply by {d}", _op_variant(ctx, node, _no_derivative(type(node.op)))))
    return out


def _loss_alts(ctx: _Context, ask: _Ask) -> list[_Alt]:
    """mse-half, sum-vs-mean (reductions, mean/sum, pooling windows, the batch), log-base."""
    out = []
    if ask.shape_only:
        return out
    for node in _nodes_with(ctx, ask.deps, "mse"):
        out.append(_Alt("mse-half", f"you used ½(ŷ − y)²; {node.id} here has no ½: ℓ = (ŷ − y)², ∂ℓ/∂ŷ = 2(ŷ − y)",
                        _op_variant(ctx, node, _scaled(type(node.op), 0.5))))
    for node in _nodes_with(ctx, ask.deps, "mul", "div"):
        if _halves_a_square(ctx.graph, node):
            out.append(_Alt("mse-half", f"you left out the ½ of {node.id}: ℓ = ½(ŷ − y)², ∂ℓ/∂ŷ = ŷ − y",
                            _op_variant(ctx, node, _scaled(type(node.op), 2.0))))
    for node in _nodes_with(ctx, ask.deps, "mse", "bce", "bce_logits", "cross_entropy"):
        r = node.op.params.get("reduction", "mean")
        if r in ("mean", "sum"):
            other = "sum" if r == "mean" else "mean"
            out.append(_Alt("sum-vs-mean", f"you took the {other} of {node.id}'s terms; the scenario takes the {r} "
                            f"(reduction='{r}')", _op_variant(ctx, node, type(node.op), reduction=other)))
    for node in _nodes_with(ctx, ask.deps, "mean", "sum"):
        other = "sum" if node.op.name == "mean" else "mean"
        out.append(_Alt("sum-vs-mean", f"you took the {other} where {node.id} takes the {node.op.name}",
                        _op_variant(ctx, node, REGISTRY[other])))
    for node in _nodes_with(ctx, ask.deps, "avgpool2d"):
        kh, kw = _pair(node.op.params.get("size"))
        out.append(_Alt("sum-vs-mean", f"{node.id}: you summed each window; average pooling divides the sum by "
                        f"{kh}·{kw} = {kh * kw}", _op_variant(ctx, node, _scaled(type(node.op), kh * kw))))
    e = ask.entry.expr
    if isinstance(e, Call) and e.func in ("mean", "sum") and e.target is None and len(e.args) == 1:
        other = "sum" if e.func == "mean" else "mean"
        out.append(_Alt("sum-vs-mean", f"you took the {other} where the reference takes the {e.func}: "
                        f"{to_text(e)}", expr=e._replace(func=other), step=ask.item.step))
    n = ctx.run.batch
    if ask.grad and n > 1:
        out.append(_Alt("sum-vs-mean", f"you summed the gradient over the {n} examples; the loss is the mean over "
                        f"the batch, L = (1/{n})·Σ ℓ, so its gradient is the mean too",
                        post=lambda v: np.asarray(v, dtype=float) * n, step=ask.item.step))
    for node in _nodes_with(ctx, ask.deps, "log", "bce", "bce_logits", "cross_entropy"):
        for base, k in (("log₁₀", 1 / math.log(10)), ("log₂", 1 / math.log(2))):
            out.append(_Alt("log-base", f"you used {base} in {node.id}; log in the lecture (and here) is the natural "
                            "log ln", _op_variant(ctx, node, _scaled(type(node.op), k))))
    return out


def _attention_alts(ctx: _Context, ask: _Ask) -> list[_Alt]:
    """attention-unscaled, softmax-axis."""
    out = []
    if ask.shape_only:
        return out
    for node in _nodes_with(ctx, ask.deps, "attention_scores"):
        dk = ctx.graph.nodes[node.inputs[0]].shape[-1]
        scale = node.op.params.get("scale")
        if scale is None:
            out.append(_Alt("attention-unscaled", f"you left out the 1/√d_k of {node.id}: r[i,j] = ⟨q_i, k_j⟩/√{dk}",
                            _op_variant(ctx, node, type(node.op), scale=1)))
        else:  # the scenario sets the scale: the mistake is the textbook's 1/√d_k instead
            out.append(_Alt("attention-unscaled", f"you divided {node.id} by √d_k = √{dk}; here the scale is "
                            f"{fmt(scale)} (scale={fmt(scale)}): r[i,j] = ⟨q_i, k_j⟩·{fmt(scale)}",
                            _op_variant(ctx, node, type(node.op), scale=None)))
    for node in _nodes_with(ctx, ask.deps, "softmax", "log_softmax"):
        if len(node.shape) == 2 and node.op.params.get("mask") is None:
            axis = node.op.params.get("axis", -1)
            other = 0 if axis in (-1, 1) else -1
            out.append(_Alt("softmax-axis", f"you normalised {node.id} over the {'columns' if other == 0 else 'rows'};"
                            f" softmax(axis={axis}) makes each {'row' if other == 0 else 'column'} sum to 1",
                            _op_variant(ctx, node, type(node.op), axis=other)))
    return out


def _step_alts(ctx: _Context, ask: _Ask) -> list[_Alt]:
    """step-at-zero (in training, the whole training re-run with the other step(0))."""
    out = []
    for node in _nodes_with(ctx, ask.deps, "step"):
        z = node.op.params.get("at_zero", 0)
        for other in ((1,) if z == 0 else (0,) if z == 1 else (0, 1)):
            why = "ŷ = 1 only if z > 0" if z == 0 else "set by options.step_at_zero"
            out.append(_Alt("step-at-zero", f"you took step(0) = {other}; here step(0) = {fmt(z)} ({why})",
                            _op_variant(ctx, node, type(node.op), at_zero=other)))
    return out


def _rule_alts(ctx: _Context, ask: _Ask) -> list[_Alt]:
    """update-sign (training re-run uphill), sign-flipped (the value negated)."""
    out = []
    if ask.shape_only:
        return out
    if ctx.tr is not None and not ask.grad and any(r.at is not None and r.at.k > 0 for r in ask.refs):
        rule = ("w ← w + η(y − ŷ)x, not + η(ŷ − y)x" if ctx.tr.config.rule == "perceptron"
                else "w ← w − η·∂L/∂w: downhill, against the gradient")
        out.append(_Alt("update-sign", f"you updated with the wrong sign: {rule}", sign=-1))
    why = ("check ŷ − y against y − ŷ (∂ℓ/∂ŷ for the loss as written)" if ask.grad
           else "check each subtraction and the signs of the numbers you multiplied")
    out.append(_Alt("sign-flipped", f"your value has the wrong sign: {why}",
                    post=lambda v: -np.asarray(v, dtype=float), step=ask.item.step))
    return out


def _gru_alts(ctx: _Context, ask: _Ask) -> list[_Alt]:
    """gru-reset-variant (the scenario rebuilt with the other variant), gru-update-swapped."""
    out = []
    if ask.shape_only:
        return out
    s = ctx.graph.scenario
    for k, eq in enumerate(s.equations):
        e = eq.expr
        if not (isinstance(e, Call) and e.func == "gru_cell") or eq.name not in ask.deps:
            continue
        variant = dict(e.kwargs).get("variant")
        now = variant.value if isinstance(variant, Str) else "reset_after"
        other = "reset_before" if now == "reset_after" else "reset_after"
        kwargs = tuple((kk, v) for kk, v in e.kwargs if kk != "variant") + (("variant", Str(other)),)
        eqs = list(s.equations)
        eqs[k] = eq._replace(expr=e._replace(kwargs=kwargs))
        try:
            g = build_graph(s._replace(equations=tuple(eqs)))
        except NnlabError:
            g = None
        if g is not None:
            where = "r ⊙ (W_hn·h + b_hn)" if now == "reset_after" else "W_hn·(r ⊙ h)"
            out.append(_Alt("gru-reset-variant", f"{eq.name}: you used the {other} GRU; this scenario's "
                            f"variant='{now}' puts the reset gate at {where}", g))
        swapped = _gru_swapped(ctx.graph, eq.name)
        if swapped is not None:
            out.append(_Alt("gru-update-swapped", f"{eq.name}: you blended h′ = z·n + (1 − z)·h; the lecture's GRU "
                            "keeps the old state where z ≈ 1: h′ = z ⊙ h + (1 − z) ⊙ n", swapped))
    return out


def _gru_swapped(graph: Graph, name: str) -> Graph | None:
    """The GRU's blend ``z*h + (1 - z)*n`` rewired as ``z*n + (1 - z)*h``."""
    blend = graph.nodes.get(name)
    if blend is None or blend.op is None or blend.op.name != "add" or len(blend.inputs) != 2:
        return None
    a, b = (graph.nodes[i] for i in blend.inputs)
    if a.op is None or b.op is None or a.op.name != "mul" or b.op.name != "mul":
        return None
    h_id, n_id = a.op_inputs[1], b.op_inputs[1]
    g = _copy_graph(graph)
    g.nodes[a.id] = _with_op(a, a.op, (a.op_inputs[0], n_id))
    g.nodes[b.id] = _with_op(b, b.op, (b.op_inputs[0], h_id))
    return g


FAMILIES = (_conv_pool_alts, _bias_alts, _weight_alts, _activation_alts, _loss_alts, _attention_alts, _gru_alts,
            _step_alts, _rule_alts)
"""Each family proposes the alternatives it knows for one wrong answer (cheap: no run yet)."""


def _alternatives(ctx: _Context, entry: ExpectEntry, item: CheckItem) -> list[_Alt]:
    ask = _Ask(_depends(ctx, entry), _ref_nodes(entry.expr), item, entry)
    return [alt for family in FAMILIES for alt in family(ctx, ask)]


def _biases(ctx: _Context, deps: set[str]) -> list[str]:
    g = ctx.graph
    out: list[str] = []
    for nid in g.order:
        if nid not in deps:
            continue
        node = g.nodes[nid]
        cand = None
        if node.op.name == "affine":
            cand = node.op_inputs[2]
        elif node.op.name == "conv2d" and len(node.op_inputs) > 2:
            cand = node.op_inputs[2]
        elif node.op.name == "add":
            a, b = (g.nodes[i] for i in node.inputs[:2]) if len(node.inputs) == 2 else (None, None)
            if a is not None and a.kind == "op" and a.op.name in ("matmul", "conv2d") and b.kind == "value":
                cand = b.id
            elif b is not None and b.kind == "op" and b.op.name in ("matmul", "conv2d") and a.kind == "value":
                cand = a.id
        if cand and g.nodes[cand].kind == "value" and cand not in out:
            out.append(cand)
    return out


def _halves_a_square(g: Graph, node: Node) -> bool:
    """True if ``node`` halves a squared error (``0.5 * mse(…)``, ``(ŷ − y)**2 / 2``)."""
    ins = [g.nodes[i] for i in node.inputs]
    if len(ins) != 2:
        return False
    const = [n for n in ins if n.kind == "const"]
    other = [n for n in ins if n.kind != "const"]
    if len(const) != 1 or len(other) != 1 or other[0].kind != "op":
        return False
    c = float(const[0].value)
    squared = other[0].op.name == "mse" or (other[0].op.name == "pow" and any(
        g.nodes[i].kind == "const" and float(g.nodes[i].value) == 2 for i in other[0].inputs))
    if not squared:
        return False
    return (node.op.name == "mul" and c == 0.5) or (node.op.name == "div" and c == 2 and ins[1].kind == "const")


def _arg(g: Graph, node: Node) -> str:
    return g.display(node.inputs[0]) if node.inputs else "z"


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _rule(node: Node, g: Graph) -> str:
    """The output-size formula with this node's numbers, as ``shape_rule`` prints it."""
    try:
        shapes = [g.nodes[i].shape if i else None for i in node.op_inputs]
        return node.op.shape_rule(*shapes) or f"output {'×'.join(map(str, node.shape))}"
    except (ShapeError, TypeError, ValueError):
        return f"output {'×'.join(map(str, node.shape))}"


# --------------------------------------------------------------------------- shapes without running


class _Shapes:
    """Just enough of a :class:`Run` for shape, size and ``params`` references: shapes, no values."""

    target = None

    def __init__(self, graph: Graph, shapes: dict[str, tuple[int, ...]], drop: tuple[str, ...]) -> None:
        self.graph, self.scenario, self._shapes, self._drop = graph, graph.scenario, shapes, drop

    def has(self, name: str) -> bool:
        return name in self._shapes

    def value(self, name: str) -> np.ndarray:
        return np.broadcast_to(np.float64(0), (0,) if name in self._drop else self._shapes[name])


def _shape_eval(ctx: _Context, graph: Graph, entry: ExpectEntry, drop: tuple[str, ...] = ()) -> Any:
    """An expression of shape/size/params references on a changed graph, by shape inference only (no run)."""
    shapes: dict[str, tuple[int, ...]] = {n: node.shape for n, node in graph.nodes.items() if node.kind != "op"}
    try:
        for nid in graph.order:
            node = graph.nodes[nid]
            shapes[nid] = tuple(node.op.infer(*[shapes[i] if i else None for i in node.op_inputs]))
        return ReferenceEvaluator(_Shapes(graph, shapes, drop)).eval(entry.expr)  # type: ignore[arg-type]
    except (ShapeError, NnlabError, TypeError, ValueError, KeyError):
        return None


# --------------------------------------------------------------------------- diagnosing


def _diagnose_item(ctx: _Context, item: CheckItem, entry: ExpectEntry) -> CheckItem:
    findings: list[Finding] = []
    via: list[str] = []
    # follow-through first: an answer right for the user's own values is accepted
    ft = _train_follow_through(ctx, item, entry) if ctx.tr is not None else _follow_through(ctx, item, entry)
    if ft is not None:
        kind, via, carried_value = ft
        if kind == "accepted":
            return item._replace(ok=True, via=tuple(via), diagnosis=())
        findings.append(Finding("carried-error", _carried_message(ctx, via), item.step, carried_value))
    refs = _ref_nodes(entry.expr)
    shape_ref = ctx.tr is None and bool(refs) and all(
        r.kind in (RefKind.SHAPE, RefKind.SIZE, RefKind.PARAMS) and r.at is None for r in refs)
    seen: set[str] = set()
    for base, actual, own in _bases(ctx, item, entry):
        for alt in _alternatives(base, entry, item):
            if alt.id in seen:
                continue
            value = _alt_value(base, alt, entry, actual, shape_ref)
            if value is None or not ctx.differs(value, item) or not ctx.matches(item, entry, value):
                continue
            if alt.step is not None or (alt.graph is None and alt.sign == 1):
                step = alt.step
            elif shape_ref:
                step = _shape_step(ctx, alt.graph, item)
            else:
                step = ctx.first_difference(alt.graph or base.graph, item, alt.sign)
            message = alt.message + (f" (computed from your own {', '.join(own)})" if own else "")
            findings.append(Finding(alt.id, message, step, value))
            seen.add(alt.id)
    if not any(f.id != "carried-error" for f in findings) and ctx.tr is None and not shape_ref:
        r = _rounding(ctx, item, entry)
        if r is not None:
            findings.append(r)
    findings.sort(key=lambda f: (f.id != "carried-error", _ORDER.index(f.id) if f.id in _ORDER else 99))
    return item._replace(diagnosis=tuple(findings), via=tuple(via))


def _bases(ctx: _Context, item: CheckItem, entry: ExpectEntry):
    """Where misconceptions are tried: the true computation, then the one from the user's accepted
    answers (a sign error made on a rounded ŷ reproduces only from that ŷ).

    Yields:
        ``(context, the reference's value there, the answers it uses)``.
    """
    yield ctx, item.actual, []
    if ctx.tr is not None:
        return
    good = [f for f in _earlier(ctx, item, entry) if f.item.ok]
    if not good:
        return
    g = _substituted(ctx, good)
    value = ctx.evaluate(entry, g)
    if value is None or not ctx.differs(value, item):
        return
    mine = copy.copy(ctx)
    mine.graph = g
    yield mine, value, [f.item.ref for f in good if ctx.differs(f.value, f.item)]


def _carried_message(ctx: _Context, via: list[str]) -> str:
    ok = {i.ref: i.ok for i in ctx.items}
    wrong = [r for r in via if not ok.get(r, False)]
    mine = [r for r in via if ok.get(r, False)]
    many = len(wrong) > 1
    text = (f"right method, but the number follows from your earlier answer{'s' if many else ''} "
            f"{', '.join(wrong)}, which {'are' if many else 'is'} wrong: fix {'those' if many else 'that'} first")
    return text + (f" (with your own {', '.join(mine)})" if mine else "")


def _alt_value(ctx: _Context, alt: _Alt, entry: ExpectEntry, actual: Any, shape_ref: bool) -> Any:
    """The reference's value under ``alt`` (shapes by inference alone), or None if it cannot be had.

    ``actual`` is the reference's value without the change (what post-processing starts from).
    """
    if alt.post is not None:  # post-processing the value: nothing to re-run
        return alt.post(actual)
    if alt.expr is not None:
        return ctx.evaluate(entry._replace(expr=alt.expr))
    if shape_ref:
        return _shape_eval(ctx, alt.graph or ctx.graph, entry, alt.drop) if alt.graph is not None or alt.drop \
            else None
    return ctx.evaluate(entry, alt.graph, sign=alt.sign)


def _shape_step(ctx: _Context, graph: Graph, item: CheckItem) -> int | None:
    for nid in ctx.graph.order:
        if graph.nodes.get(nid) is not ctx.graph.nodes[nid]:
            st = ctx.run.step_of(nid, FORWARD)
            return st.index if st is not None else item.step
    return item.step


def _rounding(ctx: _Context, item: CheckItem, entry: ExpectEntry) -> Finding | None:
    deps = _depends(ctx, entry)
    own = {r.name for r in _ref_nodes(entry.expr)}  # the answer itself is not rounded, only what it uses
    named = [n for n in ctx.graph.order if n in deps and ctx.graph.nodes[n].named and n not in own]
    if not named:
        return None
    for d in (4, 3, 2, 1):
        g = _copy_graph(ctx.graph)
        for nid in named:
            node = g.nodes[nid]
            g.nodes[nid] = _with_op(node, _rounded(type(node.op), d)(**node.op.params))
        value = ctx.evaluate(entry, g)
        if value is not None and ctx.differs(value, item) and ctx.matches(item, entry, value):
            return Finding("rounding", f"your value is what rounding the intermediate values to {d} decimal"
                           f"{'s' if d > 1 else ''} gives; keep more digits until the end (the error grows "
                           "along the chain)", ctx.first_difference(g, item), value)
    return None


def diagnose(session: Any, report: CheckReport, entries: tuple[ExpectEntry, ...] | None = None) -> CheckReport:
    """Follow-through marking and misconceptions for every wrong answer of ``report``.

    Args:
        session: The :class:`~nnlab.session.Session` the report was made from.
        report: Its plain check report.
        entries: The entries checked (default: the scenario's ``expect``).

    Returns:
        The report with ``diagnosis`` and ``via`` filled in; answers right for the
        user's own accepted values become ``ok`` (with ``via``).
    """
    entries = session.scenario.expect if entries is None else entries
    if report.ok or len(report.items) != len(entries):
        return report
    ctx = _Context(session, report, entries)
    items = list(report.items)
    order = sorted(range(len(items)), key=lambda k: (items[k].step if items[k].step is not None else 10**9, k))
    deadline = time.perf_counter() + BUDGET
    for k in order:
        item = items[k]
        if item.ok or item.error is not None or item.actual is None or item.unanswered:
            continue
        if time.perf_counter() > deadline:
            break
        try:
            items[k] = _diagnose_item(ctx, item, entries[k])
        except Exception:  # noqa: BLE001 — a diagnosis is extra: a failure in it must never cost the check
            continue
        # an answer accepted through follow-through counts as accepted for later answers
        ctx.items = tuple(items)
        ctx.facts = [replace(f, item=items[f.k]) for f in ctx.facts]
    return CheckReport(tuple(items))


def step_zero_notice(session: Any) -> str | None:
    """A note when a ``step`` saw exactly 0 anywhere (its value there is a convention), else None.

    Training is looked at update by update, on the example(s) each update used; the
    first zero found is reported.
    """
    graph = session.run.graph
    steps = [n for n in graph.order if graph.nodes[n].op is not None and graph.nodes[n].op.name == "step"]
    if not steps:
        return None
    tr = session.training

    def runs():
        if tr is None:
            yield None, session.run
            return
        for u, rec in enumerate(tr.records):
            yield rec.number, tr.run_at(u, rec.examples, record=False)
        yield None, session.run

    for update, run in runs():
        for nid in steps:
            arg = graph.nodes[nid].inputs[0]
            z = run.values.get(arg)
            if z is None or not np.any(to_float(z) == 0):
                continue
            at = graph.nodes[nid].op.params.get("at_zero", 0)
            where = f" at update {update}" if update is not None else ""
            return (f"note: {graph.display(nid)} = step({graph.display(arg)}) saw exactly 0{where}, where its value is "
                    f"a convention: here step(0) = {fmt(at)} (options.step_at_zero; the lecture's step is 1 only "
                    "if z > 0)")
    return None


__all__ = ["CATALOG", "Finding", "diagnose", "step_zero_notice"]


def alternative_answers(session: Any, entry: ExpectEntry) -> list[tuple[str, Any]]:
    """The reference's value under each catalog misconception that applies to it (exercise distractors).

    ``entry``'s answer should be the right one: it sets the tolerance that decides which
    alternatives differ from it. Alternatives whose value cannot be had, or equals the
    right answer within that tolerance, are left out; each id appears once.

    Returns:
        ``[(diagnosis id, value)]`` in catalog order.
    """
    report = session.check((entry,), diagnose=False)
    item = report.items[0]
    if item.actual is None or item.error is not None:
        return []
    ctx = _Context(session, report, (entry,))
    refs = _ref_nodes(entry.expr)
    shape_ref = ctx.tr is None and bool(refs) and all(
        r.kind in (RefKind.SHAPE, RefKind.SIZE, RefKind.PARAMS) and r.at is None for r in refs)
    out: dict[str, Any] = {}
    for alt in _alternatives(ctx, entry, item):
        if alt.id in out:
            continue
        try:
            value = _alt_value(ctx, alt, entry, item.actual, shape_ref)
        except (NnlabError, ShapeError, ArithmeticError, ValueError):
            continue
        if value is not None and ctx.differs(value, item):
            out[alt.id] = value
    return sorted(out.items(), key=lambda kv: _ORDER.index(kv[0]) if kv[0] in _ORDER else 99)
