"""The chain rule for one element, written out: every path, every factor, their sum.

``chain_for(run, "grad(W1)[0, 0]")`` answers the question the lecture answers by hand:
which chain of local derivatives connects the loss to this one number, what is each
factor in symbols and in numbers, and does their product equal what backprop
computed? The result is data (:class:`Chain`); views only lay it out
(:func:`format_chain` for the CLI).

How it is built. The steps of the chain are the *named* nodes — the compute lines,
the composite parts (``h1.r``) and the leaves — as a student writes them; unnamed
sub-expressions inside a line (``W1 @ x`` in ``z1 = W1 @ x + b1``) are folded into
their line, so ``∂z1[0]/∂W1[0,0] = x[0]`` rather than ``1 · x[0]``. Each line's
elements are sympy expressions in the element symbols of its inputs (built from the
graph by :mod:`nnlab.symbolic.ops`); a factor is ``sympy.diff`` of one output element
by one input element, then written with the line's own output where that is how the
lecture writes it (``σ(z)(1 − σ(z))`` → ``a1[0]·(1 − a1[0])``). The numbers come from
substituting the run's values into the symbolic factor — never from the engine's
backward — so the comparison with backprop at the end is a real check.

Paths. An element can reach the target along several paths (an input feeding every
hidden unit, a weight used at every time step); each is listed (up to
:data:`MAX_PATHS`) and all of them are summed by dynamic programming, so the total
is exact even when only some paths are shown. With a data set the target is the
mean over examples, so the sum runs over examples too, times 1/N.

Simplifications the lecture uses are applied to adjacent factors and named in
:attr:`Chain.notes`: sigmoid + BCE → ŷ − y; ``bce_logits`` gives σ(z) − y in one
factor; ``cross_entropy`` gives p − onehot in one factor.

Results are cached per (scenario path + text hash + leaf values, reference).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from nnlab.errors import NnlabError, did_you_mean
from nnlab.numfmt import fmt, fmt_index
from nnlab.scenario.refs import Ref, RefKind, parse_ref
from nnlab.symbolic.expand import const_array, elem_symbol, example_of, symbols_of
from nnlab.symbolic.ops import NEEDS_NUMBERS, NoSymbolicForm, forward, number
from nnlab.symbolic.printing import latex, tidy, unicode

MAX_PATHS = 12
"""Paths listed in a chain (all paths are summed)."""
MAX_EDGES = 20_000
"""Element-to-element factors a chain may need before it is refused as too large."""
MAX_COST = 100_000
"""Elements (outputs plus inputs of every op between the element and the target) a chain may span."""
CACHE_SIZE = 256
TOL = 1e-9

NOTE_SIGMOID_BCE = "sigmoid + BCE → ŷ − y"
NOTE_BCE_LOGITS = "sigmoid + BCE in one op (bce_logits) → σ(z) − y"
NOTE_SOFTMAX_CE = "softmax + cross-entropy → p − onehot"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Factor:
    """One local derivative on a path: ``∂top/∂bottom``.

    Attributes:
        top: The element differentiated (``"z2[0]"``).
        bottom: The element it is differentiated by (``"a1[0]"``).
        label: ``"∂z2[0]/∂a1[0]"``.
        expr: The factor in element symbols, written as the lecture writes it.
        unicode: ``expr`` on one line (``"a1[0]·(1 − a1[0])"``).
        latex: ``expr`` in LaTeX.
        value: Its value at this run's numbers.
        merged: Labels of the factors this one replaces (a simplification), else ``()``.
        note: The simplification's name, if any (``"sigmoid + BCE → ŷ − y"``).
    """

    top: str
    bottom: str
    label: str
    expr: Any
    unicode: str
    latex: str
    value: float
    merged: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ChainPath:
    """One path from the backward target down to the element.

    Attributes:
        elements: The elements along the path, target first (``("loss", "yhat[0]", …)``).
        factors: The local derivatives, in the same order.
        product: Their product, a sympy expression.
        unicode: The factors' Unicode joined with `` · `` (in path order, like the labels).
        latex: The same in LaTeX.
        value: The product's value.
        example: The example (row of the data set) this path runs through, or None
            when the run has no data set.
    """

    elements: tuple[str, ...]
    factors: tuple[Factor, ...]
    product: Any
    unicode: str
    latex: str
    value: float
    example: int | None = None

    @property
    def labels(self) -> str:
        """``"∂loss/∂yhat · ∂yhat/∂z2 · …"``: every step, simplified pairs spelled out."""
        return " · ".join(" · ".join(f.merged) if f.merged else f.label for f in self.factors)


@dataclass(frozen=True)
class Chain:
    """The chain rule for one gradient element (see :func:`chain_for`).

    Attributes:
        ref: The reference as given.
        target: The backward target (``"loss"``).
        wrt: The element (``"W1[0,0]"``; example first for data: ``"x[1,0]"``).
        lhs: ``"∂loss/∂W1[0,0]"``.
        paths: The paths listed (at most :data:`MAX_PATHS`).
        n_paths: How many paths there are in all (per example, times examples).
        examples: Number of examples the sum runs over.
        scale: 1/N when the target is a mean over N examples, else 1.
        total: ``scale ×`` the sum over all paths — the symbolic answer.
        engine: What backprop computed.
        agree: Whether they agree within 1e-9 relative.
        notes: Simplifications applied and things worth saying.
        exact: For a single short path, the answer in exact symbols with the leaf
            values substituted (``σ(2) − 1``); else None.
        exact_unicode: ``exact`` on one line, or ``""``.
    """

    ref: str
    target: str
    wrt: str
    lhs: str
    paths: tuple[ChainPath, ...]
    n_paths: int
    examples: int
    scale: float
    total: float
    engine: float
    agree: bool
    notes: tuple[str, ...] = ()
    exact: Any = None
    exact_unicode: str = ""

    def as_json(self) -> dict:
        """A JSON-friendly form (strings and numbers only)."""
        return {
            "ref": self.ref, "target": self.target, "wrt": self.wrt, "lhs": self.lhs,
            "paths": [{"example": p.example, "value": p.value, "product": p.unicode,
                       "factors": [{"label": f.label, "expr": f.unicode, "latex": f.latex, "value": f.value,
                                    "merged": list(f.merged), "note": f.note} for f in p.factors]}
                      for p in self.paths],
            "n_paths": self.n_paths, "examples": self.examples, "scale": self.scale, "total": self.total,
            "engine": self.engine, "agree": self.agree, "notes": list(self.notes),
            "exact": self.exact_unicode or None,
        }


# -------------------------------------------------------------------------- model


@dataclass
class _Line:
    """One named node's elements as expressions in its inputs' element symbols."""

    nid: str
    out: np.ndarray
    frontier: list[str]
    deps: dict[tuple[int, ...], list[tuple[str, tuple[int, ...]]]]
    out_map: dict
    top: str
    values: dict[int, dict] = field(default_factory=dict)


class _Model:
    """Lines, element symbols and factor values of one run (cached per scenario)."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.g = run.graph
        self.sym2elem: dict[sp.Symbol, tuple[str, tuple[int, ...]]] = {}
        self._lines: dict[tuple[str, int], _Line] = {}
        self._edges: dict[tuple, tuple[Any, Any]] = {}
        self._edge_values: dict[tuple, float] = {}
        self._leafexpr: dict[tuple, Any] = {}
        self.lock = threading.RLock()

    # -- structure
    def is_step(self, nid: str) -> bool:
        """Named nodes and leaves are the steps of a chain; constants and temporaries are not."""
        node = self.g.nodes[nid]
        return node.kind in ("value", "data") or (node.kind == "op" and node.named)

    def members(self, nid: str) -> list[str]:
        """The op nodes of ``nid``'s line (its unnamed sub-expressions, then itself)."""
        out: list[str] = []
        seen: set[str] = set()

        def visit(n: str) -> None:
            if n in seen:
                return
            seen.add(n)
            for i in self.g.nodes[n].op_inputs:
                if i and self.g.nodes[i].kind == "op" and not self.g.nodes[i].named:
                    visit(i)
            out.append(n)

        visit(nid)
        return out

    def _per_example(self, members: list[str]) -> bool:
        for m in members:
            node = self.g.nodes[m]
            if node.op.name in NEEDS_NUMBERS and any(i and self.g.nodes[i].batched for i in node.op_inputs):
                return True
        return False

    def line(self, nid: str, example: int = 0) -> _Line:
        """The line of named node ``nid`` (built once; per example only if it reads class indices)."""
        members = self.members(nid)
        key = (nid, example if self._per_example(members) else 0)
        got = self._lines.get(key)
        if got is not None:
            return got
        env: dict[str, np.ndarray] = {}
        frontier: list[str] = []
        for m in members:
            node = self.g.nodes[m]
            xs, nums = [], []
            for i in node.op_inputs:
                if i is None:
                    xs.append(None)
                    nums.append(None)
                    continue
                if i not in env:
                    inp = self.g.nodes[i]
                    if inp.kind == "const":
                        env[i] = const_array(inp)
                    else:
                        env[i] = symbols_of(i, inp.shape)
                        frontier.append(i)
                        for idx in np.ndindex(*inp.shape):
                            self.sym2elem[env[i][idx]] = (i, tuple(int(k) for k in idx))
                xs.append(env[i])
                nums.append(example_of(self.run, i, key[1]) if node.op.name in NEEDS_NUMBERS else None)
            env[m] = forward(node.op, xs, nums)
        out = env[nid]
        order = {f: k for k, f in enumerate(frontier)}
        deps: dict[tuple[int, ...], list[tuple[str, tuple[int, ...]]]] = {}
        out_map = {}
        for idx in np.ndindex(*out.shape):
            idx = tuple(int(k) for k in idx)
            expr = sp.sympify(out[idx])
            found = [self.sym2elem[s] for s in expr.free_symbols if s in self.sym2elem
                     and self.sym2elem[s][0] in order]
            deps[idx] = sorted(found, key=lambda d: (order[d[0]], d[1]))
            if not expr.is_Atom:
                out_map[expr] = elem_symbol(nid, idx)
        line = _Line(nid, out, frontier, deps, out_map, self.g.nodes[nid].op.name)
        self._lines[key] = line
        return line

    def frontier_values(self, line: _Line, example: int) -> dict:
        """``{element symbol: Float}`` for every input element of ``line`` in ``example``."""
        vals = line.values.get(example)
        if vals is None:
            vals = {}
            for f in line.frontier:
                a = example_of(self.run, f, example)
                for idx in np.ndindex(*a.shape):
                    vals[elem_symbol(f, tuple(int(k) for k in idx))] = sp.Float(float(a[idx]))
            line.values[example] = vals
        return vals

    # -- factors
    def edge(self, nid: str, o: tuple, d: tuple, example: int) -> tuple[Any, float]:
        """``(∂nid[o]/∂d written for display, its value in example)``."""
        line = self.line(nid, example)
        skey = (nid, o, d, id(line))
        got = self._edges.get(skey)
        if got is None:
            raw = sp.diff(line.out[o], elem_symbol(*d))
            shown = tidy(raw.xreplace(line.out_map) if line.out_map else raw)
            got = self._edges[skey] = (raw, shown)
        vkey = skey + (example,)
        value = self._edge_values.get(vkey)
        if value is None:
            value = self._edge_values[vkey] = _evaluate(got[0], self.frontier_values(line, example))
        return got[1], value

    def in_leaves(self, sym: sp.Symbol, example: int, budget: list[int]) -> Any:
        """An element symbol rewritten down to exact leaf values (``yhat[0]`` → ``σ(2)``)."""
        nid, idx = self.sym2elem.get(sym, (None, None))
        if nid is None:
            return sym
        key = (nid, idx, example)
        if key in self._leafexpr:
            return self._leafexpr[key]
        node = self.g.nodes[nid]
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooBig
        if node.kind in ("value", "data"):
            exact = node.exact
            if exact is not None:
                ex = np.asarray(exact)
                v = ex[((example if node.kind == "data" else 0),) + idx] if node.kind == "data" else ex[idx]
                value = number(v)
            else:
                value = sp.Float(float(example_of(self.run, nid, example)[idx]))
        else:
            line = self.line(nid, example)
            expr = sp.sympify(line.out[idx])
            value = expr.xreplace({s: self.in_leaves(s, example, budget) for s in expr.free_symbols})
        self._leafexpr[key] = value
        return value


class _TooBig(Exception):
    pass


def _evaluate(expr: Any, values: dict) -> float:
    v = sp.sympify(expr).xreplace(values)
    try:
        return float(v)
    except TypeError:
        return float(sp.N(v))


# -------------------------------------------------------------------------- cache

_CACHE: OrderedDict = OrderedDict()
_MODELS: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


def _fingerprint(run: Any) -> tuple:
    from nnlab.engine.run import to_float

    s = run.scenario
    h = hashlib.sha1((s.text or "").encode("utf-8"))
    for nid, node in run.graph.nodes.items():
        if node.kind in ("value", "data"):
            h.update(nid.encode())
            h.update(np.ascontiguousarray(to_float(run.values[nid]), dtype=float).tobytes())
    return (s.path, h.hexdigest(), run.target)


def _model(run: Any, key: tuple) -> _Model:
    with _LOCK:
        m = _MODELS.get(key)
        if m is None:  # same file, text and leaf values: the same graph and numbers
            m = _Model(run)
            _MODELS[key] = m
            while len(_MODELS) > 16:
                _MODELS.popitem(last=False)
        return m


def clear_cache() -> None:
    """Forget every cached chain (tests, or after editing a scenario in place)."""
    with _LOCK:
        _CACHE.clear()
        _MODELS.clear()


# ---------------------------------------------------------------------- references


def parse_grad_ref(run: Any, ref: str | Ref) -> tuple[str, tuple[int, ...], int | None]:
    """``grad(NAME)[i, j]`` → ``(NAME, per-example index, example or None)``.

    For a node with one row per example (data and what depends on it, when the run
    has a data set) the first index is the example, as in ``run.grad(NAME)``.

    Raises:
        NnlabError: A reference that is not ``grad(NAME)`` of one element.
    """
    text = str(ref)
    if isinstance(ref, str):
        try:
            ref = parse_ref(ref, qualified=False)
        except NnlabError as exc:
            if exc.kind == "reference":  # read, but not a reference: said below
                ref = Ref(RefKind.VALUE, text)
            else:
                raise NnlabError(f"cannot read the reference {text!r}: {exc.message}",
                                 hint="write grad(NAME) or grad(NAME)[i, j].", kind="reference") from None
    if not ref.is_element:
        raise NnlabError(f"a chain is for one element, not a slice: {text}", hint="e.g. grad(W1)[0, 0].",
                         kind="reference")
    if ref.kind is not RefKind.GRAD:
        raise NnlabError(f"a chain needs a gradient reference, got {text!r}",
                         hint="write grad(NAME) or grad(NAME)[i, j], e.g. grad(W1)[0, 0].", kind="reference")
    name, index = ref.name, ref.index
    g = run.graph
    if name not in g.nodes or not g.nodes[name].named or g.nodes[name].kind == "const":
        names = [n for n, node in g.nodes.items() if node.named and node.kind != "const"]
        raise NnlabError(f"unknown name '{name}' in {text}", hint=did_you_mean(name, names), kind="reference")
    node = g.nodes[name]
    shape = tuple(node.shape)
    example = None
    batched = node.batched and run.batch_axis
    if batched:
        full = (run.values[name].shape[0],) + shape
        if len(index) == len(shape) and run.values[name].shape[0] == 1:
            index = (0,) + tuple(index)
    else:
        full = shape
    if len(index) != len(full):
        if not index and int(np.prod(full)) == 1:
            index = (0,) * len(full)
        else:
            eg = "[" + ", ".join("0" for _ in full) + "]"
            what = " (the first index is the example)" if batched else ""
            raise NnlabError(f"{ref}: a chain is for one element; give {len(full)} indices for shape "
                             f"{full}{what}", hint=f"e.g. grad({name}){eg}", kind="reference")
    norm = []
    for i, n in zip(index, full):
        if not -n <= i < n:
            raise NnlabError(f"{ref}: index {i} is out of range for shape {full}", kind="reference")
        norm.append(int(i) % n)
    if batched:
        example, norm = norm[0], norm[1:]
    return name, tuple(norm), example


# -------------------------------------------------------------------------- chains


def chain_for(run: Any, ref: str | Ref) -> Chain:
    """The chain rule for one gradient element, e.g. ``grad(W1)[0, 0]`` or ``grad(z)``.

    Args:
        run: A run with a backward target.
        ref: ``grad(NAME)`` (one-element tensors) or ``grad(NAME)[i, …]``; for a node
            with one row per example the first index is the example.

    Returns:
        A :class:`Chain`: every path (listed up to :data:`MAX_PATHS`), each factor
        symbolic and numeric, their sum, the engine's value and whether they agree.

    Raises:
        NnlabError: No backward target, a reference that is not one gradient element,
            an op without a symbolic form, or a chain too large to write out.
    """
    if run.target is None:
        raise NnlabError("the scenario has no backward target, so there is no chain rule to show",
                         hint="add `backward: loss` (the node to differentiate).", kind="reference")
    name, index, example = parse_grad_ref(run, ref)
    ref = str(ref)
    fp = _fingerprint(run)
    key = fp + (name, index, example)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    model = _model(run, fp)
    with model.lock:
        try:
            chain = _build(model, ref, name, index, example)
        except NoSymbolicForm as exc:
            raise NnlabError(f"no symbolic chain for {ref}: {exc}", kind="reference") from None
    with _LOCK:
        _CACHE[key] = chain
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return chain


def _descendants(g: Any, nid: str) -> set[str]:
    users = g.consumers()
    seen, stack = {nid}, [nid]
    while stack:
        n = stack.pop()
        for u in users.get(n, ()):
            if u not in seen:
                seen.add(u)
                stack.append(u)
    return seen


def _engine_value(run: Any, name: str, index: tuple, example: int | None) -> float:
    g = np.asarray(run.grad(name), dtype=float)
    full = ((example,) if example is not None else ()) + index
    return float(g[full]) if g.ndim else float(g)


def _build(model: _Model, ref: str, name: str, index: tuple, example: int | None) -> Chain:
    run, g = model.run, model.g
    target = run.target
    tnode = g.nodes[target]
    batch = run.values[target].shape[0]
    wrt = f"{name}{fmt_index(((example,) if example is not None else ()) + index)}"
    lhs = f"∂{target}/∂{wrt}"
    engine = _engine_value(run, name, index, example)
    ref_elem = (name, index)
    notes: list[str] = []

    # Which named nodes lie between the element and the target.
    live = g.ancestors(target) & _descendants(g, name)
    steps = [n for n in g.order if n in live and model.is_step(n) and n != name]
    cost = sum(int(np.prod(g.nodes[m].shape)) + sum(int(np.prod(g.nodes[i].shape)) for i in
                                                     g.nodes[m].op_inputs if i)
               for n in steps for m in model.members(n))
    if cost > MAX_COST:
        raise NnlabError(f"the chain for {ref} runs through {cost:,} tensor elements; too large to write "
                         "out symbolically", hint="pick a smaller scenario, or an element nearer the loss.",
                         kind="reference")
    reach: set[tuple] = {ref_elem}
    order: list[tuple] = []  # the reached elements, inputs before outputs
    edges = 0
    for nid in steps:
        line = model.line(nid, example or 0)
        for o, deps in line.deps.items():
            if any(d in reach for d in deps):
                reach.add((nid, o))
                order.append((nid, o))
                edges += len(deps)
        if edges > MAX_EDGES:
            raise NnlabError(f"the chain for {ref} has more than {MAX_EDGES:,} factors; too large to write out",
                             hint="pick a smaller scenario, or an element nearer the loss.", kind="reference")
    if name == target:
        starts = [(target, index)]
    else:
        starts = [(target, o) for o in np.ndindex(*tnode.shape) if (target, tuple(o)) in reach]
        starts = [(t, tuple(int(k) for k in o)) for t, o in starts]

    if example is not None:
        examples = [example]
    elif tnode.batched and batch > 1:
        examples = list(range(batch))
    else:
        examples = [0]
    scale = 1.0 / batch if tnode.batched and batch > 1 else 1.0
    if scale != 1.0:
        notes.append(f"the target is the mean over {batch} examples: the sum is times 1/{batch}")

    def children(elem: tuple) -> list[tuple]:
        nid, o = elem
        if elem == ref_elem:
            return []
        return [d for d in model.line(nid, 0).deps[o] if d in reach]

    # Count and sum all paths (dynamic programming in topological order), then list the first few.
    total = 0.0
    n_paths = 0
    for e in examples:
        value: dict[tuple, float] = {ref_elem: 1.0}
        count: dict[tuple, int] = {ref_elem: 1}
        for elem in order:
            kids = children(elem)
            value[elem] = sum(model.edge(elem[0], elem[1], d, e)[1] * value[d] for d in kids)
            count[elem] = sum(count[d] for d in kids)
        for st in starts:
            total += value.get(st, 0.0)
            n_paths += count.get(st, 0)
    total *= scale

    paths: list[ChainPath] = []

    def walk(elem: tuple, trail: list[tuple], e: int) -> None:
        if len(paths) >= MAX_PATHS:
            return
        if elem == ref_elem:
            paths.append(_path(model, trail + [elem], e, run.batch_axis))
            return
        for d in children(elem):
            walk(d, trail + [elem], e)

    for e in examples:
        for st in starts:
            walk(st, [], e)
    kinds = {f.note for p in paths for f in p.factors if f.note}
    for note in (NOTE_SIGMOID_BCE, NOTE_BCE_LOGITS, NOTE_SOFTMAX_CE):
        if note in kinds:
            notes.append(note)
    per_example = n_paths // max(1, len(examples))
    if len(examples) > 1:
        notes.insert(0, f"{wrt} reaches {target} along {per_example} path{'s' if per_example != 1 else ''} "
                        f"in each of {len(examples)} examples; all {n_paths} contributions add up")
    elif n_paths > 1:
        notes.insert(0, f"{wrt} reaches {target} along {n_paths} paths; their contributions add up")
    if n_paths > len(paths):
        notes.append(f"{len(paths)} of {n_paths} paths listed; the sum includes all of them")
    if n_paths == 0:
        notes.append(f"{target} does not depend on {wrt}: the gradient is 0")

    exact = None
    if len(paths) == 1 and n_paths == 1 and len(examples) == 1 and scale == 1.0:
        try:
            budget = [200]
            p = sp.sympify(paths[0].product)
            exact = p.xreplace({s: model.in_leaves(s, examples[0], budget) for s in p.free_symbols})
            if len(unicode(exact)) > 120 or exact.is_Integer or exact.is_Float:
                exact = None
        except _TooBig:
            exact = None
    agree = abs(total - engine) <= TOL * max(abs(total), abs(engine)) + 1e-12
    return Chain(ref, target, wrt, lhs, tuple(paths), n_paths, len(examples), scale, total, engine, agree,
                 tuple(notes), exact, unicode(exact) if exact is not None else "")


def _elem_text(elem: tuple) -> str:
    return f"{elem[0]}{fmt_index(elem[1])}"


def _path(model: _Model, elems: list[tuple], e: int, batch_axis: bool) -> ChainPath:
    example = e if batch_axis else None
    factors: list[Factor] = []
    for (nid, o), d in itertools.pairwise(elems):
        expr, value = model.edge(nid, o, d, e)
        top, bottom = _elem_text((nid, o)), _elem_text(d)
        note = ""
        op = model.g.nodes[nid].op.name
        if op == "bce_logits" and model.g.nodes[nid].op_inputs[0] == d[0]:
            note = NOTE_BCE_LOGITS
        elif (op == "cross_entropy" and model.g.nodes[nid].op_inputs[0] == d[0]
              and model.g.nodes[nid].op.params.get("logits", True)):  # on probabilities no softmax is inside
            note = NOTE_SOFTMAX_CE
        factors.append(Factor(top, bottom, f"∂{top}/∂{bottom}", expr, unicode(expr), latex(expr), value,
                              note=note))
    factors = _merge(model, elems, factors)
    product = sp.Mul(*[f.expr for f in factors])
    value = 1.0
    for f in factors:
        value *= f.value
    text = " · ".join(_paren(f) for f in factors) if factors else "1"
    tex = r" \cdot ".join(r"\left(" + f.latex + r"\right)" if _needs_paren(f.expr) else f.latex
                          for f in factors) if factors else "1"
    return ChainPath(tuple(_elem_text(x) for x in elems), tuple(factors), product, text, tex, value, example)


def _needs_paren(expr: Any) -> bool:
    expr = sp.sympify(expr)
    return bool(expr.is_Add or (expr.could_extract_minus_sign() and not expr.is_Number))


def _paren(f: Factor) -> str:
    return f"({f.unicode})" if _needs_paren(f.expr) else f.unicode


def _merge(model: _Model, elems: list[tuple], factors: list[Factor]) -> list[Factor]:
    """Collapse BCE-after-sigmoid factor pairs into ŷ − y (the lecture's simplification)."""
    g = model.g
    out: list[Factor] = []
    k = 0
    while k < len(factors):
        f = factors[k]
        if k + 1 < len(factors):
            top, mid = elems[k][0], elems[k + 1][0]
            tnode, mnode = g.nodes[top], g.nodes[mid]
            if (tnode.kind == "op" and tnode.op.name == "bce" and tnode.op_inputs[0] == mid
                    and mnode.kind == "op" and mnode.op.name == "sigmoid"):
                nxt = factors[k + 1]
                merged = sp.factor(sp.together(f.expr * nxt.expr))
                out.append(Factor(f.top, nxt.bottom, f"∂{f.top}/∂{nxt.bottom}", merged, unicode(merged),
                                  latex(merged), f.value * nxt.value, (f.label, nxt.label), NOTE_SIGMOID_BCE))
                k += 2
                continue
        out.append(f)
        k += 1
    return out


# -------------------------------------------------------------------------- text


def _num(v: float, digits: int) -> str:
    return fmt(v, digits).replace("-", "−")


def format_chain(chain: Chain, digits: int = 4) -> str:
    """The chain as plain text lines for the CLI.

    Example::

        ∂loss/∂W1[0,0] = ∂loss/∂yhat · ∂yhat/∂z2 · ∂z2/∂a1[0] · ∂a1[0]/∂z1[0] · ∂z1[0]/∂W1[0,0]
                       = (ŷ − y) · w2[0] · a1[0]·(1 − a1[0]) · x[0]
                       = (−0.4157)(0.5)(0.2378)(0.5) = −0.0247
          sigmoid + BCE → ŷ − y
        backprop: −0.0247  ✓ agrees
    """
    lines: list[str] = []
    pad = " " * len(chain.lhs)
    if not chain.paths:
        lines.append(f"{chain.lhs} = 0   ({chain.target} does not depend on {chain.wrt})")
    elif len(chain.paths) == 1 and chain.n_paths == 1 and not chain.paths[0].factors:
        lines.append(f"{chain.lhs} = 1   (the target itself)")
    elif len(chain.paths) == 1 and chain.n_paths == 1:
        p = chain.paths[0]
        lines.append(f"{chain.lhs} = {p.labels}")
        value = _num(p.value, digits)
        if len(p.factors) == 1:
            if p.factors[0].unicode != value:
                lines.append(f"{pad} = {p.factors[0].unicode}")
            lines.append(f"{pad} = {value}")
        else:
            lines.append(f"{pad} = {p.unicode}")
            lines.append(f"{pad} = {_numbers(p, digits)} = {value}")
        if chain.scale != 1.0:
            lines.append(f"{pad} × 1/{round(1 / chain.scale)} (mean over examples) = {_num(chain.total, digits)}")
    else:
        lines.append(f"{chain.lhs} = Σ over {chain.n_paths} paths"
                     + (f" and {chain.examples} examples" if chain.examples > 1 else ""))
        for k, p in enumerate(chain.paths, 1):
            where = f" (example {p.example})" if p.example is not None and chain.examples > 1 else ""
            lines.append(f"  path {k}{where}: {p.labels}")
            lines.append(f"    = {p.unicode}")
            lines.append(f"    = {_numbers(p, digits)} = {_num(p.value, digits)}")
        if chain.n_paths > len(chain.paths):
            lines.append(f"  … {chain.n_paths - len(chain.paths)} more paths")
        mean = f"(1/{round(1 / chain.scale)}) × " if chain.scale != 1.0 else ""
        lines.append(f"  sum = {mean}Σ = {_num(chain.total, digits)}")
    if chain.exact_unicode:
        lines.append(f"{pad} = {chain.exact_unicode}")
    for note in chain.notes:
        lines.append(f"  {note}")
    mark = "✓ agrees" if chain.agree else f"✗ DIFFERS from the chain rule ({_num(chain.total, 12)})"
    lines.append(f"backprop: {_num(chain.engine, digits)}  {mark}")
    return "\n".join(lines)


def _numbers(p: ChainPath, digits: int) -> str:
    return "".join(f"({_num(f.value, digits)})" for f in p.factors) if p.factors else "1"
