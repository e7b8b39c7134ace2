"""The lab's view of a run: what each step shows, computed on demand and cached.

Why this module exists: the widgets must stay cheap to import (the first frame is
painted before NumPy is loaded) and cheap to repaint (a key press must repaint in a
few milliseconds even on an AlexNet-size convolution). So everything that touches
NumPy or the engine lives here, is imported inside the loading worker, and hands
the widgets small ready-made objects: :class:`Operand` (one tensor to draw, with the
padding frame already applied) and :class:`Focus` (which cells to highlight, and the
explanation of the current element).

The model owns no position: the lab screen's ``step`` reactive (plus the element
within the step) is the only state, and every method here is a pure lookup keyed
by it. Training runs (``update`` steps, ``Step.epoch``) are handled generically, so
the model keeps working when those steps appear.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnlab.engine.ops.base import Op, grad_label, num
from nnlab.engine.run import to_float
from nnlab.session import Session, open_session
from nnlab.engine.trace import BACKWARD, FORWARD, Explanation, Use
from nnlab.numfmt import fmt, fmt_index

#: Steps whose inputs hold at most this many elements are explained on the spot.
CHEAP_ELEMENTS = 20_000
#: Forward ops whose explanation looks at a window or one element, whatever the size.
LOCAL_OPS = {"conv2d", "maxpool2d", "avgpool2d", "index", "reshape", "flatten", "transpose"}

Pads = tuple[tuple[int, int], tuple[int, int]]


@dataclass
class Operand:
    """One tensor of a step, ready to draw.

    Attributes:
        slot: ``-1`` output, ``-2`` upstream gradient, ``k`` input ``k`` (forward: its
            value; backward: the gradient contribution this step adds to it).
        title: What to call it (``"X"``, ``"∂loss/∂X"``).
        role: ``"input"``, ``"output"``, ``"upstream"``, ``"grad"``.
        array: The per-example values as float64 (padded when ``pads`` is set).
        pads: Padding drawn around the last two axes, ``((top, bottom), (left, right))``.
        cursor: True if Up/Down move through this tensor's elements.
        note: A short remark for the header (``"padded by 1"``, ``"adds 1 of 2"``).
    """

    slot: int
    title: str
    role: str
    array: Any
    pads: Pads | None = None
    cursor: bool = False
    note: str = ""
    node: str = ""
    _width: int | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the array as drawn (padded)."""
        return tuple(self.array.shape)

    def cell_width(self, digits: int) -> int:
        """Width of the widest formatted number (sampled for big tensors), cached."""
        if self._width is None:
            self._width = _cell_width(self.array, digits)
        return self._width

    def is_pad(self, index: tuple[int, ...]) -> bool:
        """True if ``index`` (in the drawn frame) is a padding cell."""
        if not self.pads or len(index) < 2:
            return False
        (t, b), (l, r) = self.pads
        h, w = self.array.shape[-2:]
        i, j = index[-2:]
        return i < t or i >= h - b or j < l or j >= w - r


@dataclass
class Focus:
    """What the current element highlights.

    Attributes:
        slot: Slot of the current element (−1 the output of a forward step).
        index: Its index (per example, in the drawn frame of that slot).
        marks: ``slot -> {index: role}`` for every highlighted cell, in drawn frames.
        explanation: The engine's explanation, or None when it failed.
        error: Why explaining failed.
    """

    slot: int
    index: tuple[int, ...]
    marks: dict[int, dict[tuple[int, ...], str]]
    explanation: Explanation | None
    error: str = ""


@dataclass(frozen=True)
class Row:
    """One line of the graph pane: a group header or a step."""

    kind: str          # "header" | "step"
    text: str
    step: int = -1     # the step index for kind "step"
    shape: str = ""
    phase: str = ""
    sub: bool = False  # an unnamed sub-expression (drawn indented)
    level: int = 0     # header nesting: 0 epoch, 1 update, 2 phase


def shape_text(shape: tuple[int, ...]) -> str:
    """``(2, 3)`` -> ``"2×3"``, ``()`` -> ``"scalar"``."""
    return "×".join(str(s) for s in shape) if shape else "scalar"


def _cell_width(a: np.ndarray, digits: int) -> int:
    flat = a.reshape(-1)
    if flat.size == 0:
        return 1
    if flat.size > 4000:
        rng = np.random.default_rng(0)
        sample = list(flat[rng.integers(0, flat.size, 3000)])
        # big tensors: fit 99 % of the numbers; the rare long one (1.5e-05) is cut with "…"
        lengths = sorted(len(fmt(v, digits)) for v in sample)
        return lengths[int(0.99 * (len(lengths) - 1))]
    return max(len(fmt(v, digits)) for v in flat.tolist())


def _per_example(a: Any, example: int) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 0:
        return a
    return a[example] if a.shape[0] > 1 else a[0]


class LabModel:
    """Everything the lab shows about one run, looked up by step and element.

    Args:
        session: A loaded session (scenario + run).
        path: The file it came from.
    """

    def __init__(self, session: Session, path: str = "") -> None:
        self.session = session
        self.run = session.run
        self.scenario = session.scenario
        self.training = getattr(session, "training", None)
        self.path = path
        steps = session.steps
        self.steps = steps if self.training is not None else tuple(steps)
        if self.training is not None:
            self.epochs = list(range(1, int(self.training.epochs) + 1))
        else:
            self.epochs = sorted({s.epoch for s in self.steps if getattr(s, "epoch", None) is not None})
        self.rows = self._rows()
        self._row_of_step = {r.step: k for k, r in enumerate(self.rows) if r.kind == "step"}
        self._float: dict[tuple, np.ndarray] = {}
        self._operands: OrderedDict[tuple, list[Operand]] = OrderedDict()
        self._focus: OrderedDict[tuple, Focus] = OrderedDict()
        self._pads: dict[tuple[int, int], tuple] = {}
        self._count: dict[int, int] = {}
        self._lock = threading.RLock()  # one explanation at a time (the lab prefetches in a thread)
        self.cost: dict[int, float] = {}
        """Seconds the last explanation of an element of each step took."""

    # ------------------------------------------------------------------ overview
    @property
    def title(self) -> str:
        """The scenario's title."""
        return self.scenario.title

    @property
    def arithmetic(self) -> str:
        """``"exact"`` or ``"float64"``."""
        return getattr(self.run, "arithmetic", "float64")

    @property
    def examples(self) -> int:
        """Number of examples (1 without data)."""
        return int(getattr(self.run, "batch", 1) or 1) if getattr(self.run, "batch_axis", False) else 1

    def examples_at(self, step: int) -> int:
        """Number of examples the run of ``step`` computes on (an update's batch in training)."""
        run, inner = self.context(step)
        if inner is None:
            return 1
        return int(getattr(run, "batch", 1) or 1) if getattr(run, "batch_axis", False) else 1

    def data_examples(self, step: int) -> tuple[int, ...]:
        """Which examples of the data set the step's run uses (training), else ``()``."""
        st = self.steps[step]
        if self.training is None or getattr(st, "update", None) is None:
            return ()
        try:
            return tuple(self.training.records[st.update - 1].examples)
        except (IndexError, AttributeError):
            return ()

    def first_of_epoch(self, epoch: int) -> int | None:
        """Index of the first step of ``epoch``."""
        first = getattr(self.steps, "first_of_epoch", None)
        if first is not None:
            try:
                return int(first(epoch))
            except (IndexError, ValueError):
                return None
        for s in self.steps:
            if getattr(s, "epoch", None) == epoch:
                return s.index
        return None

    def context(self, step: int) -> tuple[Any, Any]:
        """``(run, inner step)`` a step lives in (for training: the update's own run; inner is None
        for an update step)."""
        st = self.steps[step]
        if self.training is None:
            return self.run, st
        return self.session.run_for(st), self.session.inner_step(st)

    def check_entry(self, entry: Any) -> Any:
        """Check one (possibly edited) expect entry the way ``nnlab check`` does."""
        return self.session.check_entry(entry)

    def summary(self) -> str:
        """How training ended (empty without training)."""
        try:
            return self.training.summary() if self.training is not None else ""
        except Exception:  # noqa: BLE001
            return ""

    def _rows(self) -> list[Row]:
        rows: list[Row] = []
        group: tuple = (object(), object(), object())
        for s in self.steps:
            epoch, update = getattr(s, "epoch", None), getattr(s, "update", None)
            key = (epoch, update, s.phase)
            if key != group:
                if epoch is not None and epoch != group[0]:
                    rows.append(Row("header", f"epoch {epoch}", level=0))
                if update is not None and (update != group[1] or epoch != group[0]):
                    rows.append(Row("header", f"update {update}", level=1))
                if update is None:  # in training the labels (z = …, ∂loss/∂…, w ← …) say the phase
                    rows.append(Row("header", s.phase, phase=s.phase, level=2))
                group = key
            sub = s.phase == FORWARD and not self._named(s.node)
            rows.append(Row("step", s.label, s.index, shape_text(tuple(s.shape)), s.phase, sub))
        return rows

    def _named(self, node: str) -> bool:
        n = self.run.graph.nodes.get(node)
        return bool(getattr(n, "named", True)) if n is not None else True

    def row_of_step(self, step: int) -> int:
        """The graph-pane row showing ``step``."""
        return self._row_of_step.get(step, 0)

    def find_step(self, phase: str, node: str) -> int | None:
        """The index of the step with this phase and node (for keeping place on reload)."""
        for s in self.steps:
            if s.phase == phase and s.node == node:
                return s.index
        return None

    def nearest_step(self, old: Any, old_index: int) -> int:
        """Where to land after a reload: the same (phase, node, epoch), else the nearest index."""
        if old is not None:
            for s in self.steps:
                if (s.phase, s.node, getattr(s, "epoch", None), getattr(s, "update", None)) == \
                        (old.phase, old.node, getattr(old, "epoch", None), getattr(old, "update", None)):
                    return s.index
        return max(0, min(old_index, len(self.steps) - 1))

    def step_for_name(self, name: str) -> int | None:
        """A step for a name typed by the user: ``z1``, ``∂loss/∂z1``, ``grad(z1)``, a label or a number."""
        text = name.strip()
        if not text:
            return None
        if text.isdigit():
            k = int(text) - 1
            return k if 0 <= k < len(self.steps) else None
        phase = FORWARD
        if text.startswith("grad(") and text.endswith(")"):
            text, phase = text[5:-1].strip(), BACKWARD
        elif text.startswith("∂") and "/∂" in text:
            text, phase = text.split("/∂", 1)[1], BACKWARD
        for s in self.steps:
            if s.phase == phase and s.node == text:
                return s.index
        for s in self.steps:
            if s.label == name.strip():
                return s.index
        if phase == BACKWARD:  # grad(x) of a leaf: the first backward step that feeds it
            for s in self.steps:
                if s.phase == BACKWARD and text in s.inputs:
                    return s.index
        for s in self.steps:  # the step that computes it in any phase
            if s.node == text:
                return s.index
        return None

    def names(self) -> list[str]:
        """Node names a user can jump to (named forward nodes, then ∂ labels)."""
        out = [s.node for s in self.steps if s.phase == FORWARD and "#" not in s.node]
        out += [s.label for s in self.steps if s.phase == BACKWARD]
        return out

    # ------------------------------------------------------------------ elements
    def element_count(self, step: int) -> int:
        """How many elements Up/Down move through in ``step``."""
        n = self._count.get(step)
        if n is None:
            try:
                run, inner = self.context(step)
                if inner is None:
                    n = int(np.prod(self.steps[step].shape))
                else:
                    n = int(run.element_count(inner))
                n = max(1, n)
            except Exception:  # noqa: BLE001 - a step the model cannot enumerate still shows
                n = 1
            self._count[step] = n
        return n

    def element_at(self, step: int, k: int) -> tuple[int, tuple[int, ...]]:
        """``(slot, index)`` of element ``k`` of ``step``."""
        try:
            run, inner = self.context(step)
            if inner is None:
                shape = tuple(self.steps[step].shape)
                return -1, tuple(int(i) for i in np.unravel_index(k, shape)) if shape else ()
            return run.element_at(inner, k)
        except Exception:  # noqa: BLE001
            return -1, ()

    def element_number(self, step: int, slot: int, index: tuple[int, ...]) -> int | None:
        """Element number of ``(slot, index)`` in ``step`` (None if it is not an element there)."""
        run, inner = self.context(step)
        try:
            if inner is None:
                spaces = [(-1, tuple(self.steps[step].shape))]
            else:
                spaces = run.element_spaces(inner)
        except Exception:  # noqa: BLE001
            return None
        k = 0
        for s, shape in spaces:
            n = int(np.prod(shape))
            if s == slot:
                if len(index) != len(shape) or any(not 0 <= i < d for i, d in zip(index, shape)):
                    return None
                return k + (int(np.ravel_multi_index(index, shape)) if shape else 0)
            k += n
        return None

    # ------------------------------------------------------------------ operands
    def _values(self, nid: str, kind: str = "value", run: Any = None) -> np.ndarray | None:
        run = self.run if run is None else run
        key = (id(run), nid, kind)
        a = self._float.get(key)
        if a is None:
            src = run.values.get(nid) if kind == "value" else run.grads.get(nid)
            if src is None:
                return None
            a = to_float(src)
            self._remember(key, a)
        return a

    def _contribution(self, nid: str, slot: int, run: Any = None) -> np.ndarray | None:
        run = self.run if run is None else run
        key = (id(run), f"{nid}\x00{slot}", "contribution")
        a = self._float.get(key)
        if a is None:
            src = getattr(run, "contributions", {}).get((nid, slot))
            if src is None:
                return None
            a = to_float(src)
            self._remember(key, a)
        return a

    def _remember(self, key: tuple, a: Any) -> None:
        self._float[key] = a
        if self.training is not None and len(self._float) > 256:  # training: one run per update
            self._float.pop(next(iter(self._float)))

    def display(self, nid: str) -> str:
        """How the engine names a node in formulas."""
        try:
            return self.run.graph.display(nid)
        except Exception:  # noqa: BLE001
            return nid

    def pads(self, step: int, example: int = 0) -> dict[int, Pads]:
        """Padding per input slot, as the step's explanations report it."""
        key = (step, example)
        if key not in self._pads:
            pads: dict[int, Pads] = {}
            st = self.steps[step]
            run, inner = self.context(step)
            if st.phase == FORWARD and ("conv" in st.op or "pool" in st.op):
                try:
                    ex = run.explain(inner, None, example=example)
                    pads = {s: p for s, p in ex.pads if any(v for pair in p for v in pair)}
                except Exception:  # noqa: BLE001
                    pads = {}
            self._pads[key] = pads
        return self._pads[key]

    def operands(self, step: int, example: int = 0) -> list[Operand]:
        """The tensors a step shows: inputs then output (forward); upstream then gradients (backward)."""
        key = (step, example)
        ops = self._operands.get(key)
        if ops is not None:
            self._operands.move_to_end(key)
            return ops
        ops = self._build_operands(step, example)
        self._operands[key] = ops
        if len(self._operands) > 64:
            self._operands.popitem(last=False)
        return ops

    def _build_operands(self, step: int, example: int) -> list[Operand]:
        st = self.steps[step]
        run, inner = self.context(step)
        if inner is None:
            return self._update_operands(st)
        st = inner
        graph = run.graph
        target = getattr(run, "target", None) or "loss"
        out: list[Operand] = []
        if st.phase == FORWARD:
            pads = self.pads(step, example)
            for slot, nid in enumerate(st.inputs):
                if not nid or nid not in run.values:
                    continue
                a = _per_example(self._values(nid, run=run), example)
                p = pads.get(slot)
                note = ""
                if p is not None and a.ndim >= 2:
                    widths = [(0, 0)] * (a.ndim - 2) + [tuple(p[0]), tuple(p[1])]
                    a = np.pad(a, widths)
                    note = _pad_note(p)
                else:
                    p = None
                out.append(Operand(slot, self.display(nid), "input", a, p, note=note, node=nid))
            val = self._values(st.node, run=run)
            if val is not None:
                out.append(Operand(-1, self.display(st.node), "output", _per_example(val, example),
                                   cursor=True, node=st.node))
            return out
        if st.phase == BACKWARD:
            g = self._values(st.node, "grad", run=run)
            if g is not None:
                out.append(Operand(-2, f"∂{target}/∂{self.display(st.node)}", "upstream",
                                   _per_example(g, example), note="upstream", node=st.node))
            for slot, nid in enumerate(st.inputs):
                if not nid or graph.nodes[nid].kind == "const":
                    continue
                c = self._contribution(st.node, slot, run=run)
                if c is None:
                    continue
                k, n = st.accumulates[slot] if slot < len(st.accumulates) else (1, 1)
                note = f"adds {k} of {n}" if n > 1 else ""
                out.append(Operand(slot, f"∂{target}/∂{self.display(nid)}", "grad", _per_example(c, example),
                                   cursor=True, note=note, node=nid))
            return out
        # anything newer: the node's value
        val = self._values(st.node, run=run)
        if val is not None:
            out.append(Operand(-1, self.display(st.node), "output", _per_example(val, example), cursor=True,
                               node=st.node))
        return out

    def _update_operands(self, st: Any) -> list[Operand]:
        """An update step: the parameter before, its gradient (gd), and after."""
        tr = self.training
        out: list[Operand] = []
        p, u = st.node, st.update
        try:
            before = to_float(tr.snapshots[u - 1][p])[0]
            after = to_float(tr.snapshots[u][p])[0]
        except Exception:  # noqa: BLE001
            return out
        rule = getattr(tr.config, "rule", "")
        note = f"update {u} · epoch {st.epoch}"
        out.append(Operand(0, f"{p} before", "input", before, note=note, node=p))
        if rule == "gd":
            try:
                g = to_float(tr.update_run(u).grads[p])[0]
                out.append(Operand(1, f"∂{tr.config.loss}/∂{p}", "input", g, note="mean over the batch", node=p))
            except Exception:  # noqa: BLE001, S110 - the gradient is extra; before/after still show
                pass
        out.append(Operand(-1, f"{p} after", "output", after, cursor=True, node=p))
        return out

    # ------------------------------------------------------------------ focus
    def _op(self, step: int) -> Any:
        run, _ = self.context(step)
        node = run.graph.nodes.get(self.steps[step].node)
        return getattr(node, "op", None)

    def _size(self, nid: str, run: Any = None) -> int:
        a = (self.run if run is None else run).values.get(nid)
        return int(a.size) if a is not None else 0

    def cheap(self, step: int) -> bool:
        """True if explaining an element of ``step`` is fast enough to do during a key press."""
        st = self.steps[step]
        run, inner = self.context(step)
        if inner is None:
            return True
        size = sum(self._size(i, run) for i in st.inputs if i) + self._size(st.node, run)
        if size <= CHEAP_ELEMENTS:
            return True
        op = self._op(step)
        if st.phase == FORWARD:
            return st.op in LOCAL_OPS or hasattr(op, "df")
        if st.phase == BACKWARD:
            return op is not None and (type(op).dependents is not Op.dependents or hasattr(op, "df"))
        return False

    def cached_focus(self, step: int, k: int, example: int = 0, digits: int = 4) -> Focus | None:
        """The focus if it was computed already (or is cheap to compute now)."""
        key = (step, k, example, digits)
        if key in self._focus or self.cheap(step):
            return self.focus(step, k, example, digits)
        return None

    def pending_focus(self, step: int, k: int) -> Focus:
        """A stand-in while a slow explanation is computed: the element only."""
        slot, index = self.element_at(step, k)
        return Focus(slot, tuple(index), {slot: {tuple(index): "current"}}, None,
                     "explaining… (a large tensor: computing in the background)")

    def focus(self, step: int, k: int, example: int = 0, digits: int = 4) -> Focus:
        """The current element ``k`` of ``step``: its explanation and the cells to highlight."""
        key = (step, k, example, digits)
        f = self._focus.get(key)  # no lock for a hit: the key press must not wait for a prefetch
        if f is not None:
            return f
        with self._lock:
            f = self._focus.get(key)
            if f is not None:
                return f
            t = time.perf_counter()
            f = self._build_focus(step, k, example, digits)
            self.cost[step] = time.perf_counter() - t
            self._focus[key] = f
            if len(self._focus) > 512:
                self._focus.popitem(last=False)
            return f

    def has_focus(self, step: int, k: int, example: int = 0, digits: int = 4) -> bool:
        """True if that element's explanation is cached."""
        return (step, k, example, digits) in self._focus

    def _build_focus(self, step: int, k: int, example: int, digits: int) -> Focus:
        st = self.steps[step]
        run, inner = self.context(step)
        slot, index = self.element_at(step, k)
        marks: dict[int, dict[tuple[int, ...], str]] = {}
        try:
            if inner is None:
                ex = self.session.explain(st, tuple(index), digits=digits)
            elif st.phase == FORWARD:
                ex = run.explain(inner, index, example=example, digits=digits)
            elif self._needs_elementwise_fallback(step):
                ex = self._elementwise_backward(step, slot, tuple(index), example, digits)
            else:
                ex = run.explain(inner, index, slot=None if slot < 0 else slot, example=example,
                                 digits=digits)
        except Exception as exc:  # noqa: BLE001 - shown in the math pane, never a crash
            marks[slot] = {tuple(index): "current"}
            return Focus(slot, tuple(index), marks, None, f"{type(exc).__name__}: {exc}")
        for use in ex.uses:
            if use.slot == slot and tuple(use.index) == tuple(index):
                continue
            marks.setdefault(use.slot, {})[tuple(use.index)] = use.role
        marks.setdefault(slot, {})[tuple(index)] = "current"
        return Focus(slot, tuple(index), marks, ex)

    def _needs_elementwise_fallback(self, step: int) -> bool:
        """Large elementwise backward steps: the engine's generic rule would visit every output."""
        st = self.steps[step]
        run, _ = self.context(step)
        op = self._op(step)
        return (st.phase == BACKWARD and op is not None and type(op).dependents is Op.dependents
                and self._size(st.node, run) > CHEAP_ELEMENTS)

    def _elementwise_backward(self, step: int, slot: int, index: tuple[int, ...], example: int,
                              digits: int) -> Explanation:
        """``∂T/∂x[i] = ∂T/∂y[i] · f'(x[i])`` for a unary elementwise op, from the recorded arrays."""
        st = self.steps[step]
        run, _ = self.context(step)
        op = self._op(step)
        target = getattr(run, "target", None) or "loss"
        g = _per_example(self._values(st.node, "grad", run=run), example)[index]
        value = _per_example(self._contribution(st.node, slot, run=run), example)[index]
        out_name, in_name = self.display(st.node), self.display(st.inputs[slot])
        lhs = grad_label(target, in_name, index)
        formula = f"{lhs} = ∂{target}/∂{out_name}{fmt_index(index)} · ∂{out_name}{fmt_index(index)}/∂{in_name}" \
                  f"{fmt_index(index)}"
        derivative = getattr(op, "derivative", "")
        if derivative:
            formula += f"   where ∂{out_name}/∂{in_name} = {derivative}"
        if hasattr(op, "df"):
            x = _per_example(self._values(st.inputs[slot], run=run), example)[index]
            y = _per_example(self._values(st.node, run=run), example)[index]
            local = float(np.asarray(op.df(np.asarray(x), np.asarray(y))))
            arithmetic = f"{num(g, digits)}·{num(local, digits)}"
        else:
            arithmetic = ""
        return Explanation(lhs, formula, arithmetic, value, (Use(-2, index), Use(slot, index)))

    def chain_text(self, step: int, k: int, example: int = 0, digits: int = 4) -> str:
        """The symbolic chain rule (sympy) for the gradient element ``k`` of a backward step.

        Slow the first time (imports sympy, builds the expressions): call it from a worker.

        Raises:
            NnlabError: Not a backward step, an unnamed sub-expression, or no symbolic form.
        """
        from nnlab.errors import NnlabError
        from nnlab.symbolic.chain import chain_for, format_chain

        st = self.steps[step]
        run, inner = self.context(step)
        if inner is None or st.phase != BACKWARD:
            raise NnlabError("the symbolic chain is for gradients: go to a backward step (n)")
        slot, index = self.element_at(step, k)
        name = inner.inputs[slot] if 0 <= slot < len(inner.inputs) else ""
        if not name or "#" in name:
            raise NnlabError(f"{self.display(name) if name else 'this input'} is a sub-expression without a "
                             "name; the chain is written for named nodes (its line's name)")
        node = run.graph.nodes[name]
        full = tuple(index)
        if node.batched and getattr(run, "batch_axis", False):
            full = (example,) + full
        ref = f"grad({name})" + ("[" + ", ".join(str(i) for i in full) + "]" if full else "")
        return format_chain(chain_for(run, ref), digits)

    # ------------------------------------------------------------------ text
    def conventions(self, step: int) -> str:
        """The conventions in force at ``step`` (padding per side or total, stride, variant)."""
        st = self.steps[step]
        op = self._op(step) if st.phase != "update" else None
        parts = []
        if self.training is not None:
            cfg = self.training.config
            parts.append(f"{cfg.rule} η={_pv(cfg.lr)}")
        params = dict(getattr(op, "params", {}) or {})
        if params.get("padding_total") is not None:
            parts.append(f"padding {_pv(params['padding_total'])} total")
        elif params.get("padding"):
            parts.append(f"padding {_pv(params['padding'])} per side")
        for k in ("stride", "size", "variant", "axis"):
            if params.get(k) is not None and k in params:
                parts.append(f"{k} {_pv(params[k])}")
        if st.op == "conv2d":
            parts.append("no kernel flip")
        return " · ".join(parts)

    def step_shape_rule(self, step: int) -> str:
        """The op's output-shape rule with numbers (conv/pool), else ``""``."""
        st = self.steps[step]
        op = self._op(step) if st.phase == FORWARD else None
        if op is None:
            return ""
        run, _ = self.context(step)
        try:
            shapes = [run.graph.nodes[i].shape if i else None for i in st.inputs]
            rule = op.shape_rule(*shapes) or ""
        except Exception:  # noqa: BLE001
            return ""
        return "; ".join(_numeric_rule(part) for part in rule.split("; ")) if rule else ""


def _numeric_rule(part: str) -> str:
    """``OH = ⌊(H + 2p − kh)/s⌋ + 1 = ⌊(3 + 2·1 − 2)/3⌋ + 1 = 2`` → the name and the numbers only."""
    pieces = part.split(" = ")
    if len(pieces) >= 4:
        return " = ".join([pieces[0]] + pieces[2:])
    return part


def _pv(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)


def _pad_note(p: Pads) -> str:
    (t, b), (l, r) = p
    if t == b == l == r:
        return f"padded by {t}"
    return f"padded {t},{b} rows · {l},{r} cols"


def load_model(path: str) -> LabModel:
    """Load and run a scenario file into a :class:`LabModel` (called in a worker thread)."""
    session = open_session(path)
    return LabModel(session, os.path.abspath(path))
