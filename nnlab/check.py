"""Checking a student's answers (``expect:``) against a run.

References are expressions of the equation language evaluated after the run: node
names, elements (``W1[0, 1]``), ``grad(NAME)``, ``shape(NAME)``, ``size(NAME)``,
``params`` and any arithmetic or op over them (``mean(loss)``,
``grad(z) - (sigmoid(2) - 1)``). Answers match within the precision the student
wrote: ``0.12`` passes within ±0.005, ``19`` must be exact; never tighter than 1e-9
relative + 1e-12 absolute. The first mistake is the wrong answer whose value becomes
known earliest in the trace — where a student should start looking — leaving out answers
that only carry an earlier mistake (``carried-error``, see :mod:`nnlab.diagnosis`, which
fills in each item's ``diagnosis`` and ``via``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import numpy as np

from nnlab.engine.ops.base import REGISTRY, REQUIRED, ShapeError
from nnlab.engine.trace import BACKWARD, FORWARD
from nnlab.errors import Location, NnlabError, did_you_mean
from nnlab.numfmt import fmt
from nnlab.scenario.expr import (Attr, BinOp, Bool, Call, Expr, Index, ListLit, Name, Neg, NoneLit, Num, Str,
                                 to_text)
from nnlab.scenario.model import UNANSWERED, ExpectEntry
from nnlab.scenario.refs import PREFIXES, Ref, RefError, RefKind, Snapshot, atom, snapshot_of, split_prefix

if TYPE_CHECKING:
    from nnlab.engine.run import Run

FLOOR_REL = 1e-9
FLOOR_ABS = 1e-12
_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "@": np.matmul, "**": np.power,
}


class CheckItem(NamedTuple):  # not a dataclass: a frozen dataclass costs nnlab check ~0.5 ms to define
    """One checked answer (change one with ``item._replace(...)``).

    Attributes:
        ref: The reference as written.
        expected: The answer as written (text).
        expected_value: The answer's value (array, number or bool).
        actual: The computed value (array, number or bool), None on error.
        ok: Whether they match.
        error: Why the reference could not be evaluated, if it could not.
        step: Index of the step where the value becomes known (for "first mistake").
        tolerance: Human description of the tolerance used.
        loc: Where the reference is written.
        diagnosis: Why the answer may be what it is (:class:`nnlab.diagnosis.Finding`),
            most likely first; empty for a plain check or when nothing applies.
        via: The references (as written in ``expect``) whose given answers were used
            to accept or assess this one (follow-through marking).
    """

    ref: str
    expected: str
    expected_value: Any
    actual: Any
    ok: bool
    error: str | None
    step: int | None
    tolerance: str
    loc: Location | None
    diagnosis: tuple[Any, ...] = ()
    via: tuple[str, ...] = ()
    unanswered: bool = False
    """The answer is ``?`` (asked, not answered yet): not ok, and nothing to diagnose."""

    def as_json(self) -> dict:
        """The ``--json`` form: ref, expected, actual, ok, step, error, tolerance, diagnosis, via
        (and ``"unanswered": true`` for a ``?`` answer)."""
        out = {"ref": self.ref, "expected": _jsonable(self.expected_value), "actual": _jsonable(self.actual),
               "ok": self.ok, "step": self.step, "error": self.error, "tolerance": self.tolerance,
               "diagnosis": [f.as_json() for f in self.diagnosis], "via": list(self.via)}
        if self.unanswered:  # the computed value stays hidden, as in the table
            out["actual"], out["unanswered"] = None, True
        return out

    @property
    def carried(self) -> bool:
        """True when the only reason found is an earlier wrong answer (not an independent mistake)."""
        return any(f.id == "carried-error" for f in self.diagnosis)


class CheckReport(NamedTuple):  # not a dataclass: cheaper to define (start-up)
    """All checked answers and the first mistake (earliest in the trace)."""

    items: tuple[CheckItem, ...]

    @property
    def ok(self) -> bool:
        """True when every answer matches."""
        return all(i.ok for i in self.items)

    @property
    def first_mistake(self) -> CheckItem | None:
        """The earliest *independent* wrong answer in the trace (not one carried from an earlier mistake)."""
        wrong = [i for i in self.items if not i.ok and not i.unanswered]
        if not wrong:
            return None
        wrong = [i for i in wrong if not i.carried] or wrong
        return min(wrong, key=lambda i: (i.step if i.step is not None else 10**9, self.items.index(i)))


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist() if v.ndim else v.item()
    if isinstance(v, np.generic):
        return v.item()
    return v


AtHook = Callable[[Snapshot], "tuple[Run, int]"]
"""Training's answer to ``epoch(k).…``/``update(k).…``: the run with those parameters and
the step where they become known. Raises ValueError (with the reason) when k is out of range."""

StateHook = Callable[[Snapshot | None], "dict[str, np.ndarray]"]
"""Training's optimizer state at ``epoch(k).``/``update(k).`` (None: the end): ``{parameter: velocity}``
for gradient descent with momentum, batch-first like the parameters; ``velocity(w)`` reads it."""

STATE_FUNCS = ("velocity",)
"""References to the training's optimizer state (not ops): ``velocity(w)``, ``update(2).velocity(w)``."""


class ReferenceEvaluator:
    """Evaluates reference expressions against a :class:`~nnlab.engine.run.Run`.

    References are read by :func:`nnlab.scenario.refs.atom`; everything else in an
    expression (arithmetic, ops) is computed here on plain arrays.

    Args:
        run: The run.
        at: For training: the run a ``epoch(k).``/``update(k).`` prefix names.
        facts: Extra names visible to references (training's ``train.*``).
        final_step: For training: the step where unprefixed names become known.
    """

    def __init__(self, run: Run, at: AtHook | None = None, facts: dict[str, Any] | None = None,
                 final_step: int | None = None, state: StateHook | None = None,
                 snapshot: Snapshot | None = None) -> None:
        self.run = run
        self.at = at
        self.facts = facts or {}
        self.final_step = final_step
        self.state = state
        self.snapshot = snapshot
        self.step = -1
        self.loc: Location | None = None

    def _avail(self, name: str, phase: str) -> None:
        """Note the step at which ``name`` (forward value or gradient) becomes known."""
        run = self.run
        if self.final_step is not None:  # training: unqualified names mean the final state
            self.step = max(self.step, self.final_step)
            return
        if phase == FORWARD:
            st = run.step_of(name, FORWARD)
            if st is not None:
                self.step = max(self.step, st.index)
        else:
            idx = [s.index for s in run.steps if s.phase == BACKWARD and name in s.inputs]
            st = run.step_of(name, BACKWARD)
            if idx:
                self.step = max(self.step, max(idx))
            elif st is not None:
                self.step = max(self.step, st.index)

    def names(self) -> list[str]:
        """The names a reference may use (for "did you mean")."""
        return visible_names(self.run) + ["params"]

    def eval(self, e: Expr, loc: Location | None = None) -> Any:
        """Evaluate ``e``; raises NnlabError when it names nothing or cannot be computed."""
        self.loc = loc
        if isinstance(e, Str):
            raise self._err("a quoted text is not a value to check", e, "write a name, e.g. yhat or grad(W1)[0, 1].")
        return self._eval(e)

    def _err(self, msg: str, e: Expr, hint: str | None = None) -> NnlabError:
        loc = self.loc.shifted(e.col, max(1, e.end - e.col)) if self.loc else None
        return NnlabError(msg, loc, hint, kind="reference")

    def _ref(self, e: Expr) -> Ref | None:
        try:
            return atom(e)
        except RefError as exc:
            raise self._err(exc.message, exc.node, exc.hint) from None

    def _name(self, e: Name) -> Any:
        run = self.run
        if e.id in self.facts:
            return self.facts[e.id]
        if e.id == "params":
            learn = run.scenario.learn
            if not learn:
                raise self._err("'params' counts the learnable parameters, but the scenario has no learn: list",
                                e, "add `learn: [W1, b1, …]`.")
            return sum(int(run.value(n).size) for n in learn_names(run))
        if run.has(e.id) and run.graph.nodes[e.id].named:
            self._avail(e.id, FORWARD)
            return run.value(e.id)
        raise self._err(f"'{e.id}' is not a name in this scenario", e,
                        did_you_mean(e.id, self.names()) or "use a name from values:, data: or compute:.")

    def _eval(self, e: Expr) -> Any:
        if isinstance(e, Num):
            return e.value
        if isinstance(e, (Str, Bool)):
            return e.value
        if isinstance(e, NoneLit):
            return None
        if isinstance(e, ListLit):
            try:
                return np.array([self._eval(i) for i in e.items], dtype=float)
            except (ValueError, TypeError):  # ragged, or text inside
                raise self._err("a list here must hold numbers, row by row of equal length", e) from None
        if isinstance(e, Name):
            return self._name(e)
        if isinstance(e, BinOp):
            a, b = self._eval(e.left), self._eval(e.right)
            try:
                with np.errstate(all="ignore"):
                    return _BINOPS[e.op](np.asarray(a, dtype=float), np.asarray(b, dtype=float))
            except ValueError as exc:
                raise self._err(f"cannot compute {to_text(e)}: {exc}", e) from None
        if isinstance(e, Neg):
            return -np.asarray(self._eval(e.operand), dtype=float)
        if isinstance(e, Index):
            v = np.asarray(self._eval(e.value))
            try:
                return v[tuple(e.key)]
            except (IndexError, OverflowError):
                raise self._err(f"index {list(e.key)} is out of range for shape {v.shape}", e,
                                "indices start at 0.") from None
            except ValueError as exc:  # a slice step of 0
                raise self._err(f"cannot index {to_text(e)}: {exc}", e) from None
        if isinstance(e, Attr) or (isinstance(e, Call) and (e.target is not None or e.func in PREFIXES)):
            return self._qualified(e)
        if isinstance(e, Call):
            return self._call(e)
        raise self._err("unsupported reference", e)  # pragma: no cover

    def _qualified(self, e: Attr | Call) -> Any:
        """``epoch(k).EXPR`` / ``update(k).EXPR``: EXPR evaluated with those parameters."""
        if self.at is None:
            what = f"{e.func}(…)" if isinstance(e, Call) and e.target is None else f"'{to_text(e)}'"
            raise self._err(f"{what} is a training reference, but this scenario does not train", e)
        prefix, inner = split_prefix(e)
        blame = prefix if isinstance(prefix, Call) and prefix.target is None else e
        try:
            if prefix is None:
                raise ValueError("expected one prefix, epoch(k). or update(k).")
            run, step = self.at(snapshot_of(prefix))
        except (ValueError, RefError) as exc:
            raise self._err(str(exc), blame) from None
        self.step = max(self.step, step)
        sub = ReferenceEvaluator(run, None, self.facts, state=self.state, snapshot=snapshot_of(prefix))
        sub.loc = self.loc
        return sub._eval(inner)

    def _call(self, e: Call) -> Any:
        run = self.run
        ref = self._ref(e)
        if ref is not None:
            name = ref.name
            if not run.has(name) or not run.graph.nodes[name].named:
                raise self._err(f"'{name}' is not a name in this scenario", e.args[0],
                                did_you_mean(name, self.names()))
            if ref.kind is RefKind.SHAPE:
                return list(run.value(name).shape)
            if ref.kind is RefKind.SIZE:
                return int(run.value(name).size)
            if run.target is None:
                raise self._err("grad() needs a backward target", e, "add `backward: loss` to the scenario.")
            if name not in run.grads and name != run.target:
                if name not in run.graph.ancestors(run.target):
                    raise self._err(f"{run.target} does not depend on '{name}', so grad({name}) is not defined",
                                    e.args[0])
            self._avail(name, BACKWARD)
            return run.grad(name)
        if e.func in STATE_FUNCS:
            return self._velocity(e)
        cls = REGISTRY.get(e.func)
        if cls is None or e.func in ("index",):
            raise self._err(f"unknown function '{e.func}'", e, did_you_mean(e.func, list(REGISTRY) + ["grad", "shape",
                                                                                                        "size"]))
        return _apply(cls, [self._eval(a) for a in e.args], {k: self._eval(v) for k, v in e.kwargs}, self, e)


    def _velocity(self, e: Call) -> Any:
        """``velocity(w)``: the momentum buffer of parameter ``w`` after the snapshot's updates."""
        if len(e.args) != 1 or e.kwargs or not isinstance(e.args[0], Name):
            raise self._err("velocity() takes one parameter's name, e.g. velocity(w)", e)
        state = self.state(self.snapshot) if self.state is not None else {}
        if not state:
            raise self._err("velocity(…) is the momentum buffer of gradient descent, but this scenario has none",
                            e, "add momentum: μ to a train: block with rule: gd.")
        name = e.args[0].id
        if name not in state:
            raise self._err(f"'{name}' is not a learned parameter, so it has no velocity", e.args[0],
                            did_you_mean(name, list(state)))
        if self.snapshot is None:
            self._avail(name, FORWARD)
        from nnlab.engine.run import to_float

        return to_float(state[name])[0]


def visible_names(run: Run) -> list[str]:
    """The node names a user may write: named nodes, not constants or sub-expressions."""
    return run.graph.names()


def learn_names(run: Any) -> list[str]:
    """The learnable parameters' node names (a group in ``learn`` stands for its members)."""
    out = []
    for n in run.scenario.learn:
        if run.has(n):
            out.append(n)
        else:
            out.extend(v for v in run.scenario.values if v.startswith(n + "."))
    return out


def _static(v: Any) -> Any:
    """A keyword value as the op expects it: lists, and whole numbers as ints (``axis=[0, 1]``)."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, list):
        return [_static(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _apply(cls: Any, args: list, kwargs: dict, ev: ReferenceEvaluator, e: Call) -> Any:
    """Apply an op forward to plain arrays (no batch axis)."""
    sig = list(cls.signature)
    tensors, params = [], {}
    for p, a in zip(sig, args):
        if p.tensor:
            tensors.append(np.asarray(a, dtype=float))
        else:
            params[p.name] = _static(a)
    for k, v in kwargs.items():
        match = [p for p in sig if p.name == k]
        if not match:
            raise ev._err(f"{e.func}() has no argument '{k}'", e)
        if match[0].tensor:
            tensors.append(np.asarray(v, dtype=float))
        else:
            params[k] = _static(v)
    missing = [p.name for p in sig if p.default is REQUIRED and not p.tensor and p.name not in params]
    if missing:
        raise ev._err(f"{e.func}() needs {', '.join(missing)}=…", e)
    op = cls(**params)
    try:
        op.infer(*[t.shape for t in tensors])
        with np.errstate(all="ignore"):
            out = op.forward(*[t[None] for t in tensors])
    except (ShapeError, TypeError, ValueError, KeyError, IndexError, ArithmeticError) as exc:
        raise ev._err(f"cannot compute {to_text(e)}: {getattr(exc, 'message', exc)}", e) from None
    return np.asarray(out)[0]


# --------------------------------------------------------------------------- checking


def compare(actual: Any, expected: Any, abs_tol: Any, rel_tol: float) -> bool:
    """Whether ``actual`` matches ``expected`` within tolerance (a scalar matches a 1-element array)."""
    if isinstance(expected, bool) or isinstance(actual, (bool, np.bool_)):
        a = np.asarray(actual)
        return a.size == 1 and bool(a.reshape(-1)[0]) == bool(expected)
    a = np.asarray(actual, dtype=float)
    x = np.asarray(expected, dtype=float)
    if a.shape != x.shape:
        if a.size == 1 and x.size == 1:
            a, x = a.reshape(()), x.reshape(())
        else:
            return False
    tol = np.maximum(np.asarray(abs_tol, dtype=float) + rel_tol * np.abs(x), FLOOR_ABS + FLOOR_REL * np.abs(x))
    with np.errstate(invalid="ignore"):
        same_inf = np.isinf(a) & np.isinf(x) & (np.sign(a) == np.sign(x))
        return bool(np.all(same_inf | (np.abs(a - x) <= tol)))


def _tol_text(entry: ExpectEntry) -> str:
    t = np.asarray(entry.abs_tol, dtype=float)
    if entry.explicit_tol:
        return f"±{fmt(float(t.max()), 6)} abs, {entry.rel_tol:g} rel"
    if t.size and float(t.max()) > 0:
        return f"±{fmt(float(t.max()), 8)} (as written)"
    return "exact"


def check_run(run: Run, entries: tuple[ExpectEntry, ...] | None = None, at: AtHook | None = None,
              facts: dict[str, Any] | None = None, final_step: int | None = None,
              state: StateHook | None = None) -> CheckReport:
    """Check every ``expect`` entry against ``run``.

    Args:
        run: The run (or a training result exposing the same lookup API).
        entries: Entries to check (default: the scenario's own).
        at: For training: the run an ``epoch(k).``/``update(k).`` prefix names.
        facts: Extra names (training's ``train.*``) visible to references.
        final_step: For training: the step where unprefixed names become known.
        state: For training with momentum: the velocity at a snapshot (``velocity(w)``).
    """
    entries = run.scenario.expect if entries is None else entries
    items = []
    for entry in entries:
        items.append(check_entry(run, entry, at, facts, final_step, state))
    return CheckReport(tuple(items))


def check_entry(run: Run, entry: ExpectEntry, at: AtHook | None = None, facts: dict[str, Any] | None = None,
                final_step: int | None = None, state: StateHook | None = None) -> CheckItem:
    """Check one entry; evaluation problems become a failed item with an error message."""
    ev = ReferenceEvaluator(run, at, facts, final_step, state)
    expected_text = entry.raw if isinstance(entry.raw, str) else str(entry.raw)
    try:
        actual = ev.eval(entry.expr, entry.loc)
    except NnlabError as exc:
        return CheckItem(entry.ref, expected_text, entry.answer, None, False, exc.message, None, "", entry.loc)
    step = ev.step if ev.step >= 0 else None
    expected = entry.answer
    if expected is UNANSWERED:
        return CheckItem(entry.ref, "?", None, actual, False, None, step, "", entry.loc, unanswered=True)
    if isinstance(expected, Expr.__args__):  # a quoted expression answer
        try:
            expected = ReferenceEvaluator(run, at, facts, final_step, state).eval(expected, entry.answer_loc)
        except NnlabError as exc:
            return CheckItem(entry.ref, expected_text, None, actual, False, f"answer: {exc.message}", step, "",
                             entry.loc)
    ok = compare(actual, expected, entry.abs_tol, entry.rel_tol)
    return CheckItem(entry.ref, expected_text, expected, actual, ok, None, step, _tol_text(entry), entry.loc)
