"""From parsed equations to a graph of primitive ops, with shapes checked up front.

Each ``compute`` line becomes one or more op nodes: the line's result takes the
line's name, sub-expressions get ids like ``z1#1`` and show their own source text
(``W1 @ x``). Composite ops (``attention``, ``gru_cell``, ``rnn_cell``, ``dense``)
expand into named primitive lines (``C.scores``, ``C.weights``, ``h1.r``…) so every
part can be stepped through and differentiated by the same machinery. Shapes are
inferred while building, so a mismatch is reported with the sub-expression's column
before anything runs.
"""

from __future__ import annotations

import math
from enum import StrEnum
from fractions import Fraction
from typing import Any

import numpy as np

from nnlab.engine import ops as _ops  # noqa: F401  (the op registry)
from nnlab.engine.composites import COMPOSITES, Composite
from nnlab.engine.ops.base import REGISTRY, REQUIRED, Op, ShapeError
from nnlab.errors import Location, NnlabError, closest, did_you_mean
from nnlab.limits import charge_node
from nnlab.scenario.expr import (Attr, BinOp, Bool, Call, Equation, Expr, Index, ListLit, Name, Neg,
                                 NoneLit, Num, Str, Take, to_text)
from nnlab.scenario.model import Scenario

BINARY = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul", "**": "pow"}
REFERENCE_FUNCS = ("grad", "shape", "size")
OPTION_AT_ZERO = ("step", "sign")
"""Ops whose value at exactly 0 is a scenario option (``options.step_at_zero``, ``sign_at_zero``)."""


class NodeKind(StrEnum):
    """What a graph node is. A ``StrEnum``: ``NodeKind.DATA == "data"``, and JSON writes the string."""

    VALUE = "value"
    """A leaf from ``values:`` (a parameter or constant tensor: one copy for every example)."""
    DATA = "data"
    """A leaf from ``data:`` (one row per example)."""
    CONST = "const"
    """A number written in an equation (``2`` in ``2 * x``); id ``const:2``, never shown as a name."""
    OP = "op"
    """The result of one primitive op: a named line or part, or an unnamed sub-expression (a temp)."""


class Node:  # (plain classes here, not dataclasses: a dataclass costs ~0.3-0.5 ms to define at every start)
    """A vertex of the computation graph.

    Attributes:
        id: Unique id: a value/data/line name, ``"C.scores"``, or ``"z1#2"`` for a
            sub-expression.
        kind: A :class:`NodeKind`.
        label: What to show: the name, the sub-expression text, or the number.
        shape: Per-example shape.
        batched: True if the node has one row per example: it depends on ``data``, and not
            only through batch statistics (an op with ``across_examples`` makes one shared row).
        op: The op instance (op nodes only).
        inputs: Input node ids (op nodes only).
        line: Index of the compute line (−1 for leaves).
        loc: Where the node is written.
        text: For op nodes, the expression text (``"W1 @ x + b1"``).
        named: True for nodes the user named (lines and composite parts).
        value: Leaf value (float64 array, no batch axis).
        exact: Leaf value as Fractions, if known exactly.
        op_inputs: One entry per tensor input of the op's signature (op nodes only): like
            ``inputs``, with None for an absent optional input.
    """

    __slots__ = ("batched", "exact", "id", "inputs", "kind", "label", "line", "loc", "named", "op", "op_inputs",
                 "shape", "text", "value")

    def __init__(self, id: str, kind: NodeKind, label: str, shape: tuple[int, ...], batched: bool = False,  # noqa: A002
                 op: Op | None = None, inputs: tuple[str, ...] = (), line: int = -1, loc: Location | None = None,
                 text: str = "", named: bool = False, value: np.ndarray | None = None,
                 exact: np.ndarray | None = None, op_inputs: tuple[str | None, ...] = ()) -> None:
        self.id, self.kind, self.label, self.shape, self.batched = id, kind, label, shape, batched
        self.op, self.inputs, self.line, self.loc, self.text = op, inputs, line, loc, text
        self.named, self.value, self.exact, self.op_inputs = named, value, exact, op_inputs

    def __repr__(self) -> str:
        return f"Node({self.id!r}, {self.kind}, shape={self.shape})"

    @property
    def is_temp(self) -> bool:
        """An unnamed sub-expression of a line (``W1 @ x`` inside ``z1 = W1 @ x + b1``; id ``z1#1``)."""
        return self.kind is NodeKind.OP and not self.named

    @property
    def visible(self) -> bool:
        """A name the user can write: a value, a data column, a line or a composite's part.

        Constants and temps are not: they have no name of their own.
        """
        return self.named and self.kind is not NodeKind.CONST


class Graph:
    """The nodes in topological order (insertion order), and the op nodes' ids.

    Attributes:
        scenario: The scenario compiled.
        nodes: Every node by id, in topological order.
        order: The op nodes' ids, in the order they run.
        lines: The compute lines, by name.
        plans: What every run of the graph shares (backward plans per (target, wrt)…), made by
            the engine on first use.
    """

    __slots__ = ("lines", "nodes", "order", "plans", "scenario")

    def __init__(self, scenario: Scenario, nodes: dict[str, Node] | None = None, order: list[str] | None = None,
                 lines: list[tuple[str, Equation]] | None = None) -> None:
        self.scenario = scenario
        self.nodes = {} if nodes is None else nodes
        self.order = [] if order is None else order
        self.lines = [] if lines is None else lines
        self.plans: dict = {}

    def __repr__(self) -> str:
        return f"Graph({len(self.nodes)} nodes, {len(self.order)} ops)"

    def names(self) -> list[str]:
        """The user-visible node names (:attr:`Node.visible`), in graph order."""
        return [nid for nid, node in self.nodes.items() if node.visible]

    def consumers(self) -> dict[str, list[str]]:
        """For each node id, the op nodes that use it (with repeats for repeated use)."""
        users: dict[str, list[str]] = {n: [] for n in self.nodes}
        for nid in self.order:
            for inp in self.nodes[nid].inputs:
                users[inp].append(nid)
        return users

    def display(self, nid: str) -> str:
        """A name to use for a node inside formulas: its id, or ``(text)`` for temps."""
        node = self.nodes[nid]
        if node.kind is NodeKind.CONST:
            return node.label
        if node.is_temp:
            return f"({node.label})"
        return nid

    def ancestors(self, nid: str) -> set[str]:
        """All nodes ``nid`` depends on, including itself."""
        seen, stack = set(), [nid]
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(self.nodes[n].inputs)
        return seen


class GraphBuilder:
    """Compiles a scenario's equations into a :class:`Graph`."""

    def __init__(self, scenario: Scenario, batch_data: bool = True) -> None:
        self.s = scenario
        self.g = Graph(scenario)
        self.at_zero = {name: scenario.options.get(f"{name}_at_zero", 0) for name in OPTION_AT_ZERO}
        self.line_names: dict[str, int] = {}
        self._temp = 0
        for name, v in scenario.values.items():
            self._leaf(name, NodeKind.VALUE, v.array, v.exact, v.loc, batched=False)
        for name, v in scenario.data.items():
            if batch_data:
                self._leaf(name, NodeKind.DATA, v.array, v.exact, v.loc, batched=True)
            else:
                self._leaf(name, NodeKind.DATA, v.array[0], None if v.exact is None else v.exact[0], v.loc, batched=True)

    def _leaf(self, name: str, kind: NodeKind, array: np.ndarray, exact: np.ndarray | None,
              loc: Location | None, batched: bool) -> None:
        shape = tuple(array.shape[1:]) if kind is NodeKind.DATA else tuple(array.shape)
        self.g.nodes[name] = Node(name, kind, name, shape, batched=(kind is NodeKind.DATA), loc=loc,
                                  named=True, value=array, exact=exact)

    # ----------------------------------------------------------------- lines
    def build(self) -> Graph:
        """Compile every compute line, in order."""
        planned = [eq.name for eq in self.s.equations]
        self._planned = set(planned)
        for i, eq in enumerate(self.s.equations):
            try:
                self._line(i, eq)
            except RecursionError:  # e.g. a sum of 800 terms: Python's stack ends before the line does
                raise NnlabError("this line nests too deeply for nnlab to follow", eq.expr_loc,
                                 "split it into several compute lines.", kind="size") from None
        return self.g

    def _line(self, i: int, eq: Equation) -> None:
        if eq.name in self.g.nodes:
            prev = self.g.nodes[eq.name]
            where = "in values" if prev.kind is NodeKind.VALUE else "in data" if prev.kind is NodeKind.DATA else \
                f"on compute line {prev.line + 1}"
            raise NnlabError(f"'{eq.name}' is already defined {where}", eq.loc.shifted(
                len(eq.loc.source) - len(eq.loc.source.lstrip(" -")), len(eq.name)),
                "every name is assigned once; pick a new name (e.g. add a number).", kind="name")
        self.line = i
        self.eq = eq
        expr = eq.expr
        if isinstance(expr, Call) and expr.func in COMPOSITES:
            self._composite(eq.name, expr)
        else:
            self._compile(expr, out_name=eq.name, text=eq.text)
        self.g.lines.append((eq.name, eq))
        self.line_names[eq.name] = i

    def _loc(self, e: Any) -> Location:
        col = getattr(e, "col", 0)
        end = getattr(e, "end", col + 1)
        return self.eq.expr_loc.shifted(col, max(1, end - col))

    # --------------------------------------------------------------- compile
    def _compile(self, e: Expr, out_name: str | None = None, text: str | None = None) -> str:
        """Compile an expression; return the id of the node holding its value."""
        if isinstance(e, Name):
            nid = self._resolve(e)
            if out_name is not None:  # `y = x`: an identity step keeps the line visible
                return self._op("add", [nid, self._const(0, "0", e)], {}, e, out_name, text)
            return nid
        if isinstance(e, Num):
            nid = self._const(e.value, e.raw, e)
            if out_name is not None:
                return self._op("add", [nid, self._const(0, "0", e)], {}, e, out_name, text)
            return nid
        if isinstance(e, BinOp) and e.op == "+" and (_is_matmul(e.left) or _is_matmul(e.right)):
            prod, bias = (e.left, e.right) if _is_matmul(e.left) else (e.right, e.left)
            a, b = self._compile(prod.left), self._compile(prod.right)
            return self._op("affine", [a, b, self._compile(bias)], {}, e, out_name, text)
        if isinstance(e, BinOp):
            a = self._compile(e.left)
            b = self._compile(e.right)
            return self._op(BINARY[e.op], [a, b], {}, e, out_name, text)
        if isinstance(e, Neg):
            return self._op("neg", [self._compile(e.operand)], {}, e, out_name, text)
        if isinstance(e, Index):
            return self._op("index", [self._compile(e.value)], {"key": list(e.key)}, e, out_name, text)
        if isinstance(e, Take):  # W[idx]: rows of W picked by a tensor of whole numbers
            index = self._const_list(e.index) if isinstance(e.index, ListLit) else self._compile(e.index)
            return self._op("take", [self._compile(e.value), index], {}, e, out_name, text)
        if isinstance(e, Call):
            if e.func in COMPOSITES:
                raise NnlabError(f"{e.func}(…) must be the whole right-hand side of its line", self._loc(e),
                                 f"write it on its own line: `C = {to_text(e)}`.", kind="syntax")
            return self._call(e, out_name, text)
        if isinstance(e, (Str, Bool, NoneLit, ListLit)):
            raise NnlabError("a string, boolean or list can only be a keyword value", self._loc(e),
                             kind="syntax")
        if isinstance(e, Attr):
            raise NnlabError("unsupported syntax: attribute access", self._loc(e), kind="syntax")
        raise NnlabError("unsupported expression", self._loc(e), kind="syntax")  # pragma: no cover

    def _resolve(self, e: Name) -> str:
        if e.id in self.g.nodes:
            return e.id
        if e.id in getattr(self, "_planned", set()):
            raise NnlabError(f"'{e.id}' is used before it is computed", self._loc(e),
                             "compute lines run top to bottom; move this line below the one defining it.",
                             kind="name")
        if e.id in REGISTRY or e.id in COMPOSITES:
            raise NnlabError(f"'{e.id}' is a function; call it with parentheses", self._loc(e),
                             f"e.g. {e.id}(z).", kind="name")
        groups = {n.split(".")[0] for n in self.g.nodes if "." in n}
        if e.id in groups:
            raise NnlabError(f"'{e.id}' is a group, not a tensor", self._loc(e),
                             f"use one of its members, e.g. {sorted(n for n in self.g.nodes if n.startswith(e.id + '.'))[0]}.",
                             kind="name")
        names = self.g.names()
        raise NnlabError(f"unknown name '{e.id}'", self._loc(e),
                         did_you_mean(e.id, names) or "define it under values: or on an earlier compute line.",
                         kind="name")

    def _const(self, value: Any, raw: str, e: Any, exact: bool = True) -> str:
        nid = f"const:{raw}"
        if nid not in self.g.nodes:
            fr = None
            if exact:
                try:
                    fr = np.array(Fraction(raw), dtype=object)
                except (ValueError, ZeroDivisionError):
                    fr = None
            self.g.nodes[nid] = Node(nid, NodeKind.CONST, raw, (), value=np.array(float(value)), exact=fr)
        return nid

    def _const_list(self, e: ListLit) -> str:
        """A literal list of numbers (``W[[0, 2, 0]]``) as a constant tensor node."""
        raw = to_text(e)
        nid = f"const:{raw}"
        if nid not in self.g.nodes:
            def value(item: Expr) -> Any:
                if isinstance(item, ListLit):
                    return [value(i) for i in item.items]
                if isinstance(item, Num):
                    return Fraction(item.raw) if isinstance(item.value, int) else item.value
                raise NnlabError("a list index holds whole numbers", self._loc(item), "e.g. W[[0, 2, 0]]",
                                 kind="syntax")
            try:
                exact = np.array(value(e), dtype=object)
                array = exact.astype(float)
            except ValueError:
                raise NnlabError("a list index must be rectangular", self._loc(e), kind="shape") from None
            self.g.nodes[nid] = Node(nid, NodeKind.CONST, raw, array.shape, value=array, exact=exact)
        return nid

    def _call(self, e: Call, out_name: str | None, text: str | None) -> str:
        if e.target is not None:
            raise NnlabError("unsupported syntax: method call", self._loc(e), kind="syntax")
        if e.func in REFERENCE_FUNCS or e.func in ("epoch", "update"):
            raise NnlabError(f"{e.func}(…) can only be used in expect references", self._loc(e), kind="name")
        cls = REGISTRY.get(e.func)
        if cls is None:
            known = [n for n in REGISTRY if n not in ("neg", "index")] + list(COMPOSITES)
            raise NnlabError(f"unknown function '{e.func}'", self._loc(e).shifted(0, len(e.func)),
                             did_you_mean(e.func, known) or "see docs/scenario-format.md for the list.",
                             kind="name")
        inputs, params = self._bind(cls, e)
        if cls.name in self.at_zero:
            params["at_zero"] = self.at_zero[cls.name]
        return self._op(cls.name, inputs, params, e, out_name, text)

    def _bind(self, cls: type[Op], e: Call) -> tuple[list[str | None], dict[str, Any]]:
        # step's and sign's value at 0 come from options.step_at_zero / sign_at_zero, not from the call
        sig = [p for p in cls.signature if not (cls.name in OPTION_AT_ZERO and p.name == "at_zero")]
        if len(e.args) > len(sig):
            raise NnlabError(f"{e.func}() takes at most {len(sig)} arguments, got {len(e.args)}",
                             self._loc(e.args[len(sig)]), f"{e.func}({', '.join(p.name for p in sig)})",
                             kind="arity")
        given: dict[str, Any] = {}
        for p, a in zip(sig, e.args):
            given[p.name] = a
        names = [p.name for p in sig]
        for key, value in e.kwargs:
            if key not in names:
                raise NnlabError(f"{e.func}() has no argument '{key}'", self._loc(value),
                                 did_you_mean(key, names) or f"{e.func}({', '.join(names)})", kind="arity")
            if key in given:
                raise NnlabError(f"{e.func}() got '{key}' twice", self._loc(value), kind="arity")
            given[key] = value
        inputs: list[str | None] = []
        params: dict[str, Any] = {}
        for p in sig:
            if p.name not in given:
                if p.default is REQUIRED:
                    raise NnlabError(f"{e.func}() is missing its argument '{p.name}'", self._loc(e),
                                     f"{e.func}({', '.join(names)})", kind="arity")
                if p.tensor:
                    inputs.append(None)
                else:
                    params[p.name] = p.default
                continue
            value = given[p.name]
            if p.many:
                inputs.extend(self._tensor_list(value, e.func, p.name))
            elif p.tensor:
                inputs.append(None if isinstance(value, NoneLit) else self._compile(value))
            else:
                params[p.name] = self._literal(value, e.func, p.name)
        return inputs, params

    def _tensor_list(self, e: Expr, func: str, key: str) -> list[str]:
        """The node ids of a list argument ``[a, b, …]`` (``concat``, ``stack``)."""
        if not isinstance(e, ListLit) or not e.items:
            raise NnlabError(f"'{key}' of {func}() must be a list of tensors", self._loc(e),
                             f"e.g. {func}([a, b], axis=0)", kind="arity")
        return [self._compile(item) for item in e.items]

    def _literal(self, e: Expr, func: str, key: str) -> Any:
        if isinstance(e, Num):
            return e.value
        if isinstance(e, (Str, Bool)):
            return e.value
        if isinstance(e, NoneLit):
            return None
        if isinstance(e, ListLit):
            return [self._literal(i, func, key) for i in e.items]
        raise NnlabError(f"'{key}' of {func}() must be a literal (a number, list or quoted string)",
                         self._loc(e), kind="arity")

    def _op(self, name: str, inputs: list[str | None], params: dict, e: Any, out_name: str | None,
            text: str | None, named: bool | None = None) -> str:
        cls = REGISTRY[name]
        op = cls(**params)
        loc = self._loc(e)
        shapes = [None if i is None else self.g.nodes[i].shape for i in inputs]
        try:
            shape = tuple(op.infer(*shapes))
        except ShapeError as exc:
            raise NnlabError(exc.message, loc, exc.hint, kind="shape") from None
        size = math.prod(map(int, shape))  # Python ints: no int64 wrap-around
        if size > self.s.max_elements:
            raise NnlabError(f"this result would have {size:,} elements, over the limit of "
                             f"{self.s.max_elements:,}", loc, "raise it with --max-elements.",
                             kind="size")
        if out_name is None:
            self._temp += 1
            nid = f"{self.eq.name}#{self._temp}"
            label = to_text(e)
            text = text or label  # (a temp's text is its label: written out once)
        else:
            nid = out_name
            label = out_name
            self._temp = 0
        batched = any(self.g.nodes[i].batched for i in inputs if i is not None)
        if cls.across_examples:  # batch statistics: one row from every example, shared by all
            if not batched:
                given = " and ".join(self.g.display(i) for i in inputs if i is not None)
                raise NnlabError(f"{to_text(e)} works across the examples of a data batch, but {given} "
                                 "does not depend on data", loc,
                                 "put the examples under data: (one row each).", kind="shape")
            batched = False
        node = Node(nid, NodeKind.OP, label, shape, batched, op, tuple(i for i in inputs if i is not None),
                    self.line, loc, text or to_text(e),
                    named=out_name is not None if named is None else named, op_inputs=tuple(inputs))
        self.g.nodes[nid] = node
        self.g.order.append(nid)
        self._bytes = charge_node(getattr(self, "_bytes", 0), size, batched, self.s, loc)
        return nid

    def _sub_line(self, name: str, e: Expr, text: str) -> str:
        """Compile a composite's named part (``C.scores``) as if it were its own line."""
        if name in self.g.nodes:
            raise NnlabError(f"'{name}' is already defined", self._loc(self.eq.expr), kind="name")
        self._temp = 0
        saved_eq = self.eq
        self.eq = Equation(name, e, text, saved_eq.loc, saved_eq.expr_loc)
        try:
            nid = self._compile(e, out_name=name, text=text)
        finally:
            self.eq = saved_eq
        return nid

    # ----------------------------------------------------------- composites
    def _args(self, e: Call, names: tuple[str, ...], defaults: dict[str, Any]) -> dict[str, Any]:
        if len(e.args) > len(names):
            raise NnlabError(f"{e.func}() takes at most {len(names)} arguments", self._loc(e), kind="arity")
        out = dict(zip(names, e.args))
        for key, value in e.kwargs:
            if key not in names:
                raise NnlabError(f"{e.func}() has no argument '{key}'", self._loc(value),
                                 did_you_mean(key, names) or f"{e.func}({', '.join(names)})", kind="arity")
            out[key] = value
        for n in names:
            if n not in out:
                if n not in defaults:
                    raise NnlabError(f"{e.func}() is missing its argument '{n}'", self._loc(e),
                                     f"{e.func}({', '.join(names)})", kind="arity")
                out[n] = defaults[n]
        return out

    def _composite(self, name: str, e: Call) -> None:
        """Expand a composite's template (:mod:`nnlab.engine.composites`) into named lines."""
        comp = COMPOSITES[e.func]
        args = self._args(e, comp.params, comp.defaults)
        literals = {}
        for key, choice in comp.choices.items():
            value = self._literal(args[key], e.func, key)
            if value not in choice.values:
                raise NnlabError(f"unknown {choice.noun} {value!r}", self._loc(args[key]), choice.hint_for(value),
                                 kind="arity")
            literals[key] = value
        members = self._group(comp, e, args[comp.group.param]) if comp.group else set()
        for part in comp.expand(name, args, literals, members, self.eq.text, e.col, e.end):
            self._sub_line(part.name, part.expr, part.text)

    def _group(self, comp: Composite, e: Call, arg: Expr) -> set[str]:
        """The ids of the members of the group ``arg`` names, checked against what ``comp`` needs."""
        spec = comp.group
        assert spec is not None
        if not isinstance(arg, Name):
            nth = ("first", "second", "third", "fourth", "fifth")[comp.params.index(spec.param)]
            raise NnlabError(f"the {nth} argument of {e.func} must name a group of weights", self._loc(arg),
                             kind="arity")
        group = arg.id
        members = {n for n in self.g.nodes if n.startswith(group + ".")}
        if not members:
            example = ", ".join(f"{m}: …" for m in spec.needs[:2])
            raise NnlabError(f"unknown group '{group}'", self._loc(arg),
                             did_you_mean(group, {n.split(".")[0] for n in self.g.nodes if "." in n})
                             or f"define values: {{{group}: {{{example}, …}}}}.", kind="name")
        for w in spec.needs:
            if f"{group}.{w}" not in members:
                note = f" ({spec.note})" if spec.note else ""
                raise NnlabError(f"group '{group}' has no {w}", self._loc(arg),
                                 f"{e.func} needs {' '.join(spec.needs)}{note}.", kind="name")
        used = set(spec.needs + spec.optional)
        for member in sorted(members):
            m = member[len(group) + 1:]
            if m in used or any(member in eq.text for eq in self.s.equations):
                continue
            # a member nothing reads and named like one the op reads is a typo (b_i for b_ii): left
            # silent, that bias would be 0
            import difflib  # only when there is a member to question

            like = sorted(difflib.get_close_matches(m, used, n=4, cutoff=0.75))
            if like:
                options = like[0] if len(like) == 1 else f"{', '.join(like[:-1])} or {like[-1]}"
                raise NnlabError(f"group '{group}' has {m}, which {e.func} does not read", self._loc(arg),
                                 f"did you mean {options}? {e.func} reads {' '.join(spec.needs + spec.optional)}.",
                                 kind="name")
        return members


def _is_matmul(e: Expr) -> bool:
    return isinstance(e, BinOp) and e.op == "@"


def build_graph(scenario: Scenario) -> Graph:
    """Compile a scenario's ``compute`` lines into a checked :class:`Graph`.

    Raises:
        NnlabError: Unknown names or functions, wrong arguments, shape mismatches,
            reassigned names — each with the column of the culprit.
    """
    return GraphBuilder(scenario).build()


def closest_name(graph: Graph, name: str) -> str | None:
    """The defined node name closest to ``name`` (for hints)."""
    return closest(name, graph.names())
